"""Bybit v5: signed REST (X-BAPI-* headers, HMAC-SHA256 of timestamp + key + recvWindow +
query or body).

The one exchange whose main-account key can delete itself (`/v5/user/delete-api`, only when
the key holds a transfer or withdrawal permission) or make itself read-only
(`/v5/user/update-api`). A master key deletes or restricts its sub-accounts' keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from incident.errors import UsageError
from incident.exchanges.http import Prepared
from incident.store.db import utc_now
from incident.exchanges.keyops import bucket
from incident.exchanges.interface import (ActionResult, Connector, Credential, ExchangeAuthError,
                                          ExchangeError, KeyAudit, KeyRevoked, ManualStep,
                                          PermissionDenied, RateLimited, Restriction, SubAccount,
                                          Verification)

NAME = "bybit"
REVOKED = frozenset({"10003", "33004"})  # invalid key; key expired
AUTH = frozenset({"10004", "10002", "10007"})  # signature; timestamp; user authentication
DENIED = frozenset({"10005", "10010"})  # permission; IP not whitelisted
API = "https://www.bybit.com/app/user/api-management"
RECV_WINDOW = "5000"


def signed(cred: Credential, method: str, path: str, params: Mapping[str, Any],
           now_ms: int | None = None) -> Prepared:
    key, secret = cred.require_secret(NAME)
    ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
    if method == "GET":
        payload = urlencode(params)
        full, body = (f"{path}?{payload}" if payload else path), None
    else:
        payload = json.dumps(dict(params), separators=(",", ":"))
        full, body = path, payload.encode()
    sign = hmac.new(secret.encode(), (ts + key + RECV_WINDOW + payload).encode(),
                    hashlib.sha256).hexdigest()
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": RECV_WINDOW,
               "X-BAPI-SIGN": sign, "Content-Type": "application/json"}
    return Prepared(method, full, headers, body)


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
    code = str(body.get("retCode")) if isinstance(body, dict) and "retCode" in body else None
    if status < 400 and code == "0":
        return None
    if code in REVOKED:
        return KeyRevoked("the key is invalid (it does not exist or has expired)",
                          exchange=NAME, code=code)
    if code in AUTH:
        what = {"10004": "the signature was refused: the secret does not belong to this key",
                "10002": "the request's timestamp was refused: check this machine's clock"}
        return ExchangeAuthError(what.get(code, "not authorized"), exchange=NAME, code=code)
    if code == "10006":
        return RateLimited("too many requests", exchange=NAME, code=code)
    if code in DENIED:
        what = {"10005": "the key lacks the permission for this",
                "10010": "this address is not on the key's IP whitelist"}
        return PermissionDenied(what[code], exchange=NAME, code=code)
    return ExchangeError(f"HTTP {status}" + (f", retCode {code}" if code else ""),
                         exchange=NAME, code=code)


def used_weight(headers: Mapping[str, str]) -> tuple[int, int, float | None] | None:
    """(used, limit, window end) from Bybit's X-Bapi-Limit* headers."""
    try:
        limit = int(headers["X-Bapi-Limit"])
        used = limit - int(headers["X-Bapi-Limit-Status"])
    except (KeyError, ValueError):
        return None
    try:
        ends: float | None = int(headers["X-Bapi-Limit-Reset-Timestamp"]) / 1000
    except (KeyError, ValueError):
        ends = None
    return used, limit, ends


NO_SUCH_KEY = "10001"  # delete-sub-api: the sub-account key does not exist (any more)


def _perm_names(perms: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(f"{group}:{p}" for group, ps in perms.items() for p in ps or ()))


class Bybit(Connector):
    name = NAME
    display = "Bybit"
    api_management_url = API
    self_revoke = True
    self_restrict = True
    master_revoke = True
    master_restrict = True
    revoked_codes = REVOKED
    manual_revoke = (
        ManualStep("Log in to Bybit and open Account & Security > API Management.", API),
        ManualStep("Find the key by its name and the first characters of its API key."),
        ManualStep("Click Delete next to it and confirm with your 2FA code."),
        ManualStep("Check the list no longer shows the key, then run "
                   "`incident verify-revoked LABEL`."),
    )

    def _call(self, cred: Credential, method: str, path: str,
              params: Mapping[str, Any] | None = None) -> Any:
        if not self.http.pacer.configured:  # Bybit's default until its headers say more
            self.http.pacer.configure(10, 1.0)
        reply = self.http.call(lambda: signed(cred, method, path, params or {}), classify,
                               bucket=bucket(cred.key.reveal()), observe=used_weight)
        return (reply.json() or {}).get("result") or {}

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        r = self._call(cred, "GET", "/v5/user/query-api")
        perms = r.get("permissions") or {}
        names = _perm_names(perms)
        wallet = set(perms.get("Wallet") or ())
        trade = any(perms.get(g) for g in ("Spot", "ContractTrade", "Derivatives", "Options"))
        ips = tuple(str(i) for i in r.get("ips") or ())
        return KeyAudit(NAME, label, can_read=True,
                        can_trade=bool(trade) and not r.get("readOnly"),
                        can_withdraw="Withdraw" in wallet,
                        can_transfer=bool(wallet & {"AccountTransfer", "SubMemberTransfer"}),
                        ip_restricted=bool(ips) and ips != ("*",), ip_whitelist=ips,
                        created_at=r.get("createdAt"), expires_at=r.get("expiredAt") or None,
                        is_master=r.get("isMaster"), permissions=names,
                        responses=self.http.recorder.take())

    def _current_ips(self, label: str, cred: Credential) -> tuple[str, ...]:
        if cred.secret is None:
            raise UsageError("give --ip ADDRESS: without the key's secret its current IP "
                             "whitelist cannot be read, and Bybit would drop it")
        return self.audit(label, cred).ip_whitelist or ("*",)

    def verify_revoked(self, label: str, cred: Credential) -> Verification:
        endpoint = "GET /v5/user/query-api"
        try:
            self._call(cred, "GET", "/v5/user/query-api")
        except KeyRevoked as e:
            return Verification(NAME, label, True, endpoint, e.code, utc_now(),
                                self.http.recorder.take())
        return Verification(NAME, label, False, endpoint, None, utc_now(),
                            self.http.recorder.take())

    def _dead(self, label: str, cred: Credential) -> bool:
        """Whether the key's own signed call says it no longer exists (when we hold its
        secret to ask). A key refused only for its IP whitelist is not dead."""
        if cred.secret is None:
            return False
        try:
            return self.verify_revoked(label, cred).revoked
        except PermissionDenied:
            return False

    def revoke(self, label: str, cred: Credential, *, sub: SubAccount | None = None,
               dry_run: bool = False) -> ActionResult:
        method = "api:master" if sub else "api:self"
        if self._dead(label, cred):
            return ActionResult(NAME, label, "revoke", "already", method,
                                "the key is revoked already; nothing was changed",
                                responses=self.http.recorder.take())
        if sub is not None:
            call = "POST /v5/user/delete-sub-api"
            if dry_run:
                return ActionResult(NAME, label, "revoke", "dry-run", method,
                                    f"would delete the sub-account key with master key "
                                    f"'{sub.master_label}'", calls=(call,),
                                    responses=self.http.recorder.take())
            self.http.recorder.hide(cred.key.reveal())
            try:
                self._call(sub.master, "POST", "/v5/user/delete-sub-api",
                           {"apikey": cred.key.reveal()})
            except KeyRevoked as e:  # 10003 here is about the caller: the master's key
                raise ExchangeAuthError(f"the master key '{sub.master_label}' was refused "
                                        f"({e.code})", exchange=NAME, code=e.code) from None
            except ExchangeError as e:
                if e.code != NO_SUCH_KEY:
                    raise
                return ActionResult(NAME, label, "revoke", "already", method,
                                    f"Bybit says the key does not exist ({e.code}); nothing "
                                    "was changed", calls=(call,),
                                    responses=self.http.recorder.take())
            return ActionResult(NAME, label, "revoke", "done", method,
                                "deleted the sub-account's key", calls=(call,),
                                responses=self.http.recorder.take())
        call = "POST /v5/user/delete-api"
        if dry_run:
            return ActionResult(NAME, label, "revoke", "dry-run", method,
                                "would have the key delete itself", calls=(call,),
                                responses=self.http.recorder.take())
        try:
            self._call(cred, "POST", "/v5/user/delete-api", {})
        except KeyRevoked:
            # Only after the key was alive above: an attempt that timed out was retried
            # and the first one had deleted it.
            return ActionResult(NAME, label, "revoke", "done", method,
                                "the key no longer exists", calls=(call,),
                                responses=self.http.recorder.take())
        except PermissionDenied:
            # Bybit lets a key delete itself only with a transfer or withdrawal permission.
            manual = self.manual(label, "revoke")
            return ActionResult(NAME, label, "revoke", "manual", "manual",
                                "Bybit refused the self-delete (the key has no transfer or "
                                "withdrawal permission): make it read-only with `incident "
                                "restrict`, and delete it in the web UI", calls=(call,),
                                steps=manual.steps, responses=self.http.recorder.take())
        return ActionResult(NAME, label, "revoke", "done", method,
                            "the key deleted itself", calls=(call,),
                            responses=self.http.recorder.take())

    def restrict(self, label: str, cred: Credential, restriction: Restriction, *,
                 sub: SubAccount | None = None, dry_run: bool = False) -> ActionResult:
        body: dict[str, Any] = {"readOnly": 1 if restriction.read_only else 0}
        # Bybit reads a missing `ips` as "no IP binding": keep the whitelist the key has.
        ips = restriction.ips or self._current_ips(label, cred)
        body["ips"] = ",".join(ips)
        what = ", ".join(filter(None, ("read-only" if restriction.read_only else "",
                                       "only " + ", ".join(restriction.ips)
                                       if restriction.ips else "")))
        path, method, who = "/v5/user/update-api", "api:self", cred
        if sub is not None:
            path, method, who = "/v5/user/update-sub-api", "api:master", sub.master
            body["apikey"] = cred.key.reveal()
            self.http.recorder.hide(cred.key.reveal())
        call = f"POST {path}"
        if dry_run:
            return ActionResult(NAME, label, "restrict", "dry-run", method, f"would make it "
                                f"{what or 'unchanged'}", calls=(call,))
        self._call(who, "POST", path, body)
        return ActionResult(NAME, label, "restrict", "done", method, f"the key is now {what}",
                            calls=(call,), responses=self.http.recorder.take())
