"""`incident sim-exchange`: Binance spot's and Bybit v5's REST dialects on one port.

Paths decide the dialect: `/api/v3/...` and `/sapi/...` are Binance (binance.py), `/v5/...`
Bybit (bybit.py), `/_sim/...` the simulator's own. The real ccxt, with every URL of
`exchange.urls['api']` pointed at this server, works against it.

Rate limits. Every request is charged to a bucket: the API key header's value
(X-MBX-APIKEY, X-BAPI-API-KEY) when there is one, else the client's address. Windows are
fixed and aligned to the epoch (start = floor(now / window) * window). Past the limit: HTTP
429 with Retry-After (seconds to the window's end, at least 1), Binance body
`{"code": -1003, ...}`, Bybit body `{"retCode": 10006, ...}`; a refused request is not
charged. Weights:

    Binance                                      weight
    GET  /api/v3/ping, /api/v3/time                   1
    GET  /api/v3/exchangeInfo                        20
    GET  /api/v3/klines                               2
    GET  /api/v3/ticker/price                2 (4 without symbol)
    GET  /api/v3/ticker/24hr                 2 (80 without symbol)
    GET  /api/v3/account                             20
    GET  /api/v3/openOrders                  6 (80 without symbol)
    GET  /api/v3/allOrders, /api/v3/myTrades         20
    GET  /api/v3/order                                4
    POST /api/v3/order, DELETE /api/v3/order          1
    GET  /sapi/v1/capital/config/getall              10
    GET  /sapi/v1/margin/allPairs, .../isolated/allPairs  1
    GET  /sapi/v1/capital/deposit/hisrec              1
    GET  /sapi/v1/capital/withdraw/history            1
    GET  /sapi/v1/account/apiRestrictions             1
    GET  /sapi/v1/sub-account/list                    1
    DELETE /sapi/v1/sub-account/subAccountApi         1
    POST /sapi/v2/sub-account/subAccountApi/ipRestriction  1
    GET  /sapi/v1/sub-account/subAccountApi/ipRestriction  1
    anything else (a 404)                             1
    Bybit: every /v5 request                          1

Every Binance answer carries `X-MBX-USED-WEIGHT-<n><S|M|H>` (the window: 60 s is `1M`,
10 s `10S`, 3600 s `1H`): the bucket's weight used after this request. Every Bybit answer
carries `X-Bapi-Limit` (the limit), `X-Bapi-Limit-Status` (what remains) and
`X-Bapi-Limit-Reset-Timestamp` (the window's end, ms).

`GET /_sim/stats` (unsigned, not rate limited):

    {"requests": N, "by_status": {"200": n, ...}, "rate_limited": n,
     "errors": {"binance:-2015": n, "bybit:10003": n, ...},
     "by_label": {LABEL: {"requests": n, "weight": n, "rejected": n}},
     "revocations": {LABEL: n}, "restrictions": {LABEL: n}, "since": ISO time}

A request counts for an account when it carries that account's key (alive or deleted);
`rejected` is an answer that is an error (HTTP >= 400, or a Bybit retCode other than 0).
`revocations` counts deletes that succeeded (a second delete of a dead key is refused and
not counted); `restrictions` counts IP or read-only restrictions that succeeded. Keys are
named by label only, here and in the access log. `POST /_sim/reset-stats` zeroes it all.

`POST /_sim/delete-key` with {"label": LABEL} deletes that account's key as a person does in
the exchange's web page (a main account's key, which no API deletes).

`POST /_sim/faults` injects failures for tests (see `Faults`): a 5xx, or a delay past a
client's timeout, for the next N requests to one path.

The access log (logger `incident.sim.access`) has the method, the path without its query
(a query holds a signature), the status, the time and the account's label; never a header.

Time: signatures are checked against the real clock; the world's history is anchored in
the past (`--anchor`). Deviations from the real exchanges, so that a world in the past is
reachable: history endpoints asked without any time bound return everything (the real
ones default to the last days, which would be empty); Binance does not limit
startTime..endTime to 24 hours (Bybit's 7- and 30-day limits are kept); keys do not expire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from incident.exchanges.sim.world import Account, Market, Order, Trade, World

access = logging.getLogger("incident.sim.access")
log = logging.getLogger("incident.sim")


@dataclass(frozen=True, slots=True)
class SimConfig:
    rate_limit: int = 6000  # request weight per bucket per window
    rate_window: int = 60  # seconds
    access_log: bool = True


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Raw:
    """A handler's answer that is JSON text already (cached candles)."""

    text: bytes


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Call:
    """One request, as a handler sees it."""

    method: str
    path: str
    query: str  # raw, as sent (what a signature covers)
    body: bytes
    headers: Any  # case-insensitive mapping
    client: str
    params: dict[str, str]
    label: str | None = None  # the account whose key the request carries


class ApiError(Exception):
    """A refusal in the dialect's words: HTTP status, the exchange's code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Limiter:
    """Fixed windows aligned to the epoch, per bucket."""

    def __init__(self, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window
        self.current = -1  # the window's number
        self.used: dict[str, int] = {}

    def take(self, bucket: str, weight: int, now: float) -> tuple[bool, int, float]:
        """(allowed, used after this request, the window's end in seconds)."""
        number = math.floor(now / self.window)
        if number != self.current:
            self.current = number
            self.used.clear()
        used = self.used.get(bucket, 0)
        end = (number + 1) * self.window
        if used + weight > self.limit:
            return False, used, end
        used += weight
        self.used[bucket] = used
        return True, used, end

    def interval(self) -> str:
        """The window as Binance names it in its header: 1M, 10S, 1H."""
        if self.window % 3600 == 0:
            return f"{self.window // 3600}H"
        if self.window % 60 == 0:
            return f"{self.window // 60}M"
        return f"{self.window}S"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_status: dict[str, int] = {}
        self.rate_limited = 0
        self.errors: dict[str, int] = {}
        self.accounts: dict[str, dict[str, int]] = {}
        self.revocations: dict[str, int] = {}
        self.restrictions: dict[str, int] = {}
        self.since = now_ms()

    def record(self, label: str | None, status: int, weight: int, error: str | None) -> None:
        self.requests += 1
        self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
        if status == 429:
            self.rate_limited += 1
        if error:
            self.errors[error] = self.errors.get(error, 0) + 1
        if label is not None:
            counts = self.accounts.setdefault(label, {"requests": 0, "weight": 0,
                                                      "rejected": 0})
            counts["requests"] += 1
            counts["weight"] += weight
            counts["rejected"] += 1 if error else 0

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_status": dict(sorted(self.by_status.items())),
                "rate_limited": self.rate_limited, "errors": dict(sorted(self.errors.items())),
                "by_label": dict(sorted(self.accounts.items())),
                "revocations": dict(sorted(self.revocations.items())),
                "restrictions": dict(sorted(self.restrictions.items())),
                "since": iso_ms(self.since)}


class Live:
    """One account while the server runs: its key's state, balances, orders and trades."""

    def __init__(self, account: Account) -> None:
        key = account.key
        self.account = account
        self.label = account.label
        self.alive = True
        self.ips: list[str] = list(key.ip_whitelist)
        self.ip_updated = key.created
        self.can_trade = key.can_trade
        self.read_only = not key.can_trade
        self.wallet: list[str] = [name for name, on in (
            ("AccountTransfer", key.can_internal_transfer),
            ("SubMemberTransfer", key.can_sub_transfer),
            ("Withdraw", key.can_withdraw)) if on]
        self.balances: dict[str, list[float]] = {a: [free, locked]
                                                 for a, free, locked in account.balances}
        self.orders: dict[str, list[Order]] = {}
        self.order_at: dict[int, tuple[str, int]] = {}
        self.client_ids: dict[str, int] = {}
        for order in account.orders:
            self._add_order(order)
        self.trades: dict[str, list[Trade]] = {}
        self.trades_all: list[Trade] = list(account.trades)
        self.trades_of_order: dict[int, list[Trade]] = {}
        for trade in account.trades:
            self.trades.setdefault(trade.symbol, []).append(trade)
            self.trades_of_order.setdefault(trade.order_id, []).append(trade)

    def _add_order(self, order: Order) -> None:
        mine = self.orders.setdefault(order.symbol, [])
        self.order_at[order.id] = (order.symbol, len(mine))
        self.client_ids[order.client_id] = order.id
        mine.append(order)

    def order(self, order_id: int | None = None, client_id: str | None = None
              ) -> Order | None:
        if order_id is None and client_id is not None:
            order_id = self.client_ids.get(client_id)
        place = self.order_at.get(order_id) if order_id is not None else None
        return self.orders[place[0]][place[1]] if place else None

    def replace_order(self, order: Order) -> None:
        symbol, i = self.order_at[order.id]
        self.orders[symbol][i] = order

    def add_trade(self, trade: Trade) -> None:
        self.trades.setdefault(trade.symbol, []).append(trade)
        self.trades_all.append(trade)
        self.trades_of_order.setdefault(trade.order_id, []).append(trade)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        lists = [self.orders.get(symbol, [])] if symbol else list(self.orders.values())
        return sorted((o for orders in lists for o in orders if o.status == "NEW"),
                      key=lambda o: o.id)

    def all_orders(self) -> list[Order]:
        return sorted((o for orders in self.orders.values() for o in orders),
                      key=lambda o: o.id)


class Sim:
    """The running simulator: the world, the live accounts, the limiter, the counters.
    Handlers run on one event loop; the lock makes each request's state change whole."""

    def __init__(self, world: World, config: SimConfig) -> None:
        self.world = world
        self.config = config
        self.lock = threading.Lock()
        self.limiter = Limiter(config.rate_limit, config.rate_window)
        self.stats = Stats()
        self.faults = Faults()
        self.live = {a.label: Live(a) for a in world.accounts}
        self.by_key = {a.api_key: self.live[a.label] for a in world.accounts}
        self.next_order = {e: max((o.id for a in world.accounts if a.exchange == e
                                   for o in a.orders), default=1000) + 1
                           for e in ("binance", "bybit")}
        self.next_trade = {e: max((t.id for a in world.accounts if a.exchange == e
                                   for t in a.trades), default=1000) + 1
                           for e in ("binance", "bybit")}
        self.cache: dict[Any, Any] = {}

    def label_of(self, key: str | None) -> str | None:
        live = self.by_key.get(key) if key else None
        return live.label if live else None

    def master_of(self, live: Live) -> Live | None:
        master = live.account.master_label
        return self.live[master] if master else None

    def subs_of(self, master: Live) -> list[Live]:
        return [lv for lv in self.live.values() if lv.account.master_label == master.label]

    def revoke(self, live: Live) -> None:
        live.alive = False
        self.stats.revocations[live.label] = self.stats.revocations.get(live.label, 0) + 1

    def restricted(self, live: Live) -> None:
        self.stats.restrictions[live.label] = self.stats.restrictions.get(live.label, 0) + 1

    # trading ---------------------------------------------------------------------------

    def place(self, live: Live, market: Market, side: str, kind: str, qty: float,
              price: float, client_id: str, now: int) -> tuple[Order, list[Trade]]:
        """A new order: MARKET fills at once at the last price; a LIMIT fills at once if
        it crosses the last price, else rests, locking what it would spend. ValueError
        ('balance') when the account cannot pay."""
        exchange = market.exchange
        last = self.world.last_price(exchange, market.id)
        fills = kind == "MARKET" or (side == "BUY" and price >= last) or (
            side == "SELL" and price <= last)
        fill_price = last if fills else price
        spend_asset = market.quote if side == "BUY" else market.base
        need = round(fill_price * qty, 8) if side == "BUY" else qty
        balance = live.balances.setdefault(spend_asset, [0.0, 0.0])
        live.balances.setdefault(market.base, [0.0, 0.0])
        live.balances.setdefault(market.quote, [0.0, 0.0])
        if need > balance[0] + 1e-12:
            raise ValueError("balance")
        order_id = self.next_order[exchange]
        self.next_order[exchange] += 1
        trades: list[Trade] = []
        if fills:
            quote = round(fill_price * qty, 8)
            trade_id = self.next_trade[exchange]
            self.next_trade[exchange] += 1
            buyer = side == "BUY"
            commission = round(qty * 0.001, 8) if buyer else round(quote * 0.001, 8)
            trade = Trade(trade_id, order_id, market.id, fill_price, qty, quote, commission,
                          market.base if buyer else market.quote, now, buyer, False)
            base, quote_balance = live.balances[market.base], live.balances[market.quote]
            if buyer:
                quote_balance[0] = round(quote_balance[0] - quote, 8)
                base[0] = round(base[0] + qty - commission, 8)
            else:
                base[0] = round(base[0] - qty, 8)
                quote_balance[0] = round(quote_balance[0] + quote - commission, 8)
            order = Order(order_id, client_id, market.id, side, kind,
                          0.0 if kind == "MARKET" else price, qty, qty, quote, "FILLED", now,
                          now)
            trades.append(trade)
            live.add_trade(trade)
        else:
            balance[0] = round(balance[0] - need, 8)
            balance[1] = round(balance[1] + need, 8)
            order = Order(order_id, client_id, market.id, side, kind, price, qty, 0.0, 0.0,
                          "NEW", now, now)
        live._add_order(order)
        return order, trades

    def cancel(self, live: Live, order: Order, now: int) -> Order:
        market = self.world.markets[live.account.exchange][order.symbol]
        if order.side == "BUY":
            asset, amount = market.quote, round(order.price * order.qty, 8)
        else:
            asset, amount = market.base, order.qty
        balance = live.balances.setdefault(asset, [0.0, 0.0])
        balance[0] = round(balance[0] + amount, 8)
        balance[1] = max(round(balance[1] - amount, 8), 0.0)
        cancelled = Order(order.id, order.client_id, order.symbol, order.side, order.type,
                          order.price, order.qty, order.executed, order.quote, "CANCELED",
                          order.time, now)
        live.replace_order(cancelled)
        return cancelled


# the app ------------------------------------------------------------------------------

Handler = Callable[[Sim, Call], Any]


@dataclass(frozen=True, slots=True)
class Route:
    weight: Callable[[dict[str, str]], int]
    handler: Handler


def const(weight: int) -> Callable[[dict[str, str]], int]:
    return lambda params: weight


class Dialect:
    """What a dialect module provides: its routes, and how it words answers and errors."""

    name: str
    routes: dict[tuple[str, str], Route]

    def parse(self, call: Call) -> None:
        raise NotImplementedError

    def ok(self, result: Any) -> bytes:
        raise NotImplementedError

    def error(self, error: ApiError) -> tuple[int, bytes, str]:
        """(HTTP status, body, the stats' error name)."""
        raise NotImplementedError

    def key_of(self, headers: Any) -> str | None:
        raise NotImplementedError

    def limit_headers(self, limiter: Limiter, used: int, end: float) -> dict[str, str]:
        raise NotImplementedError

    def too_many(self, limiter: Limiter, by_key: bool, client: str) -> bytes:
        raise NotImplementedError

    def not_found(self) -> ApiError:
        return ApiError(404, -1, "Not found.")


def create_app(sim: Sim) -> FastAPI:
    """The ASGI app (FastAPI): one catch-all route dispatching to the dialects."""
    from incident.exchanges.sim.binance import BINANCE
    from incident.exchanges.sim.bybit import BYBIT

    dialects: list[tuple[tuple[str, ...], Dialect]] = [
        (("/api/", "/sapi/"), BINANCE), (("/v5/",), BYBIT)]
    app = FastAPI(title="incident sim-exchange", docs_url=None, redoc_url=None,
                  openapi_url=None)

    def handle(method: str, path: str, query: str, body: bytes, headers: Any,
               client: str) -> Reply:
        if path.startswith("/_sim/"):
            return _own(sim, method, path, body)
        dialect = next((d for prefixes, d in dialects if path.startswith(prefixes)), None)
        if dialect is None:
            return Reply(404, b'{"detail":"not found"}', {})
        call = Call(method, path, query, body, headers, client, {})
        key = dialect.key_of(headers)
        route = dialect.routes.get((method, path))
        with sim.lock:
            call.label = sim.label_of(key)
            error: str | None = None
            refused: ApiError | None = None
            try:
                dialect.parse(call)
                weight = route.weight(call.params) if route else 1
            except ApiError as e:
                refused, weight = e, 1
            allowed, used, end = sim.limiter.take(key or client, weight, time.time())
            headers_out = dialect.limit_headers(sim.limiter, used, end)
            if not allowed:
                headers_out["Retry-After"] = str(max(1, math.ceil(end - time.time())))
                sim.stats.record(call.label, 429, 0, f"{dialect.name}:rate-limit")
                return Reply(429, dialect.too_many(sim.limiter, key is not None, client),
                             headers_out, call.label)
            try:
                if refused is not None:
                    raise refused
                if route is None:
                    raise dialect.not_found()
                body_out = dialect.ok(route.handler(sim, call))
                status = 200
            except ApiError as e:
                status, body_out, error = dialect.error(e)
            except Exception as e:  # noqa: BLE001 - a bug: the type only, never values
                log.error("internal error on %s %s (%s)", method, path, type(e).__name__)
                status, body_out, error = dialect.error(ApiError(500, -1000, "Internal error."))
            sim.stats.record(call.label, status, weight, error)
            return Reply(status, body_out, headers_out, call.label)

    @app.api_route("/{rest:path}", methods=["GET", "POST", "DELETE", "PUT"])
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        scope = request.scope
        client = request.client.host if request.client else "-"
        fault = sim.faults.take(request.method, scope["path"])
        if fault is not None:  # an injected failure, before anything is counted
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return Response(FAULT_BODY, fault.status, media_type="application/json")
        reply = handle(request.method, scope["path"], scope["query_string"].decode("latin-1"),
                       body, request.headers, client)
        if access.isEnabledFor(logging.INFO):
            access.info("%s %s %d %.1fms%s", request.method, scope["path"], reply.status,
                        (time.perf_counter() - started) * 1000,
                        f" {reply.label}" if reply.label else "")
        return Response(reply.body, reply.status, reply.headers,
                        media_type="application/json")

    return app


FAULT_BODY = b'{"code":-1001,"msg":"Internal error; unable to process your request."}'


@dataclass
class Fault:
    method: str
    path: str
    status: int  # 0: answer normally after the delay
    delay: float
    count: int


class Faults:
    """Injected failures for tests: the next `count` requests to METHOD PATH wait `delay`
    seconds, then get `status` (a 5xx) instead of an answer, or are answered normally.
    `POST /_sim/faults` with {"method", "path", "status", "delay", "count"} adds one;
    `DELETE /_sim/faults` clears them."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.served = 0

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        if not self._faults:
            return None
        with self._lock:
            for f in self._faults:
                if f.count > 0 and f.method == method and f.path == path:
                    f.count -= 1
                    self.served += 1
                    return f
        return None


def _own(sim: Sim, method: str, path: str, body: bytes = b"") -> Reply:
    if path == "/_sim/faults":
        if method == "DELETE":
            sim.faults.clear()
            return Reply(200, b"{}", {})
        if method == "POST":
            try:
                spec = json.loads(body)
                sim.faults.add(Fault(str(spec.get("method", "GET")), str(spec["path"]),
                                     int(spec.get("status", 0)), float(spec.get("delay", 0)),
                                     int(spec.get("count", 1))))
            except (ValueError, KeyError, TypeError):
                return Reply(400, b'{"detail":"bad fault"}', {})
            return Reply(200, b"{}", {})
    with sim.lock:
        if method == "GET" and path == "/_sim/stats":
            return Reply(200, dumps(sim.stats.as_json()), {})
        if method == "POST" and path == "/_sim/reset-stats":
            sim.stats.reset()
            return Reply(200, dumps(sim.stats.as_json()), {})
        if method == "POST" and path == "/_sim/delete-key":
            # what a person does in the exchange's web page (a main account's key, which
            # no API deletes): {"label": LABEL}
            try:
                live = sim.live[str(json.loads(body)["label"])]
            except (ValueError, KeyError, TypeError):
                return Reply(404, b'{"detail":"no such account"}', {})
            if live.alive:
                sim.revoke(live)
            return Reply(200, dumps({"label": live.label, "alive": False}), {})
        if method == "GET" and path == "/_sim/scenario":
            return Reply(200, dumps(sim.world.scenario.as_json()), {})
    return Reply(404, b'{"detail":"not found"}', {})


def run(sim: Sim, sock: socket.socket) -> None:
    """Serve on `sock` until SIGINT or SIGTERM, then return (normally: uvicorn passes the
    signal on once it has stopped, and here it is then ignored)."""
    import signal

    import uvicorn

    config = uvicorn.Config(create_app(sim), log_level="warning", access_log=False,
                            server_header=False, proxy_headers=False, lifespan="off",
                            loop="uvloop", http="httptools", backlog=2048)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        for s, handler in before.items():
            signal.signal(s, handler)
