"""How a batch of registry rows crosses the pipe from the reading process: by column, as a
few flat buffers (joined strings, concatenated 32-byte digests with a presence mask, packed
integers). Ten thousand small tuples through pickle cost both processes more than the
parsing itself; this way each side spends a few C-level calls per column.

Only fingerprints, names and line numbers travel here, never plaintext.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

DIGEST = 32
_SEP = "\x00"  # labels are printable and exchange names are ids: neither holds a NUL
_KINDS = {"exchange": "str", "label": "str", "key_sha256": "digest", "secret_sha256": "digest",
          "key_hmsl": "digest", "secret_hmsl": "digest", "has_passphrase": "flag",
          "line": "int", "exchange_name": "str", "member": "int", "flags": "int",
          "key_prefix": "int", "secret_prefix": "optint"}
Buffer = str | bytes | tuple[bytes, bytes]
Packed = tuple[int, list[Buffer]]


# One buffer of a column, by kind. A writer that has its column already joined (the
# ingest fast path) builds the buffers with these directly.


def strs(values: Sequence[str]) -> Buffer:
    return _SEP.join(values)


def digests(mask: bytes, joined: bytes) -> Buffer:
    """Digests: a presence byte per row, and the present ones concatenated."""
    return mask, joined


def ints(values: Sequence[int]) -> Buffer:
    return array("q", values).tobytes()


def optints(mask: bytes, words: bytes) -> Buffer:
    """Integers that may be missing: a presence byte per row, and an int64 per row (any
    value where missing)."""
    return mask, words


def pack(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> Packed:
    """Rows of `columns` (then the line) as one buffer per column."""
    cols: list[tuple[Any, ...]] = list(zip(*rows)) if rows else [()] * (len(columns) + 1)
    out: list[Buffer] = []
    for name, values in zip([*columns, "line"], cols):
        kind = _KINDS[name]
        if kind == "str":
            out.append(strs(values))
        elif kind == "digest":
            out.append(digests(bytes(v is not None for v in values),
                               b"".join(v for v in values if v is not None)))
        elif kind == "flag":
            out.append(bytes(2 if v is None else int(bool(v)) for v in values))
        elif kind == "optint":
            out.append(optints(bytes(v is not None for v in values),
                               ints([0 if v is None else v for v in values])))  # type: ignore[arg-type]
        else:
            out.append(ints(values))
    return len(rows), out


def unpack(columns: Sequence[str], packed: Packed) -> list[tuple[Any, ...]]:
    return list(zip(*unpack_columns(columns, packed)))


def unpack_columns(columns: Sequence[str], packed: Packed) -> list[list[Any]]:
    """The values of each column (then the lines), as lists."""
    n, buffers = packed
    if n == 0:
        return [[] for _ in range(len(columns) + 1)]
    cols: list[list[Any]] = []
    for name, buf in zip([*columns, "line"], buffers):
        kind = _KINDS[name]
        if kind == "str":
            assert isinstance(buf, str)
            cols.append(buf.split(_SEP))
        elif kind == "digest":
            assert isinstance(buf, tuple)
            cols.append(_digests(n, *buf))
        elif kind == "flag":
            assert isinstance(buf, bytes)
            cols.append([None if b == 2 else bool(b) for b in buf])
        elif kind == "optint":
            assert isinstance(buf, tuple)
            mask, ints = buf[0], array("q", buf[1]).tolist()
            cols.append(ints if all(mask) else [v if m else None for m, v in zip(mask, ints)])
        else:
            assert isinstance(buf, bytes)
            cols.append(array("q", buf).tolist())
    return cols


def _digests(n: int, mask: bytes, data: bytes) -> list[bytes | None]:
    if all(mask):
        return [data[i:i + DIGEST] for i in range(0, n * DIGEST, DIGEST)]
    starts = iter(range(0, len(data), DIGEST))
    return [data[(j := next(starts)):j + DIGEST] if present else None for present in mask]
