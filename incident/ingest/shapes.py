"""What each exchange's API credentials look like: one table.

A leaked record rarely says its exchange; its key and secret often do. `classify` finds the
exchange whose shape a key/secret pair fits (also with the two swapped, as dumps swap
columns); `key_exchanges` the exchanges a lone value could belong to. `is_placeholder`
spots the `your_api_key` and `xxxx` of example configs, and never a value that fits a
shape with the entropy of a real key. Per-exchange canonical rules live with the shape.

Nothing here keeps or prints a value; callers pass plaintext in and get names back.
"""

from __future__ import annotations

import functools
import math
import re
import re._parser as re_parser  # type: ignore[import-not-found]  # our own patterns' widths
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from incident.secret import canonical

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PEM_EC = (r"-----BEGIN EC PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{40,}\n"
           r"-----END EC PRIVATE KEY-----")


def _pem(value: str) -> str:
    """Coinbase CDP secrets are PEM: dumps carry them with literal \\n or CRLF."""
    text = canonical(value).replace("\\n", "\n").replace("\r\n", "\n")
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


@dataclass(frozen=True, slots=True)
class Shape:
    exchange: str            # ccxt id
    key: re.Pattern[str]
    secret: re.Pattern[str]
    passphrase: bool         # the exchange's keys come with a passphrase
    secret_canonical: Callable[[str], str] = canonical

    def fits(self, key: str, secret: str | None) -> bool:
        return bool(self.key.fullmatch(key)) and (
            secret is None or bool(self.secret.fullmatch(self.secret_canonical(secret))))


def _shape(exchange: str, key: str, secret: str, passphrase: bool = False,
           secret_canonical: Callable[[str], str] = canonical) -> Shape:
    return Shape(exchange, re.compile(key), re.compile(secret), passphrase, secret_canonical)


# Most specific first: classify returns the first shape that fits.
SHAPES: tuple[Shape, ...] = (
    _shape("coinbase", rf"organizations/{_UUID}/apiKeys/{_UUID}", _PEM_EC,
           secret_canonical=_pem),
    _shape("bitget", r"bg_[0-9a-f]{32}", r"[0-9a-f]{64}", passphrase=True),
    _shape("mexc", r"mx0[A-Za-z0-9]{15}", r"[0-9a-f]{32}"),
    _shape("htx", r"[0-9a-z]{8}-[0-9a-z]{8}-[0-9a-z]{8}-[0-9a-z]{5}",
           r"[0-9a-z]{8}-[0-9a-z]{8}-[0-9a-z]{8}-[0-9a-z]{5}"),
    _shape("okx", _UUID, r"[0-9A-F]{32}", passphrase=True),
    _shape("kucoin", r"[0-9a-f]{24}", _UUID, passphrase=True),
    _shape("gate", r"[0-9a-f]{32}", r"[0-9a-f]{64}"),
    _shape("kraken", r"[A-Za-z0-9+/]{54,56}={0,2}", r"[A-Za-z0-9+/]{84,88}={0,2}"),
    _shape("binance", r"[A-Za-z0-9]{64}", r"[A-Za-z0-9]{64}"),
    _shape("bitfinex", r"[A-Za-z0-9]{43}", r"[A-Za-z0-9]{43}"),
    _shape("bybit", r"[A-Za-z0-9]{18}", r"[A-Za-z0-9]{36}"),
)
BY_EXCHANGE: dict[str, Shape] = {s.exchange: s for s in SHAPES}


@dataclass(frozen=True, slots=True)
class Match:
    exchange: str
    swapped: bool  # the secret was where the key should be


def _width(pattern: re.Pattern[str]) -> tuple[int, int]:
    lo, hi = re_parser.parse(pattern.pattern).getwidth()
    return lo, hi


# The shapes whose key can be n characters long: most lengths rule out all but one shape,
# which saves ten failing regex matches a value on the hot path of a large dump.
_KEY_WIDTHS = [(_width(s.key), s) for s in SHAPES]


@functools.lru_cache(maxsize=512)
def shapes_for_key_length(n: int) -> tuple[Shape, ...]:
    return tuple(s for (lo, hi), s in _KEY_WIDTHS if lo <= n <= hi)


_MATCHES = {(s.exchange, swapped): Match(s.exchange, swapped) for s in SHAPES
            for swapped in (False, True)}


def classify(key: str, secret: str | None = None) -> Match | None:
    """The exchange whose shape the pair fits, trying the swapped pair second."""
    return classify_canonical(canonical(key), None if secret is None else canonical(secret))


def classify_canonical(key: str, secret: str | None) -> Match | None:
    """classify for values already canonical: the hot loop of a large dump."""
    for shape in shapes_for_key_length(len(key)):
        if shape.key.fullmatch(key) and (secret is None or shape.secret.fullmatch(
                secret if shape.secret_canonical is canonical else
                shape.secret_canonical(secret))):
            return _MATCHES[(shape.exchange, False)]
    if secret is not None:
        for shape in shapes_for_key_length(len(secret)):
            if shape.key.fullmatch(secret) and shape.secret.fullmatch(
                    key if shape.secret_canonical is canonical else
                    shape.secret_canonical(key)):
                return _MATCHES[(shape.exchange, True)]
    return None


def key_exchanges(value: str) -> tuple[str, ...]:
    """The exchanges a lone value could be the key of, most specific first."""
    value = canonical(value)
    return tuple(s.exchange for s in shapes_for_key_length(len(value))
                 if s.key.fullmatch(value))


_PLACEHOLDER_WORDS = re.compile(
    r"your|here|change.?me|example|placeholder|replace|insert|dummy|sample|fake|test|xxx"
    r"|api.?key|secret|passphrase|password|token|redacted|hidden|none|null|todo", re.I)
_TEMPLATE = re.compile(r"[<>{}\[\]$%]|\.\.\.|\*\*\*")


def entropy_bits(value: str) -> float:
    """Shannon entropy of the characters, in bits per character."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _repeats(value: str) -> bool:
    """`abcabcabc`, `1234567890abcdef1234567890abcdef`: one short unit over and over."""
    n = len(value)
    return any(n % k == 0 and value == value[:k] * (n // k)
               for k in range(1, min(n // 2, 64) + 1))


def is_placeholder(value: str, shaped: bool = False) -> bool:
    """A value from an example config or template rather than a credential.

    Words like 'your', 'here' or 'test' count only when they make up much of the value:
    at random they occur in about one 64-character key in a thousand, and a real key must
    never be dropped. A value fitting an exchange's shape with the entropy of a random
    one is never a placeholder. `shaped`: the caller knows the value fits a shape."""
    value = canonical(value)
    if len(value) < 8 or len(set(value)) <= 3 or _TEMPLATE.search(value) or _repeats(value):
        return True
    # A random string of n characters has at most log2(n) bits a character: the bar rises
    # with length (12 characters: 2.2 bits) up to 3 bits from 32 on.
    if entropy_bits(value) < min(3.0, 0.6 * math.log2(len(value))):
        return True
    if shaped or any(s.key.fullmatch(value) or s.secret.fullmatch(s.secret_canonical(value))
                     for s in SHAPES):
        return False
    covered = sum(len(word) for word in _PLACEHOLDER_WORDS.findall(value))
    return covered / len(value) >= 0.4
