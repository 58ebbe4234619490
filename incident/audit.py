"""The audit log: an append-only record of every exchange action, chained by SHA-256.

Each entry records who (the OS user), what, when (UTC), the key by label and fingerprint
prefix (never a value), the outcome, and the SHA-256 and endpoint of every raw response.
Its `sha256` is the SHA-256 of its canonical JSON (RFC 8785: sorted keys, no whitespace;
entries hold no floats), which includes the previous entry's `sha256`, so an edited,
deleted, inserted or reordered entry breaks the chain. SQLite triggers refuse UPDATE and
DELETE on the table.

A write action is logged twice: `start` before the call and `end` after it, so a run killed
in between leaves a start without an end, and whoever resumes knows to check the effect.

`verify` names every entry edited, deleted, inserted or reordered (entries removed from the
end only against a head known from elsewhere); `export` writes the log as JSON Lines that
`read_export` and `verify` check the same way, away from the database.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, Literal

from incident.errors import InputError, Place, Problems
from incident.files import atomic_write
from incident.exchanges.interface import RawResponse, response_json
from incident.store.db import utc_now

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "action", "phase", "label", "exchange", "key_prefix",
          "outcome", "detail", "prev_sha256")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: keys sorted by UTF-16 code unit, no whitespace, strings
    escaped only where JSON must. Floats are refused (TypeError naming their path, e.g.
    `detail.weight`): RFC 8785 formats numbers as JavaScript does, Python otherwise."""
    out: list[str] = []
    _write(value, "", out)
    return "".join(out).encode("utf-8")


def _write(value: Any, path: str, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, float):
        raise TypeError(f"{path or 'value'}: a float; audit entries hold integers only")
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{path or 'value'}: a key that is not a string")
        out.append("{")
        for n, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            out.append(("," if n else "") + json.dumps(key, ensure_ascii=False) + ":")
            _write(value[key], f"{path}.{key}" if path else key, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for n, item in enumerate(value):
            out.append("," if n else "")
            _write(item, f"{path}[{n}]", out)
        out.append("]")
    else:
        raise TypeError(f"{path or 'value'}: a {type(value).__name__}, not a JSON value")


def actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "unknown"


@dataclass(frozen=True)
class Entry:
    id: int
    sha256: str


def append(conn: sqlite3.Connection, *, action: str, phase: str, label: str | None = None,
           exchange: str | None = None, key_sha256: bytes | None = None,
           outcome: str | None = None, detail: Mapping[str, Any] | None = None,
           responses: Iterable[RawResponse] = ()) -> Entry:
    """Append one entry, inside the caller's write transaction."""
    prev = conn.execute("SELECT id, sha256 FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    body = dict(detail or {})
    listed = [response_json(r) for r in responses]
    if listed:
        body["responses"] = listed
    entry_id = (int(prev[0]) + 1) if prev else 1
    entry: dict[str, Any] = {
        "id": entry_id,
        "at": utc_now(),
        "actor": actor(),
        "action": action,
        "phase": phase,
        "label": label,
        "exchange": exchange,
        "key_prefix": key_sha256.hex()[:12] if key_sha256 else None,
        "outcome": outcome,
        "detail": body,
        "prev_sha256": prev[1] if prev else GENESIS,
    }
    digest = hashlib.sha256(canonical(entry)).hexdigest()
    conn.execute(f"INSERT INTO audit_log ({', '.join(FIELDS)}, sha256) VALUES "
                 f"({', '.join('?' * (len(FIELDS) + 1))})",
                 (*(entry[f] if f != "detail" else canonical(body).decode() for f in FIELDS),
                  digest))
    return Entry(entry_id, digest)


def entries(conn: sqlite3.Connection, label: str | None = None, action: str | None = None,
            last: int | None = None) -> list[dict[str, Any]]:
    """Entries in id order: all, or one label's or action's, or the `last` N of those. A
    detail that is not JSON (an edited row) is kept as its text, so it fails `verify`."""
    where = [(f"{name} = ?", value) for name, value in (("label", label), ("action", action))
             if value is not None]
    sql = f"SELECT {', '.join(FIELDS)}, sha256 FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(w for w, _ in where)
    sql += " ORDER BY id" + (" DESC LIMIT ?" if last is not None else "")
    args = [v for _, v in where] + ([last] if last is not None else [])
    out = []
    for row in conn.execute(sql, args):
        item = dict(zip((*FIELDS, "sha256"), row))
        try:
            item["detail"] = json.loads(item["detail"])
        except (TypeError, ValueError):
            pass
        out.append(item)
    return out[::-1] if last is not None else out


def open_writes(conn: sqlite3.Connection, label: str, action: str) -> bool:
    """Whether a write on `label` started and never recorded its end (a killed run)."""
    row = conn.execute("SELECT phase FROM audit_log WHERE label = ? AND action = ? AND phase "
                       "IN ('start', 'end') ORDER BY id DESC LIMIT 1", (label, action)
                       ).fetchone()
    return bool(row and row[0] == "start")


# Verifying -----------------------------------------------------------------------------

Kind = Literal["edited", "deleted", "inserted", "reordered", "truncated"]


@dataclass(frozen=True)
class Problem:
    """One sign of tampering: the entry it names, and its line in an export file."""

    entry_id: int | None
    line: int | None
    kind: Kind
    message: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int                       # entries read (stubs included)
    head: str                        # the last entry's sha256; GENESIS for an empty log
    problems: list[Problem] = field(default_factory=list)
    omitted: int = 0                 # stubs: other labels' entries in a --label export


@dataclass(frozen=True)
class _Item:
    line: int
    id: int
    sha: str
    prev: str
    stub: bool
    hashes: bool                     # its content hashes to its recorded sha256


def _item(line: int, entry: Mapping[str, Any]) -> _Item:
    stub = entry.get("omitted") is True
    hashes = stub
    if not stub:
        try:
            body = canonical({f: entry.get(f) for f in FIELDS})
            hashes = hashlib.sha256(body).hexdigest() == entry.get("sha256")
        except (TypeError, UnicodeEncodeError):  # a float, a lone surrogate: not ours
            hashes = False
    return _Item(line, int(entry["id"]), str(entry.get("sha256")),
                 str(entry.get("prev_sha256")), stub, hashes)


def verify(entries: Iterable[Mapping[str, Any]], expect_head: str | None = None, *,
           lines: bool = False) -> Verdict:
    """Check every entry's hash and every link, and name what was edited, deleted, inserted
    or reordered. The chain cannot show entries removed from its end: pass `expect_head`,
    a sha256 known from elsewhere (a previous verify, a report), to check for that. With
    `lines`, the entries are an export file's lines, and problems name the line."""
    items = [_item(n, e) for n, e in enumerate(entries, 1)]
    problems: list[Problem] = []

    def add(item: _Item, kind: Kind, message: str) -> None:
        problems.append(Problem(item.id, item.line if lines else None, kind, message))

    def at(item: _Item) -> str:
        return f" (line {item.line})" if lines else ""

    for it in items:
        if not it.hashes:
            add(it, "edited", f"entry {it.id} was edited: its content does not hash to its "
                              "recorded sha256")
    for a, b in pairwise(items):
        if b.id < a.id:
            add(b, "reordered", f"entry {b.id}{at(b)} comes after entry {a.id}{at(a)}: the "
                                "entries were reordered")
    chain = _without_duplicates(sorted(items, key=lambda i: (i.id, i.line)), add)
    by_sha = {it.sha: it for it in chain}
    explained: set[int] = set()
    for i, e in enumerate(chain):
        p = chain[i - 1] if i else None
        n = chain[i + 1] if i + 1 < len(chain) else None
        q = by_sha.get(e.prev)
        if {e.id, p and p.id, q and q.id} & explained:
            continue
        if q is not None and q.id > e.id:
            add(e, "reordered", f"entries {e.id} and {q.id} were reordered: entry {e.id} "
                                f"links to entry {q.id}, which comes after it")
            explained |= {e.id, q.id}
        elif p is None:
            if e.id > 1:
                add(e, "deleted", f"entries before {e.id} were removed: the log starts at "
                                  f"entry {e.id}" + ("" if e.prev == GENESIS else
                                                     ", which does not link to its start"))
            elif e.prev != GENESIS and e.hashes:
                add(e, "inserted", f"entry {e.id} was inserted (or replaced): it hashes "
                                   "correctly but does not link to the start of the log")
                explained.add(e.id)
        elif e.id > p.id + 1:
            gone = (f"entry {p.id + 1} was" if e.id == p.id + 2 else
                    f"entries {p.id + 1} and {e.id - 1} were" if e.id == p.id + 3 else
                    f"entries {p.id + 1} to {e.id - 1} were")
            add(e, "deleted", f"entry {e.id} follows entry {p.id}: {gone} deleted")
        elif e.prev == p.sha:
            pass
        elif q is None and not (e.hashes and p.hashes):
            pass  # the edit already named explains the broken link
        elif e.hashes and not (n.prev == e.sha if n else expect_head == e.sha):
            # Nothing after it vouches for it: it is the odd one out.
            add(e, "inserted", f"entry {e.id} was inserted (or replaced): it hashes correctly "
                               f"but links to {f'entry {q.id}' if q else 'no entry'}, not to "
                               f"entry {p.id}")
            explained.add(e.id)
        elif q is not None:  # links to an earlier entry: the ones between are not its past
            between = (f"entry {p.id} was" if q.id == p.id - 1 else
                       f"entries {q.id + 1} and {p.id} were" if q.id == p.id - 2 else
                       f"entries {q.id + 1} to {p.id} were")
            add(p, "inserted", f"entry {e.id} links to entry {q.id}: {between} inserted "
                               "before it")
        else:
            add(p, "edited", f"entry {p.id} was replaced (edited and re-hashed): entry "
                             f"{e.id} records another sha256 for the entry before it")
    head = chain[-1].sha if chain else GENESIS
    if expect_head is not None and expect_head.lower() not in {it.sha for it in items}:
        where = f"the log ends at entry {chain[-1].id}" if chain else "the log is empty"
        problems.append(Problem(chain[-1].id if chain else None,
                                chain[-1].line if chain and lines else None, "truncated",
                                f"{where}; the expected head {expect_head.lower()[:16]}... "
                                "is missing: entries after it were removed"))
    problems.sort(key=lambda p: p.entry_id if p.entry_id is not None else 1 << 62)
    return Verdict(not problems, len(items), head, problems,
                   sum(1 for it in items if it.stub))


def _without_duplicates(items: list[_Item], add: Any) -> list[_Item]:
    """One item per id (items sorted by id): of two with one id, the one the next entry
    links to is kept, and the other named as inserted."""
    linked = {it.prev for it in items}
    out: list[_Item] = []
    for it in items:
        if not out or out[-1].id != it.id:
            out.append(it)
            continue
        kept = out[-1]
        if (it.sha in linked and kept.sha not in linked
                or it.hashes and not kept.hashes and kept.sha not in linked):
            out[-1], it, kept = it, kept, it
        if it.sha == kept.sha:
            message = f"entry {it.id} on line {it.line} repeats line {kept.line}"
        elif kept.sha in linked:
            message = (f"entry {it.id} on line {it.line} was inserted: the entry after it "
                       f"follows the entry {it.id} on line {kept.line}")
        else:
            message = (f"entry {it.id} is on lines {kept.line} and {it.line}: one of them "
                       "was inserted")
        add(it, "inserted", message)
    return out


# Export --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Head:
    count: int                       # entries written whole
    sha256: str                      # the last entry's: the log's head (GENESIS if empty)
    omitted: int = 0                 # entries of other labels, written as stubs


def export(conn: sqlite3.Connection, out: Path, label: str | None = None) -> Head:
    """Write the log as JSON Lines, one canonical entry (with its sha256) a line, in id
    order, atomically and 0600. With `label`, other labels' entries are written as stubs
    (id, prev_sha256, sha256, "omitted": true), so the chain still verifies whole."""
    count = omitted = 0
    head = GENESIS

    def write(f: IO[bytes]) -> None:
        nonlocal count, omitted, head
        for entry in entries(conn):
            if label is None or entry["label"] == label:
                line: Mapping[str, Any] = entry
                count += 1
            else:
                line = {"id": entry["id"], "omitted": True,
                        "prev_sha256": entry["prev_sha256"], "sha256": entry["sha256"]}
                omitted += 1
            f.write(canonical(line) + b"\n")
            head = entry["sha256"]

    atomic_write(Path(out), write)
    return Head(count, head, omitted)


_TEXT = ("at", "actor", "action", "phase")
_OPTIONAL_TEXT = ("label", "exchange", "key_prefix", "outcome")
_STUB = {"id", "omitted", "prev_sha256", "sha256"}


def read_export(path: Path) -> list[dict[str, Any]]:
    """An export's entries, for `verify(..., lines=True)`. A line that is not an entry is
    an InputError naming the line (never quoting it); every such line is listed."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(name)) from e
    out, problems = read_export_lines(data, name)
    if problems.total == 1:
        raise problems.kept[0]
    if problems:
        more = problems.total - len(problems.kept)
        raise InputError(f"{problems.total} lines are not audit entries:\n  "
                         + "\n  ".join(map(str, problems.kept))
                         + (f"\n  ... and {more} more" if more else ""), Place(name))
    return out


def read_export_lines(data: bytes, source: str) -> tuple[list[dict[str, Any]], Problems]:
    """An export already read (a file in an evidence bundle): its entries, and its lines
    that are not entries, each named by `source` and line, never quoted."""
    problems = Problems(source)
    out: list[dict[str, Any]] = []
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    for n, raw in enumerate(raw_lines, 1):
        try:
            item = json.loads(raw.decode("utf-8"), parse_constant=_refuse,
                              object_pairs_hook=_unique_keys)
        except UnicodeDecodeError:
            problems.add("not UTF-8", n)
            continue
        except ValueError:
            problems.add("not JSON", n)
            continue
        why = _malformed(item)
        if why:
            problems.add(why, n)
        else:
            out.append(item)
    return out, problems


def _refuse(constant: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key twice")
    return out


def _malformed(item: Any) -> str | None:
    """What makes a parsed line no entry, naming only our own field names."""
    if not isinstance(item, dict):
        return "not a JSON object"
    wanted = _STUB if item.get("omitted") is True else {*FIELDS, "sha256"}
    missing = sorted(wanted - item.keys())
    if missing:
        return f"no '{missing[0]}'"
    if item.keys() - wanted:
        return "a field that audit entries do not have"
    if not isinstance(item["id"], int) or isinstance(item["id"], bool) or item["id"] < 1:
        return "'id' is not a positive integer"
    for name in ("prev_sha256", "sha256"):
        if not isinstance(item[name], str) or not _SHA256.fullmatch(item[name]):
            return f"'{name}' is not 64 lowercase hex digits"
    if wanted is _STUB:
        return None
    for name in _TEXT:
        if not isinstance(item[name], str):
            return f"'{name}' is not a string"
    for name in _OPTIONAL_TEXT:
        if item[name] is not None and not isinstance(item[name], str):
            return f"'{name}' is not a string or null"
    return None
