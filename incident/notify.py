"""Notifications: mail to affected users over SMTP, signed JSON webhooks to a platform.

The library never prints or prompts. Settings come from the environment and the
installation's config.toml, never from a playbook:

    [smtp]                         environment (wins over the file)
    host = "smtp.example.com"      INCIDENT_SMTP_HOST
    port = 587                     INCIDENT_SMTP_PORT
    sender = "security@example"    INCIDENT_SMTP_FROM
    username = "..."               INCIDENT_SMTP_USER
    password = "..."               INCIDENT_SMTP_PASSWORD
    starttls = true                INCIDENT_SMTP_STARTTLS   (1/0/true/false/yes/no)
    ssl = false                    INCIDENT_SMTP_SSL
    timeout = 10                   INCIDENT_SMTP_TIMEOUT
    lookup_url = "https://..."     INCIDENT_SMTP_LOOKUP_URL (GET ?message_id= -> {"found"})
    [webhook]
    secret = "..."                 INCIDENT_WEBHOOK_SECRET
    timeout = 10                   INCIDENT_WEBHOOK_TIMEOUT

A webhook body is canonical JSON; with a secret, `X-Incident-Signature: t=<unix>,v1=<hex>`
where v1 = HMAC-SHA256(secret, f"{t}.".encode() + body), as Stripe and GitHub sign theirs.

Errors name the server (host:port, or the URL without user, query or fragment) and the
SMTP or HTTP code; never a message body, a password or the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import smtplib
import socket
import ssl as ssl_module
import stat
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from incident import __version__
from incident.errors import ServiceError, UsageError
from incident.store.db import utc_now

if TYPE_CHECKING:
    import requests

T = TypeVar("T")
USER_AGENT = f"incident/{__version__}"
RETRIES = 3  # after the first attempt, for a webhook or a lookup
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_TOKEN = re.compile(r"[A-Za-z0-9._:@-]{1,200}")
_TEMPLATE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
SMTP_POLICY = SMTP.clone(cte_type="7bit")  # CRLF; non-ASCII text quoted, for any server
_RESERVED_HEADERS = frozenset({"message-id", "date", "from", "to", "subject", "mime-version",
                               "content-type", "content-transfer-encoding", "bcc", "cc"})


class NotifyError(ServiceError):
    """A mail or webhook server failed or refused. `code`: the SMTP or HTTP status, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.code))


# --- settings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int = 25
    sender: str = "incident@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    timeout: float = 10.0
    lookup_url: str | None = field(default=None, repr=False)  # may carry a token

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def default_config(env: Mapping[str, str], data_dir: Path) -> Path | None:
    """The config file to read: $INCIDENT_CONFIG (which must exist), else
    `data_dir/config.toml` if there is one, else None."""
    named = env.get("INCIDENT_CONFIG")
    if named:
        return Path(named).expanduser()
    path = data_dir / "config.toml"
    return path if path.exists() else None


class _Source:
    """Reads and checks one setting, from the file or the environment; every error names
    where the value came from (`config.toml: smtp.port`, `INCIDENT_SMTP_PORT`), never it."""

    def __init__(self, file: Path | None, table: dict[str, Any], env: Mapping[str, str]):
        self.file, self.table, self.env = file, table, env

    def get(self, section: str, key: str, var: str,
            check: Callable[[object, bool], T]) -> tuple[T | None, str]:
        raw = self.env.get(var)
        if raw:  # an empty variable is unset
            where = var
            value: object = raw
            from_env = True
        elif key in self.table.get(section, {}):
            where = f"{self.file}: {section}.{key}"
            value = self.table[section][key]
            from_env = False
        else:
            return None, f"{self.file}: {section}.{key}" if self.file else var
        try:
            return check(value, from_env), where
        except ValueError as e:
            raise UsageError(f"{where}: {e}") from None


def _string(value: object, from_env: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def _host(value: object, from_env: bool) -> str:
    text = _string(value, from_env)
    if any(c.isspace() or c in "/@" for c in text):
        raise ValueError("not a host name")
    return text


def _port(value: object, from_env: bool) -> int:
    if from_env and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError("not a port number")
    return value


def _flag(value: object, from_env: bool) -> bool:
    if from_env and isinstance(value, str):
        value = {"1": True, "true": True, "yes": True, "0": False, "false": False,
                 "no": False}.get(value.strip().lower(), value)
    if not isinstance(value, bool):
        raise ValueError("expected true or false" + (" (or 1/0)" if from_env else ""))
    return value


def _seconds(value: object, from_env: bool) -> float:
    if from_env and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise ValueError("not a number of seconds (above 0, at most 600)")
    return float(value)


def _address(value: object, from_env: bool) -> str:
    text = _string(value, from_env)
    if "@" not in parseaddr(text)[1] or "\n" in text or "\r" in text:
        raise ValueError("not an email address")
    return text


def _url(value: object, from_env: bool) -> str:
    text = _string(value, from_env)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http:// or https:// URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ValueError("plain http only to this machine (127.0.0.1); use https")
    return text


_KEYS = {"smtp": ("host", "port", "sender", "username", "password", "starttls", "ssl",
                  "timeout", "lookup_url"),
         "webhook": ("secret", "timeout")}


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        at = re.search(r"\(at (line \d+), column \d+\)", str(e))
        raise UsageError(f"{path}: not valid TOML" + (f" ({at.group(1)})" if at else "")
                         ) from None
    for section, known in _KEYS.items():
        body = table.get(section, {})
        if not isinstance(body, dict):
            raise UsageError(f"{path}: {section}: expected a [{section}] table")
        for key in body:
            if key not in known:
                raise UsageError(f"{path}: {section}.{key}: unknown key; known: "
                                 + ", ".join(known))
    holds_secret = bool(table.get("smtp", {}).get("password")
                        or table.get("webhook", {}).get("secret"))
    if holds_secret and os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise UsageError(f"{path}: holds a password or secret but other users can read it "
                         f"(mode {oct(stat.S_IMODE(mode))}); run 'chmod 600 {path}'")
    return table


@dataclass(frozen=True)
class NotifySettings:
    mail: MailSettings | None  # None: no SMTP server configured
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_timeout: float = 10.0

    @classmethod
    def load(cls, env: Mapping[str, str], config: Path | None) -> NotifySettings:
        """From `config` (a TOML file; None: no file), then the environment over it.
        See default_config() for where the file usually is."""
        src = _Source(config, _read_config(config) if config else {}, env)
        host, host_at = src.get("smtp", "host", "INCIDENT_SMTP_HOST", _host)
        port, _ = src.get("smtp", "port", "INCIDENT_SMTP_PORT", _port)
        sender, _ = src.get("smtp", "sender", "INCIDENT_SMTP_FROM", _address)
        user, _ = src.get("smtp", "username", "INCIDENT_SMTP_USER", _string)
        password, _ = src.get("smtp", "password", "INCIDENT_SMTP_PASSWORD", _string)
        starttls, starttls_at = src.get("smtp", "starttls", "INCIDENT_SMTP_STARTTLS", _flag)
        use_ssl, ssl_at = src.get("smtp", "ssl", "INCIDENT_SMTP_SSL", _flag)
        timeout, _ = src.get("smtp", "timeout", "INCIDENT_SMTP_TIMEOUT", _seconds)
        lookup, _ = src.get("smtp", "lookup_url", "INCIDENT_SMTP_LOOKUP_URL", _url)
        secret, _ = src.get("webhook", "secret", "INCIDENT_WEBHOOK_SECRET", _string)
        hook_timeout, _ = src.get("webhook", "timeout", "INCIDENT_WEBHOOK_TIMEOUT", _seconds)
        mail = None
        if host is not None:
            if starttls and use_ssl:
                raise UsageError(f"{starttls_at} and {ssl_at}: choose one of STARTTLS and "
                                 "SSL")
            if password is not None and user is None:
                raise UsageError(f"{host_at}: a password is set but no user name")
            mail = MailSettings(
                host=host, port=port or (465 if use_ssl else 587 if starttls else 25),
                sender=sender or "incident@localhost", username=user, password=password,
                starttls=bool(starttls), ssl=bool(use_ssl), timeout=timeout or 10.0,
                lookup_url=lookup)
        elif any(v is not None for v in (port, sender, user, password, starttls, use_ssl,
                                         timeout, lookup)):
            raise UsageError(f"{host_at}: missing (other SMTP settings are set)")
        return cls(mail=mail, webhook_secret=secret, webhook_timeout=hook_timeout or 10.0)

    def require_mail(self) -> MailSettings:
        """The SMTP settings, or a UsageError saying how to give them."""
        if self.mail is None:
            raise UsageError("no SMTP server configured: set INCIDENT_SMTP_HOST, or [smtp] "
                             "host in config.toml")
        return self.mail


# --- mail ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None
    message_id: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Delivery:
    channel: str  # "email" | "webhook"
    id: str  # Message-ID or delivery id
    to: str  # address, or URL without user, query or fragment
    status: str  # "250" for SMTP; the HTTP status code
    sha256: str  # of the exact bytes sent: the RFC 5322 message, or the JSON body
    sent_at: str  # UTC ISO 8601 with a Z


def message_id(key: str, sender: str) -> str:
    """`<{sha256(key)[:32]}@{sender's domain}>`: the same key gives the same Message-ID, so
    a resumed run resends a message as itself and email_sent() can find it."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def templates() -> list[str]:
    """The notification templates shipped: each has a .subject.j2 and a .txt.j2."""
    from incident.resources import resource_dir

    folder = resource_dir("templates") / "notify"
    return sorted(p.name.removesuffix(".subject.j2") for p in folder.glob("*.subject.j2"))


def render_email(template: str, context: Mapping[str, Any], *, to: str,
                 message_id: str) -> Email:
    """templates/notify/<template>.subject.j2 (one line), .txt.j2 and, if there is one,
    .html.j2 (autoescaped), rendered with `context` (an undefined name is an error)."""
    import jinja2

    from incident.resources import template_environment

    known = templates()
    if not _TEMPLATE.fullmatch(template) or template not in known:
        raise UsageError(f"no notification template {template!r}; known: "
                         + ", ".join(known))
    env = template_environment()
    parts: dict[str, str | None] = {}
    for kind in ("subject", "txt", "html"):
        name = f"notify/{template}.{kind}.j2"
        try:
            parts[kind] = env.get_template(name).render(context)
        except jinja2.TemplateNotFound:
            if kind != "html":
                raise UsageError(f"templates/{name}: missing") from None
            parts[kind] = None
        except jinja2.UndefinedError as e:
            raise UsageError(f"templates/{name}: {e.message}") from None
    subject = " ".join((parts["subject"] or "").split())
    return Email(to=to, subject=subject, text=parts["txt"] or "", html=parts["html"],
                 message_id=message_id)


def build_message(settings: MailSettings, email: Email) -> bytes:
    """The RFC 5322 message send_email() sends (CRLF line ends)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    try:
        msg["Message-ID"] = email.message_id
        msg["Date"] = formatdate(usegmt=True)
        msg["From"] = settings.sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        for name, value in email.headers:
            if name.lower() in _RESERVED_HEADERS or not re.fullmatch(r"[A-Za-z0-9-]+", name):
                raise UsageError(f"header {name!r}: not one a template may set")
            msg[name] = value
    except ValueError as e:  # a line break in a header value
        raise UsageError(f"message {email.message_id}: a header value is not one line"
                         ) from e
    msg.set_content(email.text)
    if email.html is not None:
        msg.add_alternative(email.html, subtype="html")
    return msg.as_bytes()


def send_email(settings: MailSettings, email: Email) -> Delivery:
    """Send one message. No retry: a server that accepted the message but whose answer was
    lost would get it twice; the caller resumes with email_sent() instead."""
    sender = parseaddr(settings.sender)[1]
    recipient = parseaddr(email.to)[1]
    if "@" not in recipient:
        raise UsageError(f"message {email.message_id}: the recipient is not an email address")
    raw = build_message(settings, email)
    where = settings.server
    stage = "connect"
    context = ssl_module.create_default_context()
    smtp: smtplib.SMTP | None = None
    try:
        if settings.ssl:
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.starttls:
            stage = "STARTTLS"
            smtp.starttls(context=context)
        if settings.username:
            stage = "login"
            smtp.login(settings.username, settings.password or "")
        stage = "send"
        smtp.sendmail(sender, [recipient], raw)
    except smtplib.SMTPRecipientsRefused as e:
        code = next(iter(e.recipients.values()))[0] if e.recipients else None
        raise NotifyError(f"{where}: recipient refused (SMTP {code})", code) from None
    except smtplib.SMTPResponseException as e:
        what = {smtplib.SMTPSenderRefused: "sender refused",
                smtplib.SMTPDataError: "message refused",
                smtplib.SMTPAuthenticationError: "login refused",
                smtplib.SMTPConnectError: "connection refused by the server",
                smtplib.SMTPHeloError: "greeting refused"}.get(type(e), f"{stage} refused")
        raise NotifyError(f"{where}: {what} (SMTP {e.smtp_code})", e.smtp_code) from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(f"{where}: the server does not offer {stage}") from None
    except smtplib.SMTPServerDisconnected:
        raise NotifyError(f"{where}: the server closed the connection ({stage})") from None
    except ssl_module.SSLError as e:
        raise NotifyError(f"{where}: TLS failed ({e.reason or 'handshake'})") from None
    except (TimeoutError, socket.timeout):
        raise NotifyError(f"{where}: timed out after {settings.timeout:g}s ({stage})"
                          ) from None
    except socket.gaierror:
        raise NotifyError(f"{where}: cannot resolve the host name") from None
    except OSError as e:
        raise NotifyError(f"{where}: cannot {'connect' if stage == 'connect' else stage} "
                          f"({e.strerror or type(e).__name__})") from None
    finally:
        if smtp is not None:
            try:  # sent is sent: a failed QUIT changes nothing
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return Delivery(channel="email", id=email.message_id, to=recipient, status="250",
                    sha256=hashlib.sha256(raw).hexdigest(), sent_at=utc_now())


def email_sent(settings: MailSettings, message_id: str) -> bool | None:
    """Whether the mail service has a message with this Message-ID (GET lookup_url
    ?message_id=..., answered {"found": bool}); None when no lookup_url is set."""
    if settings.lookup_url is None:
        return None
    where = public_url(settings.lookup_url)
    response = _request("GET", settings.lookup_url, params={"message_id": message_id},
                        timeout=settings.timeout)
    if response.status_code != 200:
        raise NotifyError(f"{where}: lookup answered HTTP {response.status_code}",
                          response.status_code)
    try:
        found = response.json()["found"]
    except (ValueError, KeyError, TypeError):
        found = None
    if not isinstance(found, bool):
        raise NotifyError(f"{where}: lookup answer is not {{\"found\": true|false}}")
    return found


# --- webhooks ------------------------------------------------------------------------------

def public_url(url: str) -> str:
    """`url` without user, password, query or fragment: the part an error may name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise UsageError(f"webhook payload: not JSON ({type(e).__name__})") from None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Incident-Signature value: `t=<unix seconds>,v1=<hex HMAC-SHA256>` of
    f"{timestamp}.".encode() + body."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, *, now: int | None = None,
                     tolerance: int = 300) -> bool:
    """For a receiver: the header is well formed, its time within `tolerance` seconds of
    now, and one of its v1 values (several while a secret is rotated) is the HMAC."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit() and timestamp is None:
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((int(time.time()) if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    ok = False
    for candidate in candidates:  # compare with every one, whichever matches
        ok |= hmac.compare_digest(expected.encode(), candidate.encode())
    return ok


def post_webhook(url: str, payload: Mapping[str, Any], *, secret: str | None,
                 delivery_id: str, event: str, timeout: float,
                 backoff: float = 0.5) -> Delivery:
    """POST `payload` as canonical JSON, signed (each attempt afresh) when `secret` is set.
    2xx: delivered. Timeouts, connection errors, 5xx, 408 and 429: tried again RETRIES
    times (waits of backoff, 2*backoff, ...; Retry-After if longer, up to 30 s), then
    NotifyError; any other answer (4xx, a redirect) is a NotifyError at once. A receiver
    uses X-Incident-Delivery, the same on every attempt, to drop duplicates."""
    try:
        _url(url, False)
    except ValueError as e:
        raise UsageError(f"webhook URL {public_url(url)}: {e}") from None
    for name, value in (("delivery id", delivery_id), ("event", event)):
        if not _TOKEN.fullmatch(value):
            raise UsageError(f"webhook {name}: letters, digits and ._:@- only (1 to 200)")
    body = canonical_json(payload)
    where = public_url(url)

    def headers() -> dict[str, str]:
        h = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
             "X-Incident-Event": event, "X-Incident-Delivery": delivery_id}
        if secret:
            h["X-Incident-Signature"] = sign(secret, int(time.time()), body)
        return h

    response = _request("POST", url, data=body, headers=headers, timeout=timeout,
                        backoff=backoff)
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"{where}: webhook refused (HTTP {response.status_code})",
                          response.status_code)
    return Delivery(channel="webhook", id=delivery_id, to=where,
                    status=str(response.status_code),
                    sha256=hashlib.sha256(body).hexdigest(), sent_at=utc_now())


def _request(method: str, url: str, *, timeout: float, backoff: float = 0.5,
             params: Mapping[str, str] | None = None, data: bytes | None = None,
             headers: Callable[[], dict[str, str]] | None = None) -> requests.Response:
    """One HTTP call with retries of what may pass (no answer, 5xx, 408, 429); returns the
    last answer, whatever its status. Redirects are not followed."""
    import requests

    where = public_url(url)
    for attempt in range(RETRIES + 1):
        wait = backoff * 2 ** attempt
        try:
            with requests.Session() as session:
                response = session.request(
                    method, url, params=params, data=data,
                    headers=headers() if headers else {"User-Agent": USER_AGENT},
                    timeout=timeout, allow_redirects=False)
                response.close()
        except requests.Timeout:
            problem, code = f"timed out after {timeout:g}s", None
        except requests.ConnectionError:
            problem, code = "cannot connect", None
        except requests.RequestException as e:
            raise NotifyError(f"{where}: request failed ({type(e).__name__})") from None
        else:
            if response.status_code < 500 and response.status_code not in (408, 429):
                return response
            problem, code = f"HTTP {response.status_code}", response.status_code
            after = response.headers.get("Retry-After", "")
            if after.isdigit():
                wait = max(wait, min(float(after), 30.0))
        if attempt == RETRIES:
            raise NotifyError(f"{where}: {problem} ({RETRIES + 1} attempts)", code)
        time.sleep(wait)
    raise AssertionError("unreachable")
