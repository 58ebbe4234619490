"""Kraken: key read-out (GetApiKeyInfo). Keys are deleted on the website only.

Signing (docs "Spot REST Authentication"): API-Sign is base64 HMAC-SHA512, keyed with the
base64-decoded secret, of `URI path + SHA256(nonce + POST data)`; the nonce is also the
first field of the form-encoded POST data. The nonce must grow for each key: ours is the
time in milliseconds, as in Kraken's example.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident.exchanges.http import Prepared, Reply
from incident.exchanges.interface import (
    Credential, CredentialMismatch, ExchangeError, KeyAudit, ManualStep, NotSupported,
    RateLimited, strings,
)
from incident.exchanges.keyops import SignedConnector, bucket, iso, payload, refusal

REVOKED = {"EAPI:Invalid key": "invalid API key"}
AUTH = {"EAPI:Invalid signature": "bad signature",
        "EAPI:Invalid nonce": "nonce refused (not above the last one this key used)",
        "EGeneral:Temporary lockout": "temporarily locked out",
        "EAPI:Invalid otp": "the key needs its one-time password"}
DENIED = {"EGeneral:Permission denied": "the key lacks the permission",
          "EAPI:Feature disabled": "API feature disabled for this account"}
UNKNOWN_METHOD = {"EGeneral:Unknown method", "EQuery:Unknown method"}


def sign(cred: Credential, path: str, *, params: Mapping[str, str] | None = None,
         now_ms: int) -> Prepared:
    key, secret = cred.require_secret("kraken")
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise CredentialMismatch("kraken: the API secret (private key) is not base64, as "
                                 "Kraken issues it") from None
    nonce = str(now_ms)
    data = urlencode({"nonce": nonce, **(params or {})})
    message = path.encode() + hashlib.sha256((nonce + data).encode()).digest()
    mac = hmac.new(raw, message, hashlib.sha512).digest()
    headers = {"API-Key": key, "API-Sign": base64.b64encode(mac).decode(),
               "Content-Type": "application/x-www-form-urlencoded"}
    return Prepared("POST", path, headers, data.encode())


class Kraken(SignedConnector):
    name = "kraken"
    display = "Kraken"
    api_management_url = "https://pro.kraken.com/app/settings/api"
    readout = "POST /0/private/GetApiKeyInfo"
    manual_revoke = (
        ManualStep("Log in to Kraken (Kraken Pro) and open Settings > API.",
                   api_management_url),
        ManualStep("Find the key by its name (description) and the first characters of the "
                   "API key."),
        ManualStep("Open the key's menu (the three dots) and choose Delete, then confirm."),
        ManualStep("Check the key is no longer listed, then run verify-revoked.",
                   api_management_url),
    )
    revoked_codes = frozenset(REVOKED)
    restrict_step = ("Open the key's menu and choose Edit: untick every Trade and Funds "
                     "permission except the Query ones, set an IP allowlist, then save.")

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        errors = body.get("error") if isinstance(body, dict) else None
        if status < 300 and isinstance(body, dict) and not errors:
            return None
        code = str(errors[0]) if isinstance(errors, list) and errors else ""
        if code == "EAPI:Rate limit exceeded":
            return RateLimited("rate limit exceeded (code EAPI:Rate limit exceeded)",
                               exchange=self.name, code=code)
        return refusal(self.name, code, status, revoked=REVOKED, auth=AUTH, denied=DENIED)

    def _readout(self, cred: Credential) -> Reply:
        reply: Reply = self.http.call(
            lambda: sign(cred, "/0/private/GetApiKeyInfo", now_ms=int(time.time() * 1000)),
            self.classify, weight=1, bucket=bucket(cred.key.reveal()))
        return reply

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        try:
            data = payload(self._readout(cred), "result")
        except ExchangeError as e:
            if e.code in UNKNOWN_METHOD:
                raise NotSupported("Kraken: this account has no GetApiKeyInfo; read the key's "
                                   f"permissions at {self.api_management_url}") from None
            raise
        perms = strings(data.get("permissions"))
        ips = strings(data.get("ipAllowlist"))
        return KeyAudit(
            self.name, label,
            can_read=any(p.startswith("query-") or p == "export-data" for p in perms),
            can_trade="modify-trades" in perms, can_withdraw="withdraw-funds" in perms,
            can_transfer=None, ip_restricted=bool(ips), ip_whitelist=ips,
            created_at=iso(data.get("createdTime")), expires_at=iso(data.get("validUntil")),
            permissions=perms, responses=self.http.recorder.take())
