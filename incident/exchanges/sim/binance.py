"""Binance spot's REST dialect (`/api/v3`, `/sapi`) for the simulator.

Signed endpoints take `X-MBX-APIKEY`, `timestamp` (ms), optional `recvWindow` (default 5000,
at most 60000) and `signature`: hex HMAC-SHA256 with the secret of the total params, that
is the query string followed directly by the form body, each without `signature`, as
sent. Refusals (HTTP status, code, message), as Binance words them:

    401 -2014  API-key format invalid (no key, or not a key's shape)
    401 -2015  Invalid API-key, IP, or permissions for action (unknown or deleted key,
               a client address outside the key's whitelist, a trade without the trading
               permission)
    400 -1022  Signature for this request is not valid.
    400 -1021  Timestamp for this request is outside of the recvWindow (or > 1 s ahead)
    400 -1102  a mandatory parameter is missing      400 -1100  not a number
    400 -1130  a parameter's value is not valid       400 -1131  recvWindow above 60000
    400 -1121  Invalid symbol.                        400 -1120  interval other than 1m
    400 -2013  Order does not exist.                  400 -2011  Unknown order sent.
    400 -2010  insufficient balance                   400 -1013  Filter failure: ...
    400 -12022 the e-mail is not a sub-account of the calling master (or the caller is
               not a master account)
    400 -2008  Invalid Api-Key ID.: the sub-account key does not exist (or was deleted
               already: a second delete is refused, and not counted as a revocation)
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from incident.exchanges.sim.server import (ApiError, Call, Dialect, Limiter, Live, Raw, Route,
                                           Sim, const, dumps, now_ms)
from incident.exchanges.sim.world import Market, Order, Trade, Transfer, fmt

KEY_SHAPE = re.compile(r"[A-Za-z0-9]{16,128}")
MAX_RECV_WINDOW = 60_000
T = TypeVar("T")


def _e8(value: float) -> str:
    return fmt(value, 8)


# parameters ------------------------------------------------------------------------------


def _missing(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                "or malformed.")


def _invalid(name: str) -> ApiError:
    return ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def _int(call: Call, name: str, required: bool = False) -> int | None:
    text = call.params.get(name)
    if text is None or text == "":
        if required:
            raise _missing(name)
        return None
    if not text.isdigit() or len(text) > 20:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                   "range is '^[0-9]{1,20}$'.")
    return int(text)


def _text(call: Call, name: str) -> str:
    text = call.params.get(name)
    if not text:
        raise _missing(name)
    return text


def _limit(call: Call, default: int, maximum: int = 1000) -> int:
    limit = _int(call, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise _invalid("limit")
    return limit


def _market(sim: Sim, call: Call, required: bool = True) -> Market | None:
    symbol = call.params.get("symbol")
    if not symbol:
        if required:
            raise _missing("symbol")
        return None
    market = sim.world.markets["binance"].get(symbol.upper())
    if market is None:
        raise ApiError(400, -1121, "Invalid symbol.")
    return market


def _select(items: Sequence[T], start: int | None, end: int | None, limit: int,
            time_of: Callable[[T], int], from_id: int | None = None,
            id_of: Callable[[T], int] | None = None) -> list[T]:
    """Binance's paging over a list sorted by id (and so by time): from an id or a time
    forward, else the last `limit` up to `end` (or the most recent)."""
    if from_id is not None and id_of is not None:
        chosen = list(items[bisect.bisect_left(items, from_id, key=id_of):])
        return [x for x in chosen if (start is None or time_of(x) >= start)
                and (end is None or time_of(x) <= end)][:limit]
    if start is not None:
        rest = items[bisect.bisect_left(items, start, key=time_of):]
        if end is not None:
            rest = rest[:bisect.bisect_right(rest, end, key=time_of)]
        return list(rest[:limit])
    if end is not None:
        j = bisect.bisect_right(items, end, key=time_of)
        return list(items[max(0, j - limit):j])
    return list(items[-limit:])


# authentication --------------------------------------------------------------------------


def _strip_signature(text: str) -> tuple[str, str | None]:
    if "signature=" not in text:
        return text, None
    kept, signature = [], None
    for part in text.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def authenticate(sim: Sim, call: Call, trade: bool = False, ips: bool = True) -> Live:
    """The account of a signed request, or the ApiError Binance would answer."""
    key = call.headers.get("x-mbx-apikey")
    if not key:
        raise ApiError(401, -2014, "API-key format invalid.")
    live = sim.by_key.get(key)
    if live is None and not KEY_SHAPE.fullmatch(key):
        raise ApiError(401, -2014, "API-key format invalid.")
    if live is None or not live.alive or live.account.exchange != "binance":
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    if ips and live.ips and call.client not in live.ips:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    timestamp = _int(call, "timestamp", required=True)
    assert timestamp is not None
    window = _int(call, "recvWindow")
    if window is None:
        window = 5000
    if window > MAX_RECV_WINDOW:
        raise ApiError(400, -1131, "recvWindow must be less than 60000")
    query, signature = _strip_signature(call.query)
    body, body_signature = _strip_signature(call.body.decode("latin-1"))
    signature = body_signature or signature
    if not signature:
        raise _missing("signature")
    server = now_ms()
    if timestamp >= server + 1000:
        raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the "
                                   "server's time.")
    if server - timestamp > window:
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    expected = hmac.new(live.account.api_secret.encode(), (query + body).encode("latin-1"),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise ApiError(400, -1022, "Signature for this request is not valid.")
    if trade and not live.can_trade:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return live


# public ----------------------------------------------------------------------------------


def ping(sim: Sim, call: Call) -> Any:
    return {}


def server_time(sim: Sim, call: Call) -> Any:
    return {"serverTime": now_ms()}


def _symbol_json(market: Market) -> dict[str, Any]:
    return {
        "symbol": market.id, "status": "TRADING", "baseAsset": market.base,
        "baseAssetPrecision": 8, "quoteAsset": market.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": _e8(10.0 ** -market.price_decimals),
             "maxPrice": _e8(market.reference * 1000), "tickSize": _e8(
                 10.0 ** -market.price_decimals)},
            {"filterType": "LOT_SIZE", "minQty": _e8(10.0 ** -market.qty_decimals),
             "maxQty": "9000000.00000000", "stepSize": _e8(10.0 ** -market.qty_decimals)},
            {"filterType": "NOTIONAL", "minNotional": _e8(float(market.min_notional)),
             "applyMinToMarket": True, "maxNotional": "9000000.00000000",
             "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
             "maxQty": "9000000.00000000", "stepSize": "0.00000000"},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER",
                                            "EXPIRE_BOTH"],
    }


def exchange_info(sim: Sim, call: Call) -> Any:
    symbols: dict[str, bytes] = sim.cache.get("binance:symbols") or {}
    if not symbols:
        symbols = {m.id: dumps(_symbol_json(m)) for m in sim.world.markets["binance"].values()}
        sim.cache["binance:symbols"] = symbols
    wanted: list[str] | None = None
    if call.params.get("symbol"):
        wanted = [call.params["symbol"]]
    elif call.params.get("symbols"):
        try:
            wanted = [str(s) for s in json.loads(call.params["symbols"])]
        except ValueError:
            raise _invalid("symbols") from None
    if wanted is not None and any(s not in symbols for s in wanted):
        raise ApiError(400, -1121, "Invalid symbol.")
    limiter = sim.limiter
    interval = ("HOUR", limiter.window // 3600) if limiter.window % 3600 == 0 else (
        ("MINUTE", limiter.window // 60) if limiter.window % 60 == 0
        else ("SECOND", limiter.window))
    head = dumps({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": interval[0],
         "intervalNum": interval[1], "limit": limiter.limit},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
         "limit": 61000}], "exchangeFilters": []})
    chosen = [symbols[s] for s in (wanted or list(symbols))]
    return Raw(head[:-1] + b',"symbols":[' + b",".join(chosen) + b"]}")


def _kline_rows(sim: Sim, market: Market) -> list[bytes]:
    rows: list[bytes] | None = sim.cache.get(("binance:klines", market.id))
    if rows is None:
        c = sim.world.candles[("binance", market.id)]
        p, q = market.price_decimals, market.qty_decimals
        rows = []
        for i, (o, h, lo, cl, v, n) in enumerate(zip(c.open.tolist(), c.high.tolist(),
                                                       c.low.tolist(), c.close.tolist(),
                                                       c.volume.tolist(), c.trades.tolist())):
            t = c.start + i * 60_000
            quote = v * (h + lo) / 2
            rows.append((f'[{t},"{fmt(o, p)}","{fmt(h, p)}","{fmt(lo, p)}","{fmt(cl, p)}",'
                         f'"{fmt(v, q)}",{t + 59_999},"{fmt(quote, 8)}",{n},'
                         f'"{fmt(v * 0.5, q)}","{fmt(quote * 0.5, 8)}","0"]').encode())
        sim.cache[("binance:klines", market.id)] = rows
    return rows


def klines(sim: Sim, call: Call) -> Any:
    market = _market(sim, call)
    assert market is not None
    interval = _text(call, "interval")
    if interval != "1m":
        raise ApiError(400, -1120, "Invalid interval.")
    start, end = _int(call, "startTime"), _int(call, "endTime")
    limit = _limit(call, 500)
    candles = sim.world.candles[("binance", market.id)]
    rows = _kline_rows(sim, market)
    first = candles.start
    times = range(first, first + len(rows) * 60_000, 60_000)
    if start is not None:
        i = bisect.bisect_left(times, start)
        j = len(rows) if end is None else bisect.bisect_right(times, end)
        chosen = rows[i:min(j, i + limit)]
    else:
        j = len(rows) if end is None else bisect.bisect_right(times, end)
        chosen = rows[max(0, j - limit):j]
    return Raw(b"[" + b",".join(chosen) + b"]")


def ticker_price(sim: Sim, call: Call) -> Any:
    market = _market(sim, call, required=False)
    markets = [market] if market else list(sim.world.markets["binance"].values())
    prices = [{"symbol": m.id, "price": _e8(sim.world.last_price("binance", m.id))}
              for m in markets]
    return prices[0] if market else prices


def ticker_24hr(sim: Sim, call: Call) -> Any:
    market = _market(sim, call, required=False)
    markets = [market] if market else list(sim.world.markets["binance"].values())
    rows = []
    for m in markets:
        c = sim.world.candles[("binance", m.id)]
        last, first = float(c.close[-1]), float(c.open[-1440])
        volume = float(c.volume[-1440:].sum())
        quote = float((c.volume[-1440:] * c.close[-1440:]).sum())
        rows.append({
            "symbol": m.id, "priceChange": _e8(last - first),
            "priceChangePercent": fmt((last / first - 1) * 100, 3),
            "weightedAvgPrice": _e8(quote / volume if volume else last),
            "prevClosePrice": _e8(float(c.close[-1441])), "lastPrice": _e8(last),
            "lastQty": m.qty(10.0 ** -m.qty_decimals), "bidPrice": _e8(last),
            "bidQty": "1.00000000", "askPrice": _e8(last), "askQty": "1.00000000",
            "openPrice": _e8(first), "highPrice": _e8(float(c.high[-1440:].max())),
            "lowPrice": _e8(float(c.low[-1440:].min())), "volume": _e8(volume),
            "quoteVolume": _e8(quote), "openTime": c.start + (len(c) - 1440) * 60_000,
            "closeTime": c.start + len(c) * 60_000 - 1, "firstId": -1, "lastId": -1,
            "count": int(c.trades[-1440:].sum())})
    return rows[0] if market else rows


# account ---------------------------------------------------------------------------------


def account(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    return {
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": "0.00100000", "taker": "0.00100000",
                            "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": live.can_trade, "canWithdraw": live.account.key.can_withdraw,
        "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
        "preventSor": False, "updateTime": now_ms(), "accountType": "SPOT",
        "balances": [{"asset": asset, "free": _e8(free), "locked": _e8(locked)}
                     for asset, (free, locked) in sorted(live.balances.items())],
        "permissions": ["SPOT"], "uid": int(live.account.uid),
    }


def _order_json(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol, "orderId": order.id, "orderListId": -1,
        "clientOrderId": order.client_id, "price": _e8(order.price), "origQty": _e8(order.qty),
        "executedQty": _e8(order.executed), "cummulativeQuoteQty": _e8(order.quote),
        "status": order.status, "timeInForce": "GTC", "type": order.type, "side": order.side,
        "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": order.time,
        "updateTime": order.update_time, "isWorking": True, "workingTime": order.time,
        "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def _trade_json(trade: Trade) -> dict[str, Any]:
    return {
        "symbol": trade.symbol, "id": trade.id, "orderId": trade.order_id, "orderListId": -1,
        "price": _e8(trade.price), "qty": _e8(trade.qty), "quoteQty": _e8(trade.quote_qty),
        "commission": _e8(trade.commission), "commissionAsset": trade.commission_asset,
        "time": trade.time, "isBuyer": trade.is_buyer, "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def open_orders(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    market = _market(sim, call, required=False)
    return [_order_json(o) for o in live.open_orders(market.id if market else None)]


def all_orders(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    market = _market(sim, call)
    assert market is not None
    orders = live.orders.get(market.id, [])
    chosen = _select(orders, _int(call, "startTime"), _int(call, "endTime"),
                     _limit(call, 500), lambda o: o.time, _int(call, "orderId"),
                     lambda o: o.id)
    return [_order_json(o) for o in chosen]


def my_trades(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    market = _market(sim, call)
    assert market is not None
    trades = live.trades.get(market.id, [])
    order_id = _int(call, "orderId")
    if order_id is not None:
        trades = [t for t in trades if t.order_id == order_id]
    chosen = _select(trades, _int(call, "startTime"), _int(call, "endTime"),
                     _limit(call, 500), lambda t: t.time, _int(call, "fromId"),
                     lambda t: t.id)
    return [_trade_json(t) for t in chosen]


def _find_order(live: Live, call: Call, market: Market) -> Order:
    order_id = _int(call, "orderId")
    client_id = call.params.get("origClientOrderId")
    if order_id is None and not client_id:
        raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                                   "both were empty/null!")
    order = live.order(order_id, client_id)
    if order is None or order.symbol != market.id:
        raise ApiError(400, -2013, "Order does not exist.")
    return order


def get_order(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    market = _market(sim, call)
    assert market is not None
    return _order_json(_find_order(live, call, market))


def _decimal(call: Call, name: str) -> float | None:
    text = call.params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                   "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None
    if not value > 0 or value != value or value == float("inf"):
        raise _invalid(name)
    return value


def _on_step(value: float, decimals: int) -> bool:
    scaled = value * 10.0 ** decimals
    return abs(scaled - round(scaled)) < 1e-6


def new_order(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call, trade=True)
    market = _market(sim, call)
    assert market is not None
    side = _text(call, "side").upper()
    kind = _text(call, "type").upper()
    if side not in ("BUY", "SELL"):
        raise _invalid("side")
    if kind not in ("MARKET", "LIMIT"):
        raise ApiError(400, -1116, "Invalid orderType.")
    qty = _decimal(call, "quantity")
    quote_qty = _decimal(call, "quoteOrderQty")
    price = _decimal(call, "price")
    last = sim.world.last_price("binance", market.id)
    if kind == "LIMIT":
        if price is None:
            raise _missing("price")
        if qty is None:
            raise _missing("quantity")
        if not call.params.get("timeInForce"):
            raise _missing("timeInForce")
        if not _on_step(price, market.price_decimals):
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
    else:
        if qty is None and quote_qty is None:
            raise ApiError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but "
                                       "both were empty/null!")
        if qty is None and quote_qty is not None:
            step = 10.0 ** -market.qty_decimals
            qty = round((quote_qty / last) // step * step, market.qty_decimals)
        price = last
    assert qty is not None and price is not None
    if qty <= 0 or not _on_step(qty, market.qty_decimals):
        raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
    if qty * price < float(market.min_notional):
        raise ApiError(400, -1013, "Filter failure: NOTIONAL")
    client_id = call.params.get("newClientOrderId") or f"sim{sim.next_order['binance']}"
    if client_id in live.client_ids:
        raise ApiError(400, -2010, "Duplicate order sent.")
    try:
        order, trades = sim.place(live, market, side, kind, qty, price, client_id, now_ms())
    except ValueError:
        raise ApiError(400, -2010, "Account has insufficient balance for requested "
                                   "action.") from None
    answer = _order_json(order)
    answer["transactTime"] = order.time
    if call.params.get("newOrderRespType", "FULL").upper() == "ACK":
        return {k: answer[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId",
                                       "transactTime")}
    answer["fills"] = [{"price": _e8(t.price), "qty": _e8(t.qty),
                        "commission": _e8(t.commission),
                        "commissionAsset": t.commission_asset, "tradeId": t.id}
                       for t in trades]
    return answer


def cancel_order(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call, trade=True)
    market = _market(sim, call)
    assert market is not None
    try:
        order = _find_order(live, call, market)
    except ApiError:
        raise ApiError(400, -2011, "Unknown order sent.") from None
    if order.status != "NEW":
        raise ApiError(400, -2011, "Unknown order sent.")
    answer = _order_json(sim.cancel(live, order, now_ms()))
    answer["origClientOrderId"] = order.client_id
    return answer


# wallet ----------------------------------------------------------------------------------


def _coins(sim: Sim) -> list[str]:
    return sorted({a for m in sim.world.markets["binance"].values() for a in (m.base, m.quote)})


def coins(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    answer = []
    for coin in _coins(sim):
        free, locked = live.balances.get(coin, [0.0, 0.0])
        network = {"network": coin if coin in ("BTC", "SYS", "VIA") else "ETH", "coin": coin,
                   "withdrawIntegerMultiple": "0.00000001", "isDefault": True,
                   "depositEnable": True, "withdrawEnable": True, "depositDesc": "",
                   "withdrawDesc": "", "name": coin, "resetAddressStatus": False,
                   "withdrawFee": "0.0005" if coin == "BTC" else "1",
                   "withdrawMin": "0.001", "withdrawMax": "9999999", "minConfirm": 1,
                   "unLockConfirm": 2, "sameAddress": False, "busy": False}
        answer.append({"coin": coin, "depositAllEnable": True, "withdrawAllEnable": True,
                       "name": coin, "free": _e8(free), "locked": _e8(locked),
                       "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0",
                       "storage": "0", "isLegalMoney": False, "trading": True,
                       "networkList": [network]})
    return answer


def margin_pairs(sim: Sim, call: Call) -> Any:
    authenticate(sim, call)
    return []


def _window(call: Call) -> tuple[int | None, int | None]:
    return _int(call, "startTime"), _int(call, "endTime")


def _transfers(call: Call, items: Sequence[Transfer]) -> list[Transfer]:
    start, end = _window(call)
    coin = call.params.get("coin")
    offset = _int(call, "offset") or 0
    limit = _limit(call, 1000)
    chosen = [t for t in reversed(items) if (coin is None or t.coin == coin)
              and (start is None or t.time >= start) and (end is None or t.time <= end)]
    return chosen[offset:offset + limit]


def deposits(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    status = _int(call, "status")
    if status is not None and status != 1:
        return []
    return [{"id": t.id, "amount": _e8(t.amount), "coin": t.coin, "network": t.network,
             "status": 1, "address": t.address, "addressTag": "", "txId": t.tx_id,
             "insertTime": t.time, "completeTime": t.time + 600_000, "transferType": 0,
             "confirmTimes": "2/2", "unlockConfirm": 0, "walletType": 0}
            for t in _transfers(call, live.account.deposits)]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def withdrawals(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    status = _int(call, "status")
    if status is not None and status != 6:
        return []
    return [{"id": t.id, "amount": _e8(t.amount), "transactionFee": _e8(t.fee),
             "coin": t.coin, "status": 6, "address": t.address, "txId": t.tx_id,
             "applyTime": _utc(t.time), "network": t.network, "transferType": 0, "info": "",
             "confirmNo": 3, "walletType": 0, "txKey": "",
             "completeTime": _utc(t.time + 600_000)}
            for t in _transfers(call, live.account.withdrawals)]


def api_restrictions(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    key = live.account.key
    answer: dict[str, Any] = {
        "ipRestrict": bool(live.ips), "createTime": key.created, "enableReading": True,
        "enableWithdrawals": key.can_withdraw,
        "enableInternalTransfer": key.can_internal_transfer, "enableMargin": False,
        "enableFutures": False, "permitsUniversalTransfer": key.can_internal_transfer,
        "enableVanillaOptions": False, "enableFixApiTrade": False,
        "enableFixReadOnly": False, "enableSpotAndMarginTrading": live.can_trade,
        "enablePortfolioMarginTrading": False,
    }
    if key.expires is not None:
        answer["tradingAuthorityExpirationTime"] = key.expires
    return answer


# sub-accounts ----------------------------------------------------------------------------


def _master(sim: Sim, call: Call) -> Live:
    live = authenticate(sim, call)
    if live.account.kind != "master":
        raise ApiError(400, -12022, "This request is only for a master account.")
    return live


def _sub_key(sim: Sim, call: Call, master: Live) -> Live:
    """The sub-account key named by `email` and `subAccountApiKey`, alive."""
    email = _text(call, "email")
    key = _text(call, "subAccountApiKey")
    if not any(s.account.sub_account == email for s in sim.subs_of(master)):
        raise ApiError(400, -12022, "Sub-account does not belong to this master account.")
    sub = sim.by_key.get(key)
    if sub is None or not sub.alive or sub.account.sub_account != email or \
            sub.account.master_label != master.label:
        raise ApiError(400, -2008, "Invalid Api-Key ID.")
    return sub


def sub_accounts(sim: Sim, call: Call) -> Any:
    master = _master(sim, call)
    email = call.params.get("email")
    subs = [s for s in sim.subs_of(master) if email is None or s.account.sub_account == email]
    return {"subAccounts": [{"email": s.account.sub_account, "isFreeze": False,
                             "createTime": s.account.key.created,
                             "isManagedSubAccount": False,
                             "isAssetManagementSubAccount": False} for s in subs]}


def delete_sub_key(sim: Sim, call: Call) -> Any:
    master = _master(sim, call)
    sim.revoke(_sub_key(sim, call, master))
    return {}


def restrict_sub_key(sim: Sim, call: Call) -> Any:
    master = _master(sim, call)
    sub = _sub_key(sim, call, master)
    status = _text(call, "status")
    if status not in ("1", "2"):
        raise _invalid("status")
    addresses = [a.strip() for a in call.params.get("ipAddress", "").split(",") if a.strip()]
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise _invalid("ipAddress") from None
    if status == "1":
        sub.ips = []
    else:
        sub.ips = addresses or sub.ips
        sim.restricted(sub)
    sub.ip_updated = now_ms()
    return {"status": status, "ipList": list(sub.ips), "updateTime": sub.ip_updated,
            "apiKey": sub.account.api_key}


def sub_key_restriction(sim: Sim, call: Call) -> Any:
    master = _master(sim, call)
    sub = _sub_key(sim, call, master)
    return {"ipRestrict": "true" if sub.ips else "false", "ipList": list(sub.ips),
            "updateTime": sub.ip_updated, "apiKey": sub.account.api_key}


# the dialect -----------------------------------------------------------------------------


class Binance(Dialect):
    name = "binance"

    def __init__(self) -> None:
        def open_weight(params: dict[str, str]) -> int:
            return 6 if params.get("symbol") else 80

        def ticker_weight(params: dict[str, str]) -> int:
            return 2 if params.get("symbol") else 4

        self.routes = {
            ("GET", "/api/v3/ping"): Route(const(1), ping),
            ("GET", "/api/v3/time"): Route(const(1), server_time),
            ("GET", "/api/v3/exchangeInfo"): Route(const(20), exchange_info),
            ("GET", "/api/v3/klines"): Route(const(2), klines),
            ("GET", "/api/v3/ticker/price"): Route(ticker_weight, ticker_price),
            ("GET", "/api/v3/ticker/24hr"): Route(lambda p: 2 if p.get("symbol") else 80,
                                                  ticker_24hr),
            ("GET", "/api/v3/account"): Route(const(20), account),
            ("GET", "/api/v3/openOrders"): Route(open_weight, open_orders),
            ("GET", "/api/v3/allOrders"): Route(const(20), all_orders),
            ("GET", "/api/v3/myTrades"): Route(const(20), my_trades),
            ("GET", "/api/v3/order"): Route(const(4), get_order),
            ("POST", "/api/v3/order"): Route(const(1), new_order),
            ("DELETE", "/api/v3/order"): Route(const(1), cancel_order),
            ("GET", "/sapi/v1/capital/config/getall"): Route(const(10), coins),
            ("GET", "/sapi/v1/margin/allPairs"): Route(const(1), margin_pairs),
            ("GET", "/sapi/v1/margin/isolated/allPairs"): Route(const(1), margin_pairs),
            ("GET", "/sapi/v1/capital/deposit/hisrec"): Route(const(1), deposits),
            ("GET", "/sapi/v1/capital/withdraw/history"): Route(const(1), withdrawals),
            ("GET", "/sapi/v1/account/apiRestrictions"): Route(const(1), api_restrictions),
            ("GET", "/sapi/v1/sub-account/list"): Route(const(1), sub_accounts),
            ("DELETE", "/sapi/v1/sub-account/subAccountApi"): Route(const(1), delete_sub_key),
            ("POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction"):
                Route(const(1), restrict_sub_key),
            ("GET", "/sapi/v1/sub-account/subAccountApi/ipRestriction"):
                Route(const(1), sub_key_restriction),
        }

    def parse(self, call: Call) -> None:
        if call.params:
            return
        params = dict(parse_qsl(call.query, keep_blank_values=True))
        if call.body:
            params.update(parse_qsl(call.body.decode("latin-1"), keep_blank_values=True))
        call.params = params

    def ok(self, result: Any) -> bytes:
        return result.text if isinstance(result, Raw) else dumps(result)

    def error(self, error: ApiError) -> tuple[int, bytes, str]:
        return error.status, dumps({"code": error.code, "msg": error.message}), \
            f"binance:{error.code}"

    def key_of(self, headers: Any) -> str | None:
        value = headers.get("x-mbx-apikey")
        return str(value) if value else None

    def limit_headers(self, limiter: Limiter, used: int, end: float) -> dict[str, str]:
        return {f"X-MBX-USED-WEIGHT-{limiter.interval()}": str(used)}

    def too_many(self, limiter: Limiter, by_key: bool, client: str) -> bytes:
        who = "this API key" if by_key else f"IP({client})"
        return dumps({"code": -1003, "msg": f"Too many requests; current limit of {who} is "
                      f"{limiter.limit} request weight per {limiter.interval()}. Please use "
                      "WebSocket Streams for live updates to avoid polling the API."})

    def not_found(self) -> ApiError:
        return ApiError(404, -1000, "Not found: no such endpoint.")


BINANCE = Binance()
