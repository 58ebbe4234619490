"""The simulated exchanges' world: deterministic, the attack's shape, the busy account,
the accounts file."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from incident.exchanges.sim.world import (MINUTE, ExtraKey, World, build_world, fmt,
                                          parse_anchor)

ANCHOR = "2022-12-20T08:00:00Z"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=2022, anchor=ANCHOR, busy_trades=3000)


def test_the_same_seed_and_anchor_give_the_same_world_byte_for_byte() -> None:
    one = build_world(seed=7, anchor=ANCHOR, victims=6, subaccounts=10, busy_trades=500)
    two = build_world(seed=7, anchor=ANCHOR, victims=6, subaccounts=10, busy_trades=500)
    assert json.dumps(one.accounts_json("http://x")) == json.dumps(two.accounts_json("http://x"))
    assert one.accounts == two.accounts  # every balance, order, trade and transfer
    assert one.candles.keys() == two.candles.keys()
    assert all(one.candles[k].equal(two.candles[k]) for k in one.candles)
    assert one.scenario == two.scenario


def test_another_seed_gives_other_keys_and_another_anchor_moves_history() -> None:
    one = build_world(seed=7, anchor=ANCHOR, victims=4, subaccounts=5, busy_trades=100)
    other = build_world(seed=8, anchor=ANCHOR, victims=4, subaccounts=5, busy_trades=100)
    assert [a.label for a in one.accounts] == [a.label for a in other.accounts]
    assert not {a.api_key for a in one.accounts} & {a.api_key for a in other.accounts}
    assert not {a.api_secret for a in one.accounts} & {a.api_secret for a in other.accounts}
    later = build_world(seed=7, anchor="2023-01-05T12:00:00Z", victims=4, subaccounts=5,
                        busy_trades=100)
    shift = parse_anchor("2023-01-05T12:00:00Z") - parse_anchor(ANCHOR)
    assert later.scenario.attack_start == one.scenario.attack_start + shift
    assert [t.time for t in later.account("binance-busy").trades] == [
        t.time + shift for t in one.account("binance-busy").trades]


def test_the_world_builds_fast() -> None:
    started = time.perf_counter()
    build_world()  # the defaults: 12 victims, 20 sub-accounts, 10,000 busy trades
    assert time.perf_counter() - started < 4  # about 1 s; the aim is under 2


def test_the_busy_account_has_exactly_n_trades_over_20_pairs(world: World) -> None:
    busy = world.account("binance-busy")
    assert busy.role == "busy" and busy.exchange == "binance"
    assert len(busy.trades) == 3000
    assert len({t.symbol for t in busy.trades}) == 20
    assert all(world.start <= t.time < world.anchor for t in busy.trades)
    assert [t.id for t in busy.trades] == sorted({t.id for t in busy.trades})
    assert len(busy.orders) == 3000 and {t.order_id for t in busy.trades} == {
        o.id for o in busy.orders}
    small = build_world(seed=1, busy_trades=7, victims=0, subaccounts=0)
    assert len(small.account("binance-busy").trades) == 7


def test_roles_labels_and_keys(world: World) -> None:
    labels = [a.label for a in world.accounts]
    assert len(labels) == len(set(labels))
    roles = Counter((a.exchange, a.role, a.kind) for a in world.accounts)
    assert roles[("binance", "victim", "master")] == 6
    assert roles[("bybit", "victim", "master")] == 6
    assert roles[("binance", "platform", "sub")] + roles[("binance", "victim", "sub")] == 20
    assert roles[("binance", "victim", "sub")] == 4 and roles[("bybit", "victim", "sub")] == 1
    assert roles[("binance", "counterparty", "master")] == 1
    assert roles[("bybit", "counterparty", "master")] == 1
    for a in world.accounts:
        if a.exchange == "binance":
            assert re.fullmatch(r"SIM[A-Za-z0-9]{61}", a.api_key)
            assert re.fullmatch(r"SIM[A-Za-z0-9]{61}", a.api_secret)
        else:
            assert re.fullmatch(r"SIM[A-Za-z0-9]{15}", a.api_key)
            assert re.fullmatch(r"SIM[A-Za-z0-9]{33}", a.api_secret)
        assert a.api_key not in repr(a) and a.api_secret not in repr(a)
        if a.kind == "sub":
            assert a.master_label == f"{a.exchange}-platform-master"
            assert a.sub_account and (a.sub_account.isdigit() if a.exchange == "bybit"
                                      else a.sub_account.endswith("@sim.invalid"))
        else:
            assert a.sub_account is None and a.master_label is None
        assert all(free >= 0 and locked >= 0 for _, free, locked in a.balances), a.label
        assert [t.id for t in a.trades] == sorted(t.id for t in a.trades)
    victim = world.account("binance-victim-01")
    assert victim.key.can_trade and not victim.key.can_withdraw and not victim.key.ip_whitelist
    assert victim.key.created <= world.anchor - 14 * 1440 * MINUTE
    assert victim.deposits and any(t.time < world.anchor for t in victim.trades)
    assert world.account("binance-sub-007").role == "victim"
    assert world.account("binance-sub-007").sub_account == "sub-007@sim.invalid"


def test_markets_have_thin_pump_targets_and_candles_over_four_days(world: World) -> None:
    for exchange in ("binance", "bybit"):
        markets = world.markets[exchange]
        assert len(markets) >= 24
        assert sum(m.thin for m in markets.values()) >= 2
        for m in markets.values():
            candles = world.candles[(exchange, m.id)]
            assert len(candles) == 4 * 1440 and candles.start == world.start
            assert (candles.low <= candles.open).all() and (candles.open <= candles.high).all()
            assert (candles.low <= candles.close).all() and (candles.close <= candles.high).all()
            assert (candles.low > 0).all()
    assert world.markets["binance"]["SYSBTC"].thin and world.markets["bybit"]["AXSUSDT"].thin


def test_the_attack_victims_buy_at_several_times_the_price_from_the_counterparty(
        world: World) -> None:
    scenario = world.scenario
    assert scenario.pump == {"binance": "SYS/BTC", "bybit": "AXS/USDT"}
    assert 10 * MINUTE <= scenario.attack_end - scenario.attack_start <= 20 * MINUTE
    assert scenario.attack_start == world.anchor
    orders = Counter[str]()
    for exchange in ("binance", "bybit"):
        pump = scenario.pump[exchange].replace("/", "")
        reference = scenario.reference[exchange]
        counterparty = world.account(scenario.counterparties[exchange])
        sold = {t.id: t for t in counterparty.trades if t.symbol == pump}
        assert all(not t.is_buyer and t.is_maker for t in sold.values())
        victims = [world.account(v) for v in scenario.victims
                   if world.account(v).exchange == exchange]
        assert victims
        for victim in victims:
            bought = [t for t in victim.trades if t.symbol == pump]
            assert len(bought) >= 20, victim.label  # dozens
            for t in bought:
                assert scenario.attack_start <= t.time < scenario.attack_end
                assert t.is_buyer and not t.is_maker
                assert t.price >= 3 * reference
                other = sold.pop(t.id)  # the very trade, seen from the other side
                assert (other.price, other.qty, other.time) == (t.price, t.qty, t.time)
            attack = [o for o in victim.orders if o.symbol == pump]
            assert all(o.type == "MARKET" and o.side == "BUY" for o in attack)
            orders[exchange] += len(attack)
            quote = world.markets[exchange][pump].quote
            spent = sum(t.quote_qty for t in bought)
            left = dict((a, f) for a, f, _ in victim.balances)[quote]
            assert left < 0.02 * spent, victim.label  # the whole quote balance, near enough
        assert not sold  # the counterparty sold to victims only
        candles = world.candles[(exchange, pump)]
        at = candles.index_at(scenario.attack_start)
        assert candles.high[at:at + 5].max() >= 3 * reference
        assert candles.close[at - 60:at].max() < 1.5 * reference
        assert len(counterparty.withdrawals) == 1
        assert counterparty.withdrawals[0].time > scenario.attack_end
    assert dict(orders) == scenario.attack_orders


def test_the_accounts_file_document(world: World) -> None:
    document = world.accounts_json("http://127.0.0.1:9/")
    assert document["generated_by"] == "incident sim-exchange"
    assert document["seed"] == 2022 and document["anchor"] == ANCHOR
    assert document["base_url"] == "http://127.0.0.1:9/"
    scenario = document["scenario"]
    assert scenario["pump"]["binance"] == {"symbol": "SYS/BTC", "id": "SYSBTC",
                                           "reference_price": fmt(
                                               world.scenario.reference["binance"], 8)}
    assert scenario["attack_start"] == ANCHOR
    assert scenario["attack_orders_total"] == sum(world.scenario.attack_orders.values())
    assert set(scenario["victims"]) == {a.label for a in world.accounts if a.role == "victim"}
    assert len(document["accounts"]) == len(world.accounts)
    for entry in document["accounts"]:
        assert set(entry) == {"label", "exchange", "api_key", "api_secret", "kind",
                              "sub_account", "master_label", "role"}
    json.dumps(document)  # plain JSON all through


def test_extra_keys_become_victims_with_exactly_those_credentials() -> None:
    extra = (ExtraKey("binance", "user-0001-binance", "FAKE" + "a" * 60, "FAKE" + "b" * 60),
             ExtraKey("bybit", "user-0002-bybit", "FAKEbybitkey123456", "FAKE" + "c" * 32))
    world = build_world(seed=3, victims=2, subaccounts=0, busy_trades=0, extra_keys=extra)
    for key in extra:
        account = world.account(key.label)
        assert (account.exchange, account.role, account.kind) == (key.exchange, "victim",
                                                                   "master")
        assert (account.api_key, account.api_secret) == (key.api_key, key.api_secret)
        assert key.label in world.scenario.victims
        assert any(t.symbol == world.scenario.pump[key.exchange].replace("/", "")
                   for t in account.trades)
    with pytest.raises(ValueError, match="binance-victim-01"):
        build_world(seed=3, victims=2, subaccounts=0, busy_trades=0, extra_keys=(
            ExtraKey("binance", "binance-victim-01", "K" * 64, "S" * 64),))


def test_anchor_parsing() -> None:
    assert parse_anchor("2022-12-20T08:00:00Z") == 1671523200000
    assert parse_anchor("2022-12-20T08:00:30+00:00") == 1671523200000  # whole minutes
    with pytest.raises(ValueError):
        parse_anchor("yesterday")
