"""The exchange actions behind `audit-key`, `snapshot`, `revoke`, `restrict` and
`verify-revoked`: connect, act, and record in the audit log. No printing, no prompting.

Every action is logged with its raw responses' hashes. A write is logged `start` before its
call and `end` after it (outcome, or the failure), so a run killed between the two is
visible, and the connector checks the key's state before writing again: revoking twice
changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from incident import audit, registry
from incident.errors import UsageError
from incident.exchanges import connect
from incident.exchanges import snapshot as snapshots
from incident.exchanges.credentials import Sources, resolve
from incident.exchanges.http import Pacer, Recorder
from incident.exchanges.interface import (ActionResult, Connector, Credential, ExchangeError,
                                          KeyAudit, Restriction, SubAccount, Verification)
from incident.registry.interface import RegisteredKey
from incident.store import Store


@dataclass(frozen=True)
class Target:
    """A registered key, its credential for this run, and (for a sub-account key) the
    master key that manages it."""

    key: RegisteredKey
    cred: Credential = field(repr=False)
    sub: SubAccount | None = field(default=None, repr=False)
    base_url: str | None = None
    timeout: float = 10.0
    pacer: Pacer | None = field(default=None, compare=False)  # shared in a bulk run

    def recorder(self) -> Recorder:
        values = [self.cred.key, self.cred.secret, self.cred.passphrase]
        if self.sub is not None:
            values += [self.sub.master.key, self.sub.master.secret, self.sub.master.passphrase]
        return Recorder(v.reveal() for v in values if v is not None)

    def connector(self) -> Connector:
        return connect(self.key.exchange, self.recorder(), base_url=self.base_url,
                       timeout=self.timeout, pacer=self.pacer)

    def log(self, store: Store, action: str, phase: str, outcome: str | None,
            detail: dict[str, Any], responses: Iterable[Any] = ()) -> None:
        if self.sub is not None:
            detail = {**detail, "master": self.sub.master_label,
                      "sub_account": self.sub.account}
        if self.base_url is not None:  # without any user:token@ it may carry
            parts = urlsplit(self.base_url)
            detail = {**detail, "base_url": parts._replace(
                netloc=parts.netloc.rpartition("@")[2]).geturl()}
        with store.write() as conn:
            audit.append(conn, action=action, phase=phase, label=self.key.label,
                         exchange=self.key.exchange,
                         key_sha256=self.key.key_sha256 or self.key.key_hmsl,
                         outcome=outcome, detail=detail, responses=responses)


def target(store: Store, label: str, sources: Sources, *, base_url: str | None = None,
           timeout: float = 10.0, master: str | None = None, sub_account: str | None = None,
           pacer: Pacer | None = None) -> Target:
    """The Target for a registered label: its credential (and its master's) resolved from
    `sources` and checked against the registered fingerprints before anything is sent."""
    key = registry.get_key(store, label)
    sub = None
    if master is not None:
        master_key = registry.get_key(store, master)
        if master_key.exchange != key.exchange:
            raise UsageError(f"'{master}' is a {master_key.exchange} key; '{label}' is "
                             f"{key.exchange}")
        sub = SubAccount(master, resolve(master_key, sources, env_prefix="INCIDENT_MASTER_"),
                         sub_account or "")
    elif sub_account is not None:
        raise UsageError("a sub-account goes with the label of its master key")
    return Target(key, resolve(key, sources), sub, base_url, timeout, pacer)


def when(text: str | None, default: dt.datetime, what: str) -> dt.datetime:
    """A time given as ISO 8601 (UTC unless it says otherwise) or as an age: 30d, 12h, 90m."""
    if text is None:
        return default
    m = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{unit: int(m.group(1))})
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: not a time (2022-12-20, 2022-12-20T08:00:00Z, or 30d, "
                         "12h, 90m ago)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def audit_key(store: Store, target: Target) -> KeyAudit:
    try:
        result = target.connector().audit(target.key.label, target.cred)
    except ExchangeError as e:
        target.log(store, "audit-key", "read", "failed", _failure(e))
        raise
    target.log(store, "audit-key", "read", "ok", {
        "risk": list(result.risk), "can_read": result.can_read,
        "can_trade": result.can_trade, "can_withdraw": result.can_withdraw,
        "can_transfer": result.can_transfer, "ip_restricted": result.ip_restricted,
        "ip_whitelist": list(result.ip_whitelist), "created_at": result.created_at,
        "expires_at": result.expires_at, "is_master": result.is_master,
        "permissions": list(result.permissions)}, result.responses)
    return result


def verify(store: Store, target: Target) -> Verification:
    try:
        result = target.connector().verify_revoked(target.key.label, target.cred)
    except ExchangeError as e:
        target.log(store, "verify-revoked", "read", "failed", _failure(e))
        raise
    target.log(store, "verify-revoked", "read", "revoked" if result.revoked else "live",
               {"endpoint": result.endpoint, "code": result.code}, result.responses)
    return result


def revoke(store: Store, target: Target, *, dry_run: bool = False) -> ActionResult:
    connector = target.connector()
    return _write(store, target, "revoke", dry_run, lambda: connector.revoke(
        target.key.label, target.cred, sub=target.sub, dry_run=dry_run))


def restrict(store: Store, target: Target, restriction: Restriction, *,
             dry_run: bool = False) -> ActionResult:
    connector = target.connector()
    return _write(store, target, "restrict", dry_run, lambda: connector.restrict(
        target.key.label, target.cred, restriction, sub=target.sub, dry_run=dry_run))


def _write(store: Store, target: Target, action: str, dry_run: bool,
           run: Any) -> ActionResult:
    if dry_run:
        result: ActionResult = run()
        target.log(store, action, "read", "dry-run", {"would": list(result.calls)},
                   result.responses)
        return result
    target.log(store, action, "start", None, {})
    try:
        result = run()
    except Exception as e:
        target.log(store, action, "end", "failed", _failure(e))
        raise
    target.log(store, action, "end", result.outcome,
               {"method": result.method, "calls": list(result.calls)}, result.responses)
    return result


def take_snapshot(store: Store, target: Target, *, since: dt.datetime, until: dt.datetime,
                  symbols: Iterable[str] = ()) -> tuple[snapshots.Snapshot, Path]:
    """Snapshot the account, write it under the data directory, and record it."""
    recorder = target.recorder()
    try:
        snap = snapshots.take(target.key.exchange, target.key.label, target.cred,
                              since_ms=_ms(since), until_ms=_ms(until),
                              base_url=target.base_url, symbols=symbols, recorder=recorder,
                              timeout=max(target.timeout, 15.0))
    except ExchangeError as e:
        target.log(store, "snapshot", "read", "failed", _failure(e))
        raise
    root = store.path.parent / "snapshots"
    path = snapshots.save(snap, root)
    try:
        _record_snapshot(store, target, snap, path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # the files and the record, or neither
        raise
    return snap, path


def _record_snapshot(store: Store, target: Target, snap: snapshots.Snapshot,
                     path: Path) -> None:
    digest = snapshots.digest(path)
    rel = str(path.relative_to(store.path.parent))
    with store.write() as conn:
        conn.execute("INSERT INTO snapshots (label, exchange, path, since, until, taken_at,"
                     " sha256, counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (snap.label, snap.exchange, rel, snap.since, snap.until, snap.taken_at,
                      digest, json.dumps(snap.counts())))
        audit.append(conn, action="snapshot", phase="read", label=snap.label,
                     exchange=snap.exchange,
                     key_sha256=target.key.key_sha256 or target.key.key_hmsl, outcome="ok",
                     detail={"path": rel, "sha256": digest, "since": snap.since,
                             "until": snap.until, "counts": snap.counts()},
                     responses=snap.responses)


def _failure(e: Exception) -> dict[str, Any]:
    detail: dict[str, Any] = {"error": type(e).__name__}
    if isinstance(e, ExchangeError):
        detail.update(endpoint=e.endpoint, code=e.code)
    return detail


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)
