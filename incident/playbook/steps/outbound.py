"""Steps that reach people and platforms: notify (e-mail over SMTP, or a signed webhook)
and http (a platform's own admin or revocation endpoint).

Both are writes that a killed run may have half-done. Each attempt of an item carries an id
that is the same on every attempt (Context.key()): the e-mail's Message-ID, the webhook's
X-Incident-Delivery, the http call's Idempotency-Key. After a crash the e-mail is first
looked up by its Message-ID (when the mail service offers a lookup: INCIDENT_SMTP_LOOKUP_URL)
and a call's effect through its `check_url`; what cannot be looked up is sent again with the
same id, for the receiver to drop as a duplicate.

Server settings and secrets (SMTP host, sender, webhook secret, tokens) come from the
config file or the environment, never from the playbook.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import requests

from incident import __version__, audit, notify, registry
from incident.errors import UsageError
from incident.playbook.interface import JSON, Context, Param, Step, StepFailed


def _load_settings(ctx: Context) -> notify.NotifySettings:
    return notify.NotifySettings.load(ctx.env, notify.default_config(ctx.env,
                                                                     ctx.settings.data_dir))


def _log(ctx: Context, action: str, phase: str, outcome: str | None,
         detail: dict[str, Any]) -> None:
    with ctx.store.write() as conn:
        audit.append(conn, action=action, phase=phase, outcome=outcome,
                     detail={"run": ctx.run_id, "step": ctx.step_id, "item": ctx.item,
                             **detail})


shown_url = notify.public_url


def key_facts(ctx: Context, labels: list[str]) -> list[dict[str, Any]]:
    """What a notice says of each key: its exchange, fingerprint prefix, and where it
    stands, from the audit log (revoked, pending, failed; `disabled` when the platform's
    own endpoint turned it off)."""
    out = []
    for label in labels:
        key = registry.get_key(ctx.store, label)
        status = "pending"
        for entry in reversed(audit.entries(ctx.store.conn, label)):
            action, outcome = entry["action"], entry["outcome"]
            if action == "verify-revoked" and outcome == "revoked" or \
                    action == "revoke" and entry["phase"] == "end" and \
                    outcome in ("done", "already"):
                status = "revoked"
                break
            if action == "revoke" and entry["phase"] == "end" and outcome == "failed":
                status = "failed"
                break
        out.append({"label": label, "exchange": key.exchange, "status": status,
                    "key_prefix": (key.key_sha256 or key.key_hmsl or b"").hex()[:12]})
    return out


class Notify(Step):
    name = "notify"
    side_effect = "write"
    summary = "Tell a person (e-mail over SMTP) or a system (webhook signed with HMAC-SHA256)."
    params = {
        "channel": Param("str", default="email", choices=("email", "webhook")),
        "to": Param("str", required=True, help="an e-mail address, or the webhook's URL"),
        "template": Param("str", default="exposed-key", help="templates/notify/NAME.*.j2"),
        "context": Param("dict", default={}, help="what the template is given"),
        "event": Param("str", default="exposed-key", help="the webhook's event name"),
        "keys": Param("list", default=[], help="labels the notice is about: each is "
                                               "described by exchange, fingerprint prefix "
                                               "and status (from the audit log)"),
        "platform": Param("str", default="incident", help="who the notice is from"),
    }

    def _context(self, ctx: Context, args: Mapping[str, Any]) -> dict[str, Any]:
        given = dict(args.get("context") or {})
        incident = {"name": f"run {ctx.run_id}", "dump": "", "run": ctx.run_id,
                    **dict(given.pop("incident", None) or {})}
        return {"recipient": str(args["to"]), "platform": args.get("platform") or "incident",
                "keys": key_facts(ctx, [str(x) for x in args.get("keys") or []]),
                "incident": incident, **given}

    _settings: notify.NotifySettings | None = None

    def settings(self, ctx: Context) -> notify.NotifySettings:
        """Read once per step (an instance lives for one step of one run), not per item."""
        if self._settings is None:
            self._settings = _load_settings(ctx)
        return self._settings

    def _email(self, ctx: Context, args: Mapping[str, Any]) -> tuple[notify.MailSettings,
                                                                     notify.Email]:
        settings = self.settings(ctx).mail
        if settings is None:
            raise UsageError("notify: no SMTP server configured (set INCIDENT_SMTP_HOST, or "
                             "[smtp] host in the config file)")
        email = notify.render_email(str(args.get("template") or "exposed-key"),
                                    self._context(ctx, args), to=str(args["to"]),
                                    message_id=notify.message_id(ctx.key(), settings.sender))
        return settings, email

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        if args.get("channel", "email") == "webhook":
            return self._webhook(ctx, args)
        settings, email = self._email(ctx, args)
        _log(ctx, "notify", "start", None, {"channel": "email", "to": email.to,
                                            "message_id": email.message_id})
        try:
            delivery = notify.send_email(settings, email)
        except Exception as e:
            _log(ctx, "notify", "end", "failed", {"message_id": email.message_id,
                                                  "error": type(e).__name__})
            raise
        _log(ctx, "notify", "end", "sent", {"message_id": delivery.id,
                                             "sha256": delivery.sha256,
                                             "status": delivery.status})
        return {"channel": "email", "to": email.to, "message_id": delivery.id,
                "sha256": delivery.sha256, "sent_at": delivery.sent_at,
                "summary": f"e-mailed {email.to}"}

    def _webhook(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        settings = self.settings(ctx)
        url = str(args["to"])
        delivery_id = hashlib.sha256(ctx.key().encode()).hexdigest()[:32]
        context = self._context(ctx, args)
        payload = {"event": args.get("event") or "exposed-key", "delivery": delivery_id,
                   "run": ctx.run_id, "keys": context["keys"],
                   "incident": context["incident"], "platform": context["platform"],
                   **{k: v for k, v in dict(args.get("context") or {}).items()
                      if k != "incident"}}  # given incident fields are merged above
        _log(ctx, "notify", "start", None, {"channel": "webhook", "to": shown_url(url),
                                            "delivery": delivery_id})
        try:
            delivery = notify.post_webhook(url, payload, secret=settings.webhook_secret,
                                           delivery_id=delivery_id,
                                           event=str(payload["event"]),
                                           timeout=ctx.timeout(settings.webhook_timeout))
        except Exception as e:
            _log(ctx, "notify", "end", "failed", {"delivery": delivery_id,
                                                  "error": type(e).__name__})
            raise
        _log(ctx, "notify", "end", "sent", {"delivery": delivery_id,
                                             "sha256": delivery.sha256,
                                             "status": delivery.status})
        return {"channel": "webhook", "to": shown_url(url), "delivery": delivery_id,
                "status": delivery.status, "sha256": delivery.sha256,
                "sent_at": delivery.sent_at, "summary": f"posted to {shown_url(url)}"}

    def plan(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        if args.get("channel", "email") == "webhook":
            return {"would": "post", "to": shown_url(str(args["to"])),
                    "event": args.get("event"), "summary": f"would post to "
                                                           f"{shown_url(str(args['to']))}"}
        _, email = self._email(ctx, args)  # renders: a template error shows in the dry run
        return {"would": "email", "to": email.to, "subject": email.subject,
                "message_id": email.message_id, "summary": f"would e-mail {email.to}: "
                                                           f"{email.subject}"}

    def check(self, ctx: Context, args: Mapping[str, Any]) -> JSON | None:
        if args.get("channel", "email") == "webhook":
            return None  # sent again with the same X-Incident-Delivery: receivers drop it
        settings, email = self._email(ctx, args)
        found = notify.email_sent(settings, email.message_id)
        if found:
            _log(ctx, "notify", "end", "sent", {"message_id": email.message_id,
                                                 "found_by": "lookup"})
            return {"channel": "email", "to": email.to, "message_id": email.message_id,
                    "found_by": "lookup", "summary": f"{email.to} had it already"}
        if found is None:
            ctx.say(f"  {ctx.item or ctx.step_id}: no mail lookup configured; sending again "
                    f"with the same Message-ID")
        return None


class Http(Step):
    name = "http"
    side_effect = "write"
    summary = "Call a platform's own admin or revocation endpoint, with a templated body."
    params = {
        "method": Param("str", default="POST",
                        choices=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")),
        "url": Param("str", required=True),
        "body": Param("any", help="JSON to send"),
        "headers": Param("dict", default={}),
        "token_env": Param("str", help="an environment variable holding a bearer token"),
        "expect": Param("list", default=[200, 201, 202, 204]),
        "check_url": Param("str", help="after a crash: GET it with ?idempotency_key=KEY; "
                                       "200 means the call landed, 404 not"),
        "timeout": Param("number", default=10.0),
    }

    def _headers(self, ctx: Context, args: Mapping[str, Any]) -> dict[str, str]:
        headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
        for name in headers:
            if name.lower() in ("authorization", "cookie", "x-api-key"):
                raise UsageError(f"http: header '{name}' would put a secret in the "
                                 "playbook; name an environment variable with token_env")
        headers["User-Agent"] = f"incident/{__version__}"
        headers["Idempotency-Key"] = ctx.key()
        if args.get("token_env"):
            token = ctx.env.get(str(args["token_env"]))
            if not token:
                raise UsageError(f"http: ${args['token_env']} is not set")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        method, url = str(args.get("method") or "POST"), str(args["url"])
        headers = self._headers(ctx, args)
        body = args.get("body")
        data = None if body is None else json.dumps(body, sort_keys=True,
                                                    separators=(",", ":")).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        _log(ctx, "http", "start", None, {"method": method, "url": shown_url(url),
                                          "idempotency_key": headers["Idempotency-Key"],
                                          "body_sha256": hashlib.sha256(data or b"").hexdigest()})
        try:
            answer = requests.request(method, url, data=data, headers=headers,
                                      timeout=ctx.timeout(float(args.get("timeout") or 10.0)),
                                      allow_redirects=False)
        except requests.RequestException as e:
            _log(ctx, "http", "end", "failed", {"error": type(e).__name__})
            raise StepFailed(f"{method} {shown_url(url)}: {type(e).__name__}") from None
        digest = hashlib.sha256(answer.content).hexdigest()
        ok = answer.status_code in [int(c) for c in args.get("expect") or [200]]
        _log(ctx, "http", "end", "ok" if ok else "failed",
             {"status": answer.status_code, "response_sha256": digest})
        if not ok:
            raise StepFailed(f"{method} {shown_url(url)} answered {answer.status_code}")
        return {"method": method, "url": shown_url(url), "status": answer.status_code,
                "response_sha256": digest, "summary": f"{method} {shown_url(url)}: "
                                                      f"{answer.status_code}"}

    def plan(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        method, url = str(args.get("method") or "POST"), shown_url(str(args["url"]))
        self._headers(ctx, args)
        return {"would": method, "url": url, "summary": f"would {method} {url}"}

    def check(self, ctx: Context, args: Mapping[str, Any]) -> JSON | None:
        if not args.get("check_url"):
            return None  # sent again with the same Idempotency-Key
        url = str(args["check_url"])
        headers = self._headers(ctx, args)
        try:
            answer = requests.get(url, headers=headers, allow_redirects=False,
                                  params={"idempotency_key": headers["Idempotency-Key"]},
                                  timeout=ctx.timeout(float(args.get("timeout") or 10.0)))
        except requests.RequestException:
            return None
        if answer.status_code == 200:
            return {"url": shown_url(str(args["url"])), "found_by": shown_url(url),
                    "summary": "done by an earlier attempt"}
        return None
