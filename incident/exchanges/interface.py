"""What a connector is and what it returns.

One base class (`Connector`), frozen results, and one error tree:

    ServiceError                      4   (incident.errors)
    └── ExchangeError                 4   an exchange call failed: timeouts, 5xx and connection
        │                                 errors after every retry, or an answer we cannot read
        ├── ExchangeAuthError         4   the exchange refused the credential (never retried)
        │   └── KeyRevoked            4   ... because the key no longer exists
        ├── RateLimited               4   429 for longer than we are willing to wait
        └── PermissionDenied          4   the key exists but may not do this
    InputError                        3
    └── CredentialMismatch            3   the supplied key is not the one registered for the label
    UsageError                        2
    └── NotSupported                  2   the exchange has no API for this (see manual steps)

Messages name the exchange, the endpoint path and the exchange's own error code; never a
key, a signature, or a response body (an exchange may echo what it was sent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from incident.errors import InputError, ServiceError, UsageError
from incident.secret import Secret


class ExchangeError(ServiceError):
    def __init__(self, message: str, *, exchange: str = "", endpoint: str = "",
                 code: str | None = None) -> None:
        self.detail = message
        self.exchange = exchange
        self.endpoint = endpoint
        self.code = code
        where = " ".join(p for p in (exchange, endpoint) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ExchangeAuthError(ExchangeError):
    pass


class KeyRevoked(ExchangeAuthError):
    pass


class RateLimited(ExchangeError):
    pass


class PermissionDenied(ExchangeError):
    pass


class CredentialMismatch(InputError):
    pass


class NotSupported(UsageError):
    pass


@dataclass(frozen=True, slots=True)
class Credential:
    """A key with its secret and passphrase, supplied at run time, held in memory only."""

    key: Secret = field(repr=False)
    secret: Secret | None = field(default=None, repr=False)
    passphrase: Secret | None = field(default=None, repr=False)
    source: str = ""  # where it came from: env, keyring, file:NAME:LINE, prompt

    def __repr__(self) -> str:
        return f"Credential(key={self.key!r}, source={self.source!r})"

    def require_secret(self, exchange: str) -> tuple[str, str]:
        """(key, secret) in plaintext, to sign one request; ExchangeAuthError without a
        secret."""
        if self.secret is None:
            raise CredentialMismatch(f"{exchange}: this action signs requests: the API secret "
                                     "is needed as well as the key")
        return self.key.reveal(), self.secret.reveal()


@dataclass(frozen=True, slots=True)
class RawResponse:
    """One response exactly as it arrived: what a claim's evidence is made of."""

    endpoint: str  # METHOD path?query, with signature, timestamp and any key removed
    fetched_at: str  # UTC, ISO 8601 with milliseconds
    status: int
    body: bytes = field(repr=False)
    content_type: str = ""
    redacted: bool = False  # a key value in the body was replaced by '*' before hashing

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyAudit:
    """What a key may do, as the exchange reports it (None: the exchange does not say)."""

    exchange: str
    label: str
    can_read: bool | None
    can_trade: bool | None
    can_withdraw: bool | None
    can_transfer: bool | None
    ip_restricted: bool | None
    ip_whitelist: tuple[str, ...] = ()
    created_at: str | None = None
    expires_at: str | None = None
    is_master: bool | None = None  # a main-account key, not a sub-account's
    permissions: tuple[str, ...] = ()  # the exchange's own names, as reported
    responses: tuple[RawResponse, ...] = ()

    @property
    def risk(self) -> tuple[str, ...]:
        """Plain findings a user should act on."""
        found = []
        if self.can_withdraw:
            found.append("can withdraw funds")
        if self.can_trade and self.ip_restricted is False:
            found.append("can trade from any IP address")
        elif self.can_trade and self.ip_restricted is None:
            found.append("can trade; the exchange does not say whether an IP whitelist "
                         "applies")
        if self.can_transfer:
            found.append("can transfer between accounts")
        return tuple(found)

    def to_json(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange, "label": self.label, "can_read": self.can_read,
            "can_trade": self.can_trade, "can_withdraw": self.can_withdraw,
            "can_transfer": self.can_transfer, "ip_restricted": self.ip_restricted,
            "ip_whitelist": list(self.ip_whitelist), "created_at": self.created_at,
            "expires_at": self.expires_at, "is_master": self.is_master,
            "permissions": list(self.permissions), "risk": list(self.risk),
            "responses": [response_json(r) for r in self.responses],
        }


@dataclass(frozen=True, slots=True)
class ManualStep:
    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What revoke or restrict did (or, in a dry run, would do)."""

    exchange: str
    label: str
    action: str  # revoke | restrict
    outcome: str  # done | already | manual | dry-run
    method: str  # api:self | api:master | manual
    detail: str = ""
    calls: tuple[str, ...] = ()  # the write calls made (or planned): METHOD path
    steps: tuple[ManualStep, ...] = ()
    responses: tuple[RawResponse, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"exchange": self.exchange, "label": self.label, "action": self.action,
                "outcome": self.outcome, "method": self.method, "detail": self.detail,
                "calls": list(self.calls),
                "steps": [{"text": s.text, "url": s.url} for s in self.steps],
                "responses": [response_json(r) for r in self.responses]}


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether a signed call with the key now fails as the exchange fails a dead key."""

    exchange: str
    label: str
    revoked: bool
    endpoint: str
    code: str | None  # the exchange's error code, when it refused
    checked_at: str
    responses: tuple[RawResponse, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"exchange": self.exchange, "label": self.label, "revoked": self.revoked,
                "endpoint": self.endpoint, "code": self.code, "checked_at": self.checked_at,
                "responses": [response_json(r) for r in self.responses]}


@dataclass(frozen=True, slots=True)
class Restriction:
    """What restrict should leave the key able to do."""

    ips: tuple[str, ...] = ()  # an IP whitelist; empty: leave as is
    read_only: bool = True


@dataclass(frozen=True, slots=True)
class SubAccount:
    """A sub-account key managed through its master account's key."""

    master_label: str
    master: Credential = field(repr=False)
    account: str  # the sub-account's id: an e-mail (Binance), a uid (Bybit, Gate), a name


def response_json(r: RawResponse) -> dict[str, Any]:
    return {"endpoint": r.endpoint, "fetched_at": r.fetched_at, "status": r.status,
            "sha256": r.sha256, "bytes": len(r.body), "redacted": r.redacted}


class Connector:
    """One exchange. Subclasses set the class attributes and implement what the exchange's
    API allows. Where it has no API, `revoke` and `restrict` return the manual steps
    (outcome "manual"); `audit` and `verify_revoked` raise NotSupported.

    `http` signs and sends key-management calls (incident.exchanges.http.Http); `data` is the
    ccxt-backed reader (incident.exchanges.data) used by `snapshot`.
    """

    name: ClassVar[str]  # the ccxt id
    display: ClassVar[str]
    api_management_url: ClassVar[str]
    manual_revoke: ClassVar[tuple[ManualStep, ...]]
    needs_passphrase: ClassVar[bool] = False
    self_revoke: ClassVar[bool] = False  # a main-account key can delete itself by API
    self_restrict: ClassVar[bool] = False  # ... or make itself read-only
    master_revoke: ClassVar[bool] = False  # sub-account keys through the master's key
    master_restrict: ClassVar[bool] = False
    # Error codes meaning "no such key" (the key is dead), as the exchange spells them.
    revoked_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, http: Any, base_url: str | None = None) -> None:
        self.http = http
        self.base_url = base_url

    # -- reads ---------------------------------------------------------------------
    def audit(self, label: str, cred: Credential) -> KeyAudit:
        raise NotSupported(f"{self.display}: no permission read-out by API")

    def verify_revoked(self, label: str, cred: Credential) -> Verification:
        raise NotSupported(f"{self.display}: no verification call")

    # -- writes --------------------------------------------------------------------
    def revoke(self, label: str, cred: Credential, *, sub: SubAccount | None = None,
               dry_run: bool = False) -> ActionResult:
        return self.manual(label, "revoke")

    def restrict(self, label: str, cred: Credential, restriction: Restriction, *,
                 sub: SubAccount | None = None, dry_run: bool = False) -> ActionResult:
        raise NotSupported(f"{self.display}: a key cannot be restricted by API; "
                           f"edit it at {self.api_management_url}")

    def manual(self, label: str, action: str) -> ActionResult:
        return ActionResult(self.name, label, action, "manual", "manual",
                            detail=f"{self.display} has no API for this: follow the steps, "
                                   "then run verify-revoked",
                            steps=self.manual_revoke)


def first(mapping: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in mapping:
            return mapping[n]
    return None


def strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())
