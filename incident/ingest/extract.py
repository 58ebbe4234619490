"""From a Record to the credentials in it: pair each key with its secret and passphrase.

Named fields first: the names dumps give their columns (`names.role_of`), prefixed names
(`BINANCE_API_KEY`: the prefix is the exchange, and groups the fields it prefixes). Where
no field is named a key, values that fit an exchange's key shape are paired with values
that fit its secret shape. Free text (a message, a source file, a paste) is read line by
line: assignments (`apiKey: '...'`, `SECRET=...`, `Secret: ...`), ccxt class names
(`ccxt.bybit(`), and lines of tokens (`key:secret`, `exchange | key | secret | pass`).

The exchange comes from the record (a column, a label, a ccxt class, a prefix), else the
caller's default, else the key's shape, else "unknown". Placeholders are dropped. A pair
whose secret fits the key shape and key the secret shape is put the right way round.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from incident.exchanges.names import lookup
from incident.ingest import names
from incident.ingest.decode import decode_line
from incident.ingest.interface import Found, Record
from incident.ingest.shapes import (classify, classify_canonical, is_placeholder,
                                    key_exchanges, shapes_for_key_length)
from incident.secret import EDGE, canonical
from incident.store.dumps import leak_flags

UNKNOWN = "unknown"
MIN_LOOSE = 16  # an unshaped token in a dump line must be this long to count as a key
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|\s)+[A-Za-z0-9+/=\s\\n]+?"
                  r"-----END [A-Z ]*PRIVATE KEY-----")
_CCXT = re.compile(r"ccxt(?:\.pro|\.async_support)?\.([a-z][a-z0-9]+)\s*\(")


def _assignment(value: str, after: str = "") -> re.Pattern[str]:
    """name (sep) value: `apiKey: 'v'`, `API_SECRET="v"`, `"key": "v"`, `Secret Key - v`,
    with `value` the pattern of the value's characters and their count."""
    return re.compile(r"""(?P<name>[A-Za-z_][A-Za-z0-9_.\- ]{0,40}?)["'`]?\s*(?:=>|:=|=|:|-)\s*"""
                      rf"""(?P<q>["'`]?)(?P<value>{value})(?P=q){after}""")


_VALUE = r"""[^\s"'`,;(){}\[\]<>]"""
_ASSIGN = _assignment(_VALUE + "{6,}")
# A passphrase may be short (keys and secrets never are): `OKX_PASSPHRASE=abc`.
_SHORT = _assignment(_VALUE + "{1,5}", rf"(?!{_VALUE})")
_SPLIT = re.compile(r"[\s|,;:]+")


_REPEAT = re.compile(r"(.{1,32}?)\1+")
_TEMPLATE_CHARS = re.compile(r"[<>{}\[\]$%]|\.\.\.|\*\*\*|(?i:your|change.?me|example)")


_SURROGATE = re.compile("[\udc80-\udcff]")


def fix_text(value: str) -> str:
    """A value read with surrogate escapes: the bytes that were not UTF-8 decoded as cp1252
    (latin-1 where cp1252 has no character), as the rest of the ingester does."""
    return decode_line(value.encode("utf-8", errors="surrogateescape"))


def _canon(value: str) -> str:
    """canonical(), with the common case (plain ASCII, nothing to strip) answered at once."""
    if value and value.isascii() and value[0] not in EDGE and value[-1] not in EDGE:
        return value
    if not value.isascii() and _SURROGATE.search(value):  # bytes that were not UTF-8
        value = fix_text(value)
    return canonical(value)


def _plausible(value: str, shaped: bool) -> bool:
    """Not a placeholder. Cheap for what random keys look like (the full test for the
    rest): a shaped value whose first character is not everywhere (at most an eighth of
    it, or 4) and whose start does not come round again; an unshaped one with many
    distinct characters. fastpath._placeholders applies the same test to a column."""
    if shaped and len(value) > 8 and value.count(value[0]) <= max(4, len(value) // 8) \
            and value.find(value[:8], 1) < 0:
        return True
    if (not shaped and len(value) >= 16 and len(set(value)) >= 16
            and not _REPEAT.fullmatch(value) and not _TEMPLATE_CHARS.search(value)):
        return True
    return not is_placeholder(value, shaped)


NO_VALUE = frozenset({"", "null", "none", "nil", "n/a", "na", "\\n", "-", "undefined"})
PASSPHRASE_EDGE = " \t'\"`"  # stripped from a passphrase cell before it is judged


def present(value: str) -> bool:
    """Whether a passphrase cell holds a passphrase: not blank, and not a database's or
    exporter's word for nothing (`NULL`, `\\N`, `None`)."""
    return value.strip(PASSPHRASE_EDGE).lower() not in NO_VALUE


def fingerprints(f: Found) -> tuple[bytes, bytes | None, int]:
    """What the store keeps of a credential: the SHA-256 of key and secret, and its flags.
    Its plaintext ends here."""
    secret = None if f.secret is None else hashlib.sha256(f.secret.encode()).digest()
    return (hashlib.sha256(f.key.encode()).digest(), secret,
            leak_flags(f.has_passphrase, f.swapped))


def make(key: str, secret: str | None, passphrase: bool | None, stated: str | None,
         default: str | None) -> Found | None:
    """A credential from a key and a secret as read, or None when the key is empty or a
    placeholder (a placeholder secret is dropped, the key kept)."""
    key = _canon(key)
    if not key:
        return None
    if secret is not None:
        secret = _canon(secret) or None
    shape = classify_canonical(key, secret)
    swapped = shape is not None and shape.swapped
    if swapped:
        key, secret = secret, key  # type: ignore[assignment]  # both set when swapped
    if not _plausible(key, shape is not None):
        return None
    if secret is not None and not _plausible(secret, shape is not None):
        secret = None
    if shape is None and (stated or default) is None:
        shape = classify_canonical(key, None)
    exchange = stated or default or (shape.exchange if shape else None) or UNKNOWN
    return Found(key, secret, passphrase, exchange, swapped)


@dataclass(slots=True)
class _Draft:
    """A credential being assembled while a record is read."""

    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    passphrase: bool | None = None
    exchange: str | None = None  # stated by the record (a ccxt id), if any
    line: int = 0


@functools.lru_cache(maxsize=4096)  # a dump names a few exchanges a million times over
def exchange_of(text: str | None) -> str | None:
    """The ccxt id a record's own words name (`Binance`, `kukoin`, `OKX API`), or None."""
    if not text:
        return None
    text = text.strip()
    found = lookup(text)
    if found is None and text.lower().endswith(("api", "exchange", "futures", "spot")):
        found = lookup(re.sub(r"(?i)[\s_-]*(api|exchange|futures|spot)$", "", text))
    return found


def _finish(d: _Draft, default: str | None) -> Found | None:
    if d.key is None:
        return None
    return make(d.key, d.secret, d.passphrase, d.exchange, default)


def from_fields(fields: Sequence[tuple[str, str]], stated: str | None = None,
                default: str | None = None) -> list[Found]:
    """The credentials of named fields (a row, an object, a config's assignments)."""
    record_exchange = exchange_of(stated)
    groups: dict[str, _Draft] = {}
    unnamed: list[str] = []
    exchange_field: str | None = None
    has_pass_field = False
    for name, value in fields:
        role = names.role_of(name)
        prefix = ""
        if role is None and (prefixed := names.exchange_role(name)) is not None:
            prefix, role = prefixed
        if role is None:
            if value and len(value) >= 8:
                unnamed.append(value)
            continue
        if role == "exchange":
            exchange_field = exchange_field or value
            continue
        d = groups.setdefault(prefix, _Draft(exchange=prefix or None))
        if role == "key" and d.key is None and value.strip():
            d.key = value
        elif role == "secret" and d.secret is None and value.strip():
            d.secret = value
        elif role == "passphrase":
            has_pass_field = True
            d.passphrase = present(value) or d.passphrase or False
    stated_ex = record_exchange or exchange_of(exchange_field)
    out: list[Found] = []
    for d in groups.values():
        if d.passphrase is None and has_pass_field:
            d.passphrase = False
        d.exchange = d.exchange or stated_ex
        found = _finish(d, default)
        if found is not None:
            out.append(found)
    if not out and unnamed:
        out.extend(_by_shape(unnamed, stated_ex, default))
    return out


def _by_shape(values: list[str], stated: str | None, default: str | None) -> Iterator[Found]:
    """Pair unnamed values by shape: a value that fits a key shape with the first later
    value that fits the same exchange's secret shape (or the swapped pair)."""
    vals = [canonical(v) for v in values[:64]]
    used: set[int] = set()
    for i, k in enumerate(vals):
        if i in used or not (shapes_for_key_length(len(k)) or len(k) >= 32):
            continue
        for j in range(len(vals)):
            if j == i or j in used:
                continue
            shape = classify(k, vals[j])
            if shape is not None:
                used.update((i, j))
                d = _Draft(k, vals[j], None, stated)
                found = _finish(d, default)
                if found is not None:
                    yield found
                break




def from_text(text: str, stated: str | None = None, default: str | None = None,
              loose: bool = False) -> list[tuple[int, Found]]:
    """(line offset in the text, credential) of free text. `loose`: the text is a dump of
    credential lines, where two long random tokens on a line are a key and its secret
    even without a known shape."""
    pems: list[str] = []

    def hold(m: re.Match[str]) -> str:
        pems.append(m.group(0))
        return f" PEMBLOCK{len(pems) - 1} "

    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(lambda m: hold(m) + "\n" * m.group(0).count("\n"), text)
    record_ex = exchange_of(stated)
    out: list[tuple[int, Found]] = []
    cur = _Draft()
    context_ex: str | None = record_ex

    def close() -> None:
        nonlocal cur
        found = _finish(cur, default)
        if found is not None:
            out.append((cur.line, found))
        cur = _Draft(exchange=context_ex)

    def value_of(v: str) -> str:
        return pems[int(v[8:])] if v.startswith("PEMBLOCK") and v[8:].isdigit() else v

    for n, line in enumerate(text.splitlines()):
        m = _CCXT.search(line)
        if m and lookup(m.group(1)):
            if cur.key is not None:
                close()
            context_ex = lookup(m.group(1))
            cur.exchange = context_ex
        named = False
        for a in _SHORT.finditer(line):
            if _role_in(a.group("name"))[0] == "passphrase" and present(a.group("value")):
                named = True
                cur.passphrase = True
        for a in _ASSIGN.finditer(line):
            role, ex = _role_in(a.group("name"))
            if role is None:
                continue
            named = True
            value = value_of(a.group("value"))
            if role == "exchange":
                context_ex = exchange_of(value) or context_ex
                if cur.key is None:
                    cur.exchange = context_ex
                continue
            if role == "key":
                if cur.key is not None:
                    close()
                cur.key, cur.line = value, n
                cur.exchange = ex or cur.exchange or context_ex
            elif role == "secret":
                if cur.secret is not None:
                    close()
                cur.secret = value
                cur.exchange = cur.exchange or ex
            elif role == "passphrase":
                cur.passphrase = True
        if named:
            continue
        tokens = [value_of(t) for t in _SPLIT.split(line) if t]
        line_ex = next((e for t in tokens if len(t) < 20 and (e := lookup(t))), None)
        values = [t for t in tokens if len(t) >= 8 and not lookup(t)]
        if len(values) >= 2 and _pair_ok(values[0], values[1], loose):
            if cur.key is not None:
                close()
            cur = _Draft(values[0], values[1], None, line_ex or context_ex, n)
            if len(values) >= 3 or (loose and any(6 <= len(t) < 8 for t in tokens)):
                cur.passphrase = True
            close()
            continue
        for t in values:  # lone values: a key by shape, or the secret of the key before
            if cur.key is not None and cur.secret is None and classify(cur.key, t):
                cur.secret = t
            elif len(t) >= 18 and key_exchanges(t):
                if cur.key is not None:
                    close()
                cur.key, cur.line = t, n
                cur.exchange = line_ex or cur.exchange or context_ex
    if cur.key is not None:
        close()
    return out


def _role_in(name: str) -> tuple[str | None, str | None]:
    """The role a name gives (and the exchange its prefix names), trying its last words:
    `Binance API Key` -> (key, binance)."""
    words = name.strip().split()
    for start in range(max(0, len(words) - 4), len(words)):
        part = " ".join(words[start:])
        role = names.role_of(part)
        if role is not None:
            ex = exchange_of(" ".join(words[:start])) if start else None
            return role, ex
        prefixed = names.exchange_role(part)
        if prefixed is not None:
            return prefixed[1], prefixed[0]
    return None, None


def _pair_ok(a: str, b: str, loose: bool) -> bool:
    if classify(a, b) is not None:
        return True
    return loose and len(canonical(a)) >= MIN_LOOSE and len(canonical(b)) >= MIN_LOOSE


def extract(record: Record, default: str | None = None, loose: bool = False
            ) -> list[tuple[int, Found]]:
    """Every credential of a record, with the line offset inside the record's text (0
    for fields)."""
    out: list[tuple[int, Found]] = [(0, f) for f in from_fields(record.fields,
                                                                 record.exchange, default)]
    if record.text:
        seen = {(f.key, f.secret) for _, f in out}
        out.extend((n, f) for n, f in from_text(record.text, record.exchange, default, loose)
                   if (f.key, f.secret) not in seen)
    return out


class TablePlan:
    """How one table's rows become credentials, decided once from its header: the hot
    loop of a large CSV then only indexes cells. A header naming several credentials
    (BINANCE_KEY, OKX_KEY columns) is not `simple`: rows go through from_fields."""

    def __init__(self, header: Sequence[str], default: str | None = None) -> None:
        self.header = list(header)
        self.default = default
        roles: dict[str, list[int]] = {}
        prefixed = False
        for i, name in enumerate(header):
            role = names.role_of(name)
            if role is None and names.prefixed_role(name) is not None:
                prefixed = True
            if role is not None:
                roles.setdefault(role, []).append(i)
        self.key = roles.get("key", [None])[0]
        self.secret = roles.get("secret", [None])[0]
        self.passphrase = roles.get("passphrase", [None])[0]
        self.exchange = roles.get("exchange", [None])[0]
        self.simple = self.key is not None and not prefixed and all(
            len(v) == 1 for v in roles.values())

    def found_all(self, cells: Sequence[str]) -> list[Found]:
        """Every credential of one row (cells as wide as the header): a header that is not
        simple may name several."""
        if not self.simple:
            return from_fields(list(zip(self.header, cells)), None, self.default)
        one = self.found(cells)
        return [] if one is None else [one]

    def found(self, cells: Sequence[str]) -> Found | None:
        """The credential of one row of a simple header (cells as wide as the header)."""
        assert self.simple and self.key is not None
        stated = None if self.exchange is None else exchange_of(cells[self.exchange])
        pp = None if self.passphrase is None else present(cells[self.passphrase])
        return make(cells[self.key], None if self.secret is None else cells[self.secret], pp,
                    stated, self.default)
