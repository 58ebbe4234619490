"""incident.notify against real servers on 127.0.0.1 (scripts/mailsink.py): nothing is
mocked, smtplib and requests talk to an aiosmtpd server and an http.server."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from incident.errors import ExitCode, ServiceError, UsageError
from incident.notify import (
    Delivery,
    Email,
    MailSettings,
    NotifyError,
    NotifySettings,
    default_config,
    email_sent,
    message_id,
    post_webhook,
    render_email,
    send_email,
    sign,
    verify_signature,
)
from scripts.mailsink import MailSink
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(30)

SECRET = "whsec-test-4f1c9a"  # the webhook secret shared with the sink
PASSWORD = "smtp-pw-Zq81xV"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink(webhook_secret=SECRET) as s:
        yield s


def mail_settings(sink: MailSink, **changes: Any) -> MailSettings:
    values: dict[str, Any] = {"host": sink.smtp_host, "port": sink.smtp_port,
                              "sender": "Security <security@botly.example>", "timeout": 5.0,
                              "lookup_url": f"{sink.url}/messages/lookup", **changes}
    return MailSettings(**values)


def write_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def usage_error(env: dict[str, str], config: Path | None) -> str:
    with pytest.raises(UsageError) as e:
        NotifySettings.load(env, config)
    return str(e.value)


# --- settings ------------------------------------------------------------------------------

def test_settings_from_the_file_and_the_environment_over_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""
[smtp]
host = "smtp.botly.example"
port = 587
sender = "security@botly.example"
username = "mailer"
password = "{PASSWORD}"
starttls = true
timeout = 20
lookup_url = "https://mail.example/lookup?token=t0k"

[webhook]
secret = "{SECRET}"
timeout = 3

[unrelated]  # other parts of incident may have their own sections
x = 1
""")
    settings = NotifySettings.load({}, config)
    assert settings == NotifySettings(
        mail=MailSettings(host="smtp.botly.example", port=587,
                          sender="security@botly.example", username="mailer",
                          password=PASSWORD, starttls=True, ssl=False, timeout=20.0,
                          lookup_url="https://mail.example/lookup?token=t0k"),
        webhook_secret=SECRET, webhook_timeout=3.0)

    env = {"INCIDENT_SMTP_HOST": "127.0.0.1", "INCIDENT_SMTP_PORT": "2525",
           "INCIDENT_SMTP_STARTTLS": "0", "INCIDENT_SMTP_PASSWORD": "other",
           "INCIDENT_SMTP_FROM": "", "INCIDENT_WEBHOOK_SECRET": "s2"}  # empty: unset
    settings = NotifySettings.load(env, config)
    assert settings.mail is not None
    assert (settings.mail.host, settings.mail.port, settings.mail.starttls,
            settings.mail.password, settings.mail.sender, settings.webhook_secret) == (
        "127.0.0.1", 2525, False, "other", "security@botly.example", "s2")


def test_settings_without_a_file_and_defaults() -> None:
    assert NotifySettings.load({}, None) == NotifySettings(mail=None)
    with pytest.raises(UsageError, match="no SMTP server configured"):
        NotifySettings.load({}, None).require_mail()
    mail = NotifySettings.load({"INCIDENT_SMTP_HOST": "mx.example",
                                "INCIDENT_SMTP_SSL": "true"}, None).require_mail()
    assert (mail.port, mail.ssl, mail.sender, mail.timeout) == (465, True,
                                                               "incident@localhost", 10.0)


def test_the_repr_hides_the_password_the_secret_and_the_lookup_url() -> None:
    settings = NotifySettings(
        mail=MailSettings(host="mx.example", username="u", password=PASSWORD,
                          lookup_url="https://x.example/?token=t0k"),
        webhook_secret=SECRET)
    assert repr(settings) == (
        "NotifySettings(mail=MailSettings(host='mx.example', port=25, "
        "sender='incident@localhost', username='u', starttls=False, ssl=False, "
        "timeout=10.0), webhook_timeout=10.0)")


@pytest.mark.parametrize(("text", "expected"), [
    ('[smtp]\nhost = "mx"\nport = 70000\n', "smtp.port: not a port number"),
    ('[smtp]\nhost = "mx"\nport = "25"\n', "smtp.port: not a port number"),
    ('[smtp]\nhost = "mx"\nstarttls = "yes-please"\n', "smtp.starttls: expected true or false"),
    ('[smtp]\nhost = "mx"\ntimeout = -1\n',
     "smtp.timeout: not a number of seconds (above 0, at most 600)"),
    ('[smtp]\nhost = "mx"\nsender = "no-at-sign"\n', "smtp.sender: not an email address"),
    ('[smtp]\nhost = "mx"\nlookup_url = "ftp://q"\n',
     "smtp.lookup_url: not an http:// or https:// URL"),
    ('[smtp]\nhost = "mx"\nlookup_url = "http://mail.example/q"\n',
     "smtp.lookup_url: plain http only to this machine (127.0.0.1); use https"),
    ('[smtp]\nhots = "mx"\n', "smtp.hots: unknown key; known: host, port, sender, username, "
     "password, starttls, ssl, timeout, lookup_url"),
    ('[smtp]\nport = 25\n', "smtp.host: missing (other SMTP settings are set)"),
    ("smtp = 3\n", "smtp: expected a [smtp] table"),
    ('[smtp]\nhost = "mx"\nport = \n', "not valid TOML (line 3)"),
])
def test_a_bad_config_value_is_named_by_file_and_key(tmp_path: Path, text: str,
                                                     expected: str) -> None:
    config = write_config(tmp_path, text)
    assert usage_error({}, config) == f"{config}: {expected}"


def test_both_tls_modes_are_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[smtp]\nhost = "mx"\nstarttls = true\n')
    assert usage_error({"INCIDENT_SMTP_SSL": "1"}, config) == (
        f"{config}: smtp.starttls and INCIDENT_SMTP_SSL: choose one of STARTTLS and SSL")


def test_a_bad_environment_value_is_named_by_variable_never_quoted() -> None:
    message = usage_error({"INCIDENT_SMTP_HOST": "mx", "INCIDENT_SMTP_PORT": "25x-secretish"},
                          None)
    assert message == "INCIDENT_SMTP_PORT: not a port number"
    assert usage_error({"INCIDENT_SMTP_HOST": "mx", "INCIDENT_SMTP_STARTTLS": "maybe"},
                       None) == "INCIDENT_SMTP_STARTTLS: expected true or false (or 1/0)"


def test_a_config_file_others_can_read_is_refused_when_it_holds_a_password(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[smtp]\nhost = "mx"\nusername = "u"\n'
                                    f'password = "{PASSWORD}"\n', mode=0o644)
    message = usage_error({}, config)
    assert message == (f"{config}: holds a password or secret but other users can read it "
                       f"(mode 0o644); run 'chmod 600 {config}'")
    assert PASSWORD not in message
    write_config(tmp_path, f'[webhook]\nsecret = "{SECRET}"\n', mode=0o640)
    assert "chmod 600" in usage_error({}, config)
    write_config(tmp_path, '[smtp]\nhost = "mx"\n', mode=0o644)  # nothing secret: fine
    assert NotifySettings.load({}, config).mail == MailSettings(host="mx")


def test_the_default_config_file(tmp_path: Path) -> None:
    assert default_config({}, tmp_path) is None
    write_config(tmp_path, "")
    assert default_config({}, tmp_path) == tmp_path / "config.toml"
    assert default_config({"INCIDENT_CONFIG": "/etc/x.toml"}, tmp_path) == Path("/etc/x.toml")


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert usage_error({}, path) == f"{path}: no such config file"


# --- rendering -----------------------------------------------------------------------------

CONTEXT: dict[str, Any] = {
    "recipient": "ann@example.org",
    "platform": "Botly",
    "incident": {"name": "3commas-2022", "dump": "3commas_keys.csv", "run": "run-7"},
    "keys": [
        {"label": "main <script>", "exchange": "binance", "status": "revoked",
         "key_prefix": "0123456789ab"},
        {"label": "grid bot", "exchange": "kucoin", "status": "pending",
         "key_prefix": "ba9876543210"},
    ],
}

EXPECTED_TEXT = """\
Hello,

2 exchange API keys you connected to Botly were found in leaked data.
Whoever has that data can use a key to trade on your exchange account, and to
withdraw from it if the key allows withdrawals.

WHAT HAPPENED

Leaked data: 3commas_keys.csv
Our incident: 3commas-2022

We compared the leaked data with our records by fingerprint (a one-way hash), so
no key was copied or sent anywhere to do it.

WHICH KEYS

- main <script> (binance), fingerprint 0123456789ab:
  revoked on the exchange; it no longer works
- grid bot (kucoin), fingerprint ba9876543210:
  not revoked yet

The fingerprint is the start of the key's SHA-256 hash; the key itself is not in
this message.

WHAT TO DO NOW

1. Sign in to your exchange (type its address yourself; do not follow links in
   mails about this) and open its API management page. Delete each key listed
   above that is still there (a revoked key is gone already).
2. If you want to keep trading through Botly, create a new key there:
   without the withdraw right, and restricted to an IP whitelist of the addresses
   Botly publishes. Then connect the new key to Botly.
3. Check your trade history, open orders, deposits and withdrawals for anything
   you did not do, especially buys of small, little-traded coins at unusual
   prices: that is how stolen trading keys have been used. If you find any,
   contact your exchange's support at once and keep the records.
4. Never send an API key or secret to anyone by mail or chat, us included. We
   will never ask for one; do not reply to this message with a key.

Reference: incident run run-7. This message was sent to ann@example.org.

Botly security team
"""


def render(context: dict[str, Any] = CONTEXT) -> Email:
    return render_email("exposed-key", context, to="ann@example.org",
                        message_id="<m1@botly.example>")


def test_the_exposed_key_mail_in_full() -> None:
    email = render()
    assert email.subject == "Botly: 2 of your exchange API keys were in a leak"
    assert email.text == EXPECTED_TEXT
    assert (email.to, email.message_id, email.headers) == ("ann@example.org",
                                                           "<m1@botly.example>", ())
    assert email.html is not None
    assert ("<tr><td>main &lt;script&gt;</td><td>binance</td><td><code>0123456789ab</code>"
            "</td><td>revoked on the exchange; it no longer works</td></tr>") in email.html
    assert "<script>" not in email.html
    one = render({**CONTEXT, "keys": CONTEXT["keys"][1:]})
    assert one.subject == "Botly: your kucoin API key was in a leak"


def test_an_unknown_template_or_a_missing_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as e:
        render_email("exposed-kye", CONTEXT, to="a@b.example", message_id="<m@b>")
    assert str(e.value) == "no notification template 'exposed-kye'; known: exposed-key"
    with pytest.raises(UsageError, match="^templates/notify/exposed-key.subject.j2: "
                                         "'platform' is undefined$"):
        render({k: v for k, v in CONTEXT.items() if k != "platform"})


def test_message_id_is_deterministic_per_key_and_sender_domain() -> None:
    sender = "Security <security@botly.example>"
    assert message_id("ann@example.org/run-7", sender) == (
        "<accbb68b9c30ed2f7b82a17006807c40@botly.example>")
    assert message_id("ann@example.org/run-7", sender) == message_id("ann@example.org/run-7",
                                                                     "x@botly.example")
    assert message_id("bob@example.org/run-7", sender) != message_id("ann@example.org/run-7",
                                                                     sender)


# --- mail ----------------------------------------------------------------------------------

def test_a_mail_arrives_whole_and_can_be_looked_up(sink: MailSink) -> None:
    settings = mail_settings(sink)
    email = render_email("exposed-key", CONTEXT, to="ann@example.org",
                         message_id=message_id("ann@example.org/run-7", settings.sender))
    assert email_sent(settings, email.message_id) is False
    delivery = send_email(settings, email)

    [got] = sink.messages
    assert delivery == Delivery(channel="email", id=email.message_id, to="ann@example.org",
                                status="250", sha256=hashlib.sha256(got.raw).hexdigest(),
                                sent_at=delivery.sent_at)
    assert delivery.sent_at.endswith("Z")
    assert got.to == ("ann@example.org",)
    assert got.mail_from == "security@botly.example"
    assert got.message_id == email.message_id
    msg = got.message
    assert (msg["To"], msg["From"], msg["Subject"]) == (
        "ann@example.org", "Security <security@botly.example>", email.subject)
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == EXPECTED_TEXT
    assert "main &lt;script&gt;" in html.get_content()

    assert email_sent(settings, email.message_id) is True
    assert email_sent(settings, "<other@botly.example>") is False
    assert email_sent(mail_settings(sink, lookup_url=None), email.message_id) is None
    assert sink.stats()["by_recipient"] == {"ann@example.org": 1}


def test_a_text_only_mail_is_not_multipart_and_non_ascii_survives(sink: MailSink) -> None:
    send_email(mail_settings(sink), Email(to="bob@example.org", subject="Zürich: clé",
                                          text="Grüße, clé\n", html=None,
                                          message_id="<m2@botly.example>",
                                          headers=(("X-Incident-Run", "run-7"),)))
    [got] = sink.messages
    assert max(got.raw) < 128  # 7-bit clean, for any server
    assert got.message.get_content_type() == "text/plain"
    assert got.message["Subject"] == "Zürich: clé"
    assert got.message.get_content().replace("\r\n", "\n") == "Grüße, clé\n"
    assert got.message["X-Incident-Run"] == "run-7"


def test_an_smtp_refusal_names_the_server_and_code_not_the_message(sink: MailSink) -> None:
    settings = mail_settings(sink)
    sink.fail_smtp(1, code=451)
    email = render()
    with pytest.raises(NotifyError) as e:
        send_email(settings, email)
    assert str(e.value) == f"127.0.0.1:{sink.smtp_port}: message refused (SMTP 451)"
    assert e.value.code == 451 and e.value.exit_code == ExitCode.SERVICE
    assert isinstance(e.value, ServiceError)
    assert sink.messages == []
    send_email(settings, email)  # the fault was for one message
    assert len(sink.messages) == 1


def test_a_refused_connection_is_a_notify_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = MailSettings(host="127.0.0.1", port=port, timeout=2.0, username="u",
                            password=PASSWORD)
    with pytest.raises(NotifyError) as e:
        send_email(settings, render())
    assert str(e.value) == f"127.0.0.1:{port}: cannot connect (Connection refused)"
    assert PASSWORD not in str(e.value)


def test_starttls_that_the_server_does_not_offer_is_a_notify_error(sink: MailSink) -> None:
    with pytest.raises(NotifyError) as e:
        send_email(mail_settings(sink, starttls=True), render())
    assert str(e.value) == f"127.0.0.1:{sink.smtp_port}: the server does not offer STARTTLS"


# --- webhooks ------------------------------------------------------------------------------

def posts(sink: MailSink, path: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sink.url}{path}", timeout=5)
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()
    return records


def test_a_signed_webhook_is_verified_and_a_repeat_is_a_duplicate(sink: MailSink) -> None:
    payload = {"key": "main", "status": "revoked", "n": 1}
    url = f"http://user:pw@{sink.url.removeprefix('http://')}/hooks/botly?token=abc"
    first = post_webhook(url, payload, secret=SECRET, delivery_id="run-7.k1",
                         event="key.revoked", timeout=5)
    body = b'{"key":"main","n":1,"status":"revoked"}'
    assert first == Delivery(channel="webhook", id="run-7.k1", to=f"{sink.url}/hooks/botly",
                             status="200", sha256=hashlib.sha256(body).hexdigest(),
                             sent_at=first.sent_at)
    post_webhook(url, payload, secret=SECRET, delivery_id="run-7.k1", event="key.revoked",
                 timeout=5)
    assert posts(sink, "/hooks/botly") == [
        {"key": "run-7.k1", "event": "key.revoked", "body": payload, "duplicate": False},
        {"key": "run-7.k1", "event": "key.revoked", "body": payload, "duplicate": True},
    ]
    stats = sink.stats()
    assert (stats["webhooks"], stats["unique_deliveries"], stats["bad_signatures"]) == (2, 1, 0)


def test_a_wrong_secret_is_refused_once_and_not_retried(sink: MailSink) -> None:
    with pytest.raises(NotifyError) as e:
        post_webhook(f"{sink.url}/hooks/botly?token=abc", {"a": 1}, secret="wrong",
                     delivery_id="d1", event="key.revoked", timeout=5, backoff=0.01)
    assert str(e.value) == f"{sink.url}/hooks/botly: webhook refused (HTTP 401)"
    assert e.value.code == 401
    with pytest.raises(NotifyError, match=r"\(HTTP 401\)$"):  # unsigned
        post_webhook(f"{sink.url}/hooks/botly", {"a": 1}, secret=None, delivery_id="d2",
                     event="key.revoked", timeout=5, backoff=0.01)
    stats = sink.stats()
    assert (stats["bad_signatures"], stats["webhooks"]) == (2, 0)
    assert stats["requests"] == {"/hooks/botly": 2}


def test_5xx_is_retried_then_given_up(sink: MailSink) -> None:
    sink.fail_http(2, status=503)
    delivery = post_webhook(f"{sink.url}/hooks/botly", {"a": 1}, secret=SECRET,
                            delivery_id="d1", event="e", timeout=5, backoff=0.01)
    assert delivery.status == "200"
    assert sink.stats()["requests"] == {"/hooks/botly": 3}
    sink.fail_http(10, status=502)
    with pytest.raises(NotifyError) as e:
        post_webhook(f"{sink.url}/hooks/botly", {"a": 1}, secret=SECRET, delivery_id="d2",
                     event="e", timeout=5, backoff=0.01)
    assert str(e.value) == f"{sink.url}/hooks/botly: HTTP 502 (4 attempts)"
    assert sink.stats()["requests"] == {"/hooks/botly": 7}


def test_an_unreachable_webhook_is_retried_then_a_notify_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NotifyError) as e:
        post_webhook(f"http://127.0.0.1:{port}/hooks/x", {}, secret=None, delivery_id="d",
                     event="e", timeout=2, backoff=0.01)
    assert str(e.value) == f"http://127.0.0.1:{port}/hooks/x: cannot connect (4 attempts)"


def test_webhook_arguments_are_checked() -> None:
    with pytest.raises(UsageError, match="plain http only to this machine"):
        post_webhook("http://hooks.example/x", {}, secret=None, delivery_id="d", event="e",
                     timeout=1)
    with pytest.raises(UsageError, match="^webhook event: letters"):
        post_webhook("https://hooks.example/x", {}, secret=None, delivery_id="d",
                     event="a\r\nX-Evil: 1", timeout=1)
    with pytest.raises(UsageError, match="^webhook payload: not JSON"):
        post_webhook("https://hooks.example/x", {"x": float("nan")}, secret=None,
                     delivery_id="d", event="e", timeout=1)


def test_the_admin_endpoint_records_idempotency_keys(sink: MailSink) -> None:
    for _ in range(2):
        answer = requests.post(f"{sink.url}/admin/keys/revoke", json={"label": "main"},
                               headers={"Idempotency-Key": "k1"}, timeout=5)
        assert answer.status_code == 200
    assert answer.json() == {"ok": True, "duplicate": True}
    assert posts(sink, "/admin/keys/revoke") == [
        {"key": "k1", "event": None, "body": {"label": "main"}, "duplicate": False},
        {"key": "k1", "event": None, "body": {"label": "main"}, "duplicate": True},
    ]


# --- signatures ----------------------------------------------------------------------------

def test_sign_format_and_verification() -> None:
    body = b'{"a":1}'
    header = sign("s", 1_700_000_000, body)
    mac = hmac.new(b"s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert verify_signature("s", header, body, now=1_700_000_100)
    assert verify_signature("s", f"{header},v1=00ff", body, now=1_700_000_000)  # rotation
    assert not verify_signature("s", header, body, now=1_700_000_301)  # too old
    assert not verify_signature("s", header, body, now=1_699_999_699)  # from the future
    assert not verify_signature("s", header, b'{"a":2}', now=1_700_000_000)  # tampered
    assert not verify_signature("other", header, body, now=1_700_000_000)
    for broken in ("", "t=1700000000", f"v1={mac}", "t=x,v1=00", "garbage"):
        assert not verify_signature("s", broken, body, now=1_700_000_000)
    assert verify_signature("s", sign("s", int(time.time()), body), body)


# --- the sink as a program -----------------------------------------------------------------

def test_mailsink_main_prints_its_addresses_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "mailsink.py"), "--outdir", str(tmp_path),
         "--webhook-secret-env", "SINK_SECRET"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SINK_SECRET": SECRET})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("mailsink smtp=127.0.0.1:"), line
        smtp, http = (part.split("=", 1)[1] for part in line.split()[1:])
        host, port = smtp.split(":")
        send_email(MailSettings(host=host, port=int(port), timeout=5), render())
        stats = json.loads(requests.get(f"{http}/_stats", timeout=5).text)
        assert stats["messages"] == 1
        eml = tmp_path / "0001.eml"
        assert eml.read_bytes().startswith(b"Message-ID: <m1@botly.example>")
        assert eml.stat().st_mode & 0o077 == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
