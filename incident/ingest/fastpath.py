"""The hot path of a large delimited dump: a block of rows at a time, column by column.

A million-row CSV is most of what an ingester spends its time on, and Python pays for
every call it makes per row. So a block of rows (a few MiB of plain, quote-free, ASCII
text) is split into columns once, and each check that `extract.make` does row by row is
done here for a whole group of rows in one C-level call: rows are grouped by the exchange
their record states (or, with none, by the lengths of key and secret), and a group passes
when one regex over the group's joined keys and one over its secrets show that every row
fits the shape `shapes.classify_canonical` would pick, and none looks like a placeholder.
Hashing and the integer prefixes go column-wide too, and the result is the wire format
(registry/wire.py) the parent inserts from.

Any row a group test cannot vouch for goes through `TablePlan.found`, the row-by-row
path, so the two give the same answers; a block with a non-ASCII byte goes that way as a
whole, a ragged row is named as a problem, and from the first quote on the rest of the
member is read by the csv module (a quoted field may span lines and blocks).
"""

from __future__ import annotations

import hashlib
import io
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import methodcaller
from typing import Any, BinaryIO, cast

from incident.errors import InputError, Place, Problems
from incident.ingest import extract
from incident.ingest.extract import TablePlan, exchange_of, fingerprints
from incident.ingest.formats.delimited import MAX_LINE, Bounded
from incident.ingest.interface import Found
from incident.registry import wire
from incident.ingest.shapes import BY_EXCHANGE, Shape, is_placeholder, shapes_for_key_length
from incident.secret import canonical
from incident.store.dumps import leak_flags

BLOCK = 4 << 20
NO_VALUE = frozenset(v.encode() for v in extract.NO_VALUE)  # as extract.present says
PASSPHRASE_EDGE = extract.PASSPHRASE_EDGE.encode()
_DIGEST = methodcaller("digest")
_GROUP_RE: dict[str, tuple[re.Pattern[bytes], re.Pattern[bytes]]] = {}
# (count per exchange, packed columns of the wire format, bytes read)
Batch = tuple[Counter[str], wire.Packed, int]


def _bytes_re(pattern: re.Pattern[str]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """A shape's regex for bytes: (one value, a whole column of values joined by
    newlines, each fitting)."""
    if pattern.pattern not in _GROUP_RE:
        _GROUP_RE[pattern.pattern] = (re.compile(pattern.pattern.encode()),
                                      re.compile(f"(?:(?:{pattern.pattern})\n)*".encode()))
    return _GROUP_RE[pattern.pattern]


def _misfits(pattern: re.Pattern[str], values: list[bytes]) -> set[int]:
    """The indexes of the values that do not fit the shape: none, by one regex over the
    whole column (the usual case), else one C-level match a value."""
    one, column = _bytes_re(pattern)
    if column.fullmatch(b"\n".join(values) + b"\n"):
        return set()
    return {i for i, m in enumerate(map(one.fullmatch, values)) if m is None}


def _placeholders(values: list[bytes]) -> set[int]:
    """The indexes of the shaped values extract._plausible would refuse: its quick test
    with C-level calls for all, the full placeholder test for the few it cannot clear."""
    lengths = list(map(len, values))
    most = max(4, min(lengths) // 8)  # extract._plausible's bar, for the shortest value
    counts = list(map(bytes.count, values, [v[:1] for v in values]))
    finds = list(map(bytes.find, values, [v[:8] for v in values], repeat(1)))
    if max(counts) <= most and max(finds) < 0 and min(lengths) > 8:
        return set()  # every value passes the quick test
    doubtful = {i for i, c in enumerate(counts) if c > most and c > max(4, lengths[i] // 8)}
    if max(finds) >= 0:
        doubtful.update(i for i, f in enumerate(finds) if f >= 0)
    if min(lengths) <= 8:
        doubtful.update(i for i, n in enumerate(lengths) if n <= 8)
    return {i for i in doubtful if is_placeholder(values[i].decode("ascii"), shaped=True)}


@dataclass
class Group:
    """Rows a group test vouched for: their positions, keys, secrets, passphrase cells
    and exchange."""

    positions: list[int]
    keys: list[bytes] = field(repr=False)
    secrets: list[bytes] | None = field(repr=False)
    passphrases: list[bytes] | None = field(repr=False)
    exchange: str


class _Table:
    """A block's rows, by column: from one split of the whole block when every line has
    the header's width (then a column is a slice with a step: no per-row work), else
    from the rows that do."""

    def __init__(self, positions: Sequence[int], width: int, flat: list[bytes] | None = None,
                 rows: list[list[bytes]] | None = None) -> None:
        self.positions, self.width, self.flat, self.rows = positions, width, flat, rows

    def col(self, j: int) -> list[bytes]:
        if self.flat is not None:
            return self.flat[j::self.width]
        assert self.rows is not None
        return [r[j] for r in self.rows]

    def row(self, i: int) -> list[bytes]:
        if self.flat is not None:
            return self.flat[i * self.width:(i + 1) * self.width]
        assert self.rows is not None
        return self.rows[i]


class FastTable:
    """Reads the rows of one delimited member, as a TablePlan would, a block at a time."""

    def __init__(self, name: str, plan: TablePlan, delimiter: str, width: int,
                 member_no: int, problems: Problems) -> None:
        assert plan.simple and plan.key is not None
        self.name = name
        self.plan = plan
        self.sep = delimiter.encode()
        self.width = width
        self.member_no = member_no
        self.problems = problems

    def blocks(self, raw: BinaryIO, header_line: int, start_line: int, end: int | None,
               fallback: Callable[[BinaryIO, int], Iterator[Batch]]) -> Iterator[Batch]:
        """Batches from `raw` (at `start_line`, up to byte `end`). From a block with a
        quote on, `fallback(stream, line)` reads the rest row by row."""
        line = start_line
        left = None if end is None else end - raw.tell()
        rest = b""
        while True:
            want = BLOCK if left is None else min(BLOCK, left)
            data = raw.read(want) if want > 0 else b""
            if left is not None:
                left -= len(data)
            block = rest + data
            if not block:
                return
            cut = block.rfind(b"\n") + 1 if data else len(block)
            if cut == 0:  # no newline yet: a line longer than a block
                if len(block) > 2 * BLOCK:  # the row-by-row reader names it
                    yield from fallback(_prepend(block, raw, left, self.name), line)
                    return
                rest = block
                continue
            block, rest = block[:cut], block[cut:]
            if line == 1 and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            if b'"' in block:
                yield from fallback(_prepend(block + rest, raw, left, self.name), line)
                return
            yield self._block(block, line, header_line)
            line += block.count(b"\n")
            if not data:
                return

    def _block(self, block: bytes, first: int, header_line: int) -> Batch:
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(block) > MAX_LINE and max(map(len, lines)) > MAX_LINE:  # as Bounded says
            raise InputError("a line longer than 1 MiB: not a text dump", Place(self.name))
        width, sep = self.width, self.sep
        if not lines:
            return self._pack([], [], len(block))
        seps = set(map(bytes.count, lines, repeat(sep)))
        if first > header_line and seps == {width - 1} and b"\r" not in block:
            # every line a whole row: one split for the block, columns by slicing
            flat = block.replace(b"\n", sep).split(sep)
            flat.pop()  # after the last newline
            table = _Table(range(first, first + len(lines)), width, flat=flat)
        else:
            rows = [x.rstrip(b"\r").split(sep) for x in lines]
            keep = [i for i, cells in enumerate(rows)
                    if len(cells) == width and first + i > header_line]
            for i, cells in enumerate(rows):  # name the ragged rows (not blank ones)
                if len(cells) != width and first + i > header_line and lines[i].strip():
                    self.problems.add(f"{len(cells)} columns, the header has {width}",
                                      first + i)
            table = _Table([first + i for i in keep], width, rows=[rows[i] for i in keep])
        if not block.isascii():
            everyone = range(len(table.positions))
            return self._pack([], self._slow_rows(table, everyone), len(block))
        return self._pack(*self._groups(table), len(block))

    def _groups(self, table: _Table) -> tuple[list[Group], list[tuple[int, Found]]]:
        """Rows vouched for by group, and the rest read row by row."""
        plan = self.plan
        ki, si, ei, pi = plan.key, plan.secret, plan.exchange, plan.passphrase
        assert ki is not None
        keys = table.col(ki)
        secrets = None if si is None else table.col(si)
        passphrases = None if pi is None else table.col(pi)
        if ei is not None:
            group_keys: list[Any] = table.col(ei)
        else:
            group_keys = list(zip(map(len, keys), map(len, secrets or keys)))
        by: dict[Any, list[int] | None] = {}
        if len(set(group_keys)) == 1:  # one group for the whole block: no per-row work
            by[group_keys[0]] = None
        else:
            for i, group_key in enumerate(group_keys):
                by.setdefault(group_key, []).append(i)  # type: ignore[union-attr]
        good: list[Group] = []
        slow: list[int] = []
        positions = table.positions
        for group_key, index in by.items():
            def pick(column: list[bytes] | None) -> list[bytes] | None:
                if column is None or index is None:
                    return column
                return [column[i] for i in index]

            g_keys = pick(keys)
            assert g_keys is not None
            g_secrets = pick(secrets)
            where = range(len(keys)) if index is None else index
            shape, exchange = self._shape_of(group_key, g_keys, ei is not None)
            if shape is None or exchange is None or (
                    g_secrets is not None and shape.secret_canonical is not canonical):
                slow += where  # (a PEM secret is canonicalised row by row)
                continue
            bad = _misfits(shape.key, g_keys) | _placeholders(g_keys)
            if g_secrets is not None:
                bad |= _misfits(shape.secret, g_secrets) | _placeholders(g_secrets)
            g_pass = pick(passphrases)
            if not bad:
                good.append(Group([positions[i] for i in where] if index is not None
                                  else list(positions), g_keys, g_secrets, g_pass, exchange))
                continue
            slow += [where[i] for i in sorted(bad)]
            fine = [i for i in range(len(g_keys)) if i not in bad]
            if fine:
                good.append(Group([positions[where[i]] for i in fine],
                                  [g_keys[i] for i in fine],
                                  None if g_secrets is None else [g_secrets[i] for i in fine],
                                  None if g_pass is None else [g_pass[i] for i in fine],
                                  exchange))
        return good, self._slow_rows(table, sorted(slow))

    def _shape_of(self, group_key: Any, keys: list[bytes], stated: bool
                  ) -> tuple[Shape | None, str | None]:
        """The shape every row of the group must fit, and the exchange it gives them."""
        default = self.plan.default
        if stated:
            name = exchange_of(group_key.decode("ascii", "replace")) or default
            if name is None:
                return None, None
            # the stated exchange's shape: if it fits, classify finds an unswapped shape
            shape = BY_EXCHANGE.get(name)
            return (shape, name) if shape is not None else (None, None)
        candidates = shapes_for_key_length(group_key[0])
        if not candidates:
            return None, None
        # the first shape in classify's order; a row it does not fit goes row by row
        return candidates[0], default or candidates[0].exchange

    def _slow_rows(self, table: _Table, which: Sequence[int]) -> list[tuple[int, Found]]:
        out = []
        for i in which:
            found = self.plan.found([c.decode("utf-8", "surrogateescape")
                                     for c in table.row(i)])
            if found is not None:
                out.append((table.positions[i], found))
        return out

    def _pack(self, good: list[Group], slow: list[tuple[int, Found]], read: int) -> Batch:
        """The wire format of pipeline.COLUMNS: member, key_sha256, secret_sha256,
        key_prefix, secret_prefix, exchange_name, flags, then the position."""
        keys: list[bytes] = []
        secrets: list[bytes] = []
        names: list[str] = []
        flags: list[int] = []
        positions: list[int] = []
        counts: Counter[str] = Counter()
        for group in good:
            n = len(group.keys)
            keys += group.keys
            if group.secrets is not None:
                secrets += group.secrets
            names += [group.exchange] * n
            counts[group.exchange] += n
            positions += group.positions
            if group.passphrases is None:
                flags += [leak_flags(None, False)] * n
            else:
                flags += [leak_flags(p.strip(PASSPHRASE_EDGE).lower() not in NO_VALUE, False)
                          for p in group.passphrases]
        key_digests = list(map(_DIGEST, map(hashlib.sha256, keys)))
        secret_mask = [self.plan.secret is not None] * len(keys)
        secret_digests = list(map(_DIGEST, map(hashlib.sha256, secrets)))
        for n, f in slow:
            key, secret, flag = fingerprints(f)
            key_digests.append(key)
            secret_mask.append(secret is not None)
            if secret is not None:
                secret_digests.append(secret)
            names.append(f.exchange)
            counts[f.exchange] += 1
            positions.append(n)
            flags.append(flag)
        count = len(key_digests)
        key_bytes = b"".join(key_digests)
        secret_bytes = b"".join(secret_digests)
        key_prefix = _prefixes(key_bytes)
        secret_prefix = _prefixes(secret_bytes)
        if not all(secret_mask):  # a prefix for every row; 0 where there is no secret
            it = iter(array("q", secret_prefix))
            secret_prefix = array("q", [next(it) if m else 0 for m in secret_mask]).tobytes()
        packed: wire.Packed = (count, [
            wire.ints([self.member_no] * count),
            wire.digests(bytes([1] * count), key_bytes),
            wire.digests(bytes(secret_mask), secret_bytes),
            key_prefix,
            wire.optints(bytes(secret_mask), secret_prefix),
            wire.strs(names),
            wire.ints(flags),
            wire.ints(positions)])
        return counts, packed, read


def _prefixes(digests: bytes) -> bytes:
    """The first 8 bytes of each 32-byte digest as a signed big-endian integer, in the
    machine's own int64 layout (array 'q'), for the whole column at once."""
    words = array("q", digests)  # 4 native int64 words a digest
    firsts = words[::4]
    if array("q", [1]).tobytes()[0] == 1:  # little-endian machine: the bytes were read
        firsts.byteswap()  # backwards
    return firsts.tobytes()


def _prepend(head: bytes, raw: BinaryIO, left: int | None, name: str) -> BinaryIO:
    """A block already read, put back in front of the stream, for the row-by-row reader."""
    return cast(BinaryIO, io.BufferedReader(Bounded(raw, name, left, head)))
