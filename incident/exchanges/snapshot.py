"""A snapshot of an account through ccxt, kept as evidence.

What it fetches: balances, open orders, deposits and withdrawals; then, for every symbol the
account held or traded, its orders and trades in the window, and public 1-minute candles
from 30 minutes before to 30 minutes after each run of fills; and for pricing in USD(T),
the candles of each held or traded asset's USDT pair (else its BTC pair) around every
fill. "Held or traded": spot pairs
whose base and quote both appear in the account (balances, including the zero balances an
exchange lists, deposits, withdrawals, open orders), plus any `symbols` asked for.

Every raw answer is kept with its SHA-256, endpoint and fetch time. A snapshot is written to
`$INCIDENT_HOME/snapshots/LABEL/TIME/` in one piece (a temporary directory renamed into
place), so a run that fails leaves nothing half-written:

    snapshot.json    what was asked, the parsed data, and the list of raw responses
    raw/NNNN.json    each raw response body, exactly as kept (hashed as is)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident.exchanges import data
from incident.exchanges.http import Recorder
from incident.exchanges.interface import Credential, RawResponse, response_json
from incident.store.db import private_dir, utc_now

PAGE = 1000
CANDLE_MARGIN_MS = 30 * 60_000
MINUTE_MS = 60_000
BYBIT_SPAN_MS = 7 * 86_400_000  # Bybit's execution list spans at most 7 days per call


@dataclass(frozen=True)
class Snapshot:
    exchange: str
    label: str
    since: str
    until: str
    taken_at: str
    symbols: tuple[str, ...]
    data: dict[str, Any] = field(repr=False)
    responses: tuple[RawResponse, ...] = field(repr=False)

    def counts(self) -> dict[str, int]:
        d = self.data
        return {"balances": len(d["balances"]), "open_orders": len(d["open_orders"]),
                "orders": len(d["orders"]), "trades": len(d["trades"]),
                "deposits": len(d["deposits"]), "withdrawals": len(d["withdrawals"]),
                "candles": sum(len(c) for c in d["candles"].values()),
                "responses": len(self.responses)}

    def document(self) -> dict[str, Any]:
        return {"exchange": self.exchange, "label": self.label, "since": self.since,
                "until": self.until, "taken_at": self.taken_at, "symbols": list(self.symbols),
                "counts": self.counts(), "data": self.data,
                "responses": [{**response_json(r), "file": f"raw/{i:04d}.json"}
                              for i, r in enumerate(self.responses, 1)]}


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def _lean(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """ccxt structures without their `info` (the raw answer is kept whole elsewhere)."""
    return [{k: v for k, v in item.items() if k != "info"} for item in items]


def take(exchange_id: str, label: str, cred: Credential, *, since_ms: int, until_ms: int,
         base_url: str | None = None, symbols: Iterable[str] = (),
         recorder: Recorder | None = None, timeout: float = 15.0,
         sleep: Callable[[float], None] = time.sleep) -> Snapshot:
    recorder = recorder or Recorder()
    taken_at = utc_now()
    retry = data.Retrying(exchange_id, sleep=sleep)
    with data.connected(exchange_id, cred, recorder, base_url=base_url,
                        timeout=timeout) as ex:
        def call(what: str, fn: Callable[[], Any]) -> Any:
            return retry(what, fn, lambda: getattr(ex, "last_response_headers", None))

        markets = call("load_markets", ex.load_markets)
        balance = call("fetch_balance", ex.fetch_balance)
        deposits = _transfers(call, ex.fetch_deposits, "fetch_deposits", exchange_id,
                              since_ms, until_ms) if ex.has.get("fetchDeposits") else []
        withdrawals = _transfers(call, ex.fetch_withdrawals, "fetch_withdrawals", exchange_id,
                                 since_ms, until_ms) if ex.has.get("fetchWithdrawals") else []
        open_orders = call("fetch_open_orders", ex.fetch_open_orders)

        assets = {c for c in balance.get("total", {})}
        assets |= {t.get("currency") for t in (*deposits, *withdrawals) if t.get("currency")}
        wanted = {o["symbol"] for o in open_orders if o.get("symbol")} | set(symbols)
        for sym, m in markets.items():
            if m.get("spot") and m.get("base") in assets and m.get("quote") in assets:
                wanted.add(sym)
        wanted = {s for s in wanted if s in markets}

        trades: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        if exchange_id == "binance":
            for sym in sorted(wanted):
                trades += _binance_paged(call, ex.fetch_my_trades, "fetch_my_trades", sym,
                                         since_ms, until_ms, "fromId")
                orders += _binance_paged(call, ex.fetch_orders, "fetch_orders", sym,
                                         since_ms, until_ms, "orderId")
        else:
            trades = _windowed(call, ex, "fetch_my_trades", wanted, since_ms, until_ms)
            if ex.has.get("fetchOrders"):
                orders = _windowed(call, ex, "fetch_orders", wanted, since_ms, until_ms)
            elif ex.has.get("fetchClosedOrders"):
                orders = _windowed(call, ex, "fetch_closed_orders", wanted, since_ms, until_ms)
        trades.sort(key=lambda t: (t.get("timestamp") or 0, str(t.get("id"))))
        orders.sort(key=lambda o: (o.get("timestamp") or 0, str(o.get("id"))))

        candles: dict[str, list[list[float]]] = {}
        by_symbol: dict[str, list[int]] = {}
        for t in trades:
            by_symbol.setdefault(t["symbol"], []).append(int(t["timestamp"]))
        for sym, stamps in sorted(by_symbol.items()):
            rows: list[list[float]] = []
            for start, end in _spans(stamps):
                rows += _candles(call, ex, sym, start, end)
            candles[sym] = rows
        every = [int(t["timestamp"]) for t in trades]
        traded = {markets[s][part] for s in by_symbol if s in markets
                  for part in ("base", "quote")}
        held = {c for c, v in balance.get("total", {}).items() if v}  # not the zero rows
        for sym in valuation_symbols(markets, held | traded):
            rows = list(candles.get(sym, []))
            for start, end in _coalesce(_spans(every)):
                rows += _candles(call, ex, sym, start, end)
            candles[sym] = sorted({int(r[0]): r for r in rows}.values(), key=lambda r: r[0])

    total = {k: v for k, v in balance.get("total", {}).items()}
    balances = {c: {"total": total.get(c), "free": balance.get("free", {}).get(c),
                    "used": balance.get("used", {}).get(c)} for c in sorted(total)}
    snapshot_data = {
        "balances": balances,
        "open_orders": _lean(open_orders),
        "orders": _lean(orders),
        "trades": _lean(trades),
        "deposits": _lean(deposits),
        "withdrawals": _lean(withdrawals),
        "candles": candles,
    }
    return Snapshot(exchange_id, label, iso(since_ms), iso(until_ms), taken_at,
                    tuple(sorted(wanted)), snapshot_data, recorder.take())


# Counted at one US dollar when a report values holdings in USD(T).
STABLE = frozenset({"USDT", "USDC", "BUSD", "USD", "FDUSD", "DAI", "TUSD"})


def valuation_symbols(markets: dict[str, Any], assets: Iterable[str]) -> list[str]:
    """The pairs that price each asset in USD(T): ASSET/USDT (or another stablecoin), else
    ASSET/BTC, which BTC/USDT then prices. A report states losses in USD(T) and values the
    portfolio across the window from these candles."""
    wanted: set[str] = set()
    pending = sorted(set(assets) - STABLE)
    while pending:
        asset = pending.pop()
        for quote in ("USDT", "USDC", "BUSD", "FDUSD", "USD"):
            m = markets.get(f"{asset}/{quote}")
            if m and m.get("spot"):
                wanted.add(f"{asset}/{quote}")
                break
        else:
            if asset != "BTC" and (m := markets.get(f"{asset}/BTC")) and m.get("spot"):
                wanted.add(f"{asset}/BTC")
                if not any(s.startswith("BTC/") for s in wanted):
                    pending.append("BTC")
    return sorted(wanted)


def _coalesce(spans: list[tuple[int, int]], most: int = PAGE) -> list[tuple[int, int]]:
    """Spans joined while the whole stays within `most` candles: valuation needs the
    prices around every fill, and a page of candles costs the same for any span in it."""
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        if out and (hi - out[-1][0]) // MINUTE_MS < most:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _binance_paged(call: Callable[[str, Callable[[], Any]], Any], fetch: Any, what: str,
                   symbol: str, since_ms: int, until_ms: int, id_param: str
                   ) -> list[dict[str, Any]]:
    """Binance's history by id, from the first (`fromId`/`orderId` 0), a thousand at a
    time, until a page is short or passes `until`: its time bounds may span at most 24
    hours a call, and fills sharing a millisecond are never skipped this way. Costs one
    call per thousand of the pair's trades, ever."""
    out: list[dict[str, Any]] = []
    next_id = 0
    while True:
        page = call(what, lambda: fetch(symbol, None, PAGE, {id_param: next_id}))
        out += [x for x in page if since_ms <= (x.get("timestamp") or 0) <= until_ms]
        if len(page) < PAGE or (page[-1].get("timestamp") or 0) > until_ms:
            return out
        next_id = int(page[-1]["id"]) + 1


# How far apart the time bounds of one deposit or withdrawal history call may be.
TRANSFER_SPAN_MS = {"binance": 90 * 86_400_000, "bybit": 30 * 86_400_000}


def _transfers(call: Callable[[str, Callable[[], Any]], Any], fetch: Any, what: str,
               exchange_id: str, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
    """Deposits or withdrawals in the window, a span at a time where the exchange bounds
    it."""
    span = TRANSFER_SPAN_MS.get(exchange_id)
    if span is None:
        return [x for x in call(what, lambda: fetch(None, since_ms))
                if (x.get("timestamp") or 0) <= until_ms]
    seen: dict[str, dict[str, Any]] = {}
    for start, end in _spans_of(since_ms, until_ms, span):
        for x in call(what, lambda: fetch(None, start, None, {"until": end})):
            if start <= (x.get("timestamp") or 0) <= end:
                seen[str(x.get("id") or x.get("txid") or len(seen))] = x
    return sorted(seen.values(), key=lambda x: x.get("timestamp") or 0)


def _spans_of(since_ms: int, until_ms: int, span: int) -> Iterator[tuple[int, int]]:
    """[start, end] pieces of at most `span` ms covering since..until, in order."""
    start = since_ms
    while start <= until_ms:
        end = min(until_ms, start + span - 1)
        yield start, end
        start = end + 1


def _windowed(call: Callable[[str, Callable[[], Any]], Any], ex: Any, what: str,
              symbols: set[str], since_ms: int, until_ms: int) -> list[dict[str, Any]]:
    """Exchanges that list every symbol at once, a bounded span at a time, through ccxt's
    own pagination."""
    fetch = getattr(ex, what)
    seen: dict[str, dict[str, Any]] = {}
    for start, end in _spans_of(since_ms, until_ms, BYBIT_SPAN_MS):
        params = {"paginate": True, "paginationCalls": 1000, "until": end}
        for item in call(what, lambda: fetch(None, start, None, params)):
            if item.get("symbol") in symbols or not symbols:
                seen[str(item.get("id"))] = item
    return list(seen.values())


def _spans(stamps: list[int]) -> list[tuple[int, int]]:
    """Minute-aligned spans covering each fill +-30 minutes, overlapping spans merged."""
    spans: list[tuple[int, int]] = []
    for t in sorted(stamps):
        lo = (t - CANDLE_MARGIN_MS) // MINUTE_MS * MINUTE_MS
        hi = (t + CANDLE_MARGIN_MS) // MINUTE_MS * MINUTE_MS
        if spans and lo <= spans[-1][1] + MINUTE_MS:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def _candles(call: Callable[[str, Callable[[], Any]], Any], ex: Any, symbol: str,
             start: int, end: int) -> list[list[float]]:
    rows: list[list[float]] = []
    since = start
    while since <= end:
        page = call("fetch_ohlcv", lambda: ex.fetch_ohlcv(symbol, "1m", since, PAGE,
                                                          {"until": end}))
        page = [r for r in page if since <= r[0] <= end]
        if not page:
            break
        rows += page
        since = int(page[-1][0]) + MINUTE_MS
    return rows


def save(snapshot: Snapshot, root: Path) -> Path:
    """Write the snapshot under root/LABEL/TIME/ in one piece; its directory."""
    stamp = snapshot.taken_at.replace(":", "").replace("-", "").replace(".", "")
    final = root / _safe(snapshot.label) / stamp
    private_dir(root)
    private_dir(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))  # 0700
    try:
        (tmp / "raw").mkdir(mode=0o700)
        for i, r in enumerate(snapshot.responses, 1):
            _write(tmp / "raw" / f"{i:04d}.json", r.body)
        doc = json.dumps(snapshot.document(), indent=1, sort_keys=True, ensure_ascii=False)
        _write(tmp / "snapshot.json", (doc + "\n").encode("utf-8"))
        for path in (tmp / "raw", tmp / "snapshot.json"):
            _fsync(path)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write(path: Path, data: bytes) -> None:
    """A new file, 0600 like everything in the data directory."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def digest(path: Path) -> str:
    return hashlib.sha256((path / "snapshot.json").read_bytes()).hexdigest()


def _safe(label: str) -> str:
    """A label as one path component (labels may hold '/' or start with '.')."""
    keep = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in label)
    return keep.lstrip(".") or "_"


def _fsync(path: Path) -> None:
    targets = list(path.iterdir()) if path.is_dir() else [path]
    for p in targets:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
