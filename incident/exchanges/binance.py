"""Binance spot: signed REST (HMAC-SHA256 over the query string, key in X-MBX-APIKEY).

A main-account key cannot delete itself by API: revoking one is manual (the steps below).
A sub-account key is deleted, or restricted to an IP whitelist, through the master
account's key. Binance answers a dead key, a wrong address and a missing permission alike
(-2015), so verification names the code and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident.exchanges.http import Prepared
from incident.exchanges.keyops import bucket, iso
from incident.exchanges.interface import (ActionResult, Connector, Credential, ExchangeAuthError,
                                          ExchangeError, KeyAudit, KeyRevoked, ManualStep,
                                          PermissionDenied, Restriction, SubAccount,
                                          Verification)

NAME = "binance"
# -2015 invalid key, IP or permission; -2014 malformed key; -2008 no such key id
REVOKED = frozenset({"-2015", "-2014", "-2008"})
AUTH = frozenset({"-1022", "-1021", "-1002"})  # bad signature, timestamp, unauthorized
API = "https://www.binance.com/en/my/settings/api-management"


def signed(cred: Credential, method: str, path: str, params: Mapping[str, Any],
           now_ms: int | None = None, recv_window: int = 5000) -> Prepared:
    """A signed Binance request: params, timestamp and recvWindow in the query, then the
    HMAC-SHA256 of that query string as `signature`."""
    key, secret = cred.require_secret(NAME)
    query = urlencode({**params, "recvWindow": recv_window,
                       "timestamp": now_ms if now_ms is not None else int(time.time() * 1000)})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return Prepared(method, f"{path}?{query}&signature={signature}", {"X-MBX-APIKEY": key})


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
    code = str(body.get("code")) if isinstance(body, dict) and "code" in body else None
    if status < 400 and (code is None or code == "200" or code == "0"):
        return None
    if code in REVOKED:
        return KeyRevoked("the key was refused (-2015: the key does not exist, or may not "
                          "be used from this address or for this action)", exchange=NAME,
                          code=code)
    if code in AUTH:
        what = {"-1022": "the signature was refused: the secret does not belong to this key",
                "-1021": "the request's timestamp was refused: check this machine's clock"}
        return ExchangeAuthError(what.get(code, "not authorized"), exchange=NAME, code=code)
    if status in (401, 403):
        return PermissionDenied(f"HTTP {status}", exchange=NAME, code=code)
    return ExchangeError(f"HTTP {status}" + (f", code {code}" if code else ""),
                         exchange=NAME, code=code)


def used_weight(headers: Mapping[str, str]) -> tuple[int, None, None] | None:
    """Binance's count of the key's weight in the current window (X-MBX-USED-WEIGHT-1M)."""
    for name, value in headers.items():
        if name.lower().startswith("x-mbx-used-weight-"):
            try:
                return int(value), None, None
            except ValueError:
                return None
    return None


class Binance(Connector):
    name = NAME
    display = "Binance"
    api_management_url = API
    master_revoke = True
    master_restrict = True
    revoked_codes = REVOKED
    manual_revoke = (
        ManualStep("Log in to Binance and open Account > API Management.", API),
        ManualStep("Find the key by its label and the first characters of its API key."),
        ManualStep("Click Delete next to it (or 'Delete all API' to remove every key) and "
                   "confirm with your 2FA code."),
        ManualStep("If you keep other keys, click Edit restrictions on each: 'Restrict access "
                   "to trusted IPs only', and untick 'Enable Spot & Margin Trading' where a "
                   "key only reads."),
        ManualStep("Check Account > API Management no longer lists the key, then run "
                   "`incident verify-revoked LABEL`."),
    )

    def _pace(self) -> None:
        """Learn the request-weight limit from exchangeInfo once per pacer, and pace by it."""
        pacer = self.http.pacer
        if pacer.configured:
            return
        reply = self.http.call(lambda: Prepared("GET", "/api/v3/exchangeInfo?symbol=BTCUSDT"),
                               classify, weight=20)
        units = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
        limits = (reply.json() or {}).get("rateLimits") or []
        for r in limits:
            if r.get("rateLimitType") == "REQUEST_WEIGHT" and r.get("interval") in units:
                window = units[r["interval"]] * int(r.get("intervalNum") or 1)
                pacer.configure(int(r["limit"]), float(window))
                return
        pacer.configure(6000, 60.0)

    def _call(self, cred: Credential, method: str, path: str, params: Mapping[str, Any],
              weight: int = 1) -> Any:
        self._pace()
        reply = self.http.call(lambda: signed(cred, method, path, params), classify,
                               weight=weight, bucket=bucket(cred.key.reveal()), observe=used_weight)
        return reply.json()

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        r = self._call(cred, "GET", "/sapi/v1/account/apiRestrictions", {}) or {}
        perms = tuple(sorted(k for k, v in r.items() if k.startswith(("enable", "permits"))
                             and v is True))
        transfer = bool(r.get("enableInternalTransfer") or r.get("permitsUniversalTransfer"))
        return KeyAudit(NAME, label, can_read=r.get("enableReading"),
                        can_trade=r.get("enableSpotAndMarginTrading"),
                        can_withdraw=r.get("enableWithdrawals"), can_transfer=transfer,
                        ip_restricted=r.get("ipRestrict"),
                        created_at=iso(r.get("createTime")),
                        expires_at=iso(r.get("tradingAuthorityExpirationTime")),
                        permissions=perms, responses=self.http.recorder.take())

    def verify_revoked(self, label: str, cred: Credential) -> Verification:
        endpoint = "GET /sapi/v1/account/apiRestrictions"
        try:
            self._call(cred, "GET", "/sapi/v1/account/apiRestrictions", {})
        except KeyRevoked as e:
            return Verification(NAME, label, True, endpoint, e.code, _now(),
                                self.http.recorder.take())
        return Verification(NAME, label, False, endpoint, None, _now(),
                            self.http.recorder.take())

    def _already(self, label: str, cred: Credential) -> bool:
        """Whether the key is dead already (when we hold its secret to ask)."""
        if cred.secret is None:
            return False
        return self.verify_revoked(label, cred).revoked

    def revoke(self, label: str, cred: Credential, *, sub: SubAccount | None = None,
               dry_run: bool = False) -> ActionResult:
        if sub is None:
            return self.manual(label, "revoke")
        call = "DELETE /sapi/v1/sub-account/subAccountApi"
        if self._already(label, cred):
            return ActionResult(NAME, label, "revoke", "already", "api:master",
                                "the key is revoked already; nothing was changed",
                                responses=self.http.recorder.take())
        if dry_run:
            return ActionResult(NAME, label, "revoke", "dry-run", "api:master",
                                f"would delete the key of sub-account {sub.account} with "
                                f"master key '{sub.master_label}'", calls=(call,),
                                responses=self.http.recorder.take())
        self.http.recorder.hide(cred.key.reveal())
        try:
            self._call(sub.master, "DELETE", "/sapi/v1/sub-account/subAccountApi",
                       {"email": sub.account, "subAccountApiKey": cred.key.reveal()})
        except KeyRevoked as e:
            if _master_ok(self, sub):
                return ActionResult(NAME, label, "revoke", "already", "api:master",
                                    f"Binance says the key does not exist ({e.code})",
                                    calls=(call,), responses=self.http.recorder.take())
            raise
        return ActionResult(NAME, label, "revoke", "done", "api:master",
                            f"deleted the key of sub-account {sub.account}", calls=(call,),
                            responses=self.http.recorder.take())

    def restrict(self, label: str, cred: Credential, restriction: Restriction, *,
                 sub: SubAccount | None = None, dry_run: bool = False) -> ActionResult:
        if sub is None:
            return ActionResult(NAME, label, "restrict", "manual", "manual",
                                "a main-account key's restrictions are edited in the web UI",
                                steps=self.manual_revoke[:1] + (ManualStep(
                                    "Click Edit restrictions on the key: choose 'Restrict "
                                    "access to trusted IPs only' and untick trading."),))
        if not restriction.ips:
            raise PermissionDenied("Binance restricts a sub-account key by IP whitelist: "
                                   "give --ip ADDRESS (at least one)", exchange=NAME)
        call = "POST /sapi/v2/sub-account/subAccountApi/ipRestriction"
        if dry_run:
            return ActionResult(NAME, label, "restrict", "dry-run", "api:master",
                                f"would allow only {', '.join(restriction.ips)}",
                                calls=(call,))
        self.http.recorder.hide(cred.key.reveal())
        self._call(sub.master, "POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction",
                   {"email": sub.account, "subAccountApiKey": cred.key.reveal(),
                    "status": "2", "ipAddress": ",".join(restriction.ips)})
        return ActionResult(NAME, label, "restrict", "done", "api:master",
                            f"only {', '.join(restriction.ips)} may use the key",
                            calls=(call,), responses=self.http.recorder.take())


def _master_ok(conn: Binance, sub: SubAccount) -> bool:
    """Whether the master key itself still works (so a -2015 was about the sub key)."""
    try:
        conn._call(sub.master, "GET", "/sapi/v1/account/apiRestrictions", {})
    except KeyRevoked:
        return False
    return True


def _now() -> str:
    from incident.exchanges.http import utc_now

    return utc_now()
