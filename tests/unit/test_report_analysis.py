"""The trade analysis and loss valuation on small accounts whose every figure is known."""

from __future__ import annotations

import math
from typing import Any

import pytest

from incident.report import analysis
from incident.report.interface import ReportError

MIN = 60_000
T0 = 1_671_523_200_000  # 2022-12-20T08:00:00Z: the attack starts
PRE = 0.0001  # the thin coin's price before the attack, in BTC
BTC_USD = 20_000.0


def candle(ts: int, price: float, volume: float = 100.0) -> list[float]:
    return [ts, price, price, price, price, volume]


def doc(trades: list[dict[str, Any]], orders: list[dict[str, Any]],
        candles: dict[str, list[list[float]]], balances: dict[str, float],
        withdrawals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"exchange": "binance", "label": "victim", "since": "2022-12-17T00:00:00.000Z",
            "until": "2022-12-21T00:00:00.000Z", "taken_at": "2022-12-21T00:00:00.000Z",
            "responses": [],
            "data": {"balances": {a: {"total": v, "free": v, "used": 0.0}
                                  for a, v in balances.items()},
                     "open_orders": [], "orders": orders, "trades": trades, "deposits": [],
                     "withdrawals": withdrawals or [], "candles": candles}}


def fill(n: int, ts: int, symbol: str, side: str, price: float, amount: float,
         fee: float = 0.0, fee_currency: str | None = None) -> dict[str, Any]:
    return {"id": str(1000 + n), "order": str(n), "symbol": symbol, "side": side,
            "price": price, "amount": amount, "cost": price * amount, "timestamp": ts,
            "takerOrMaker": "taker",
            "fee": {"cost": fee, "currency": fee_currency} if fee_currency else None}


def order(n: int, ts: int, symbol: str, side: str, amount: float, price: float,
          client: str = "") -> dict[str, Any]:
    return {"id": str(n), "clientOrderId": client or f"c{n}", "symbol": symbol,
            "side": side, "type": "market", "timestamp": ts, "status": "closed",
            "filled": amount, "cost": amount * price}


def pump_account(attack_prices: list[float], amount: float = 100.0) -> dict[str, Any]:
    """A legitimate BTC/USDT buy the day before, then one buy of SYS/BTC per minute from
    T0 at `attack_prices`, each of `amount` SYS, spending the BTC the account held."""
    trades = [fill(1, T0 - 86_400_000, "BTC/USDT", "buy", BTC_USD, 0.5)]
    orders = [order(1, T0 - 86_400_000, "BTC/USDT", "buy", 0.5, BTC_USD)]
    for i, p in enumerate(attack_prices):
        ts = T0 + i * MIN + 5_000
        trades.append(fill(10 + i, ts, "SYS/BTC", "buy", p, amount))
        orders.append(order(10 + i, ts, "SYS/BTC", "buy", amount, p))
    spent = sum(p * amount for p in attack_prices)
    sys_candles = [candle(T0 - k * MIN, PRE) for k in range(30, 0, -1)]
    sys_candles += [candle(T0 + i * MIN, p, 10_000.0) for i, p in enumerate(attack_prices)]
    btc = [candle(T0 - k * MIN, BTC_USD) for k in range(30, -len(attack_prices) - 1, -1)]
    btc += [candle(T0 - 86_400_000 + k * MIN, BTC_USD) for k in range(-30, 30)]
    held_btc = 0.5 - spent / 1.0
    assert held_btc >= 0
    return doc(trades, orders, {"SYS/BTC": sys_candles, "BTC/USDT": sorted(btc)},
               {"BTC": held_btc, "SYS": amount * len(attack_prices), "USDT": 0.0})


def test_slippage_per_fill_and_in_usd() -> None:
    prices = [0.0004, 0.0005, 0.0006]
    found = analysis.analyse([pump_account(prices)], analysis.Options())
    t = found.trades
    assert list(t["price"]) == prices
    # the reference before the window is PRE; each buy lost (price - PRE) x 100 BTC
    expected = [(p - PRE) * 100 for p in prices]
    assert t["slip_vwap"].tolist() == pytest.approx(expected)
    assert t["slip_close"].tolist() == pytest.approx(expected)
    assert found.totals["vwap"]["BTC"] == pytest.approx(sum(expected))
    assert found.totals["vwap"]["USD"] == pytest.approx(sum(expected) * BTC_USD)
    # the minute open is the attack's own price here: no slippage against it
    assert found.totals["open"]["BTC"] == pytest.approx(0.0)
    assert found.usd_rates == {"BTC": pytest.approx(BTC_USD)}


def test_the_window_starts_at_the_first_flagged_order_and_the_old_buy_is_history() -> None:
    found = analysis.analyse([pump_account([0.0004, 0.0005])], analysis.Options())
    assert found.start_ms == T0 + 5_000
    assert found.start_source == "first flagged order"
    assert found.history_orders == 1 and found.last_own_ms == T0 - 86_400_000
    assert list(found.orders["id"]) == ["10", "11"]


def test_a_sell_below_the_reference_is_a_loss_too() -> None:
    d = pump_account([0.0004])
    ts = T0 + 2 * MIN
    d["data"]["trades"].append(fill(50, ts, "SYS/BTC", "sell", 0.00005, 40.0))
    d["data"]["orders"].append(order(50, ts, "SYS/BTC", "sell", 40.0, 0.00005))
    found = analysis.analyse([d], analysis.Options())
    sell = found.trades[found.trades["side"] == "sell"].iloc[0]
    assert sell["slip_vwap"] == pytest.approx((PRE - 0.00005) * 40.0)


def test_own_orders_are_left_out_by_order_id_or_client_id() -> None:
    d = pump_account([0.0004, 0.0005, 0.0006])
    found = analysis.analyse([d], analysis.Options(own=frozenset({"11", "c12"})))
    assert list(found.orders["id"]) == ["10"]
    assert found.own_trades == 2


def test_flags_burst_above_whole_and_thin() -> None:
    found = analysis.analyse([pump_account([0.0004] * 6, amount=200.0)], analysis.Options())  # 0.48 of 0.5 BTC
    for flags in found.orders["flags"]:
        assert set(flags) == {"burst", "above", "whole", "thin"}, flags
    assert found.window_peak == 6 and found.history_peak == 1


def test_a_fill_near_the_reference_is_not_flagged_above() -> None:
    found = analysis.analyse([pump_account([0.000105])], analysis.Options(
        since_ms=T0))  # the leak time given: the window does not need a flag to start
    assert found.start_source == "leak (given)"
    assert "above" not in found.orders["flags"][0]


def test_the_shortfall_counts_fees_and_withdrawals_at_pre_incident_prices() -> None:
    d = pump_account([0.0004])
    d["data"]["trades"][-1]["fee"] = {"cost": 0.1, "currency": "SYS"}
    d["data"]["balances"]["SYS"]["total"] = 99.9
    d["data"]["withdrawals"] = [{"id": "w1", "currency": "BTC", "amount": 0.1,
                                 "fee": {"cost": 0.0005}, "timestamp": T0 + 3 * MIN,
                                 "status": "ok"}]
    d["data"]["balances"]["BTC"]["total"] -= 0.1005
    found = analysis.analyse([d], analysis.Options())
    before, after = found.holdings_before, found.holdings_after
    assert before["BTC"] == pytest.approx(0.5) and before["SYS"] == pytest.approx(0.0)
    assert after["SYS"] == pytest.approx(99.9)
    assert after["BTC"] == pytest.approx(0.5 - 0.04 - 0.1005)
    sys_usd = PRE * BTC_USD
    expected = (0.04 + 0.1005) * BTC_USD - 99.9 * sys_usd
    assert found.shortfall["vwap"] == pytest.approx(expected)
    assert [w["id"] for w in found.withdrawals] == ["w1"]


def test_vwap_weighs_by_volume_over_the_minutes_before() -> None:
    d = pump_account([0.0004])
    sys = d["data"]["candles"]["SYS/BTC"]
    sys[-2] = [sys[-2][0], 0.0002, 0.0002, 0.0002, 0.0002, 300.0]  # the minute before T0
    found = analysis.analyse([d], analysis.Options(vwap_minutes=2))
    assert found.references["SYS/BTC"]["vwap"] == pytest.approx(
        (PRE * 100 + 0.0002 * 300) / 400)
    assert found.references["SYS/BTC"]["close"] == pytest.approx(0.0002)


def test_a_pair_without_candles_before_the_window_falls_back_to_the_minute_open() -> None:
    d = pump_account([0.0004])
    d["data"]["candles"]["SYS/BTC"] = [c for c in d["data"]["candles"]["SYS/BTC"]
                                       if c[0] >= T0]
    found = analysis.analyse([d], analysis.Options(since_ms=T0))
    assert found.references["SYS/BTC"]["vwap"] is None
    assert any("no candles in the 60 minutes before the first unauthorized fill" in n
               for n in found.notes)
    assert found.trades["slip_vwap"].tolist() == pytest.approx([0.0])


def test_the_counterparty_is_named_from_another_snapshot_holding_the_other_side() -> None:
    d = pump_account([0.0004, 0.0005])
    other = doc([{**fill(90, T0 + 5_000, "SYS/BTC", "sell", 0.0004, 100.0), "id": "1010"}],
                [], {}, {})
    found = analysis.analyse([d], analysis.Options(), others=[("attacker", other)])
    assert found.counterparties == {"attacker": 1}
    assert "counterparty" in found.orders["flags"][0]
    assert "counterparty" not in found.orders["flags"][1]


def test_a_fill_seen_in_two_snapshots_counts_once() -> None:
    d = pump_account([0.0004])
    later = {**d, "taken_at": "2022-12-22T00:00:00.000Z"}
    assert len(analysis.analyse([d, later], analysis.Options()).trades) == 1


def test_bad_options_and_empty_input_are_report_errors() -> None:
    with pytest.raises(ReportError, match="reference"):
        analysis.Options(reference="median")
    with pytest.raises(ReportError, match="no snapshot"):
        analysis.analyse([], analysis.Options())
    quiet = pump_account([])
    with pytest.raises(ReportError, match="no orders in the window"):
        analysis.analyse([quiet], analysis.Options(own=frozenset({"1"})))


def test_the_portfolio_series_spans_the_fills_and_values_at_market() -> None:
    found = analysis.analyse([pump_account([0.0004, 0.0005])], analysis.Options())
    times = [t for t, _ in found.portfolio]
    assert times[0] <= T0 - 30 * MIN + 5_000 and times[-1] >= T0 + MIN + 30 * MIN - MIN
    assert all(not math.isnan(v) for _, v in found.portfolio)
    first = found.portfolio[0][1]
    assert first == pytest.approx(0.5 * BTC_USD)


def test_a_leak_time_days_earlier_keeps_the_references_of_just_before_the_attack() -> None:
    d = pump_account([0.0004, 0.0005])
    plain = analysis.analyse([d], analysis.Options())
    leak = analysis.analyse([d], analysis.Options(since_ms=T0 - 12 * 60 * MIN))  # hours before
    assert leak.start_source == "leak (given)"
    assert leak.references == plain.references
    assert leak.shortfall == plain.shortfall and leak.shortfall["vwap"] > 0
    assert not leak.unpriced


def test_stale_candles_are_no_reference() -> None:
    d = pump_account([0.0004])
    d["data"]["candles"]["SYS/BTC"] = [c for c in d["data"]["candles"]["SYS/BTC"]
                                       if c[0] >= T0 or c[0] < T0 - 2 * 60 * MIN]
    d["data"]["candles"]["SYS/BTC"].insert(0, candle(T0 - 3 * 60 * MIN, PRE))
    found = analysis.analyse([d], analysis.Options(since_ms=T0))
    assert found.references["SYS/BTC"]["vwap"] is None  # three hours old: not the market


def test_a_coin_quoted_in_eth_is_priced_through_eth() -> None:
    eth_usd = 1000.0
    trades = [fill(1, T0 + 5_000, "XYZ/ETH", "buy", 0.02, 100.0)]
    orders = [order(1, T0 + 5_000, "XYZ/ETH", "buy", 100.0, 0.02)]
    candles = {"XYZ/ETH": [candle(T0 - k * MIN, 0.001) for k in range(30, 0, -1)]
               + [candle(T0, 0.02, 10_000.0)],
               "ETH/USDT": [candle(T0 - k * MIN, eth_usd) for k in range(30, -2, -1)]}
    d = doc(trades, orders, candles, {"ETH": 0.0, "XYZ": 100.0})
    found = analysis.analyse([d], analysis.Options())
    assert found.prices_before["vwap"]["XYZ"] == pytest.approx(0.001 * eth_usd)
    # 2 ETH spent for 100 XYZ worth 0.1 ETH before: 1.9 ETH lost
    assert found.shortfall["vwap"] == pytest.approx(1.9 * eth_usd)
    assert not found.unpriced


def test_a_deposit_during_the_window_is_not_counted_against_the_claim() -> None:
    d = pump_account([0.0004])
    d["data"]["deposits"] = [{"id": "d1", "currency": "BTC", "amount": 1.0, "fee": None,
                              "timestamp": T0 + 2 * MIN, "status": "ok"}]
    d["data"]["balances"]["BTC"]["total"] += 1.0
    with_deposit = analysis.analyse([d], analysis.Options())
    without = analysis.analyse([pump_account([0.0004])], analysis.Options())
    assert with_deposit.shortfall["vwap"] == pytest.approx(without.shortfall["vwap"])


def test_a_failed_withdrawal_moved_nothing() -> None:
    d = pump_account([0.0004])
    d["data"]["withdrawals"] = [{"id": "w1", "currency": "BTC", "amount": 0.3,
                                 "fee": {"cost": 0.0}, "timestamp": T0 + 2 * MIN,
                                 "status": "failed"}]
    found = analysis.analyse([d], analysis.Options())
    assert found.withdrawals == () and found.holdings_before["BTC"] == pytest.approx(0.5)


def test_a_counterparty_is_matched_by_symbol_and_trade_id() -> None:
    d = pump_account([0.0004])
    other = doc([{**fill(90, T0 + 5_000, "BTC/USDT", "sell", 1.0, 1.0), "id": "1010"}],
                [], {}, {})  # the same id, another symbol: another trade
    found = analysis.analyse([d], analysis.Options(), others=[("someone", other)])
    assert found.counterparties == {}


def test_an_order_placed_before_the_window_and_filled_in_it_is_the_holders() -> None:
    d = pump_account([0.0004, 0.0005])
    placed = T0 - 20 * 60 * MIN
    d["data"]["orders"].append(order(70, placed, "BTC/USDT", "sell", 0.01, BTC_USD))
    d["data"]["trades"].append(fill(70, T0 + 3 * MIN, "BTC/USDT", "sell", BTC_USD, 0.01))
    found = analysis.analyse([d], analysis.Options())
    assert "70" not in set(found.trades["order"]) and found.own_trades == 1


def test_with_nothing_standing_out_the_leak_time_is_asked_for() -> None:
    quiet = pump_account([PRE, PRE])
    quiet["data"]["candles"]["SYS/BTC"] = [c[:5] + [100.0] for c in
                                           quiet["data"]["candles"]["SYS/BTC"]]
    with pytest.raises(ReportError, match="give the leak's time"):
        analysis.analyse([quiet], analysis.Options(burst_min=50))


def test_a_trade_without_a_side_is_named() -> None:
    d = pump_account([0.0004])
    d["data"]["trades"][-1]["side"] = None
    with pytest.raises(ReportError, match="trade 1010: no side or symbol"):
        analysis.analyse([d], analysis.Options())
