"""How a batch of registry rows crosses the pipe from the reading process: by column, as a
few flat buffers (joined strings, concatenated 32-byte digests with a presence mask, packed
integers). Ten thousand small tuples through pickle cost both processes more than the
parsing itself; this way each side spends a few C-level calls per column.

Only fingerprints, names and line numbers travel here, never plaintext.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

DIGEST = 32
_SEP = "\x00"  # labels are printable and exchange names are ids: neither holds a NUL
_KINDS = {"exchange": "str", "label": "str", "key_sha256": "digest", "secret_sha256": "digest",
          "key_hmsl": "digest", "secret_hmsl": "digest", "has_passphrase": "flag",
          "line": "int"}
Packed = tuple[int, list[object]]


def pack(columns: Sequence[str], rows: Sequence[tuple[object, ...]]) -> Packed:
    """Rows of `columns` (then the line) as one buffer per column."""
    cols = list(zip(*rows)) if rows else [() for _ in columns] + [()]
    out: list[object] = []
    for name, values in zip([*columns, "line"], cols):
        kind = _KINDS[name]
        if kind == "str":
            out.append(_SEP.join(values))  # type: ignore[arg-type]
        elif kind == "digest":
            out.append((bytes(v is not None for v in values),
                        b"".join(v for v in values if v is not None)))  # type: ignore[misc]
        elif kind == "flag":
            out.append(bytes(2 if v is None else int(bool(v)) for v in values))
        else:
            out.append(array("q", values).tobytes())  # type: ignore[arg-type]
    return len(rows), out


def unpack(columns: Sequence[str], packed: Packed) -> list[tuple[object, ...]]:
    n, buffers = packed
    if n == 0:
        return []
    cols: list[list[object]] = []
    for name, buf in zip([*columns, "line"], buffers):
        kind = _KINDS[name]
        if kind == "str":
            cols.append(buf.split(_SEP))  # type: ignore[union-attr]
        elif kind == "digest":
            mask, data = buf  # type: ignore[misc]
            if all(mask):
                cols.append([data[i:i + DIGEST] for i in range(0, n * DIGEST, DIGEST)])
            else:
                it = iter(range(0, len(data), DIGEST))
                cols.append([data[(j := next(it)):j + DIGEST] if m else None for m in mask])
        elif kind == "flag":
            cols.append([None if b == 2 else bool(b) for b in buf])  # type: ignore[union-attr]
        else:
            cols.append(array("q", buf).tolist())  # type: ignore[arg-type]
    return list(zip(*cols))
