"""The simulated exchanges' world: markets, candles, accounts, keys and the attack. Pure data.

`build_world(seed, anchor, ...)` is deterministic: the same arguments give the same world,
byte for byte (`accounts_json`, every history, every candle). Nothing here does I/O.

The story (the 3Commas / Skyrex pattern of December 2022, and Binance's SYS and VIA pumps
of 2018): API keys that could trade but not withdraw, unrestricted by IP, leaked. At the
anchor, for ten to twenty minutes, someone uses every leaked key to MARKET BUY a thin coin
at several times its price, spending the victim's whole quote balance, while the
attacker's own account sells into those orders; then the price collapses and the attacker
withdraws the proceeds.

Time: candles cover anchor - 3 days .. anchor + 1 day, one a minute. Ordinary trading
happens in the three days before the anchor; deposits and keys are older.

Per exchange:
- a `platform` master (`binance-platform-master` / `bybit-platform-master`) with
  sub-accounts (`binance-sub-001`, ... / `bybit-sub-001`, ...), each with its own key;
  every fifth sub-account from the second on is a victim too;
- `victim` masters (`binance-victim-01`, `bybit-victim-01`, ...) and the `--keys` rows;
- `bystander` masters with history but untouched (one Binance bystander's key is bound
  to 203.0.113.10, so from 127.0.0.1 it is refused, as a whitelisted key would be);
- one `counterparty` (the attacker: `binance-counterparty`, `bybit-counterparty`);
- on Binance, `binance-busy`: exactly `busy_trades` trades over exactly 20 pairs.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

MINUTE = 60_000
DAY = 1440 * MINUTE
HISTORY_DAYS = 3  # candles and trades before the anchor
FUTURE_DAYS = 1  # candles after it
EXCHANGES = ("binance", "bybit")
FEE = 0.001  # 0.1 %, both sides
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PUMP = {"binance": "SYS/BTC", "bybit": "AXS/USDT"}
THIN = {"binance": ("SYS/BTC", "VIA/BTC"), "bybit": ("AXS/USDT", "SIS/USDT")}
BLOCKED_IP = "203.0.113.10"  # TEST-NET-3: the address binance-bystander-02's key is bound to

# USD prices around the anchor's time (December 2022); pairs are priced from these.
USD = {
    "BTC": 16850.0, "ETH": 1180.0, "BNB": 245.0, "XRP": 0.345, "ADA": 0.26, "SOL": 11.8,
    "DOGE": 0.071, "DOT": 4.5, "MATIC": 0.78, "LTC": 65.0, "TRX": 0.054, "AVAX": 11.2,
    "LINK": 5.6, "ATOM": 8.9, "UNI": 5.2, "ETC": 15.3, "XLM": 0.072, "NEAR": 1.3,
    "FIL": 3.1, "APT": 3.6, "SYS": 0.098, "VIA": 0.16, "AXS": 5.9, "SIS": 0.071,
    "USDT": 1.0, "USDC": 1.0,
}
_MAJORS = ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "DOT", "MATIC", "LTC", "TRX",
           "AVAX", "LINK", "ATOM", "UNI", "ETC", "XLM", "NEAR", "FIL", "APT")
PAIRS: dict[str, tuple[str, ...]] = {
    "binance": tuple(f"{b}/USDT" for b in _MAJORS) + (
        "ETH/BTC", "BNB/BTC", "XRP/BTC", "ADA/BTC", "LTC/BTC", "SYS/BTC", "VIA/BTC"),
    "bybit": tuple(f"{b}/USDT" for b in _MAJORS if b != "BNB") + (
        "ETH/USDC", "BTC/USDC", "ETH/BTC", "XRP/BTC", "AXS/USDT", "SIS/USDT"),
}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_anchor(text: str) -> int:
    """An ISO 8601 UTC time ('2022-12-20T08:00:00Z') as epoch milliseconds, whole minutes.
    ValueError if it is not one."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ms = int(moment.timestamp() * 1000)
    return ms - ms % MINUTE


def fmt(value: float, decimals: int) -> str:
    """A decimal string with `decimals` places; -0 and float dust print as 0."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


@dataclass(frozen=True, slots=True)
class Market:
    exchange: str
    symbol: str  # BASE/QUOTE, as ccxt names it
    id: str  # BASEQUOTE, as both exchanges name it
    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    reference: float  # the price at the start of the candles
    thin: bool

    @property
    def tick(self) -> str:
        return fmt(10.0 ** -self.price_decimals, self.price_decimals)

    @property
    def lot(self) -> str:
        return fmt(10.0 ** -self.qty_decimals, self.qty_decimals)

    @property
    def min_notional(self) -> str:
        return fmt(5.0 / USD[self.quote], max(2, _decimals_for(USD[self.quote]) + 2))

    def price(self, value: float) -> str:
        return fmt(value, self.price_decimals)

    def qty(self, value: float) -> str:
        return fmt(value, self.qty_decimals)


@dataclass(frozen=True, slots=True, eq=False)
class Candles:
    """One-minute candles of one market: row i opens at start + i minutes."""

    start: int
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    trades: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.close)

    def index_at(self, ms: int) -> int:
        """The row holding the moment `ms`, clamped into the range."""
        return min(max((ms - self.start) // MINUTE, 0), len(self.close) - 1)

    def equal(self, other: Candles) -> bool:
        return self.start == other.start and all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("open", "high", "low", "close", "volume", "trades"))


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an account's API key may do, as the exchange's key-management pages show it."""

    can_trade: bool
    can_withdraw: bool
    can_internal_transfer: bool  # Binance enableInternalTransfer; Bybit Wallet AccountTransfer
    can_sub_transfer: bool  # Bybit Wallet SubMemberTransfer; Binance: manages sub-accounts
    ip_whitelist: tuple[str, ...]  # empty: unrestricted
    created: int  # ms
    expires: int | None  # ms: Binance tradingAuthorityExpirationTime, Bybit expiredAt


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    client_id: str
    symbol: str  # the market id (BTCUSDT)
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    price: float  # 0 for MARKET
    qty: float
    executed: float
    quote: float  # cumulative quote quantity filled
    status: str  # FILLED | NEW | CANCELED
    time: int
    update_time: int


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    order_id: int
    symbol: str
    price: float
    qty: float
    quote_qty: float
    commission: float
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(frozen=True, slots=True)
class Transfer:
    """A deposit or a withdrawal."""

    id: str
    coin: str
    amount: float
    fee: float
    network: str
    address: str
    tx_id: str
    time: int


@dataclass(frozen=True, slots=True)
class Account:
    label: str
    exchange: str
    kind: str  # master | sub
    sub_account: str | None  # Binance: e-mail; Bybit: uid; None for masters
    master_label: str | None
    role: str  # victim | counterparty | platform | bystander | busy
    uid: str  # the account's user id (Bybit userID; Binance has one too)
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    key: KeyInfo
    balances: tuple[tuple[str, float, float], ...]  # (asset, free, locked), by asset
    orders: tuple[Order, ...]  # by id
    trades: tuple[Trade, ...]  # by id
    deposits: tuple[Transfer, ...]  # by time
    withdrawals: tuple[Transfer, ...]  # by time


@dataclass(frozen=True, slots=True)
class ExtraKey:
    """A key from a plaintext key file (`--keys`) that becomes a victim account."""

    exchange: str
    label: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Scenario:
    pump: dict[str, str]  # exchange -> symbol (SYS/BTC)
    reference: dict[str, float]  # exchange -> the pump target's price just before
    attack_start: int  # ms
    attack_end: int  # ms
    victims: tuple[str, ...]  # labels
    counterparties: dict[str, str]  # exchange -> label
    attack_orders: dict[str, int]  # exchange -> number of victims' MARKET BUY orders
    busy: str

    def as_json(self) -> dict[str, Any]:
        return {
            "pump": {e: {"symbol": s, "id": s.replace("/", ""),
                         "reference_price": fmt(self.reference[e], 8)}
                     for e, s in self.pump.items()},
            "attack_start": _iso(self.attack_start),
            "attack_start_ms": self.attack_start,
            "attack_end": _iso(self.attack_end),
            "attack_end_ms": self.attack_end,
            "victims": list(self.victims),
            "counterparties": dict(self.counterparties),
            "attack_orders": dict(self.attack_orders),
            "attack_orders_total": sum(self.attack_orders.values()),
            "busy": self.busy,
        }


@dataclass(frozen=True, eq=False)
class World:
    seed: int
    anchor: int  # ms
    markets: dict[str, dict[str, Market]]  # exchange -> market id -> market
    candles: dict[tuple[str, str], Candles]  # (exchange, market id) -> candles
    accounts: tuple[Account, ...]
    scenario: Scenario

    @property
    def start(self) -> int:
        return self.anchor - HISTORY_DAYS * DAY

    @property
    def end(self) -> int:
        """The end of the last candle."""
        return self.anchor + FUTURE_DAYS * DAY

    def account(self, label: str) -> Account:
        for a in self.accounts:
            if a.label == label:
                return a
        raise KeyError(label)

    def last_price(self, exchange: str, market_id: str) -> float:
        return float(self.candles[(exchange, market_id)].close[-1])

    def accounts_json(self, base_url: str) -> dict[str, Any]:
        """The accounts file: every account with its credentials, and the scenario."""
        return {
            "generated_by": "incident sim-exchange",
            "seed": self.seed,
            "anchor": _iso(self.anchor),
            "base_url": base_url,
            "scenario": self.scenario.as_json(),
            "accounts": [{"label": a.label, "exchange": a.exchange, "api_key": a.api_key,
                          "api_secret": a.api_secret, "kind": a.kind,
                          "sub_account": a.sub_account, "master_label": a.master_label,
                          "role": a.role} for a in self.accounts],
        }


# ---------------------------------------------------------------------------------------
# building


def _tag(text: str) -> int:
    return zlib.crc32(text.encode())


def _rng(seed: int, *tags: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF,
                                  *(_tag(t) for t in tags)])


def _decimals_for(usd: float) -> int:
    """Digits before the decimal point of a price (negative below 0.1)."""
    return math.floor(math.log10(usd)) + 1


def _market(exchange: str, symbol: str) -> Market:
    base, quote = symbol.split("/")
    price = USD[base] / USD[quote]
    digits = _decimals_for(price)
    return Market(exchange, symbol, base + quote, base, quote,
                  price_decimals=min(max(6 - digits, 2), 8),
                  qty_decimals=min(max(_decimals_for(USD[base]), 0), 8),
                  reference=round(price, min(max(6 - digits, 2), 8)),
                  thin=symbol in THIN[exchange])


def _text(rng: np.random.Generator, length: int, alphabet: str = ALNUM) -> str:
    letters = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    return letters[rng.integers(0, len(letters), length)].tobytes().decode("ascii")


class _Builder:
    """Mutable scratch space while one world is built."""

    def __init__(self, seed: int, anchor: int, busy_trades: int) -> None:
        self.seed = seed
        self.anchor = anchor
        self.start = anchor - HISTORY_DAYS * DAY
        self.minutes = (HISTORY_DAYS + FUTURE_DAYS) * 1440
        self.busy_trades = busy_trades
        self.markets = {e: {m.id: m for m in (_market(e, s) for s in PAIRS[e])}
                        for e in EXCHANGES}
        rng = _rng(seed, "attack")
        self.attack_minutes = int(rng.integers(10, 21))
        self.peak = {e: float(rng.uniform(8.0, 18.0)) for e in EXCHANGES}
        self.closes: dict[tuple[str, str], npt.NDArray[np.float64]] = {}
        self.volumes: dict[tuple[str, str], npt.NDArray[np.float64]] = {}
        self.pump_ref: dict[str, float] = {}
        self.next_order = {e: 100_000_000 + int(rng.integers(0, 9_000_000)) for e in EXCHANGES}
        self.next_trade = {e: 20_000_000 + int(rng.integers(0, 9_000_000)) for e in EXCHANGES}
        self.keys: set[str] = set()

    # candles ------------------------------------------------------------------------

    def walk(self, exchange: str, market: Market) -> None:
        rng = _rng(self.seed, "candles", exchange, market.id)
        sigma = 0.0025 if market.thin else 0.0009
        steps = rng.normal(0.0, sigma, self.minutes)
        steps[0] = 0.0
        close = market.reference * np.exp(np.cumsum(steps))
        usd_volume = (4_000.0 if market.thin else 250_000.0) * rng.lognormal(0.0, 0.6,
                                                                            self.minutes)
        volume = usd_volume / (USD[market.base])
        if market.symbol == PUMP[exchange]:
            at = HISTORY_DAYS * 1440
            ref = float(close[at - 1])
            t = np.arange(self.minutes - at, dtype=np.float64)
            during = t < self.attack_minutes
            peak = self.peak[exchange]
            shape = np.sqrt(np.sin(np.pi * np.minimum(t, self.attack_minutes)
                                   / self.attack_minutes))
            mult = np.where(during, 3.4 + (peak - 3.4) * shape,
                            0.75 + 2.65 * np.exp(-(t - self.attack_minutes) / 4.0))
            close[at:] = close[at:] / close[at - 1] * ref * mult
            volume[at:at + self.attack_minutes] *= 25.0
            volume[at + self.attack_minutes:at + self.attack_minutes + 30] *= 8.0
            self.pump_ref[exchange] = round(ref, market.price_decimals)
        self.closes[(exchange, market.id)] = np.round(close, market.price_decimals)
        self.volumes[(exchange, market.id)] = volume

    def close_at(self, exchange: str, market_id: str, ms: int) -> float:
        i = min(max((ms - self.start) // MINUTE, 0), self.minutes - 1)
        return float(self.closes[(exchange, market_id)][i])

    def candles(self, exchange: str, market: Market, trades: list[Trade]) -> Candles:
        """The candles, widened and filled so every trade of the world lies inside them."""
        rng = _rng(self.seed, "wicks", exchange, market.id)
        close = self.closes[(exchange, market.id)]
        open_ = np.empty_like(close)
        open_[0] = close[0]
        open_[1:] = close[:-1]
        spread = np.abs(rng.normal(0.0, 0.0006 if not market.thin else 0.002,
                                   (2, len(close))))
        high = np.maximum(open_, close) * (1 + spread[0])
        low = np.minimum(open_, close) * (1 - spread[1])
        volume = self.volumes[(exchange, market.id)].copy()
        counts = np.maximum((volume * USD[market.base] / 180.0).astype(np.int64), 1)
        if trades:
            idx = np.array([(t.time - self.start) // MINUTE for t in trades], dtype=np.int64)
            keep = (idx >= 0) & (idx < len(close))
            idx = idx[keep]
            prices = np.array([t.price for t in trades])[keep]
            qtys = np.array([t.qty for t in trades])[keep]
            np.maximum.at(high, idx, prices)
            np.minimum.at(low, idx, prices)
            np.add.at(volume, idx, qtys)
            np.add.at(counts, idx, 1)
        tick = 10.0 ** -market.price_decimals
        high = np.round(np.ceil(np.round(high / tick, 6)) * tick, market.price_decimals)
        low = np.round(np.maximum(np.floor(np.round(low / tick, 6)), 1) * tick,
                       market.price_decimals)
        return Candles(self.start, open_, high, low, close,
                       np.round(volume, market.qty_decimals), counts)

    # keys ---------------------------------------------------------------------------

    def credentials(self, exchange: str, label: str) -> tuple[str, str]:
        rng = _rng(self.seed, "key", exchange, label)
        if exchange == "binance":
            key, secret = "SIM" + _text(rng, 61), "SIM" + _text(rng, 61)
        else:
            key, secret = "SIM" + _text(rng, 15), "SIM" + _text(rng, 33)
        if key in self.keys:  # never with 61 random characters, but a duplicate must not pass
            raise ValueError(f"{label}: duplicate simulated key")
        self.keys.add(key)
        return key, secret

    def uid(self, exchange: str, label: str) -> str:
        return str(int(_rng(self.seed, "uid", exchange, label).integers(10_000_000,
                                                                        499_999_999)))

    def client_id(self, rng: np.random.Generator, exchange: str) -> str:
        return ("web_" if exchange == "binance" else "sim-") + _text(rng, 20)

    # ids ----------------------------------------------------------------------------

    def order_id(self, exchange: str) -> int:
        self.next_order[exchange] += 1
        return self.next_order[exchange]


@dataclass
class _Draft:
    """An account while it is built."""

    label: str
    exchange: str
    kind: str
    sub_account: str | None
    master_label: str | None
    role: str
    uid: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    key: KeyInfo
    rng: np.random.Generator
    deposits: list[Transfer] = field(default_factory=list)
    withdrawals: list[Transfer] = field(default_factory=list)
    fills: list[_Fill] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    held: dict[str, float] = field(default_factory=dict)  # the ledger while filling


@dataclass
class _Fill:
    """One side of a trade before trade ids are given out (in time order, per exchange)."""

    market: Market
    order_id: int
    price: float
    qty: float
    time: int
    is_buyer: bool
    is_maker: bool
    match: int  # fills of one trade (victim and counterparty) share it; -1: none
    trade_id: int = 0


def _fill_amounts(market: Market, fill: _Fill) -> tuple[float, float, str]:
    """(quote quantity, commission, commission asset)."""
    quote = round(fill.price * fill.qty, 8)
    if fill.is_buyer:
        return quote, round(fill.qty * FEE, 8), market.base
    return quote, round(quote * FEE, 8), market.quote


def _apply(held: dict[str, float], market: Market, fill: _Fill) -> None:
    quote, commission, _ = _fill_amounts(market, fill)
    sign = 1 if fill.is_buyer else -1
    held[market.base] = held.get(market.base, 0.0) + sign * fill.qty
    held[market.quote] = held.get(market.quote, 0.0) - sign * quote
    fee_asset = market.base if fill.is_buyer else market.quote
    held[fee_asset] -= commission


def _floor_lot(value: float, market: Market) -> float:
    lot = 10.0 ** -market.qty_decimals
    return round(math.floor(value / lot + 1e-9) * lot, market.qty_decimals)


def _address(rng: np.random.Generator, coin: str) -> str:
    if coin in ("BTC", "SYS", "VIA"):
        return "bc1q" + _text(rng, 38, "023456789acdefghjklmnpqrstuvwxyz")
    return "0x" + _text(rng, 40, "0123456789abcdef")


def _network(coin: str) -> str:
    return {"BTC": "BTC", "SYS": "SYS", "VIA": "VIA", "USDT": "ETH", "USDC": "ETH",
            "BNB": "BSC"}.get(coin, "ETH")


def _transfer(d: _Draft, coin: str, amount: float, time: int, fee: float = 0.0
              ) -> Transfer:
    rng = d.rng
    return Transfer(id=_text(rng, 32, "0123456789abcdef") if d.exchange == "binance"
                    else str(int(rng.integers(10_000_000, 99_999_999))),
                    coin=coin, amount=round(amount, 8), fee=fee, network=_network(coin),
                    address=_address(rng, coin), tx_id="0x" + _text(rng, 64, "0123456789abcdef")
                    if _network(coin) in ("ETH", "BSC") else _text(rng, 64, "0123456789abcdef"),
                    time=time)


def _deposit(b: _Builder, d: _Draft, coin: str, amount: float, time: int) -> None:
    d.deposits.append(_transfer(d, coin, amount, time))
    d.held[coin] = d.held.get(coin, 0.0) + round(amount, 8)


def _trade(b: _Builder, d: _Draft, market: Market, side: str, qty: float, time: int,
           kind: str = "MARKET", price: float | None = None, maker: bool = False,
           match: int = -1) -> _Fill | None:
    """A filled order of `d` at the candle's close (or `price`), with its one fill."""
    qty = _floor_lot(qty, market)
    fill_price = price if price is not None else b.close_at(d.exchange, market.id, time)
    if qty <= 0 or fill_price * qty * USD[market.quote] < 1.0:
        return None
    oid = b.order_id(d.exchange)
    quote = round(fill_price * qty, 8)
    d.orders.append(Order(oid, b.client_id(d.rng, d.exchange), market.id, side, kind,
                          0.0 if kind == "MARKET" else fill_price, qty, qty, quote, "FILLED",
                          time, time))
    fill = _Fill(market, oid, fill_price, qty, time, side == "BUY", maker, match)
    _apply(d.held, market, fill)
    d.fills.append(fill)
    return fill


def _ordinary_trading(b: _Builder, d: _Draft, symbols: tuple[str, ...], per_day: tuple[int, int],
                      until: int) -> None:
    """A few trades a day over the days before `until`, buying with a part of the quote
    held, selling a part of what was bought; never more than is held."""
    rng = d.rng
    markets = [b.markets[d.exchange][s.replace("/", "")] for s in symbols]
    times: list[int] = []
    for day in range(HISTORY_DAYS):
        n = int(rng.integers(per_day[0], per_day[1] + 1))
        day_start = b.start + day * DAY
        times += sorted(int(day_start + x) for x in rng.integers(0, DAY, n))
    for time in sorted(t for t in times if t < until - 5 * MINUTE):
        market = markets[int(rng.integers(0, len(markets)))]
        price = b.close_at(d.exchange, market.id, time)
        base = d.held.get(market.base, 0.0)
        if base * price * USD[market.quote] > 20 and rng.random() < 0.4:
            _trade(b, d, market, "SELL", base * float(rng.uniform(0.3, 0.8)), time)
        else:
            spend = d.held.get(market.quote, 0.0) * float(rng.uniform(0.03, 0.12))
            _trade(b, d, market, "BUY", spend / price, time,
                   kind="LIMIT" if rng.random() < 0.5 else "MARKET")


def _open_order(b: _Builder, d: _Draft, symbol: str, time: int) -> None:
    """A resting LIMIT BUY far below the price (it never fills), locking quote."""
    market = b.markets[d.exchange][symbol.replace("/", "")]
    rng = d.rng
    price = round(b.close_at(d.exchange, market.id, time) * float(rng.uniform(0.7, 0.85)),
                  market.price_decimals)
    budget = d.held.get(market.quote, 0.0) * float(rng.uniform(0.05, 0.15))
    qty = _floor_lot(budget / price, market)
    if qty <= 0:
        return
    d.orders.append(Order(b.order_id(d.exchange), b.client_id(rng, d.exchange), market.id,
                          "BUY", "LIMIT", price, qty, 0.0, 0.0, "NEW", time, time))


def _draft(b: _Builder, exchange: str, label: str, kind: str, role: str, created: int,
           key: KeyInfo | None = None, master: str | None = None, sub: str | None = None,
           credentials: tuple[str, str] | None = None) -> _Draft:
    api_key, api_secret = credentials or b.credentials(exchange, label)
    if credentials:
        b.keys.add(api_key)
    info = key or KeyInfo(can_trade=True, can_withdraw=False, can_internal_transfer=False,
                          can_sub_transfer=False, ip_whitelist=(), created=created,
                          expires=None)
    return _Draft(label, exchange, kind, sub, master, role, b.uid(exchange, label), api_key,
                  api_secret, info, _rng(b.seed, "account", exchange, label))


def build_world(seed: int = 2022, anchor: int | str = "2022-12-20T08:00:00Z",
                victims: int = 12, subaccounts: int = 20, busy_trades: int = 10_000,
                extra_keys: tuple[ExtraKey, ...] = ()) -> World:
    """The whole world; see the module's docstring. ValueError on a bad argument."""
    anchor_ms = parse_anchor(anchor) if isinstance(anchor, str) else anchor - anchor % MINUTE
    if victims < 0 or subaccounts < 0 or busy_trades < 0:
        raise ValueError("victims, subaccounts and busy_trades must not be negative")
    b = _Builder(seed, anchor_ms, busy_trades)
    for exchange in EXCHANGES:
        for market in b.markets[exchange].values():
            b.walk(exchange, market)
    rng = _rng(seed, "accounts")

    def weeks_before() -> int:
        return anchor_ms - int(rng.integers(14 * DAY, 60 * DAY)) // 1000 * 1000

    drafts: list[_Draft] = []
    bybit_subs = subaccounts // 5
    for exchange, count in (("binance", subaccounts), ("bybit", bybit_subs)):
        master = f"{exchange}-platform-master"
        drafts.append(_draft(b, exchange, master, "master", "platform", weeks_before() - 90 * DAY,
                             KeyInfo(can_trade=False, can_withdraw=False,
                                     can_internal_transfer=True, can_sub_transfer=True,
                                     ip_whitelist=("127.0.0.1", "10.20.30.40"),
                                     created=anchor_ms - 200 * DAY, expires=None)))
        for i in range(1, count + 1):
            sub = (f"sub-{i:03d}@sim.invalid" if exchange == "binance"
                   else b.uid(exchange, f"{exchange}-sub-{i:03d}"))
            drafts.append(_draft(b, exchange, f"{exchange}-sub-{i:03d}", "sub",
                                 "victim" if i % 5 == 2 else "platform", weeks_before(),
                                 master=master, sub=sub))
    split = {"binance": (victims + 1) // 2, "bybit": victims // 2}
    for exchange in EXCHANGES:
        for i in range(1, split[exchange] + 1):
            drafts.append(_draft(b, exchange, f"{exchange}-victim-{i:02d}", "master", "victim",
                                 weeks_before()))
        for extra in extra_keys:
            if extra.exchange == exchange:
                drafts.append(_draft(b, exchange, extra.label, "master", "victim",
                                     weeks_before(), credentials=(extra.api_key,
                                                                  extra.api_secret)))
        drafts.append(_draft(b, exchange, f"{exchange}-bystander-01", "master",
                             "bystander", weeks_before()))
        if exchange == "binance":  # a read-only key bound to another address
            created = weeks_before()
            drafts.append(_draft(b, exchange, "binance-bystander-02", "master", "bystander",
                                 created, KeyInfo(False, False, False, False, (BLOCKED_IP,),
                                                  created, None)))
        drafts.append(_draft(b, exchange, f"{exchange}-counterparty", "master", "counterparty",
                             anchor_ms - 9 * DAY,
                             KeyInfo(True, True, True, False, (), anchor_ms - 9 * DAY, None)))
    drafts.append(_draft(b, "binance", "binance-busy", "master", "busy", anchor_ms - 120 * DAY,
                         KeyInfo(True, False, False, False, (), anchor_ms - 120 * DAY,
                                 anchor_ms + 60 * DAY)))
    seen: set[str] = set()
    for d in drafts:
        if d.label in seen:
            raise ValueError(f"{d.label}: label used twice")
        seen.add(d.label)

    attack_orders = {e: 0 for e in EXCHANGES}
    match = 0
    for d in drafts:
        if d.role in ("victim", "bystander") or (d.role, d.kind) == ("platform", "sub"):
            _history(b, d)
        elif d.role == "platform":
            _deposit(b, d, "USDT", float(d.rng.uniform(50_000, 250_000)), anchor_ms - 30 * DAY)
            _deposit(b, d, "BTC", float(d.rng.uniform(2, 10)), anchor_ms - 29 * DAY)
    counter = {d.exchange: d for d in drafts if d.role == "counterparty"}
    attack_end = anchor_ms + b.attack_minutes * MINUTE
    for d in drafts:
        if d.role == "victim":
            n, match = _attack(b, d, counter[d.exchange], match, attack_end)
            attack_orders[d.exchange] += n
    for d in counter.values():
        _cover(b, d, anchor_ms - 2 * DAY)
        market = b.markets[d.exchange][PUMP[d.exchange].replace("/", "")]
        proceeds = round(d.held.get(market.quote, 0.0), 8)
        if proceeds > 0:
            fee = 0.0005 if market.quote == "BTC" else 1.0
            d.withdrawals.append(_transfer(d, market.quote, proceeds - fee,
                                           attack_end + 3 * MINUTE, fee))
            d.held[market.quote] -= proceeds
    busy = next(d for d in drafts if d.role == "busy")
    _busy(b, busy)
    _renumber(b, drafts)

    fills = {e: sorted(((f, d) for d in drafts if d.exchange == e for f in d.fills),
                       key=lambda fd: (fd[0].time, fd[0].match, not fd[0].is_maker,
                                       fd[0].order_id))
             for e in EXCHANGES}
    by_match: dict[int, int] = {}
    trades_by_market: dict[tuple[str, str], list[Trade]] = {}
    trades_of: dict[str, list[Trade]] = {d.label: [] for d in drafts}
    for exchange, items in fills.items():
        for f, d in items:
            if f.match >= 0 and f.match in by_match:
                tid = by_match[f.match]
            else:
                b.next_trade[exchange] += 1
                tid = b.next_trade[exchange]
                if f.match >= 0:
                    by_match[f.match] = tid
            quote, commission, asset = _fill_amounts(f.market, f)
            t = Trade(tid, f.order_id, f.market.id, f.price, f.qty, quote, commission, asset,
                      f.time, f.is_buyer, f.is_maker)
            trades_of[d.label].append(t)
            if not (f.match >= 0 and f.is_maker):  # each trade once in the candles
                trades_by_market.setdefault((exchange, f.market.id), []).append(t)
    candles = {(e, m.id): b.candles(e, m, trades_by_market.get((e, m.id), []))
               for e in EXCHANGES for m in b.markets[e].values()}
    accounts = tuple(_freeze(d, trades_of[d.label], b) for d in drafts)
    scenario = Scenario(
        pump=dict(PUMP), reference=dict(b.pump_ref), attack_start=anchor_ms,
        attack_end=attack_end, victims=tuple(d.label for d in drafts if d.role == "victim"),
        counterparties={e: counter[e].label for e in EXCHANGES}, attack_orders=attack_orders,
        busy=busy.label)
    return World(seed, anchor_ms, b.markets, candles, accounts, scenario)


def _history(b: _Builder, d: _Draft) -> None:
    """Deposits weeks ago, ordinary trading in the days before the anchor, an open order."""
    rng = d.rng
    first = b.anchor - int(rng.integers(7 * DAY, 25 * DAY))
    if d.exchange == "binance":
        _deposit(b, d, "BTC", round(float(rng.uniform(0.2, 2.0)), 4), first)
        _deposit(b, d, "USDT", round(float(rng.uniform(1_000, 15_000)), 2), first + 3 * DAY)
        symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "ETH/BTC", "BNB/BTC")
    else:
        _deposit(b, d, "USDT", round(float(rng.uniform(2_000, 40_000)), 2), first)
        _deposit(b, d, "BTC", round(float(rng.uniform(0.05, 0.5)), 4), first + 2 * DAY)
        symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
    _ordinary_trading(b, d, symbols, (2, 5), b.anchor)
    if d.role == "bystander" and rng.random() < 0.8:
        coin = "USDT"
        amount = round(d.held.get(coin, 0.0) * 0.2, 2)
        if amount > 10:
            d.withdrawals.append(_transfer(d, coin, amount - 1.0,
                                           b.anchor - int(rng.integers(1, 20)) * 3_600_000,
                                           1.0))
            d.held[coin] -= amount
    if rng.random() < 0.7:
        _open_order(b, d, "BTC/USDT", b.anchor - int(rng.integers(2, 30)) * 3_600_000)


def _attack(b: _Builder, victim: _Draft, counterparty: _Draft, match: int, end: int
            ) -> tuple[int, int]:
    """Dozens of MARKET BUYs of the pump target spending the victim's free quote; the
    counterparty's LIMIT SELL fills each. Returns (orders made, next match number)."""
    rng = victim.rng
    market = b.markets[victim.exchange][PUMP[victim.exchange].replace("/", "")]
    locked = sum(o.price * o.qty for o in victim.orders if o.status == "NEW"
                 and o.side == "BUY" and b.markets[victim.exchange][o.symbol].quote
                 == market.quote)
    budget = (victim.held.get(market.quote, 0.0) - locked) * 0.999
    n = int(rng.integers(24, 49))
    times = np.sort(rng.integers(b.anchor, end, n))
    weights = rng.uniform(0.5, 1.5, n).tolist()
    made = 0
    for i, time in enumerate(times.tolist()):
        price = round(b.close_at(victim.exchange, market.id, time)
                      * float(rng.uniform(0.99, 1.01)), market.price_decimals)
        spend = budget * weights[i] / sum(weights[i:])  # what rounding left over moves on
        qty = _floor_lot(spend / price, market)
        if qty <= 0:
            continue
        fill = _trade(b, victim, market, "BUY", qty, time, "MARKET", price, False, match)
        if fill is None:
            continue
        budget -= round(price * fill.qty, 8)
        oid = b.order_id(counterparty.exchange)
        quote = round(price * fill.qty, 8)
        counterparty.orders.append(Order(oid, b.client_id(counterparty.rng, victim.exchange),
                                         market.id, "SELL", "LIMIT", price, fill.qty,
                                         fill.qty, quote, "FILLED", time - 1_000, time))
        sell = _Fill(market, oid, price, fill.qty, time, False, True, match)
        counterparty.held.setdefault(market.base, 0.0)
        counterparty.held.setdefault(market.quote, 0.0)
        _apply(counterparty.held, market, sell)
        counterparty.fills.append(sell)
        match += 1
        made += 1
    return made, match


def _cover(b: _Builder, d: _Draft, time: int) -> None:
    """Deposits (at `time`) covering whatever the account's fills took out."""
    for coin, amount in sorted(d.held.items()):
        if amount < 0:
            _deposit(b, d, coin, math.ceil(-amount * 1.02 * 1e4) / 1e4 + 10.0 ** -4, time)
    d.deposits.sort(key=lambda t: t.time)


def _busy(b: _Builder, d: _Draft) -> None:
    """Exactly `busy_trades` trades over exactly 20 pairs (fewer pairs only with fewer
    trades) in the three days before the anchor, deposits covering them."""
    rng = d.rng
    pairs = [m for m in b.markets["binance"].values() if not m.thin][:20]
    n = b.busy_trades
    which = np.concatenate([np.arange(min(n, 20)), rng.integers(0, 20, max(0, n - 20))])
    times = np.sort(rng.integers(b.start, b.anchor - MINUTE, n))
    rng.shuffle(which)
    sides = rng.random(n) < 0.5
    notional = rng.uniform(20.0, 500.0, n)
    limit = rng.random(n) < 0.3
    for i in range(n):
        market = pairs[int(which[i])]
        time = int(times[i])
        price = b.close_at("binance", market.id, time)
        qty = max(_floor_lot(notional[i] / USD[market.base], market),
                  10.0 ** -market.qty_decimals)
        qty = round(qty, market.qty_decimals)
        side = "BUY" if sides[i] else "SELL"
        oid = b.order_id("binance")
        quote = round(price * qty, 8)
        d.orders.append(Order(oid, b.client_id(rng, "binance"), market.id, side,
                              "LIMIT" if limit[i] else "MARKET",
                              price if limit[i] else 0.0, qty, qty, quote, "FILLED", time,
                              time))
        fill = _Fill(market, oid, price, qty, time, bool(sides[i]), bool(limit[i]), -1)
        d.held.setdefault(market.base, 0.0)
        d.held.setdefault(market.quote, 0.0)
        _apply(d.held, market, fill)
        d.fills.append(fill)
    _cover(b, d, b.start - 2 * DAY)


def _renumber(b: _Builder, drafts: list[_Draft]) -> None:
    """Order ids in the order the orders were placed, per exchange (they were given out in
    the order they were made)."""
    for exchange in EXCHANGES:
        mine = [d for d in drafts if d.exchange == exchange]
        placed = sorted((o.time, o.id) for d in mine for o in d.orders)
        base = b.next_order[exchange] - len(placed) + 1
        new = {old: base + i for i, (_, old) in enumerate(placed)}
        for d in mine:
            d.orders = [Order(new[o.id], o.client_id, o.symbol, o.side, o.type, o.price,
                              o.qty, o.executed, o.quote, o.status, o.time, o.update_time)
                        for o in d.orders]
            for f in d.fills:
                f.order_id = new[f.order_id]


def _freeze(d: _Draft, trades: list[Trade], b: _Builder) -> Account:
    locked: dict[str, float] = {}
    for o in d.orders:
        if o.status == "NEW":
            m = b.markets[d.exchange][o.symbol]
            if o.side == "BUY":
                locked[m.quote] = locked.get(m.quote, 0.0) + round(o.price * o.qty, 8)
            else:
                locked[m.base] = locked.get(m.base, 0.0) + o.qty
    balances = []
    for asset in sorted(set(d.held) | set(locked)):
        total = round(d.held.get(asset, 0.0), 8)
        lock = round(locked.get(asset, 0.0), 8)
        balances.append((asset, max(round(total - lock, 8), 0.0) + 0.0, lock + 0.0))
    return Account(d.label, d.exchange, d.kind, d.sub_account, d.master_label, d.role, d.uid,
                   d.api_key, d.api_secret, d.key, tuple(balances),
                   tuple(sorted(d.orders, key=lambda o: o.id)),
                   tuple(sorted(trades, key=lambda t: t.id)),
                   tuple(sorted(d.deposits, key=lambda t: t.time)),
                   tuple(sorted(d.withdrawals, key=lambda t: t.time)))
