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

from incident.errors import UsageError
from incident.exchanges.http import Prepared
from incident.store.db import utc_now
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
    if 200 <= status < 300 and isinstance(body, (dict, list)) and code in (None, "200", "0"):
        return None
    if 200 <= status < 400 and code is None:  # a redirect, a login page: not Binance's API
        return ExchangeError(f"HTTP {status}, not an answer of Binance's API", exchange=NAME)
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
        except KeyRevoked as e:  # -2015 also covers an IP whitelist: dead *from here*
            return Verification(NAME, label, True, endpoint, e.code, utc_now(),
                                self.http.recorder.take())
        return Verification(NAME, label, False, endpoint, None, utc_now(),
                            self.http.recorder.take())

    def revoke(self, label: str, cred: Credential, *, sub: SubAccount | None = None,
               dry_run: bool = False) -> ActionResult:
        """A sub-account's key, deleted through its master. Binance's own answer to the
        master decides "already" (-2008: no such key); the leaked key's -2015 cannot, as it
        also means "not from this address"."""
        if sub is None:
            return self.manual(label, "revoke")
        if not sub.account:
            raise UsageError("a Binance sub-account key is deleted by its sub-account's "
                             "e-mail: give --sub-account EMAIL")
        call = "DELETE /sapi/v1/sub-account/subAccountApi"
        params = {"email": sub.account, "subAccountApiKey": cred.key.reveal()}
        self.http.recorder.hide(cred.key.reveal())
        if dry_run:  # a read through the master: does the key still exist?
            try:
                self._master(sub, "GET", "/sapi/v1/sub-account/subAccountApi/ipRestriction",
                             params)
            except KeyRevoked as e:
                if e.code != "-2008":
                    raise
                return ActionResult(NAME, label, "revoke", "already", "api:master",
                                    "the key is revoked already; nothing would be sent",
                                    responses=self.http.recorder.take())
            return ActionResult(NAME, label, "revoke", "dry-run", "api:master",
                                f"would delete the key of sub-account {sub.account} with "
                                f"master key '{sub.master_label}'", calls=(call,),
                                responses=self.http.recorder.take())
        try:
            self._master(sub, "DELETE", "/sapi/v1/sub-account/subAccountApi", params)
        except KeyRevoked as e:
            if e.code != "-2008":
                raise
            return ActionResult(NAME, label, "revoke", "already", "api:master",
                                "Binance says the key does not exist (-2008); nothing was "
                                "changed", calls=(call,), responses=self.http.recorder.take())
        return ActionResult(NAME, label, "revoke", "done", "api:master",
                            f"deleted the key of sub-account {sub.account}", calls=(call,),
                            responses=self.http.recorder.take())

    def _master(self, sub: SubAccount, method: str, path: str,
                params: Mapping[str, Any]) -> Any:
        """A call with the master's key; its own refusal (-2015) is named as the master's."""
        try:
            return self._call(sub.master, method, path, params)
        except KeyRevoked as e:
            if e.code == "-2008":  # about the sub-account's key
                raise
            raise ExchangeAuthError(f"the master key '{sub.master_label}' was refused "
                                    f"({e.code}: deleted, or not allowed from this address "
                                    "or for this action)", exchange=NAME, code=e.code) from None

    def restrict(self, label: str, cred: Credential, restriction: Restriction, *,
                 sub: SubAccount | None = None, dry_run: bool = False) -> ActionResult:
        if sub is None:
            return ActionResult(NAME, label, "restrict", "manual", "manual",
                                "a main-account key's restrictions are edited in the web UI",
                                steps=self.manual_revoke[:1] + (ManualStep(
                                    "Click Edit restrictions on the key: choose 'Restrict "
                                    "access to trusted IPs only' and untick trading."),))
        if not restriction.ips:
            raise UsageError("Binance restricts a sub-account key by IP whitelist only: "
                             "give --ip ADDRESS (at least one)")
        if not sub.account:
            raise UsageError("give --sub-account EMAIL: Binance names the sub-account by it")
        call = "POST /sapi/v2/sub-account/subAccountApi/ipRestriction"
        if dry_run:
            return ActionResult(NAME, label, "restrict", "dry-run", "api:master",
                                f"would allow only {', '.join(restriction.ips)}",
                                calls=(call,))
        self.http.recorder.hide(cred.key.reveal())
        self._master(sub, "POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction",
                   {"email": sub.account, "subAccountApiKey": cred.key.reveal(),
                    "status": "2", "ipAddress": ",".join(restriction.ips)})
        return ActionResult(NAME, label, "restrict", "done", "api:master",
                            f"only {', '.join(restriction.ips)} may use the key"
                            + (" (Binance cannot make a sub-account key read-only by API: "
                               "trading stays as it was)" if restriction.read_only else ""),
                            calls=(call,), responses=self.http.recorder.take())
