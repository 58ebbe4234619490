"""KuCoin: key read-out, and sub-account keys revoked or restricted through the master key.

Signing (docs "Authentication", API key version 2): KC-API-SIGN is base64 HMAC-SHA256 of
`timestamp + METHOD + path[?query] + body` with the secret; KC-API-PASSPHRASE is the
passphrase itself HMAC-SHA256'd with the secret, base64. The query is signed as it reads
before URL encoding. A main-account key cannot delete itself by API: manual steps.
"""

from __future__ import annotations

import base64
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
    SignedConnector, bucket, compact, iso, passphrase, payload, refusal,
)

OK = "200000"
REVOKED = {"400003": "the API key does not exist"}
AUTH = {
    "400001": "authentication headers missing", "400002": "timestamp refused",
    "400004": "wrong passphrase", "400005": "bad signature", "411100": "account frozen",
}
DENIED = {"400006": "request IP not in the key's whitelist",
          "400007": "the key lacks the permission"}
TRADE = {"Spot", "Margin", "Futures", "Trade", "LeverageToken"}
WITHDRAW = {"Transfer", "Withdrawal"}


def _hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
                            ).decode()


def sign(cred: Credential, method: str, path: str, *, query: Mapping[str, str] | None = None,
         body: Mapping[str, Any] | None = None, now_ms: int) -> Prepared:
    key, secret = cred.require_secret("kucoin")
    raw = "&".join(f"{k}={v}" for k, v in (query or {}).items())  # signed unencoded
    text = compact(body) if body is not None else ""
    stamp = str(now_ms)
    headers = {
        "KC-API-KEY": key, "KC-API-KEY-VERSION": "2", "KC-API-TIMESTAMP": stamp,
        "KC-API-PASSPHRASE": _hmac(secret, passphrase(cred, "kucoin")),
        "KC-API-SIGN": _hmac(secret, stamp + method + path + (f"?{raw}" if raw else "") + text),
        "Content-Type": "application/json",
    }
    sent = path + (f"?{urlencode(query or {})}" if query else "")
    return Prepared(method, sent, headers, text.encode() if body is not None else None)


class KuCoin(SignedConnector):
    name = "kucoin"
    display = "KuCoin"
    api_management_url = "https://www.kucoin.com/account/api"
    readout = "GET /api/v1/user/api-key"
    manual_revoke = (
        ManualStep("Log in to KuCoin on the web and open API Management (profile menu > "
                   "API Management).", api_management_url),
        ManualStep("Find the key by its remark or the first characters of the API key; for "
                   "a sub-account key open Sub-Accounts > the sub-account > API."),
        ManualStep("Click Delete next to the key and confirm with your trading password and "
                   "2FA code."),
        ManualStep("Reload the page and check the key is no longer listed, then run "
                   "verify-revoked.", api_management_url),
    )
    needs_passphrase = True
    restrict_step = ("Click Edit on the key: leave only the General permission ticked and bind "
                     "it to your own IP addresses, then confirm with 2FA.")
    master_revoke = True
    master_restrict = True
    revoked_codes = frozenset(REVOKED)

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        code = str(body.get("code", "")) if isinstance(body, dict) else ""
        if status < 300 and code == OK:
            return None
        return refusal(self.name, code, status, revoked=REVOKED, auth=AUTH, denied=DENIED)

    def _call(self, cred: Credential, method: str, path: str, *, weight: int,
              query: Mapping[str, str] | None = None,
              body: Mapping[str, Any] | None = None) -> Reply:
        reply: Reply = self.http.call(
            lambda: sign(cred, method, path, query=query, body=body,
                         now_ms=int(time.time() * 1000)),
            self.classify, weight=weight, bucket=bucket(cred.key.reveal()))
        return reply

    def _readout(self, cred: Credential) -> Reply:
        return self._call(cred, "GET", "/api/v1/user/api-key", weight=20)

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        data = payload(self._readout(cred))
        perms = tuple(p.strip() for p in str(data.get("permission") or "").split(",")
                      if p.strip())
        ips = tuple(i.strip() for i in str(data.get("ipWhitelist") or "").split(",") if i.strip())
        master = data.get("isMaster")
        return KeyAudit(
            self.name, label, can_read="General" in perms,
            can_trade=bool(TRADE & set(perms)), can_withdraw=bool(WITHDRAW & set(perms)),
            can_transfer=bool({"InnerTransfer", *WITHDRAW} & set(perms)),
            ip_restricted=bool(ips), ip_whitelist=ips, created_at=iso(data.get("createdAt")),
            is_master=master if isinstance(master, bool) else None, permissions=perms,
            responses=self.http.recorder.take())

    def _calls(self, action: str, sub: SubAccount) -> tuple[str, ...]:
        if action == "revoke":
            return (f"DELETE /api/v1/sub/api-key?apiKey=*&subName={sub.account}&passphrase=*",)
        return ("POST /api/v1/sub/api-key/update",)

    def _revoke_sub(self, cred: Credential, sub: SubAccount) -> bool:
        query = {"apiKey": cred.key.reveal(), "subName": sub.account,
                 "passphrase": passphrase(cred, self.name)}
        self._call(sub.master, "DELETE", "/api/v1/sub/api-key", query=query, weight=30)
        return True

    def _restrict_sub(self, cred: Credential, sub: SubAccount, r: Restriction) -> bool:
        body: dict[str, Any] = {"subName": sub.account, "apiKey": cred.key.reveal(),
                                "passphrase": passphrase(cred, self.name)}
        if r.read_only:
            body["permission"] = "General"
        if r.ips:
            body["ipWhitelist"] = ",".join(r.ips)
        self._call(sub.master, "POST", "/api/v1/sub/api-key/update", body=body, weight=30)
        return True
