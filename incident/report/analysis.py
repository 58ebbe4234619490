"""Trade analysis and loss valuation over an account's snapshots (pandas).

The incident window runs from the leak (`since`, when the claimant knows it) or else the
first order that carries a flag, to the revocation (`until`: the audit log's, else the
end of the newest snapshot). Every order in the window that is not one of the account's
own known orders (by order id or client order id) is counted as unauthorized; each one
carries the flags that make the case, each explained in the report:

    burst        orders per 10 minutes far above the account's own history
    thin         a buy in a pair whose volume, in the minutes the orders filled, was
                 many times its own pre-incident norm (a thin market being moved)
    above        filled far above (a sell: below) the pre-incident reference price
    whole        part of spending (or selling) nearly the whole balance held before
    counterparty the same trade id appears, on the other side, in another account's
                 snapshot in this data directory: who took the other side

Loss, per trade: slippage = (fill price - reference) x quantity for a buy, (reference -
fill price) x quantity for a sell, in the pair's quote currency and in USD(T). Three
references, from 1-minute candles at most an hour old, anchored just before the first
unauthorized fill: `open` (the open of the fill's own minute), `vwap` (volume-weighted
price over the N minutes before it) and `close` (the last close before it). One is the headline; the range is across all three. The portfolio
shortfall is the holdings before the window, valued at pre-incident prices, minus the
holdings after it at the same prices: fees and withdrawals included.

Nothing here formats or prints: the claim report turns this into text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from incident.report.interface import ReportError

if TYPE_CHECKING:
    import pandas as pd

MINUTE = 60_000
STALE = 60 * MINUTE  # a reference comes from candles at most this long before the attack
METHODS = ("vwap", "open", "close")
STABLE = frozenset({"USDT", "USDC", "BUSD", "USD", "FDUSD", "DAI", "TUSD"})
FLAGS = ("burst", "thin", "above", "whole", "counterparty")


@dataclass(frozen=True)
class Options:
    since_ms: int | None = None  # the leak, when known
    until_ms: int | None = None  # the revocation
    until_source: str = "revocation"  # what until_ms is
    own: frozenset[str] = frozenset()  # order ids and client order ids that were the user's
    reference: str = "vwap"
    vwap_minutes: int = 30
    above: float = 0.2  # a fill 20 % above the reference is flagged
    burst_factor: float = 3.0
    burst_min: int = 5
    thin_factor: float = 5.0  # the pair's volume in the attack's minutes, x its norm
    whole_share: float = 0.9

    def __post_init__(self) -> None:
        if self.reference not in METHODS:
            raise ReportError(f"reference: no method {self.reference!r}; known: "
                              f"{', '.join(METHODS)}")
        if not 1 <= self.vwap_minutes <= 1440:
            raise ReportError("vwap minutes: between 1 and 1440")


@dataclass(frozen=True)
class Flagged:
    """What the analysis found. Frames are pandas DataFrames (pandas imported lazily)."""

    exchange: str
    start_ms: int  # the window
    end_ms: int
    start_source: str  # "leak (given)" | "first flagged order" | "first order"
    end_source: str
    trades: Any = field(repr=False)  # unauthorized fills, with references and slippage
    orders: Any = field(repr=False)  # unauthorized orders, with flags
    own_trades: int = 0  # fills in the window known as the user's own
    history_orders: int = 0  # orders before the window (the account's own history)
    history_peak: int = 0  # its most orders in any 10 minutes
    window_peak: int = 0
    references: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    norms: Mapping[str, float | None] = field(default_factory=dict)  # pair -> median 1-min quote volume
    spikes: Mapping[str, float | None] = field(default_factory=dict)  # pair -> volume x norm
    usd_rates: Mapping[str, float | None] = field(default_factory=dict)  # quote -> USD before
    totals: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # method -> {quote: x, "USD": y}
    holdings_before: Mapping[str, float] = field(default_factory=dict)
    holdings_after: Mapping[str, float] = field(default_factory=dict)
    prices_before: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # method -> asset -> USD
    shortfall: Mapping[str, float | None] = field(default_factory=dict)  # method -> USD
    unpriced: tuple[str, ...] = ()
    withdrawals: tuple[Mapping[str, Any], ...] = ()
    last_own_ms: int | None = None
    first_unauthorized_ms: int | None = None
    counterparties: Mapping[str, int] = field(default_factory=dict)  # label -> fills
    portfolio: tuple[tuple[int, float], ...] = ()  # (minute, USD value at market prices)
    candles: Mapping[str, Any] = field(default_factory=dict, repr=False)  # pair -> frame
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# Loading


def frames(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Trades, orders, transfers and candles of one account's snapshots, merged (a fill or
    an order seen in two snapshots counts once), and the newest balances."""
    import pandas as pd

    if not docs:
        raise ReportError("no snapshot to analyse")
    docs = sorted(docs, key=lambda d: str(d["taken_at"]))
    trades: dict[str, dict[str, Any]] = {}
    orders: dict[str, dict[str, Any]] = {}
    transfers: dict[tuple[str, str], dict[str, Any]] = {}
    candles: dict[str, dict[int, list[float]]] = {}
    for doc in docs:
        data = doc["data"]
        for t in data.get("trades", []):
            if t.get("side") not in ("buy", "sell") or not t.get("symbol"):
                raise ReportError(f"snapshot taken {doc.get('taken_at')}: trade "
                                  f"{t.get('id')!s:.40}: no side or symbol")
            trades[f"{t.get('symbol')}#{t.get('id')}"] = t
        for o in [*data.get("orders", []), *data.get("open_orders", [])]:
            orders[f"{o.get('symbol')}#{o.get('id')}"] = o
        for kind in ("deposits", "withdrawals"):
            for n, x in enumerate(data.get(kind, [])):
                ident = x.get("id") or x.get("txid") or f"{x.get('timestamp')}:{x.get('amount')}:{n}"
                transfers[(kind, str(ident))] = {**x, "kind": kind}
        for sym, rows in data.get("candles", {}).items():
            into = candles.setdefault(sym, {})
            for r in rows:
                into[int(r[0])] = [float(v) if v is not None else math.nan for v in r[1:6]]
    t = pd.DataFrame([{
        "id": str(x.get("id")), "order": str(x.get("order")), "symbol": x.get("symbol"),
        "side": x.get("side"), "price": float(x.get("price") or 0.0),
        "amount": float(x.get("amount") or 0.0), "cost": float(x.get("cost") or 0.0),
        "fee": float((x.get("fee") or {}).get("cost") or 0.0),
        "fee_currency": (x.get("fee") or {}).get("currency"),
        "ts": int(x.get("timestamp") or 0), "taker": x.get("takerOrMaker") == "taker",
    } for x in trades.values()], columns=["id", "order", "symbol", "side", "price", "amount",
                                          "cost", "fee", "fee_currency", "ts", "taker"])
    o = pd.DataFrame([{
        "id": str(x.get("id")), "client": str(x.get("clientOrderId") or ""),
        "symbol": x.get("symbol"), "side": x.get("side"), "type": x.get("type"),
        "ts": int(x.get("timestamp") or 0), "status": x.get("status"),
        "filled": float(x.get("filled") or 0.0), "cost": float(x.get("cost") or 0.0),
    } for x in orders.values()], columns=["id", "client", "symbol", "side", "type", "ts",
                                          "status", "filled", "cost"])
    tr = pd.DataFrame([{
        "kind": x["kind"], "id": str(x.get("id") or x.get("txid")),
        "currency": x.get("currency"), "amount": float(x.get("amount") or 0.0),
        "fee": float((x.get("fee") or {}).get("cost") or 0.0),
        "ts": int(x.get("timestamp") or 0), "status": x.get("status"),
    } for x in transfers.values()], columns=["kind", "id", "currency", "amount", "fee", "ts",
                                             "status"])
    c = {sym: pd.DataFrame([[ts, *v] for ts, v in sorted(rows.items())],
                           columns=["ts", "open", "high", "low", "close", "volume"])
         for sym, rows in sorted(candles.items())}
    newest = docs[-1]
    balances = {a: float((b or {}).get("total") or 0.0)
                for a, b in newest["data"].get("balances", {}).items()}
    return {"trades": t.sort_values(["ts", "id"], kind="stable").reset_index(drop=True),
            "orders": o.sort_values(["ts", "id"], kind="stable").reset_index(drop=True),
            "transfers": tr.sort_values(["ts", "id"], kind="stable").reset_index(drop=True),
            "candles": c, "balances": balances, "balances_at": _ms(str(newest["taken_at"])),
            "covered_until": max(_ms(str(d["until"])) for d in docs),
            "covered_since": min(_ms(str(d["since"])) for d in docs),
            "exchange": str(newest["exchange"])}


def _ms(text: str) -> int:
    from incident.report.interface import utc_to_ms

    return utc_to_ms(text)


def _iso(ms: int) -> str:
    from incident.report.interface import ms_to_utc

    return ms_to_utc(ms)


def split(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":")[0]


# ---------------------------------------------------------------------------------------
# The analysis


def analyse(docs: Sequence[Mapping[str, Any]], options: Options, *,
            others: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> Flagged:
    """The window, the unauthorized trades with their flags, and the loss. `others`:
    (label, snapshot document) of other accounts, for the counterparty flag."""
    import numpy as np

    f = frames(docs)
    trades, orders, candles = f["trades"], f["orders"], f["candles"]
    notes: list[str] = []
    own = options.own
    orders["own"] = orders["id"].isin(own) | orders["client"].isin(own)
    trades["own"] = trades["order"].isin(set(orders.loc[orders["own"], "id"])) | \
        trades["order"].isin(own)

    end_ms, end_source = (options.until_ms, options.until_source) if options.until_ms else (
        f["covered_until"], "end of the snapshot")
    lo = options.since_ms if options.since_ms is not None else f["covered_since"]
    scope = orders[(orders["ts"] >= lo) & (orders["ts"] <= end_ms) & ~orders["own"]]
    if options.since_ms is not None:
        start_ms, start_source = options.since_ms, "leak (given)"
    else:
        start_ms, start_source = _first_flagged(scope, trades, candles, orders, options)
    history = orders[(orders["ts"] < start_ms)]
    inwin = orders[(orders["ts"] >= start_ms) & (orders["ts"] <= end_ms)]
    unauth_orders = inwin[~inwin["own"]].copy()
    # an order placed before the window (resting, filled in it) was the holder's own
    trades["own"] |= trades["order"].isin(set(history["id"]))
    wtrades = trades[(trades["ts"] >= start_ms) & (trades["ts"] <= end_ms)]
    unauth = wtrades[~wtrades["own"]].copy()
    own_count = int(wtrades["own"].sum())

    # references per pair: the market just before the first unauthorized fill (a leak time
    # given may be days earlier, where the snapshot holds no candles)
    anchor = int(unauth["ts"].min()) if len(unauth) else start_ms
    pairs = sorted(set(unauth["symbol"]))
    refs = {sym: _references(candles.get(sym), anchor, options.vwap_minutes)
            for sym in pairs}
    norms = {sym: _norm(candles.get(sym), anchor) for sym in pairs}
    for sym in pairs:
        if refs[sym]["vwap"] is None:
            notes.append(f"{sym}: no candles in the {STALE // MINUTE} minutes before the "
                         "first unauthorized fill; its pre-incident references are missing "
                         "and its loss uses the minute open only")

    # per-fill references and slippage
    unauth["ref_open"] = np.nan
    for sym in pairs:
        mask = unauth["symbol"] == sym
        unauth.loc[mask, "ref_open"] = _minute_open(candles.get(sym), unauth.loc[mask, "ts"])
    unauth["ref_vwap"] = unauth["symbol"].map(lambda s: refs[s]["vwap"]).astype(float)
    unauth["ref_close"] = unauth["symbol"].map(lambda s: refs[s]["close"]).astype(float)
    sign = np.where(unauth["side"] == "buy", 1.0, -1.0)
    for m in METHODS:
        ref = unauth[f"ref_{m}"].fillna(unauth["ref_open"])
        unauth[f"slip_{m}"] = (unauth["price"] - ref) * unauth["amount"] * sign
    unauth["quote"] = unauth["symbol"].map(lambda s: split(s)[1])
    unauth["base"] = unauth["symbol"].map(lambda s: split(s)[0])
    rates = {q: _asset_usd(candles, q, anchor, options.vwap_minutes, "vwap")
             for q in sorted(set(unauth["quote"]))}
    unauth["usd_rate"] = unauth["quote"].map(lambda q: rates[q]).astype(float)
    for m in METHODS:
        unauth[f"slip_{m}_usd"] = unauth[f"slip_{m}"] * unauth["usd_rate"]
    for q, r in rates.items():
        if r is None:
            notes.append(f"{q}: no USD(T) price in the snapshot; amounts in {q} are not "
                         "converted")
    unauth["deviation"] = (unauth["price"] / unauth["ref_vwap"].fillna(unauth["ref_open"])
                           - 1.0) * sign

    # flags, per order
    flags: dict[str, list[str]] = {oid: [] for oid in unauth_orders["id"]}
    hist_peak = _peak(history["ts"].to_numpy())
    win_peak = _peak(unauth_orders["ts"].to_numpy())
    threshold = max(options.burst_min, int(options.burst_factor * max(hist_peak, 1)))
    for oid in _bursting(unauth_orders, threshold):
        flags[oid].append("burst")
    by_order = unauth.groupby("order")
    dev = by_order["deviation"].max()
    for oid, d in dev.items():
        if oid in flags and d is not None and not math.isnan(d) and d >= options.above:
            flags[oid].append("above")
    spikes = {sym: _spike(candles.get(sym), norms[sym], unauth.loc[unauth["symbol"] == sym,
                                                                   "ts"])
              for sym in pairs}
    for o in unauth_orders.itertuples(index=False):
        spike = spikes.get(str(o.symbol))
        if o.side == "buy" and spike is not None and spike >= options.thin_factor:
            flags[str(o.id)].append("thin")

    # holdings, before and after
    before, after = _holdings(f, start_ms, end_ms)
    for oid in _whole(unauth, before, options.whole_share):
        if oid in flags:
            flags[oid].append("whole")
    counter = _counterparties(unauth, f["exchange"], others)
    fill_key = unauth["symbol"].astype(str) + "#" + unauth["id"].astype(str)
    for oid in set(unauth.loc[fill_key.isin(counter), "order"]):
        if oid in flags:
            flags[oid].append("counterparty")
    unauth["counterparty"] = fill_key.map(counter)
    unauth_orders["flags"] = unauth_orders["id"].map(lambda i: tuple(
        x for x in FLAGS if x in flags.get(i, ())))
    unauth["flags"] = unauth["order"].map(lambda i: tuple(
        x for x in FLAGS if x in flags.get(i, ())))

    totals: dict[str, dict[str, float]] = {}
    for m in METHODS:
        per = unauth.groupby("quote")[f"slip_{m}"].sum()
        row = {q: float(v) for q, v in per.items()}
        row["USD"] = float(unauth[f"slip_{m}_usd"].sum(min_count=0))
        totals[m] = row

    assets = sorted(set(before) | set(after))
    prices: dict[str, dict[str, float | None]] = {}
    for m in ("vwap", "close"):
        prices[m] = {a: _asset_usd(candles, a, anchor, options.vwap_minutes, m)
                     for a in assets}
    prices["open"] = prices["vwap"]  # holdings are valued before the window: no fill minute
    unpriced = tuple(a for a in assets if prices["vwap"][a] is None
                     and abs(before.get(a, 0.0) - after.get(a, 0.0)) > 0)
    shortfall: dict[str, float | None] = {}
    for m in METHODS:
        total = 0.0
        for a in assets:
            p = prices[m][a]
            if p is not None:
                total += (before.get(a, 0.0) - after.get(a, 0.0)) * p
        shortfall[m] = total
    if unpriced:
        notes.append("not priced in USD(T), left out of the shortfall: " + ", ".join(unpriced))
    if f["covered_until"] < end_ms:
        notes.append("the snapshots cover trading until " + _iso(f["covered_until"]) +
                     "; anything from then to the window's end is not in this data")
    if end_ms < f["balances_at"] and f["covered_until"] < f["balances_at"]:
        notes.append("the balances were read after the snapshot's window ended; holdings "
                     "after the incident assume nothing traded in between")

    withdrawals = tuple(
        {"id": r["id"], "currency": r["currency"], "amount": float(r["amount"]),
         "fee": float(r["fee"]), "ts": int(r["ts"])}
        for _, r in f["transfers"].iterrows()
        if r["kind"] == "withdrawals" and start_ms <= r["ts"] <= end_ms and _done(r["status"]))

    own_before = orders[(orders["ts"] < start_ms)]
    last_own = int(own_before["ts"].max()) if len(own_before) else None
    first = int(unauth_orders["ts"].min()) if len(unauth_orders) else None
    return Flagged(
        exchange=f["exchange"], start_ms=start_ms, end_ms=end_ms, start_source=start_source,
        end_source=end_source, trades=unauth.reset_index(drop=True),
        orders=unauth_orders.reset_index(drop=True), own_trades=own_count,
        history_orders=len(history), history_peak=hist_peak, window_peak=win_peak,
        references=refs, norms=norms, spikes=spikes, usd_rates=rates, totals=totals,
        holdings_before=before, holdings_after=after, prices_before=prices,
        shortfall=shortfall, unpriced=unpriced, withdrawals=withdrawals,
        last_own_ms=last_own, first_unauthorized_ms=first,
        counterparties=_count(counter.values()),
        portfolio=_portfolio(f, start_ms, end_ms), candles=candles, notes=tuple(notes))


def _first_flagged(scope: pd.DataFrame, trades: pd.DataFrame, candles: Mapping[str, Any],
                   orders: pd.DataFrame, options: Options) -> tuple[int, str]:
    """Without a known leak time: the first order whose fills were far from the price of
    the minutes before it, or that opened a burst; else the first order in scope."""
    if scope.empty:
        raise ReportError("no orders in the window other than the account's own")
    import numpy as np

    hist_peak_all = _peak(orders["ts"].to_numpy())
    for _, o in scope.iterrows():
        fills = trades[trades["order"] == o["id"]]
        ref = _references(candles.get(o["symbol"]), int(o["ts"]), options.vwap_minutes)
        base = ref["vwap"]
        if base and len(fills):
            sign = 1.0 if o["side"] == "buy" else -1.0
            dev = float(np.max((fills["price"].to_numpy() / base - 1.0) * sign))
            if dev >= options.above:
                return int(o["ts"]), "first flagged order"
        near = scope[(scope["ts"] >= o["ts"]) & (scope["ts"] < o["ts"] + 10 * MINUTE)]
        if len(near) >= max(options.burst_min, options.burst_factor * max(1, hist_peak_all // 4)):
            return int(o["ts"]), "first flagged order"
    raise ReportError("no order in the snapshot stands out (far above the market, or in a "
                      "burst): give the leak's time (--since) to say where the window starts")


def _peak(ts: Any) -> int:
    """Most orders in any 10 minutes."""
    import numpy as np

    if len(ts) == 0:
        return 0
    ts = np.sort(np.asarray(ts, dtype=np.int64))
    ends = np.searchsorted(ts, ts + 10 * MINUTE, side="left")
    return int((ends - np.arange(len(ts))).max())


def _bursting(orders: pd.DataFrame, threshold: int) -> list[str]:
    """Orders inside some 10 minutes holding at least `threshold` orders."""
    import numpy as np

    if orders.empty:
        return []
    ts = orders["ts"].to_numpy(dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    s = ts[order]
    ends = np.searchsorted(s, s + 10 * MINUTE, side="left")
    hit = np.zeros(len(s) + 1, dtype=np.int64)
    for i in np.nonzero(ends - np.arange(len(s)) >= threshold)[0]:
        hit[i] += 1
        hit[ends[i]] -= 1
    inside = np.cumsum(hit)[:-1] > 0
    ids = orders["id"].to_numpy()[order]
    return [str(x) for x in ids[inside]]


def _references(c: pd.DataFrame | None, start_ms: int, minutes: int
                ) -> dict[str, float | None]:
    """The pre-incident references of one pair: the VWAP of the `minutes` before the
    window (typical price x volume), and the last close before it."""
    if c is None or c.empty:
        return {"vwap": None, "close": None, "from_ms": None, "to_ms": None}
    before = c[(c["ts"] < start_ms - start_ms % MINUTE) & (c["ts"] >= start_ms - STALE)
               & c["close"].notna()]
    if before.empty:
        return {"vwap": None, "close": None, "from_ms": None, "to_ms": None}
    last = before.iloc[-1]
    span = before[before["ts"] >= int(last["ts"]) - (minutes - 1) * MINUTE]
    typical = (span["high"] + span["low"] + span["close"]) / 3.0
    vol = span["volume"].fillna(0.0)
    vwap = float((typical * vol).sum() / vol.sum()) if vol.sum() > 0 else float(typical.mean())
    return {"vwap": vwap, "close": float(last["close"]), "from_ms": int(span["ts"].iloc[0]),
            "to_ms": int(last["ts"]) + MINUTE}


def _norm(c: pd.DataFrame | None, start_ms: int) -> float | None:
    """The pair's median 1-minute volume in its quote currency before the window."""
    if c is None or c.empty:
        return None
    before = c[c["ts"] < start_ms - start_ms % MINUTE]
    if before.empty:
        return None
    return float((before["volume"] * before["close"]).median())


def _spike(c: pd.DataFrame | None, norm: float | None, ts: pd.Series) -> float | None:
    """How many times its pre-incident median the pair's volume was in the minutes the
    unauthorized orders filled (median over those minutes)."""
    if c is None or c.empty or not norm or ts.empty:
        return None
    minutes = set((ts - ts % MINUTE).tolist())
    during = c[c["ts"].isin(minutes)]
    if during.empty:
        return None
    return float((during["volume"] * during["close"]).median() / norm)


def _minute_open(c: pd.DataFrame | None, ts: pd.Series) -> Any:
    """The open of each fill's own minute (the candle starting at or before it)."""
    import numpy as np

    if c is None or c.empty:
        return np.full(len(ts), np.nan)
    idx = np.searchsorted(c["ts"].to_numpy(), ts.to_numpy() - ts.to_numpy() % MINUTE,
                          side="right") - 1
    opens = c["open"].to_numpy()
    out = np.where(idx >= 0, opens[np.clip(idx, 0, None)], np.nan)
    return out


def _asset_usd(candles: Mapping[str, Any], asset: str, start_ms: int, minutes: int,
               method: str, depth: int = 0) -> float | None:
    """An asset's USD(T) price before `start_ms`: stablecoins at 1, else through the first
    of its pairs in the snapshot whose quote is priced (stablecoins first, then BTC, ETH,
    then any), at most three pairs deep."""
    if asset in STABLE:
        return 1.0
    if depth > 2:
        return None
    for symbol, quote in _pricing_pairs(candles, asset):
        ref = _references(candles[symbol], start_ms, minutes)[method]
        if ref is None:
            continue
        rate = _asset_usd(candles, quote, start_ms, minutes, method, depth + 1)
        if rate is not None:
            return ref * rate
    return None


def _pricing_pairs(candles: Mapping[str, Any], asset: str) -> list[tuple[str, str]]:
    order = {q: i for i, q in enumerate(("USDT", "USDC", "BUSD", "FDUSD", "USD", "DAI",
                                         "TUSD", "BTC", "ETH"))}
    pairs = [(sym, split(sym)[1]) for sym in candles if split(sym)[0] == asset]
    return sorted(((sym, q) for sym, q in pairs if q != asset),
                  key=lambda p: (order.get(p[1], len(order)), p[0]))


def _effects(f: Mapping[str, Any]) -> pd.DataFrame:
    """Every change to the holdings: (ts, asset, delta), fees included."""
    import pandas as pd

    rows: list[tuple[int, str, float, str]] = []
    for r in f["trades"].itertuples(index=False):
        base, quote = split(str(r.symbol))
        s = 1.0 if r.side == "buy" else -1.0
        rows.append((int(r.ts), base, s * float(r.amount), "trade"))
        rows.append((int(r.ts), quote, -s * float(r.cost), "trade"))
        if r.fee and r.fee_currency:
            rows.append((int(r.ts), str(r.fee_currency), -float(r.fee), "trade"))
    for r in f["transfers"].itertuples(index=False):
        if not _done(r.status):
            continue
        if r.kind == "deposits":
            rows.append((int(r.ts), str(r.currency), float(r.amount), "deposit"))
        else:
            rows.append((int(r.ts), str(r.currency), -float(r.amount) - float(r.fee),
                         "withdrawal"))
    return pd.DataFrame(rows, columns=["ts", "asset", "delta", "kind"])


def _done(status: Any) -> bool:
    """A transfer that moved money (ccxt: ok; some exchanges say more)."""
    return status in (None, "ok", "success", "completed")


def _holdings(f: Mapping[str, Any], start_ms: int, end_ms: int
              ) -> tuple[dict[str, float], dict[str, float]]:
    """Holdings just before the window and at its end: the newest balances, with every
    change after that moment taken back."""
    eff = _effects(f)
    now = dict(f["balances"])

    def at(moment: int) -> dict[str, float]:
        later = eff[eff["ts"] > moment].groupby("asset")["delta"].sum()
        out = dict(now)
        for asset, delta in later.items():
            out[str(asset)] = out.get(str(asset), 0.0) - float(delta)
        return {a: (0.0 if abs(v) < 1e-12 else v) for a, v in sorted(out.items())}

    deposits = eff[(eff["kind"] == "deposit") & (eff["ts"] >= start_ms)
                   & (eff["ts"] <= end_ms)].groupby("asset")["delta"].sum()
    after = at(end_ms)
    for asset, delta in deposits.items():  # money put in during the window is no loss
        after[str(asset)] = after.get(str(asset), 0.0) - float(delta)
    return at(start_ms - 1), after


def _whole(unauth: pd.DataFrame, before: Mapping[str, float], share: float) -> set[str]:
    """Orders that together spent (buys) or sold (sells) at least `share` of what the
    account held of that asset before the window."""
    out: set[str] = set()
    if unauth.empty:
        return out
    spent = unauth[unauth["side"] == "buy"].groupby("quote")["cost"].sum()
    for quote, total in spent.items():
        held = before.get(str(quote), 0.0)
        if held > 0 and total >= share * held:
            out |= set(unauth[(unauth["side"] == "buy") & (unauth["quote"] == quote)]["order"])
    sold = unauth[unauth["side"] == "sell"].groupby("base")["amount"].sum()
    for base, total in sold.items():
        held = before.get(str(base), 0.0)
        if held > 0 and total >= share * held:
            out |= set(unauth[(unauth["side"] == "sell") & (unauth["base"] == base)]["order"])
    return out


def _counterparties(unauth: pd.DataFrame, exchange: str,
                    others: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """SYMBOL#trade id -> the label of another account whose snapshot holds the same trade
    on the other side (an exchange gives both sides of a match one id, per symbol)."""
    if unauth.empty:
        return {}
    mine = {(str(r.symbol), str(r.id)): str(r.side) for r in unauth.itertuples(index=False)}
    found: dict[str, str] = {}
    for label, doc in others:
        if doc.get("exchange") != exchange:
            continue
        for t in doc["data"].get("trades", []):
            key = (str(t.get("symbol")), str(t.get("id")))
            side = mine.get(key)
            if side is not None and side != t.get("side"):
                found.setdefault(f"{key[0]}#{key[1]}", label)
    return found


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _portfolio(f: Mapping[str, Any], start_ms: int, end_ms: int
               ) -> tuple[tuple[int, float], ...]:
    """The portfolio's USD(T) value at each minute from 30 minutes before the window to 30
    after its last fill (at most 2,000 points), at each minute's market close; assets with no price
    that minute carry their last known one."""
    import numpy as np

    fills = f["trades"]["ts"]
    fills = fills[(fills >= start_ms) & (fills <= end_ms)]
    first = int(fills.min()) if len(fills) else start_ms
    last = int(fills.max()) if len(fills) else min(end_ms, start_ms + 60 * MINUTE)
    lo = (min(start_ms, first) - 30 * MINUTE) // MINUTE * MINUTE
    hi = (last + 30 * MINUTE) // MINUTE * MINUTE
    step = max(MINUTE, ((hi - lo) // 2000 + MINUTE - 1) // MINUTE * MINUTE)
    grid = np.arange(lo, hi + 1, step, dtype=np.int64)
    eff = _effects(f)
    now = dict(f["balances"])
    assets = sorted(set(now) | set(eff["asset"]))
    value = np.zeros(len(grid))
    candles = f["candles"]
    for asset in assets:
        a_eff = eff[eff["asset"] == asset].sort_values("ts")
        ts = a_eff["ts"].to_numpy(dtype=np.int64)
        cum = np.concatenate([[0.0], np.cumsum(a_eff["delta"].to_numpy())])
        total = cum[-1]
        held = now.get(asset, 0.0) - (total - cum[np.searchsorted(ts, grid, side="right")])
        price = _price_series(candles, asset, grid)
        if price is None:
            continue
        value += np.nan_to_num(held * price)
    return tuple((int(t), float(v)) for t, v in zip(grid, value))


def _price_series(candles: Mapping[str, Any], asset: str, grid: Any, depth: int = 0) -> Any:
    """The asset's USD(T) price at each grid time, through the same pairs as _asset_usd."""
    import numpy as np

    if asset in STABLE:
        return np.ones(len(grid))
    if depth > 2:
        return None
    for symbol, quote in _pricing_pairs(candles, asset):
        c = candles[symbol]
        if c.empty:
            continue
        rate = _price_series(candles, quote, grid, depth + 1)
        if rate is not None:
            return _asof(c, grid) * rate
    return None


def _asof(c: pd.DataFrame, grid: Any) -> Any:
    import numpy as np

    ts = c["ts"].to_numpy(dtype=np.int64)
    close = c["close"].to_numpy(dtype=float)
    idx = np.searchsorted(ts, grid, side="right") - 1
    out = np.where(idx >= 0, close[np.clip(idx, 0, None)], close[0] if len(close) else np.nan)
    return out
