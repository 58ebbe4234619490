"""What the signed-REST connectors (KuCoin, OKX, Gate, Kraken, Coinbase) share.

`SignedConnector` adds to `Connector`:

- `verify_revoked` from one read-out call (`_readout`): the exchange's "no such key" is
  revoked, success is alive, any other refusal is raised (a bad signature proves nothing);
- a main-account key (no `sub`), or an exchange without key-management API, gets the
  manual steps (revoke: `manual_revoke`; restrict: the API page and `restrict_step`);
- revoke and restrict of a sub-account key through its master key, the same way everywhere:
  a dry run makes no call at all; otherwise the leaked key's own read-out first (when its
  secret is at hand): "no such key" means already revoked and nothing is written; then the
  one write, whose "no such key" answer also means already. A master key the exchange does
  not know is an ExchangeAuthError, never KeyRevoked: the leaked key may well be alive.

Error messages come from each module's own tables, with the exchange's code; never from a
response body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from incident.errors import UsageError
from incident.exchanges.http import Classify, Reply
from incident.store.db import utc_now
from incident.exchanges.interface import (
    ActionResult, Connector, Credential, CredentialMismatch, ExchangeAuthError, ExchangeError,
    KeyRevoked, ManualStep, NotSupported, PermissionDenied, Restriction, SubAccount,
    Verification,
)


def bucket(key: str) -> str:
    """The pacing bucket of one key: a short fingerprint, never the key."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def compact(value: Any) -> str:
    """JSON as the exchanges sign it: no spaces."""
    return json.dumps(value, separators=(",", ":"))


def iso(seconds: Any) -> str | None:
    """Epoch seconds (or milliseconds) to ISO 8601 UTC; None for absent or zero."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    if value > 1e11:  # milliseconds
        value /= 1000
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def payload(reply: Reply, field: str = "data") -> dict[str, Any]:
    """The object under `field` of a JSON answer (the first one when it is a list)."""
    body = reply.json()
    value = body.get(field) if isinstance(body, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def passphrase(cred: Credential, exchange: str) -> str:
    if cred.passphrase is None or not cred.passphrase:
        raise CredentialMismatch(f"{exchange}: this action signs requests: the API passphrase "
                                 "is needed as well as the key and secret")
    return cred.passphrase.reveal()


Table = Mapping[str, str]  # the exchange's code -> our short description of it


def refusal(exchange: str, code: str, status: int, *, revoked: Table, auth: Table,
            denied: Table) -> ExchangeError:
    """The error for one refusal, by the exchange's code."""
    if code in revoked:
        return KeyRevoked(f"{revoked[code]} (code {code})", exchange=exchange, code=code)
    if code in auth:
        return ExchangeAuthError(f"{auth[code]} (code {code})", exchange=exchange, code=code)
    if code in denied:
        return PermissionDenied(f"{denied[code]} (code {code})", exchange=exchange, code=code)
    if status in (401, 403) and not code:
        kind = ExchangeAuthError if status == 401 else PermissionDenied
        return kind(f"refused (HTTP {status})", exchange=exchange, code=str(status))
    return ExchangeError(f"refused (code {code or '-'}, HTTP {status})", exchange=exchange,
                         code=code or str(status))


def tolerant(classify: Classify, gone: Callable[[int, Any], bool], seen: list[bool]) -> Classify:
    """`classify`, except that an answer meaning "no such key" is accepted and noted."""
    def check(status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        if gone(status, body):
            seen.append(True)
            return None
        return classify(status, body, headers)
    return check


class SignedConnector(Connector):
    readout: ClassVar[str]  # "METHOD /path" of the read-out call
    restrict_step: ClassVar[str]  # what to click to make a key read-only on the web page

    # -- what each exchange supplies -------------------------------------------------
    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        raise NotImplementedError

    def _readout(self, cred: Credential) -> Reply:
        raise NotImplementedError

    def _revoke_sub(self, cred: Credential, sub: SubAccount) -> bool:
        """Delete the sub-account key; False when the answer says there is no such key."""
        raise NotSupported(f"{self.display}: sub-account keys cannot be deleted by API")

    def _restrict_sub(self, cred: Credential, sub: SubAccount, r: Restriction) -> bool:
        raise NotSupported(f"{self.display}: sub-account keys cannot be restricted by API")

    def _calls(self, action: str, sub: SubAccount) -> tuple[str, ...]:
        """The write calls of `action`, as recorded (the key as `*`)."""
        return ()

    # -- shared behaviour ---------------------------------------------------------------
    def verify_revoked(self, label: str, cred: Credential) -> Verification:
        try:
            self._readout(cred)
        except KeyRevoked as e:
            return Verification(self.name, label, True, self.readout, e.code, utc_now(),
                                self.http.recorder.take())
        return Verification(self.name, label, False, self.readout, None, utc_now(),
                            self.http.recorder.take())

    def revoke(self, label: str, cred: Credential, *, sub: SubAccount | None = None,
               dry_run: bool = False) -> ActionResult:
        if sub is None or not self.master_revoke:
            return self.manual(label, "revoke")
        return self._through_master(label, "revoke", cred, sub, dry_run,
                                    lambda: self._revoke_sub(cred, sub))

    def restrict(self, label: str, cred: Credential, restriction: Restriction, *,
                 sub: SubAccount | None = None, dry_run: bool = False) -> ActionResult:
        if sub is None or not self.master_restrict:
            return ActionResult(self.name, label, "restrict", "manual", "manual",
                                detail=f"{self.display} has no API to restrict this key: edit "
                                       "it on the API page",
                                steps=(self.manual_revoke[0], ManualStep(self.restrict_step)))
        if not restriction.read_only and not restriction.ips:
            raise UsageError("restrict: nothing to change (not read-only, and no IP list)")
        return self._through_master(label, "restrict", cred, sub, dry_run,
                                    lambda: self._restrict_sub(cred, sub, restriction))

    def _through_master(self, label: str, action: str, cred: Credential, sub: SubAccount,
                        dry_run: bool, write: Callable[[], bool]) -> ActionResult:
        self.http.recorder.hide(cred.key.reveal())
        calls = self._calls(action, sub)
        if dry_run:
            return ActionResult(self.name, label, action, "dry-run", "api:master",
                                detail=f"would {action} the key of sub-account "
                                       f"'{sub.account}' with the key of {sub.master_label}",
                                calls=calls)
        if self._known_dead(cred):
            return ActionResult(self.name, label, action, "already", "api:master",
                                detail="the exchange no longer knows this key",
                                responses=self.http.recorder.take())
        try:
            found = write()
        except KeyRevoked as e:  # the master key, not the leaked one
            raise ExchangeAuthError(f"the master key of {sub.master_label} was refused: "
                                    f"{e.detail}", exchange=self.name, endpoint=e.endpoint,
                                    code=e.code) from None
        outcome = "done" if found else "already"
        detail = (f"{'deleted' if action == 'revoke' else 'restricted'} through the master key"
                  if found else "the exchange answered that the key no longer exists")
        return ActionResult(self.name, label, action, outcome, "api:master", detail=detail,
                            calls=calls, responses=self.http.recorder.take())

    def _known_dead(self, cred: Credential) -> bool:
        """The leaked key's own read-out says it no longer exists (needs its secret)."""
        if cred.secret is None or (self.needs_passphrase and cred.passphrase is None):
            return False
        try:
            self._readout(cred)
        except KeyRevoked:
            return True
        except ExchangeError:  # a wrong secret proves nothing: go on with the master key
            return False
        return False
