"""Steps that act on a key at its exchange, through incident.exchanges.actions (which logs
each call, with its raw responses' hashes, in the audit log).

Credentials come from a keys-import CSV the playbook names (`credentials:`), the
environment (INCIDENT_API_KEY ...; for one key at a time), or the OS keyring; never from
the playbook itself. Each is checked against the registered fingerprints before use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from incident.exchanges import actions
from incident.exchanges.credentials import Sources
from incident.exchanges.http import Pacer
from incident.exchanges.interface import ActionResult, Restriction
from incident.playbook.interface import JSON, Context, Param, Step, StepFailed

COMMON = {
    "label": Param("label", required=True, help="the registered key's label"),
    "credentials": Param("path", help="a keys-import CSV holding the key's row"),
    "keyring": Param("bool", default=True, help="look in the OS keyring"),
    "base_url": Param("str", help="the exchange's API elsewhere (the simulator, a testnet)"),
    "timeout": Param("number", default=10.0, help="seconds per request"),
}
VIA_MASTER = {
    "master": Param("label", help="a sub-account key's master key label"),
    "sub_account": Param("str", help="with master: the sub-account (Binance: e-mail)"),
}


class _ExchangeStep(Step):
    def __init__(self) -> None:
        self.pacers: dict[tuple[str, str | None], Pacer] = {}  # one per exchange and master

    def target(self, ctx: Context, args: Mapping[str, Any]) -> actions.Target:
        credentials = args.get("credentials")
        sources = Sources(ctx.path(credentials) if credentials else None, ctx.env,
                          bool(args.get("keyring", True)), None)
        target = actions.target(ctx.store, str(args["label"]), sources,
                                base_url=args.get("base_url"),
                                timeout=ctx.timeout(float(args.get("timeout") or 10.0)),
                                master=args.get("master") or None,
                                sub_account=args.get("sub_account") or None)
        return replace(target, pacer=self.pacers.setdefault(
            (target.key.exchange, args.get("master")), Pacer()))


def _action(result: ActionResult) -> dict[str, Any]:
    out = result.to_json()
    out["responses"] = len(result.responses)  # their hashes are in the audit log
    out["summary"] = f"{result.outcome}: {result.detail}"
    return out


class AuditKey(_ExchangeStep):
    name = "audit_key"
    side_effect = "read"
    summary = ("What the key can do (trade, withdraw, transfer, IP whitelist, age), and "
               "whether to rotate it: Binance's own policies (trade or withdraw rights "
               "without an IP whitelist; older than max_age_days).")
    params = {**COMMON, "max_age_days": Param("int", default=90)}

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        result = actions.audit_key(ctx.store, self.target(ctx, args))
        out = result.to_json()
        out["responses"] = len(result.responses)
        rotate = [r for r in result.risk if r != "can transfer between accounts"]
        age = _age_days(result.created_at)
        limit = int(args.get("max_age_days") or 90)
        if age is not None and age > limit:
            rotate.append(f"{age} days old (more than {limit})")
        out["age_days"] = age
        out["rotate"] = rotate
        out["summary"] = ("rotate: " + "; ".join(rotate)) if rotate else "keep (no finding)"
        return out


def _age_days(created_at: str | None) -> int | None:
    if not created_at:
        return None
    try:
        created = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - created).days


class Snapshot(_ExchangeStep):
    name = "snapshot"
    side_effect = "read"
    summary = "Snapshot the account as evidence (balances, orders, trades, candles)."
    params = {**COMMON, "since": Param("str", default="90d"),
              "until": Param("str"), "symbols": Param("list", default=[])}

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        now = dt.datetime.now(dt.timezone.utc)
        since = actions.when(args.get("since"), now - dt.timedelta(days=90), "since")
        until = actions.when(args.get("until"), now, "until")
        snap, path = actions.take_snapshot(ctx.store, self.target(ctx, args), since=since,
                                           until=until, symbols=args.get("symbols") or [])
        counts = snap.counts()
        return {"path": str(path.relative_to(ctx.store.path.parent)), "since": snap.since,
                "until": snap.until, "taken_at": snap.taken_at, "counts": counts,
                "symbols": list(snap.symbols),
                "summary": f"{counts['trades']:,} trades, {counts['orders']:,} orders, "
                           f"{counts['responses']} raw responses"}


class Revoke(_ExchangeStep):
    name = "revoke"
    side_effect = "write"
    summary = ("Revoke the key by API where the exchange allows (a sub-account key through "
               "its master), else list the exchange's manual steps.")
    params = {**COMMON, **VIA_MASTER}

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        return _action(actions.revoke(ctx.store, self.target(ctx, args)))

    def plan(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        return _action(actions.revoke(ctx.store, self.target(ctx, args), dry_run=True))

    def check(self, ctx: Context, args: Mapping[str, Any]) -> JSON | None:
        """Already revoked? The connector's dry run reads that without writing (Binance:
        the master asks about the sub-account key)."""
        result = actions.revoke(ctx.store, self.target(ctx, args), dry_run=True)
        return _action(result) if result.outcome == "already" else None


class Restrict(_ExchangeStep):
    name = "restrict"
    side_effect = "write"
    summary = "Restrict the key: read-only and/or an IP whitelist, where the API allows."
    params = {**COMMON, **VIA_MASTER, "ips": Param("list", default=[]),
              "read_only": Param("bool", default=True)}

    def restriction(self, args: Mapping[str, Any]) -> Restriction:
        import ipaddress

        for ip in args.get("ips") or []:
            try:
                ipaddress.ip_address(str(ip))
            except ValueError:
                raise StepFailed("ips: not an IP address") from None
        return Restriction(tuple(str(i) for i in args.get("ips") or []),
                           bool(args.get("read_only", True)))

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        return _action(actions.restrict(ctx.store, self.target(ctx, args),
                                        self.restriction(args)))

    def plan(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        return _action(actions.restrict(ctx.store, self.target(ctx, args),
                                        self.restriction(args), dry_run=True))

    def check(self, ctx: Context, args: Mapping[str, Any]) -> JSON | None:
        """Restricting again to the same state changes nothing; the exchanges' update
        calls set, not add, so the write is repeated rather than guessed at."""
        return None


class VerifyRevoked(_ExchangeStep):
    name = "verify_revoked"
    side_effect = "read"
    summary = "Prove the key is dead: a signed call with it must fail as a dead key fails."
    params = {**COMMON, "require": Param("bool", default=True,
                                         help="fail the step if the key still works")}
    in_dry_run = False  # the revocation it proves was only planned

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        result = actions.verify(ctx.store, self.target(ctx, args))
        if not result.revoked and args.get("require", True):
            raise StepFailed(f"'{args['label']}' still works at {result.exchange} "
                             f"({result.endpoint} accepted it)")
        out = result.to_json()
        out["responses"] = len(result.responses)
        out["summary"] = "revoked" if result.revoked else "STILL LIVE"
        return out
