"""Gate (API v4): key read-out, and sub-account keys revoked or restricted through the master.

Signing (docs "APIv4 signed request requirements"): SIGN is the hex HMAC-SHA512, with the
secret, of `METHOD\\n/api/v4/path\\nquery\\nhex(SHA512(body))\\ntimestamp`; the timestamp is
in seconds and sent as `Timestamp`. A sub-account key is changed by PUT of the whole key
(fields left out are cleared), so restrict reads the key first and writes it back changed.
A main-account key cannot delete itself by API: manual steps.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident.errors import InputError
from incident.exchanges.http import Prepared, Reply
from incident.exchanges.interface import (
    Credential, ExchangeError, KeyAudit, ManualStep, Restriction, SubAccount, strings,
)
from incident.exchanges.keyops import SignedConnector, bucket, compact, refusal, tolerant

PREFIX = "/api/v4"
REVOKED = {"INVALID_KEY": "invalid API key"}
AUTH = {
    "INVALID_SIGNATURE": "bad signature", "MISSING_REQUIRED_HEADER": "authentication header "
    "missing", "REQUEST_EXPIRED": "timestamp refused", "INVALID_CREDENTIALS": "credentials "
    "refused", "AUTHENTICATION_FAILED": "authentication failed", "ACCOUNT_LOCKED": "account "
    "locked",
}
DENIED = {"FORBIDDEN": "the key lacks the permission", "READ_ONLY": "the key is read-only",
          "IP_FORBIDDEN": "request IP not in the key's whitelist"}


def sign(cred: Credential, method: str, path: str, *, query: Mapping[str, str] | None = None,
         body: Any = None, now_ms: int) -> Prepared:
    """`path` is the full path, /api/v4 included."""
    key, secret = cred.require_secret("gate")
    raw = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    text = compact(body) if body is not None else ""
    ts = str(now_ms // 1000)
    digest = hashlib.sha512(text.encode()).hexdigest()
    payload = "\n".join((method, path, raw, digest, ts))
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()
    headers = {"KEY": key, "Timestamp": ts, "SIGN": mac, "Content-Type": "application/json",
               "Accept": "application/json"}
    target = path + (f"?{urlencode(query)}" if query else "")
    return Prepared(method, target, headers, text.encode() if body is not None else None)


def _missing(status: int, body: Any) -> bool:
    return status == 404


class Gate(SignedConnector):
    name = "gate"
    display = "Gate"
    api_management_url = "https://www.gate.com/myaccount/api_key_manage"
    readout = "GET /api/v4/account/detail"
    manual_revoke = (
        ManualStep("Log in to Gate on the web and open API Management (profile menu > API "
                   "Management).", api_management_url),
        ManualStep("Find the key by its remark and the first characters of the API key; for "
                   "a sub-account key open Sub-Accounts > the sub-account > API keys."),
        ManualStep("Click Delete on the key and confirm with your fund password and 2FA code."),
        ManualStep("Check the key is no longer listed, then run verify-revoked.",
                   api_management_url),
    )
    master_revoke = True
    restrict_step = ("Click Edit on the key: set every permission to Read Only and bind it to "
                     "your own IP addresses, then confirm with your fund password.")
    master_restrict = True
    revoked_codes = frozenset(REVOKED)

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        if status < 300:
            return None
        code = str(body.get("label", "")) if isinstance(body, dict) else ""
        return refusal(self.name, code, status, revoked=REVOKED, auth=AUTH, denied=DENIED)

    def _call(self, cred: Credential, method: str, path: str, *, body: Any = None,
              gone: list[bool] | None = None) -> Reply:
        check = self.classify if gone is None else tolerant(self.classify, _missing, gone)
        reply: Reply = self.http.call(
            lambda: sign(cred, method, PREFIX + path, body=body,
                         now_ms=int(time.time() * 1000)),
            check, weight=1, bucket=bucket(cred.key.reveal()))
        return reply

    def _readout(self, cred: Credential) -> Reply:
        return self._call(cred, "GET", "/account/detail")

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        data = self._readout(cred).json()
        data = data if isinstance(data, dict) else {}
        ips = strings(data.get("ip_whitelist"))
        # account/detail names the key's IP whitelist but not its permissions.
        return KeyAudit(self.name, label, can_read=True, can_trade=None, can_withdraw=None,
                        can_transfer=None, ip_restricted=bool(ips), ip_whitelist=ips,
                        responses=self.http.recorder.take())

    @staticmethod
    def _path(sub: SubAccount, key: str) -> str:
        if not sub.account.isdigit():
            raise InputError("gate: name the sub-account by its numeric user id")
        return f"/sub_accounts/{sub.account}/keys/{key}"

    def _calls(self, action: str, sub: SubAccount) -> tuple[str, ...]:
        method = "DELETE" if action == "revoke" else "PUT"
        return (f"{method} {PREFIX}{self._path(sub, '*')}",)

    def _revoke_sub(self, cred: Credential, sub: SubAccount) -> bool:
        gone: list[bool] = []
        self._call(sub.master, "DELETE", self._path(sub, cred.key.reveal()), gone=gone)
        return not gone

    def _restrict_sub(self, cred: Credential, sub: SubAccount, r: Restriction) -> bool:
        path = self._path(sub, cred.key.reveal())
        gone: list[bool] = []
        current = self._call(sub.master, "GET", path, gone=gone).json()
        if gone:
            return False
        if not isinstance(current, dict):
            raise ExchangeError("an answer that is not a key", exchange=self.name,
                                endpoint=f"GET {PREFIX}{self._path(sub, '*')}")
        perms = [dict(p, read_only=True) if r.read_only else dict(p)
                 for p in current.get("perms") or [] if isinstance(p, dict)]
        body = {"name": current.get("name", ""), "perms": perms,
                "ip_whitelist": list(r.ips) or list(strings(current.get("ip_whitelist")))}
        self._call(sub.master, "PUT", path, body=body, gone=gone)
        return not gone
