"""`incident report claim LABEL`: the compensation claim for one key's account.

Everything in it comes from the data directory: the key's registration (fingerprints
only), the matches that found it in a dump, its snapshots (each checked against the
SHA-256 recorded when it was taken) and the audit log. The analysis is analysis.py's; this
module turns it into the view model the templates print, with every amount formatted
once, here, so HTML, Markdown and JSON agree to the digit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident import __version__, audit
from incident.report import analysis
from incident.report.interface import (Report, ReportError, ReportKind, data_time, ms_to_utc,
                                       file_stem, to_utc, utc_to_ms)
from incident.report.render import amount
from incident.store import Store

PAIR_CHARTS = 20  # the pairs most lost in, each with its chart
FLAG_TEXT = {
    "burst": "burst: one of {window_peak} orders within 10 minutes; before the window the "
             "account never placed more than {history_peak} in any 10 minutes "
             "({history_orders} orders in its history)",
    "thin": "thin pair: the pair's volume in the minutes these orders filled was many "
            "times its pre-incident median minute",
    "above": "far above the market: filled at least {above_pct}% above the pre-incident "
             "reference price (a sell: below it)",
    "whole": "whole balance: with the other orders of its kind, spent (or sold) at least "
             "{whole_pct}% of what the account held of that asset before the window",
    "counterparty": "counterparty: the same trade id is in another account's snapshot here, "
                    "on the other side",
}
METHOD_TEXT = {
    "vwap": "volume-weighted average price of the {minutes} one-minute candles before the "
            "first unauthorized fill (typical price (high+low+close)/3 weighted by volume)",
    "open": "the open of the one-minute candle in which each fill happened (the market at "
            "that minute, already moved by the attack itself)",
    "close": "the close of the last one-minute candle before the first unauthorized fill",
}


@dataclass(frozen=True)
class ClaimOptions:
    claimant: str = "the account holder"
    remedy: str | None = None
    since: str | None = None  # the leak, when known
    until: str | None = None  # else the revocation from the audit log
    own: frozenset[str] = frozenset()
    reference: str = "vwap"
    vwap_minutes: int = 30
    charts: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


def claim_options(*, claimant: str = "the account holder", remedy: str | None = None,
                  since: str | None = None, until: str | None = None,
                  own: Path | None = None, reference: str = "vwap",
                  vwap_minutes: int = 30) -> ClaimOptions:
    """The options as a person gives them (the command line, a playbook step): times as
    ISO 8601 UTC or an age (30d, 12h), the holder's own orders as a file of ids."""
    from incident.errors import UsageError
    from incident.exchanges.actions import when

    def moment(text: str | None, what: str) -> str | None:
        if not text:
            return None
        return when(text, None, what).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]

    if reference not in analysis.METHODS:
        raise UsageError(f"reference: one of {', '.join(analysis.METHODS)}")
    return ClaimOptions(claimant=claimant, remedy=remedy, since=moment(since, "since"),
                        until=moment(until, "until"),
                        own=read_own(own) if own else frozenset(), reference=reference,
                        vwap_minutes=vwap_minutes)


class ClaimReport(ReportKind):
    name = "claim"
    title = "Compensation claim"
    audience = "a claimant, for the exchange, an insurer or a court"

    def build(self, store: Store, *, label: str | None = None,
              options: Mapping[str, Any] | None = None) -> Report:
        if not label:
            raise ReportError("a claim is about one key: give its label")
        opts = ClaimOptions(**dict(options or {}))
        return build_claim(store, label, opts)


def read_own(path: Path) -> frozenset[str]:
    """The account holder's own orders: a file with one order id or client order id per
    line (the first comma-separated field; '#' starts a comment)."""
    ids: set[str] = set()
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                value = line.split("#", 1)[0].split(",", 1)[0].strip()
                if not value:
                    continue
                if len(value) > 128 or not value.isprintable():
                    raise ReportError(f"{path}:{n}: not an order id")
                ids.add(value)
    except OSError as e:
        raise ReportError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text") from None
    return frozenset(ids)


def load_snapshots(store: Store, label: str) -> list[dict[str, Any]]:
    """The label's snapshots, oldest first, each checked against its recorded SHA-256."""
    rows = store.conn.execute(
        "SELECT id, path, taken_at, since, until, sha256, counts FROM snapshots"
        " WHERE label = ? ORDER BY taken_at, id", (label,)).fetchall()
    out = []
    for sid, rel, taken_at, since, until, sha, counts in rows:
        path = store.path.parent / rel / "snapshot.json"
        try:
            raw = path.read_bytes()
        except OSError:
            raise ReportError(f"{rel}/snapshot.json: missing (snapshot #{sid})") from None
        if hashlib.sha256(raw).hexdigest() != sha:
            raise ReportError(f"{rel}/snapshot.json: changed since it was taken (its SHA-256 "
                              f"is not the one recorded for snapshot #{sid})")
        doc = json.loads(raw)
        out.append({"id": sid, "rel": rel, "taken_at": taken_at, "since": since,
                    "until": until, "sha256": sha, "counts": json.loads(counts), "doc": doc,
                    "bytes": raw})
    return out


def _others(store: Store, label: str, exchange: str, limit: int = 200
            ) -> list[tuple[str, dict[str, Any]]]:
    """The newest snapshot of other accounts on the same exchange (the counterparty flag)."""
    rows = store.conn.execute(
        "SELECT label, path FROM snapshots s WHERE exchange = ? AND label != ? AND taken_at ="
        " (SELECT max(taken_at) FROM snapshots WHERE label = s.label) ORDER BY label LIMIT ?",
        (exchange, label, limit)).fetchall()
    out = []
    for other, rel in rows:
        try:
            out.append((other, json.loads((store.path.parent / rel / "snapshot.json")
                                          .read_bytes())))
        except (OSError, ValueError):
            continue
    return out


def _when(entries: list[dict[str, Any]], action: str, outcomes: tuple[str, ...],
          phase: str = "end") -> dict[str, Any] | None:
    for e in entries:
        if e["action"] == action and e["phase"] == phase and e["outcome"] in outcomes:
            return e
    return None


def build_claim(store: Store, label: str, opts: ClaimOptions) -> Report:
    from incident import registry

    key = registry.get_key(store, label)
    snaps = load_snapshots(store, label)
    if not snaps:
        raise ReportError(f"no snapshot of {label!r}: take one first (incident snapshot "
                          f"{label} --since ..., or a playbook's snapshot step)")
    entries = sorted(audit.entries(store.conn, label=label) + [
        e for e in audit.entries(store.conn, action="manual-done")
        if isinstance(e["detail"], dict) and e["detail"].get("item") == label],
        key=lambda e: int(e["id"]))
    revoked = (_when(entries, "revoke", ("done", "already"))
               or _when(entries, "restrict", ("done", "already"))
               or _when(entries, "manual-done", ("done",), phase="read"))
    confirmed = _when(entries, "verify-revoked", ("revoked",), phase="read")
    # A key deleted by hand with no record of it (no playbook to mark it done) was dead at
    # the latest when the exchange was first seen refusing it.
    end = revoked or confirmed
    until = opts.until or (end["at"] if end else None)
    a_opts = analysis.Options(
        since_ms=utc_to_ms(opts.since) if opts.since else None,
        until_ms=utc_to_ms(until) if until else None,
        until_source="given (--until)" if opts.until else "revocation" if revoked
        else "revocation confirmed (verify-revoked)", own=opts.own,
        reference=opts.reference, vwap_minutes=opts.vwap_minutes)
    found = analysis.analyse([s["doc"] for s in snaps], a_opts,
                             others=_others(store, label, key.exchange))
    matches = store.conn.execute(
        "SELECT m.found_at, d.id, d.name, d.source, d.ingested_at, hex(d.sha256)"
        " FROM matches m JOIN keys k ON k.id = m.key_id JOIN leaks l ON l.id = m.leak_id"
        " JOIN dumps d ON d.id = l.dump_id WHERE k.label = ? ORDER BY m.found_at, d.id",
        (label,)).fetchall()
    facts = next((e for e in reversed(entries)
                  if e["action"] == "audit-key" and e["outcome"] == "ok"), None)
    head = audit.verify(audit.entries(store.conn))
    times = [e["at"] for e in entries] + [s["taken_at"] for s in snaps] + \
        [m[0] for m in matches]
    model = _model(key, opts, found, snaps, entries, matches, facts, revoked, confirmed,
                   head, data_time(times))
    if not opts.charts:
        return Report("claim", f"claim-{file_stem(label)}", model)
    return Report("claim", f"claim-{file_stem(label)}", model, _charts(found, opts),
                  lambda: _charts(found, opts, "png"))


def usd(x: float | None) -> str:
    return "" if x is None else amount(x, 2)


def pct(x: float | None) -> str:
    return "" if x is None or x != x else amount(x * 100.0, 1)


def _model(key: Any, opts: ClaimOptions, f: analysis.Flagged, snaps: list[dict[str, Any]],
           entries: list[dict[str, Any]], matches: list[Any], facts: dict[str, Any] | None,
           revoked: dict[str, Any] | None, confirmed: dict[str, Any] | None,
           head: audit.Verdict, generated_at: str) -> dict[str, Any]:
    method = opts.reference
    trades = f.trades
    loss = {m: {"by_quote": {q: amount(v, 8) for q, v in sorted(f.totals[m].items())
                             if q != "USD"},
                "usd": usd(f.totals[m].get("USD")), "shortfall_usd": usd(f.shortfall[m])}
            for m in analysis.METHODS}
    usd_values = [f.totals[m].get("USD", 0.0) for m in analysis.METHODS] + \
        [v for v in f.shortfall.values() if v is not None]
    low, high = min(usd_values), max(usd_values)
    headline = f.shortfall[method] if f.shortfall[method] is not None else f.totals[
        method].get("USD", 0.0)
    if opts.remedy:
        remedy = opts.remedy
    elif (headline or 0.0) > 0:
        remedy = (f"Reimbursement of USD(T) {usd(headline)}: the portfolio shortfall valued "
                  f"at pre-incident prices ({method}), within a range of {usd(low)} to "
                  f"{usd(high)} across the reference methods.")
    else:
        remedy = ("None computed: at pre-incident prices these figures show no shortfall. "
                  "Check the window (--since, --own) and the notes before claiming.")
    ctx = {"window_peak": f.window_peak, "history_peak": f.history_peak,
           "history_orders": f.history_orders, "above_pct": "20", "whole_pct": "90"}
    flag_counts = {k: 0 for k in analysis.FLAGS}
    for fl in f.orders["flags"]:
        for k in fl:
            flag_counts[k] += 1
    pairs = []
    for sym in sorted(f.references):
        rows = trades[trades["symbol"] == sym]
        ref = f.references[sym]
        pairs.append({
            "symbol": sym, "fills": len(rows), "orders": int(rows["order"].nunique()),
            "bought": amount(float(rows.loc[rows["side"] == "buy", "amount"].sum()), 8),
            "spent": amount(float(rows.loc[rows["side"] == "buy", "cost"].sum()), 8),
            "sold": amount(float(rows.loc[rows["side"] == "sell", "amount"].sum()), 8),
            "avg_price": amount(float(rows["cost"].sum() / rows["amount"].sum())
                                if rows["amount"].sum() else None, 8),
            "ref_vwap": amount(ref["vwap"], 8), "ref_close": amount(ref["close"], 8),
            "ref_from": ms_to_utc(int(ref["from_ms"])) if ref["from_ms"] else "",
            "ref_to": ms_to_utc(int(ref["to_ms"])) if ref["to_ms"] else "",
            "norm": amount(f.norms.get(sym), 8),
            "spike": amount(f.spikes.get(sym), 1),
            "slippage": {m: amount(float(rows[f"slip_{m}"].sum()), 8)
                         for m in analysis.METHODS},
            "slippage_usd": {m: usd(float(rows[f"slip_{m}_usd"].sum()))
                             for m in analysis.METHODS},
            "quote": analysis.split(sym)[1],
        })
    table = [{
        "time": ms_to_utc(int(r.ts)), "ms": int(r.ts), "trade": str(r.id),
        "order": str(r.order), "symbol": str(r.symbol), "side": str(r.side),
        "price": amount(float(r.price), 8), "amount": amount(float(r.amount), 8),
        "cost": amount(float(r.cost), 8), "fee": amount(float(r.fee), 8),
        "fee_currency": str(r.fee_currency or ""),
        "reference": amount(_ref(r, method), 8),
        "deviation_pct": pct(float(r.deviation)),
        "slippage": amount(float(getattr(r, f"slip_{method}")), 8),
        "slippage_usd": usd(_num(getattr(r, f"slip_{method}_usd"))),
        "flags": list(r.flags), "counterparty": r.counterparty if isinstance(
            r.counterparty, str) else None,
    } for r in trades.itertuples(index=False)]
    holdings = []
    for asset in sorted(set(f.holdings_before) | set(f.holdings_after)):
        b, a = f.holdings_before.get(asset, 0.0), f.holdings_after.get(asset, 0.0)
        p = f.prices_before[method].get(asset)
        holdings.append({"asset": asset, "before": amount(b, 8), "after": amount(a, 8),
                         "change": amount(a - b, 8), "price_usd": amount(p, 8),
                         "change_usd": usd((a - b) * p if p is not None else None)})
    timeline = _timeline(key, f, snaps, entries, matches, facts, revoked, confirmed, opts)
    return {
        "title": f"Compensation claim: {key.label} ({key.exchange})",
        "generated_at": generated_at,
        "tool": {"name": "incident", "version": __version__},
        "claimant": opts.claimant,
        "account": {"label": key.label, "exchange": key.exchange,
                    "key_sha256": key.key_sha256.hex() if key.key_sha256 else None,
                    "key_prefix": (key.key_sha256 or key.key_hmsl or b"").hex()[:12],
                    "registered_at": to_utc(key.added_at)},
        "incident": {
            "window_start": ms_to_utc(f.start_ms), "window_start_source": f.start_source,
            "window_end": ms_to_utc(f.end_ms), "window_end_source": f.end_source,
            "first_unauthorized": ms_to_utc(f.first_unauthorized_ms)
            if f.first_unauthorized_ms else None,
            "orders": len(f.orders), "fills": len(trades), "own_fills": f.own_trades,
            "pairs": len(pairs),
        },
        "summary": {
            "headline_usd": usd(headline), "low_usd": usd(low), "high_usd": usd(high),
            "method": method, "remedy": remedy,
            "flagged_orders": int(sum(1 for fl in f.orders["flags"] if fl)),
        },
        "key": _key_facts(facts),
        "timeline": timeline,
        "snapshots": [{"role": _role(i, len(snaps)), "path": s["rel"],
                       "taken_at": to_utc(s["taken_at"]), "since": to_utc(s["since"]),
                       "until": to_utc(s["until"]), "sha256": s["sha256"],
                       "counts": dict(sorted(s["counts"].items())),
                       "responses": [{"file": r["file"], "endpoint": r["endpoint"],
                                      "fetched_at": to_utc(r["fetched_at"]),
                                      "status": r["status"], "bytes": r["bytes"],
                                      "sha256": r["sha256"]}
                                     for r in s["doc"]["responses"]]}
                      for i, s in enumerate(snaps)],
        "flags": [{"flag": k, "orders": flag_counts[k], "meaning": FLAG_TEXT[k].format(**ctx)}
                  for k in analysis.FLAGS],
        "pairs": pairs,
        "trades": table,
        "references": {"method": method, "vwap_minutes": opts.vwap_minutes,
                       "methods": [{"name": m, "meaning": METHOD_TEXT[m].format(
                           minutes=opts.vwap_minutes)} for m in analysis.METHODS],
                       "usd_rates": {q: amount(r, 8) for q, r in sorted(f.usd_rates.items())},
                       "source": "1-minute candles in the snapshots (exchange klines; the raw "
                                 "responses are listed with the snapshots)"},
        "loss": {"methods": loss, "holdings": holdings, "unpriced": list(f.unpriced),
                 "withdrawals": [{"time": ms_to_utc(int(w["ts"])), "id": w["id"],
                                  "currency": w["currency"], "amount": amount(w["amount"], 8),
                                  "fee": amount(w["fee"], 8)} for w in f.withdrawals]},
        "dumps": [{"found_at": to_utc(m[0]), "dump": m[1], "name": m[2], "source": m[3],
                   "ingested_at": to_utc(m[4]), "sha256": str(m[5]).lower()}
                  for m in matches],
        "custody": {"entries": [{"id": e["id"], "at": to_utc(e["at"]), "actor": e["actor"],
                                 "action": e["action"], "phase": e["phase"],
                                 "outcome": e["outcome"], "sha256": e["sha256"]}
                                for e in entries],
                    "log_ok": head.ok, "log_entries": head.count, "log_head": head.head},
        "notes": list(f.notes),
    }


def _num(x: Any) -> float | None:
    return None if x is None or x != x else float(x)


def _ref(r: Any, method: str) -> float | None:
    v = getattr(r, f"ref_{method}")
    if v is None or v != v:
        v = r.ref_open
    return _num(v)


def _role(i: int, n: int) -> str:
    if n == 1:
        return "after (the only snapshot: holdings before are rebuilt from its history)"
    return "before" if i == 0 else ("after" if i == n - 1 else "between")


def _key_facts(facts: dict[str, Any] | None) -> dict[str, Any]:
    if facts is None:
        return {"known": False}
    d = facts["detail"] if isinstance(facts["detail"], dict) else {}
    return {"known": True, "audited_at": to_utc(facts["at"]), "audit_entry": facts["id"],
            "can_read": d.get("can_read"), "can_trade": d.get("can_trade"),
            "can_withdraw": d.get("can_withdraw"), "can_transfer": d.get("can_transfer"),
            "ip_restricted": d.get("ip_restricted"),
            "ip_whitelist": list(d.get("ip_whitelist") or []),
            "created_at": to_utc(d["created_at"]) if d.get("created_at") else None,
            "permissions": list(d.get("permissions") or []), "risk": list(d.get("risk") or [])}


def _timeline(key: Any, f: analysis.Flagged, snaps: list[dict[str, Any]],
              entries: list[dict[str, Any]], matches: list[Any], facts: dict[str, Any] | None,
              revoked: dict[str, Any] | None, confirmed: dict[str, Any] | None,
              opts: ClaimOptions) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(at: str | None, event: str, source: str) -> None:
        if at:
            out.append({"at": to_utc(at), "event": event, "source": source})

    kf = _key_facts(facts)
    if kf.get("created_at"):
        add(kf["created_at"], "API key created", f"exchange's key listing (audit log "
            f"#{kf['audit_entry']})")
    if f.last_own_ms:
        add(ms_to_utc(f.last_own_ms), "last order before the window (legitimate use)",
            "snapshot: order history")
    if opts.since:
        add(opts.since, "key exposed (the leak, as stated by the claimant)", "claimant")
    for m in matches[:1]:
        add(m[4], f"dump '{m[2]}' ingested (the key is in it)", f"dumps #{m[1]}")
        add(m[0], "detection: the key matched by fingerprint", "matches")
    if f.first_unauthorized_ms:
        add(ms_to_utc(f.first_unauthorized_ms), "first unauthorized order",
            "snapshot: order history")
    if len(f.trades):
        add(ms_to_utc(int(f.trades["ts"].max())), "last unauthorized fill",
            "snapshot: trade history")
    for w in f.withdrawals:
        add(ms_to_utc(int(w["ts"])), f"withdrawal of {w['currency']} in the window",
            "snapshot: withdrawals")
    for s in snaps:
        add(s["taken_at"], "snapshot taken", f"snapshots #{s['id']} ({s['sha256'][:12]})")
    for e in entries:
        if e["action"] == "revoke" and e["phase"] == "end" and e["outcome"] == "manual":
            add(e["at"], "no API revokes this key: the exchange's own steps were given",
                f"audit log #{e['id']}")
        elif e["action"] == "manual-done":
            note = e["detail"].get("note") if isinstance(e["detail"], dict) else None
            add(e["at"], "deleted at the exchange by hand" + (f" ({note})" if note else ""),
                f"audit log #{e['id']} (run {e['detail'].get('run')}, marked by "
                f"{e['actor']})")
        elif e["action"] in ("revoke", "restrict") and e["phase"] == "end" and \
                e["outcome"] in ("done", "already"):
            add(e["at"], f"key {e['action']}d by API ({e['outcome']})", f"audit log #{e['id']}")
    if confirmed:
        add(confirmed["at"], "revocation confirmed: the exchange refuses the key",
            f"audit log #{confirmed['id']}")
    return sorted(out, key=lambda e: (e["at"], e["event"]))


def _charts(f: analysis.Flagged, opts: ClaimOptions, fmt: str = "svg") -> dict[str, str]:
    from incident.report import charts

    out: dict[str, str] = {}
    if len(f.trades) == 0:
        return out
    candles = f.candles
    lo = int(f.trades["ts"].min()) - 30 * analysis.MINUTE
    hi = int(f.trades["ts"].max()) + 30 * analysis.MINUTE
    worst = (f.trades.groupby("symbol")[f"slip_{opts.reference}_usd"].sum()
             .sort_values(ascending=False, kind="stable"))
    for sym in sorted(list(worst.index[:PAIR_CHARTS])):
        c = candles.get(sym)
        rows = f.trades[f.trades["symbol"] == sym]
        span = c[(c["ts"] >= lo) & (c["ts"] <= hi)] if c is not None else None
        ref = f.references[sym][opts.reference if opts.reference != "open" else "vwap"]
        out[f"price:{sym}"] = charts.price_chart(
            sym, span["ts"].tolist() if span is not None else [],
            span["close"].tolist() if span is not None else [],
            rows["ts"].tolist(), rows["price"].tolist(), rows["side"].tolist(),
            reference=ref, window=(f.start_ms, min(f.end_ms, hi)),
            quote=analysis.split(sym)[1],
            high=span["high"].tolist() if span is not None else None,
            low=span["low"].tolist() if span is not None else None, fmt=fmt)
    points = [(t, v) for t, v in f.portfolio if lo <= t <= hi] or list(f.portfolio)
    before = sum(f.holdings_before.get(a, 0.0) * (p or 0.0)
                 for a, p in f.prices_before[opts.reference].items())
    out["portfolio"] = charts.portfolio_chart(
        [t for t, _ in points], [v for _, v in points], (f.start_ms, min(f.end_ms, hi)),
        "USD(T)", before_value=before, fmt=fmt)
    return out


def trades_csv(report: Report) -> bytes:
    """The unauthorized-trade table as CSV (the evidence bundle carries it whole)."""
    import csv
    import io

    buf = io.StringIO()
    cols = ["time", "trade", "order", "symbol", "side", "price", "amount", "cost", "fee",
            "fee_currency", "reference", "deviation_pct", "slippage", "slippage_usd", "flags",
            "counterparty"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in report.model["trades"]:
        w.writerow([" ".join(row[c]) if c == "flags" else (row[c] or "") for c in cols])
    return buf.getvalue().encode("utf-8")
