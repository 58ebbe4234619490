"""OKX: key read-out, and sub-account keys revoked or restricted through the master key.

Signing (docs "REST Authentication"): OK-ACCESS-SIGN is base64 HMAC-SHA256 of
`timestamp + METHOD + requestPath[?query] + body` with the secret; the timestamp is ISO 8601
UTC with milliseconds (`2020-12-08T09:08:57.715Z`), the passphrase is sent as typed. The
master key must be bound to IP addresses for the sub-account calls (OKX's rule). A
main-account key cannot delete itself by API: manual steps.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident.exchanges.http import Prepared, Reply
from incident.exchanges.interface import (
    Credential, ExchangeError, KeyAudit, ManualStep, Restriction, SubAccount,
)
from incident.exchanges.keyops import (
    SignedConnector, bucket, compact, passphrase, payload, refusal, tolerant,
)

REVOKED = {"50111": "invalid API key", "50119": "the API key does not exist"}
AUTH = {
    "50100": "the API key is frozen", "50101": "the key belongs to another environment",
    "50102": "timestamp expired", "50103": "key header missing",
    "50104": "passphrase header missing", "50105": "wrong passphrase",
    "50106": "signature header missing", "50107": "timestamp header missing",
    "50112": "timestamp refused", "50113": "bad signature", "50114": "authorization refused",
}
DENIED = {"50110": "request IP not in the key's whitelist",
          "59500": "only a main-account key may do this"}
SUB_KEY_GONE = "59506"  # "APIKey does not exist", answering a master's call about a sub key


def stamp(now_ms: int) -> str:
    when = dt.datetime.fromtimestamp(now_ms // 1000, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now_ms % 1000:03d}Z"


def sign(cred: Credential, method: str, path: str, *, query: Mapping[str, str] | None = None,
         body: Mapping[str, Any] | None = None, now_ms: int) -> Prepared:
    key, secret = cred.require_secret("okx")
    target = path + (f"?{urlencode(query)}" if query else "")
    text = compact(body) if body is not None else ""
    ts = stamp(now_ms)
    mac = hmac.new(secret.encode(), (ts + method + target + text).encode(), hashlib.sha256)
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": base64.b64encode(mac.digest()).decode(),
               "OK-ACCESS-TIMESTAMP": ts, "OK-ACCESS-PASSPHRASE": passphrase(cred, "okx"),
               "Content-Type": "application/json"}
    return Prepared(method, target, headers, text.encode() if body is not None else None)


class OKX(SignedConnector):
    name = "okx"
    display = "OKX"
    api_management_url = "https://www.okx.com/account/my-api"
    readout = "GET /api/v5/account/config"
    manual_revoke = (
        ManualStep("Log in to OKX on the web and open API keys (profile menu > API).",
                   api_management_url),
        ManualStep("Find the key by its name (label) and the first characters of the API "
                   "key; for a sub-account key switch to that sub-account first."),
        ManualStep("Click Delete on the key and confirm with your 2FA / security "
                   "verification."),
        ManualStep("Check the key is no longer listed, then run verify-revoked.",
                   api_management_url),
    )
    needs_passphrase = True
    restrict_step = ("Click Edit on the key: untick Trade and Withdraw, keep Read, bind it to "
                     "your own IP addresses, then confirm.")
    master_revoke = True
    master_restrict = True
    revoked_codes = frozenset(REVOKED)

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        code = str(body.get("code", "")) if isinstance(body, dict) else ""
        if status < 300 and code == "0":
            return None
        return refusal(self.name, code, status, revoked=REVOKED, auth=AUTH, denied=DENIED)

    def _call(self, cred: Credential, method: str, path: str, *,
              query: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None,
              gone: list[bool] | None = None) -> Reply:
        check = self.classify if gone is None else tolerant(
            self.classify, lambda s, b: isinstance(b, dict) and b.get("code") == SUB_KEY_GONE,
            gone)
        reply: Reply = self.http.call(
            lambda: sign(cred, method, path, query=query, body=body,
                         now_ms=int(time.time() * 1000)),
            check, weight=1, bucket=bucket(cred.key.reveal()))
        return reply

    def _readout(self, cred: Credential) -> Reply:
        return self._call(cred, "GET", "/api/v5/account/config")

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        data = payload(self._readout(cred))
        perms = tuple(p.strip() for p in str(data.get("perm") or "").split(",") if p.strip())
        ips = tuple(i.strip() for i in str(data.get("ip") or "").split(",") if i.strip())
        uid, main = data.get("uid"), data.get("mainUid")
        return KeyAudit(
            self.name, label, can_read="read_only" in perms, can_trade="trade" in perms,
            can_withdraw="withdraw" in perms,
            can_transfer="trade" in perms,  # OKX: "trade" includes funding transfers
            ip_restricted=bool(ips), ip_whitelist=ips,
            is_master=(uid == main) if uid and main else None, permissions=perms,
            responses=self.http.recorder.take())

    def _calls(self, action: str, sub: SubAccount) -> tuple[str, ...]:
        path = "delete-apikey" if action == "revoke" else "modify-apikey"
        return (f"POST /api/v5/users/subaccount/{path}",)

    def _revoke_sub(self, cred: Credential, sub: SubAccount) -> bool:
        gone: list[bool] = []
        self._call(sub.master, "POST", "/api/v5/users/subaccount/delete-apikey",
                   body={"subAcct": sub.account, "apiKey": cred.key.reveal()}, gone=gone)
        return not gone

    def _restrict_sub(self, cred: Credential, sub: SubAccount, r: Restriction) -> bool:
        body = {"subAcct": sub.account, "apiKey": cred.key.reveal()}
        if r.read_only:
            body["perm"] = "read_only"
        if r.ips:
            body["ip"] = ",".join(r.ips)
        gone: list[bool] = []
        self._call(sub.master, "POST", "/api/v5/users/subaccount/modify-apikey", body=body,
                   gone=gone)
        return not gone
