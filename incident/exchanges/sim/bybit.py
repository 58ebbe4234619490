"""Bybit v5's REST dialect (`/v5`) for the simulator.

Answers are `{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": ms}`.
Signed endpoints take the headers X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms),
X-BAPI-RECV-WINDOW (default 5000) and X-BAPI-SIGN: hex HMAC-SHA256 with the secret of
timestamp + key + recvWindow + (the query string as sent, for GET | the raw body, for POST).
Refusals come with HTTP 200, as Bybit's do:

    10003  API key is invalid. (missing, unknown or deleted)
    10004  Error sign, please check your signature generation algorithm.
    10002  the timestamp is outside [server - recvWindow, server + 1000)
    10005  Permission denied (a trade by a read-only key; delete-api by a key with no
           Wallet transfer or withdrawal permission, or by a sub-account's key)
    10010  Unmatched IP, please check your API key's bound IP addresses.
    10001  a parameter is missing or wrong; also "The API key does not exist." for
           delete-sub-api / update-sub-api on a key that is not a live key of one of the
           caller's sub-accounts (a second delete is refused so, and not counted)
    170121 Invalid symbol.   170131 Insufficient balance.   170213 Order does not exist.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import ipaddress
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from incident.exchanges.sim.server import (ApiError, Call, Dialect, Limiter, Live, Raw, Route,
                                           Sim, const, dumps, iso_ms, now_ms)
from incident.exchanges.sim.world import DAY, Market, Order, Trade, Transfer, fmt

T = TypeVar("T")
SEVEN_DAYS = 7 * DAY
THIRTY_DAYS = 30 * DAY
WALLET = ("AccountTransfer", "SubMemberTransfer", "Withdraw")


def _error(code: int, message: str) -> ApiError:
    return ApiError(200, code, message)


def _params_error(message: str) -> ApiError:
    return _error(10001, f"params error: {message}")


def _int(call: Call, name: str) -> int | None:
    text = call.params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 20:
        raise _params_error(f"{name} must be a number")
    return int(text)


def _limit(call: Call, default: int, maximum: int) -> int:
    limit = _int(call, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise _params_error(f"limit must be between 1 and {maximum}")
    return limit


def _market(sim: Sim, call: Call, required: bool = True) -> Market | None:
    symbol = call.params.get("symbol")
    if not symbol:
        if required:
            raise _params_error("symbol is required")
        return None
    market = sim.world.markets["bybit"].get(symbol.upper())
    if market is None:
        raise _error(170121, "Invalid symbol.")
    return market


def _spot(call: Call) -> bool:
    """Whether `category` is spot; other categories have nothing here. Missing: 10001."""
    category = call.params.get("category")
    if not category:
        raise _params_error("category is required")
    return category == "spot"


def _range(call: Call, span: int) -> tuple[int | None, int | None]:
    """startTime..endTime, at most `span` apart; one alone reaches `span` from it. Neither:
    the whole history (the real API would give the last `span`, empty for a past world)."""
    start, end = _int(call, "startTime"), _int(call, "endTime")
    if start is not None and end is not None:
        if end < start:
            raise _params_error("startTime must be before endTime")
        if end - start > span:
            raise _params_error(f"the time range between startTime and endTime cannot "
                                f"exceed {span // DAY} days")
    elif start is not None:
        end = start + span
    elif end is not None:
        start = end - span
    return start, end


def _page(items: Sequence[T], limit: int, cursor: str | None, id_of: Callable[[T], int]
          ) -> tuple[list[T], str]:
    """Newest first (`items` are oldest first); the cursor is the last id returned."""
    newest = list(reversed(items))
    if cursor:
        if not cursor.isdigit():
            raise _params_error("cursor is not valid")
        last = int(cursor)
        newest = [x for x in newest if id_of(x) < last]
    page = newest[:limit]
    return page, (str(id_of(page[-1])) if len(newest) > limit else "")


def _in(t: int, start: int | None, end: int | None) -> bool:
    return (start is None or t >= start) and (end is None or t <= end)


# authentication --------------------------------------------------------------------------


def authenticate(sim: Sim, call: Call, trade: bool = False) -> Live:
    headers = call.headers
    key = headers.get("x-bapi-api-key")
    live = sim.by_key.get(key) if key else None
    if live is None or not live.alive or live.account.exchange != "bybit":
        raise _error(10003, "API key is invalid.")
    stamp = headers.get("x-bapi-timestamp") or ""
    window_text = headers.get("x-bapi-recv-window")
    signature = headers.get("x-bapi-sign")
    if not signature:
        raise _error(10004, "Error sign, please check your signature generation algorithm.")
    if window_text is not None and not window_text.isdigit():
        raise _params_error("X-BAPI-RECV-WINDOW must be a number")
    window = int(window_text) if window_text else 5000
    server = now_ms()
    if not stamp.isdigit() or not server - window <= int(stamp) < server + 1000:
        raise _error(10002, "invalid request, please check your server timestamp or "
                            f"recv_window param. req_timestamp[{stamp[:20]}],"
                            f"server_timestamp[{server}],recv_window[{window}]")
    payload = call.query if call.method == "GET" else call.body.decode("latin-1")
    expected = hmac.new(live.account.api_secret.encode(),
                        (stamp + key + (window_text or "") + payload).encode("latin-1"),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise _error(10004, "Error sign, please check your signature generation algorithm.")
    if live.ips and call.client not in live.ips:
        raise _error(10010, "Unmatched IP, please check your API key's bound IP addresses.")
    if trade and (live.read_only or not live.can_trade):
        raise _error(10005, "Permission denied, please check your API key permissions.")
    return live


def _body(call: Call) -> dict[str, Any]:
    if not call.body:
        return {}
    try:
        document = json.loads(call.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _params_error("the body is not JSON") from None
    if not isinstance(document, dict):
        raise _params_error("the body is not a JSON object")
    return document


# public ----------------------------------------------------------------------------------


def market_time(sim: Sim, call: Call) -> Any:
    ns = time.time_ns()
    return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}


def _instrument(market: Market) -> dict[str, Any]:
    return {"symbol": market.id, "baseCoin": market.base, "quoteCoin": market.quote,
            "innovation": "0", "status": "Trading", "marginTrading": "none", "stTag": "0",
            "lotSizeFilter": {"basePrecision": market.lot, "quotePrecision": fmt(1e-8, 8),
                              "minOrderQty": market.lot, "maxOrderQty": "9000000",
                              "minOrderAmt": market.min_notional, "maxOrderAmt": "2000000"},
            "priceFilter": {"tickSize": market.tick},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"}}


def instruments(sim: Sim, call: Call) -> Any:
    category = call.params.get("category", "")
    if not _spot(call):
        return {"category": category, "list": [], "nextPageCursor": ""}
    status = call.params.get("status")
    market = _market(sim, call, required=False)
    markets = [market] if market else list(sim.world.markets["bybit"].values())
    chosen = [] if status and status != "Trading" else [_instrument(m) for m in markets]
    return {"category": "spot", "list": chosen, "nextPageCursor": ""}


def _kline_rows(sim: Sim, market: Market) -> list[bytes]:
    rows: list[bytes] | None = sim.cache.get(("bybit:klines", market.id))
    if rows is None:
        c = sim.world.candles[("bybit", market.id)]
        p, q = market.price_decimals, market.qty_decimals
        rows = []
        for i, (o, h, lo, cl, v) in enumerate(zip(c.open.tolist(), c.high.tolist(),
                                                   c.low.tolist(), c.close.tolist(),
                                                   c.volume.tolist())):
            rows.append((f'["{c.start + i * 60_000}","{fmt(o, p)}","{fmt(h, p)}",'
                         f'"{fmt(lo, p)}","{fmt(cl, p)}","{fmt(v, q)}",'
                         f'"{fmt(v * (h + lo) / 2, 4)}"]').encode())
        sim.cache[("bybit:klines", market.id)] = rows
    return rows


def kline(sim: Sim, call: Call) -> Any:
    spot = _spot(call)
    market = _market(sim, call)
    assert market is not None
    if not spot:
        raise _params_error("category: only spot is simulated")
    if call.params.get("interval") != "1":
        raise _params_error("interval: only 1 (minute) is simulated")
    start, end = _int(call, "start"), _int(call, "end")
    limit = _limit(call, 200, 1000)
    rows = _kline_rows(sim, market)
    first = sim.world.candles[("bybit", market.id)].start
    times = range(first, first + len(rows) * 60_000, 60_000)
    j = len(rows) if end is None else bisect.bisect_right(times, end)
    if start is not None:
        i = bisect.bisect_left(times, start)
        chosen = rows[i:min(j, i + limit)]
    else:
        chosen = rows[max(0, j - limit):j]
    return Raw(b'{"category":"spot","symbol":"' + market.id.encode() + b'","list":['
               + b",".join(reversed(chosen)) + b"]}")


def tickers(sim: Sim, call: Call) -> Any:
    if not _spot(call):
        return {"category": call.params.get("category"), "list": []}
    market = _market(sim, call, required=False)
    markets = [market] if market else list(sim.world.markets["bybit"].values())
    rows = []
    for m in markets:
        c = sim.world.candles[("bybit", m.id)]
        last = float(c.close[-1])
        before = float(c.close[-1441]) if len(c) > 1440 else float(c.close[0])
        rows.append({"symbol": m.id, "bid1Price": m.price(last), "bid1Size": m.lot,
                     "ask1Price": m.price(last), "ask1Size": m.lot, "lastPrice": m.price(last),
                     "prevPrice24h": m.price(before),
                     "price24hPcnt": fmt(last / before - 1, 4),
                     "highPrice24h": m.price(float(c.high[-1440:].max())),
                     "lowPrice24h": m.price(float(c.low[-1440:].min())),
                     "turnover24h": fmt(float((c.volume[-1440:] * c.close[-1440:]).sum()), 4),
                     "volume24h": m.qty(float(c.volume[-1440:].sum())), "usdIndexPrice": ""})
    return {"category": "spot", "list": rows}


# account ---------------------------------------------------------------------------------


def _permissions(live: Live) -> dict[str, list[str]]:
    return {"ContractTrade": [], "Spot": ["SpotTrade"] if live.can_trade else [],
            "Wallet": list(live.wallet), "Options": [], "Derivatives": [],
            "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": [], "Affiliate": [],
            "Earn": []}


def _key_json(sim: Sim, live: Live) -> dict[str, Any]:
    key = live.account.key
    bound = bool(live.ips)
    expires = key.created + 90 * DAY
    master = sim.master_of(live)
    return {
        "id": str(int(live.account.uid) % 10_000_000 + 1_000_000), "note": live.label,
        "apiKey": live.account.api_key, "readOnly": 1 if live.read_only else 0, "secret": "",
        "permissions": _permissions(live), "ips": list(live.ips) if bound else ["*"],
        "type": 1, "deadlineDay": -1 if bound else max(0, (expires - sim.world.anchor) // DAY),
        "expiredAt": "" if bound else iso_ms(expires), "createdAt": iso_ms(key.created),
        "unified": 0, "uta": 1, "userID": int(live.account.uid), "inviterID": 0,
        "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "",
        "isMaster": live.account.kind == "master",
        "parentUid": master.account.uid if master else "0", "kycLevel": "LEVEL_1",
        "kycRegion": "",
    }


def query_api(sim: Sim, call: Call) -> Any:
    return _key_json(sim, authenticate(sim, call))


def account_info(sim: Sim, call: Call) -> Any:
    authenticate(sim, call)
    return {"unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
            "spotHedgingStatus": "OFF", "updatedTime": str(sim.world.start),
            "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0}


def wallet_balance(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    if call.params.get("accountType") != "UNIFIED":
        raise _params_error("accountType only support UNIFIED")
    wanted = {c for c in call.params.get("coin", "").split(",") if c}
    coins = []
    total_usd = 0.0
    for coin, (free, locked) in sorted(live.balances.items()):
        if wanted and coin not in wanted:
            continue
        price = _usd(sim, coin)
        usd = (free + locked) * price
        total_usd += usd
        coins.append({"coin": coin, "equity": fmt(free + locked, 8), "usdValue": fmt(usd, 8),
                      "walletBalance": fmt(free + locked, 8), "locked": fmt(locked, 8),
                      "spotHedgingQty": "0", "borrowAmount": "0", "accruedInterest": "0",
                      "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0",
                      "unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0",
                      "marginCollateral": True, "collateralSwitch": True,
                      "availableToWithdraw": "", "availableToBorrow": ""})
    total = fmt(total_usd, 8)
    return {"list": [{"accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
                      "totalEquity": total, "totalWalletBalance": total,
                      "totalMarginBalance": total, "totalAvailableBalance": total,
                      "totalPerpUPL": "0", "totalInitialMargin": "0",
                      "totalMaintenanceMargin": "0", "accountLTV": "0", "coin": coins}]}


def _usd(sim: Sim, coin: str) -> float:
    if coin in ("USDT", "USDC"):
        return 1.0
    market = sim.world.markets["bybit"].get(coin + "USDT")
    return sim.world.last_price("bybit", market.id) if market else 0.0


def coin_info(sim: Sim, call: Call) -> Any:
    authenticate(sim, call)
    wanted = call.params.get("coin")
    names = sorted({a for m in sim.world.markets["bybit"].values() for a in (m.base, m.quote)})
    return {"rows": [{"name": c, "coin": c, "remainAmount": "9000000", "chains": [
        {"chainType": c, "confirmation": "2", "withdrawFee": "0.0005" if c == "BTC" else "1",
         "depositMin": "0", "withdrawMin": "0.001", "chain": "BTC" if c == "BTC" else "ETH",
         "chainDeposit": "1", "chainWithdraw": "1", "minAccuracy": "8",
         "withdrawPercentageFee": "0", "contractAddress": ""}]}
        for c in names if wanted is None or c == wanted]}


# orders and trades -----------------------------------------------------------------------

_STATUS = {"NEW": "New", "FILLED": "Filled", "CANCELED": "Cancelled"}


def _order_json(sim: Sim, live: Live, order: Order) -> dict[str, Any]:
    market = sim.world.markets["bybit"][order.symbol]
    fees: dict[str, float] = {}
    for t in live.trades_of_order.get(order.id, []):
        fees[t.commission_asset] = fees.get(t.commission_asset, 0.0) + t.commission
    leaves = order.qty - order.executed if order.status == "NEW" else 0.0
    return {
        "orderId": str(order.id), "orderLinkId": order.client_id, "blockTradeId": "",
        "symbol": order.symbol,
        "price": market.price(order.price) if order.type == "LIMIT" else "0",
        "qty": market.qty(order.qty), "side": order.side.capitalize(), "isLeverage": "0",
        "positionIdx": 0, "orderStatus": _STATUS[order.status],
        "cancelType": "CancelByUser" if order.status == "CANCELED" else "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": market.price(order.quote / order.executed) if order.executed else "",
        "leavesQty": market.qty(leaves), "leavesValue": fmt(leaves * order.price, 8),
        "cumExecQty": market.qty(order.executed), "cumExecValue": fmt(order.quote, 8),
        "cumExecFee": fmt(sum(fees.values()), 8),
        "cumFeeDetail": {k: fmt(v, 8) for k, v in fees.items()},
        "timeInForce": "GTC" if order.type == "LIMIT" else "IOC",
        "orderType": order.type.capitalize(), "stopOrderType": "", "orderIv": "",
        "marketUnit": "baseCoin" if order.type == "MARKET" else "", "triggerPrice": "0",
        "takeProfit": "0", "stopLoss": "0", "tpslMode": "", "tpLimitPrice": "0",
        "slLimitPrice": "0", "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0,
        "triggerBy": "", "lastPriceOnCreated": "", "reduceOnly": False,
        "closeOnTrigger": False, "placeType": "", "smpType": "None", "smpGroup": 0,
        "smpOrderId": "", "createdTime": str(order.time), "updatedTime": str(order.update_time),
    }


def _trade_json(sim: Sim, live: Live, trade: Trade) -> dict[str, Any]:
    market = sim.world.markets["bybit"][trade.symbol]
    order = live.order(trade.order_id)
    side = "Buy" if trade.is_buyer else "Sell"
    return {
        "symbol": trade.symbol, "orderId": str(trade.order_id),
        "orderLinkId": order.client_id if order else "", "side": side,
        "orderPrice": market.price(order.price) if order and order.type == "LIMIT" else "0",
        "orderQty": market.qty(order.qty if order else trade.qty), "leavesQty": "0",
        "orderType": order.type.capitalize() if order else "Market", "stopOrderType": "",
        "execFee": fmt(trade.commission, 8), "feeCurrency": trade.commission_asset,
        "execId": str(trade.id), "execPrice": market.price(trade.price),
        "execQty": market.qty(trade.qty), "execType": "Trade",
        "execValue": fmt(trade.quote_qty, 8), "execTime": str(trade.time),
        "isMaker": trade.is_maker, "feeRate": "0.001", "tradeIv": "", "markIv": "",
        "markPrice": "", "indexPrice": "", "underlyingPrice": "", "blockTradeId": "",
        "closedSize": "", "seq": trade.id, "extraFees": "",
    }


def executions(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    spot = _spot(call)
    market = _market(sim, call, required=False)
    start, end = _range(call, SEVEN_DAYS)
    limit = _limit(call, 50, 100)
    if not spot:
        return {"category": call.params.get("category"), "list": [], "nextPageCursor": ""}
    order_id = _int(call, "orderId")
    trades = live.trades.get(market.id, []) if market else live.trades_all
    chosen = [t for t in trades if _in(t.time, start, end)
              and (order_id is None or t.order_id == order_id)]
    page, cursor = _page(chosen, limit, call.params.get("cursor"), lambda t: t.id)
    return {"category": "spot", "list": [_trade_json(sim, live, t) for t in page],
            "nextPageCursor": cursor}


def _orders(sim: Sim, call: Call, open_only: bool) -> Any:
    live = authenticate(sim, call)
    spot = _spot(call)
    market = _market(sim, call, required=False)
    limit = _limit(call, 20, 50)
    start, end = (None, None) if open_only else _range(call, SEVEN_DAYS)
    if not spot:
        return {"category": call.params.get("category"), "list": [], "nextPageCursor": ""}
    orders = live.orders.get(market.id, []) if market else live.all_orders()
    order_id = _int(call, "orderId")
    link = call.params.get("orderLinkId")
    status = call.params.get("orderStatus")
    chosen = [o for o in orders if (o.status == "NEW") == open_only and _in(o.time, start, end)
              and (order_id is None or o.id == order_id) and (not link or o.client_id == link)
              and (not status or _STATUS[o.status] == status)]
    page, cursor = _page(chosen, limit, call.params.get("cursor"), lambda o: o.id)
    return {"category": "spot", "list": [_order_json(sim, live, o) for o in page],
            "nextPageCursor": cursor}


def open_orders(sim: Sim, call: Call) -> Any:
    return _orders(sim, call, True)


def order_history(sim: Sim, call: Call) -> Any:
    return _orders(sim, call, False)


def _number(body: dict[str, Any], name: str, required: bool = True) -> float | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise _params_error(f"{name} is required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _params_error(f"{name} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise _params_error(f"{name} must be positive")
    return number


def _on_step(value: float, decimals: int) -> bool:
    scaled = value * 10.0 ** decimals
    return abs(scaled - round(scaled)) < 1e-6


def create_order(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call, trade=True)
    body = _body(call)
    if body.get("category") != "spot":
        raise _params_error("category: only spot is simulated")
    market = sim.world.markets["bybit"].get(str(body.get("symbol", "")).upper())
    if market is None:
        raise _error(170121, "Invalid symbol.")
    side = str(body.get("side", "")).upper()
    kind = str(body.get("orderType", "")).upper()
    if side not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT"):
        raise _params_error("side must be Buy or Sell, orderType Market or Limit")
    qty = _number(body, "qty")
    assert qty is not None
    last = sim.world.last_price("bybit", market.id)
    if kind == "LIMIT":
        price = _number(body, "price")
        assert price is not None
        if not _on_step(price, market.price_decimals):
            raise _error(170134, "Order price has too many decimals.")
    else:
        price = last
        if side == "BUY" and body.get("marketUnit", "quoteCoin") != "baseCoin":
            step = 10.0 ** -market.qty_decimals
            qty = round((qty / last) // step * step, market.qty_decimals)
    if qty <= 0 or not _on_step(qty, market.qty_decimals):
        raise _error(170137, "Order quantity has too many decimals.")
    if qty * price < float(market.min_notional):
        raise _error(170140, "Order value exceeded lower limit.")
    link = str(body.get("orderLinkId") or f"sim{sim.next_order['bybit']}")
    if link in live.client_ids:
        raise _error(10001, "Duplicate orderLinkId.")
    try:
        order, _ = sim.place(live, market, side, kind, qty, price, link, now_ms())
    except ValueError:
        raise _error(170131, "Insufficient balance.") from None
    return {"orderId": str(order.id), "orderLinkId": order.client_id}


def cancel_order(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call, trade=True)
    body = _body(call)
    order_id = str(body.get("orderId") or "")
    order = live.order(int(order_id) if order_id.isdigit() else None,
                       str(body.get("orderLinkId") or "") or None)
    if order is None or order.status != "NEW" or order.symbol != body.get("symbol"):
        raise _error(170213, "Order does not exist.")
    sim.cancel(live, order, now_ms())
    return {"orderId": str(order.id), "orderLinkId": order.client_id}


# wallet ----------------------------------------------------------------------------------


def _transfers(call: Call, items: Sequence[Transfer]) -> tuple[list[Transfer], str]:
    start, end = _range(call, THIRTY_DAYS)
    coin = call.params.get("coin")
    limit = _limit(call, 50, 50)
    chosen = [(i, t) for i, t in enumerate(items, 1)
              if _in(t.time, start, end) and (not coin or t.coin == coin)]
    page, cursor = _page(chosen, limit, call.params.get("cursor"), lambda it: it[0])
    return [t for _, t in page], cursor


def deposits(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    rows, cursor = _transfers(call, live.account.deposits)
    return {"rows": [{"id": t.id, "coin": t.coin, "chain": t.network, "amount": fmt(t.amount, 8),
                      "txID": t.tx_id, "status": 3, "toAddress": t.address, "tag": "",
                      "depositFee": "", "successAt": str(t.time), "confirmations": "12",
                      "txIndex": "0", "blockHash": "", "batchReleaseLimit": "-1",
                      "depositType": "0", "fromAddress": ""} for t in rows],
            "nextPageCursor": cursor}


def withdrawals(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    rows, cursor = _transfers(call, live.account.withdrawals)
    wanted = call.params.get("withdrawID")
    return {"rows": [{"withdrawId": t.id, "txID": t.tx_id, "withdrawType": 0, "coin": t.coin,
                      "chain": t.network, "amount": fmt(t.amount, 8),
                      "withdrawFee": fmt(t.fee, 8), "status": "success",
                      "toAddress": t.address, "tag": "", "createTime": str(t.time),
                      "updateTime": str(t.time + 600_000)}
                     for t in rows if not wanted or t.id == wanted],
            "nextPageCursor": cursor}


# key management --------------------------------------------------------------------------


def _ips(value: Any) -> list[str] | None:
    """The `ips` of update-api: "*" (None: unrestricted), "a,b" or ["a", "b"]."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _params_error("ips must be a string or a list")
    addresses = [str(i).strip() for i in items if str(i).strip()]
    if addresses == ["*"] or not addresses:
        return None
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise _params_error("ips holds something that is not an IP address") from None
    return addresses


def _update(sim: Sim, live: Live, body: dict[str, Any]) -> dict[str, Any]:
    restricted = False
    if "readOnly" in body:
        if body["readOnly"] not in (0, 1, "0", "1"):
            raise _params_error("readOnly must be 0 or 1")
        live.read_only = int(body["readOnly"]) == 1
        restricted |= live.read_only
    if "ips" in body:
        ips = _ips(body["ips"])
        live.ips = ips or []
        live.ip_updated = now_ms()
        restricted |= ips is not None
    permissions = body.get("permissions")
    if isinstance(permissions, dict):
        if "Spot" in permissions:
            live.can_trade = "SpotTrade" in (permissions.get("Spot") or [])
        if "Wallet" in permissions:
            live.wallet = [w for w in WALLET if w in (permissions.get("Wallet") or [])]
    if restricted:
        sim.restricted(live)
    answer = _key_json(sim, live)
    return {k: answer[k] for k in ("id", "note", "apiKey", "readOnly", "secret",
                                   "permissions", "ips")}


def _sub_of(sim: Sim, caller: Live, body: dict[str, Any]) -> Live:
    """The sub-account key a call is about: `apikey` of one of a master's sub-accounts, or
    the calling sub-account's own key (which must then not name one)."""
    named = body.get("apikey")
    if caller.account.kind == "sub":
        if named:
            raise _params_error("apikey must not be sent with a sub-account's own key")
        return caller
    if not named:
        raise _params_error("apikey is required with a master account's key")
    sub = sim.by_key.get(str(named))
    if sub is None or not sub.alive or sub.account.master_label != caller.label:
        raise _error(10001, "The API key does not exist.")
    return sub


def delete_api(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    if live.account.kind != "master":
        raise _error(10005, "Permission denied: delete-api takes a master account's key; "
                            "a sub-account's key is deleted with delete-sub-api.")
    if not live.wallet:
        raise _error(10005, "Permission denied: to delete itself, an API key needs the "
                            "Account Transfer, Subaccount Transfer or Withdrawal permission.")
    sim.revoke(live)
    return {}


def update_api(sim: Sim, call: Call) -> Any:
    live = authenticate(sim, call)
    if live.account.kind != "master":
        raise _error(10005, "Permission denied: update-api takes a master account's key.")
    return _update(sim, live, _body(call))


def delete_sub_api(sim: Sim, call: Call) -> Any:
    caller = authenticate(sim, call)
    sub = _sub_of(sim, caller, _body(call))
    needed = ("AccountTransfer", "SubMemberTransfer") if caller is sub else WALLET
    if not any(w in caller.wallet for w in needed):
        raise _error(10005, "Permission denied: the API key needs the Account Transfer or "
                            "Subaccount Transfer permission (or, a master's, Withdrawal).")
    sim.revoke(sub)
    return {}


def update_sub_api(sim: Sim, call: Call) -> Any:
    caller = authenticate(sim, call)
    body = _body(call)
    return _update(sim, _sub_of(sim, caller, body), body)


def sub_members(sim: Sim, call: Call) -> Any:
    master = authenticate(sim, call)
    if master.account.kind != "master":
        raise _error(10005, "Permission denied: query-sub-members takes a master account's "
                            "key.")
    return {"subMembers": [{"uid": s.account.uid, "username": s.label.replace("-", "_"),
                            "memberType": 1, "status": 1, "accountMode": 5, "remark": ""}
                           for s in sim.subs_of(master)]}


# the dialect -----------------------------------------------------------------------------


class Bybit(Dialect):
    name = "bybit"

    def __init__(self) -> None:
        one = const(1)
        handlers: dict[tuple[str, str], Callable[[Sim, Call], Any]] = {
            ("GET", "/v5/market/time"): market_time,
            ("GET", "/v5/market/instruments-info"): instruments,
            ("GET", "/v5/market/kline"): kline,
            ("GET", "/v5/market/tickers"): tickers,
            ("GET", "/v5/user/query-api"): query_api,
            ("GET", "/v5/user/query-sub-members"): sub_members,
            ("POST", "/v5/user/delete-api"): delete_api,
            ("POST", "/v5/user/update-api"): update_api,
            ("POST", "/v5/user/delete-sub-api"): delete_sub_api,
            ("POST", "/v5/user/update-sub-api"): update_sub_api,
            ("GET", "/v5/account/info"): account_info,
            ("GET", "/v5/account/wallet-balance"): wallet_balance,
            ("GET", "/v5/asset/coin/query-info"): coin_info,
            ("GET", "/v5/execution/list"): executions,
            ("GET", "/v5/order/realtime"): open_orders,
            ("GET", "/v5/order/history"): order_history,
            ("POST", "/v5/order/create"): create_order,
            ("POST", "/v5/order/cancel"): cancel_order,
            ("GET", "/v5/asset/deposit/query-record"): deposits,
            ("GET", "/v5/asset/withdraw/query-record"): withdrawals,
        }
        self.routes = {k: Route(one, h) for k, h in handlers.items()}

    def parse(self, call: Call) -> None:
        if not call.params and call.query:
            call.params = dict(parse_qsl(call.query, keep_blank_values=True))

    def ok(self, result: Any) -> bytes:
        inner = result.text if isinstance(result, Raw) else dumps(result)
        return (b'{"retCode":0,"retMsg":"OK","result":' + inner
                + b',"retExtInfo":{},"time":' + str(now_ms()).encode() + b"}")

    def error(self, error: ApiError) -> tuple[int, bytes, str]:
        return error.status, dumps({"retCode": error.code, "retMsg": error.message,
                                    "result": {}, "retExtInfo": {}, "time": now_ms()}), \
            f"bybit:{error.code}"

    def key_of(self, headers: Any) -> str | None:
        value = headers.get("x-bapi-api-key")
        return str(value) if value else None

    def limit_headers(self, limiter: Limiter, used: int, end: float) -> dict[str, str]:
        return {"X-Bapi-Limit": str(limiter.limit),
                "X-Bapi-Limit-Status": str(max(0, limiter.limit - used)),
                "X-Bapi-Limit-Reset-Timestamp": str(int(end * 1000))}

    def too_many(self, limiter: Limiter, by_key: bool, client: str) -> bytes:
        return dumps({"retCode": 10006, "retMsg": "Too many visits!", "result": {},
                      "retExtInfo": {}, "time": now_ms()})

    def not_found(self) -> ApiError:
        return ApiError(404, 10001, "Not found: no such endpoint.")


BYBIT = Bybit()
