"""Ingest: each SOURCE named on the command line becomes one dump, whole or not at all.

For each source, in this process: list its members (fetching URLs and tweets), take the
dump's SHA-256 (a re-ingest of the same bytes adds nothing), then in child processes:
open archives, recognise formats, read records, extract credentials and fingerprint them.
Only fingerprints, names, counts and places cross back; this process writes them to the
store in one transaction. A large plain CSV is read by two children, a half each.

One source failing (unreadable, a server down) does not stop the others: its failure is
reported with the place and the exit code it maps to.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from incident.errors import IncidentError, InputError, Place, Problems
from incident.exchanges.names import resolve
from incident.fingerprint import hmsl_many
from incident.ingest import archives
from incident.ingest.decode import bom_encoding
from incident.ingest.extract import TablePlan, extract, fingerprints
from incident.ingest.fastpath import Batch, FastTable
from incident.ingest.formats import detect
from incident.ingest.formats.delimited import Delimited
from incident.ingest.interface import Found, Member, SourceOptions, SourceState
from incident.ingest.sources import shown, source_for
from incident.registry import wire
from incident.registry.readers import lines_before, quote_free_cuts
from incident.store import Store
from incident.store import dumps as sql
from incident.store.db import utc_now
from incident.streams import Send, child_streams

BATCH = 10_000
BULK_MIN_ROWS = 50_000
BYTES_PER_ROW_MIN = 200
SPLIT_MIN_BYTES = 8 << 20
READERS = 2
COLUMNS = ("member", "key_sha256", "secret_sha256", "key_prefix", "secret_prefix",
           "exchange_name", "flags")
HMSL_COLUMNS = (*COLUMNS, "key_hmsl", "secret_hmsl")  # ingest --hmsl
Progress = Callable[[int, int], None]  # (bytes read, credentials found)


@dataclass(frozen=True)
class IngestOptions:
    name: str | None = None
    exchange: str | None = None  # for records that name none (before key shapes)
    strict: bool = False
    hmsl: bool = False  # also HasMySecretLeaked fingerprints (scrypt: ~200 a second a core)
    sources: SourceOptions = field(default_factory=SourceOptions)


@dataclass(frozen=True)
class DumpResult:
    id: int
    name: str
    source: str
    kind: str
    sha256: str
    size: int
    formats: list[str]
    credentials: int
    per_exchange: dict[str, int]
    rejected: int
    rejects: list[str]  # the first few, by place: "dump.csv:12: 3 columns, ..."
    ingested_at: str
    already: bool = False  # the same bytes were ingested before, as this dump
    skipped: list[str] = field(default_factory=list)  # links a source could not follow
    hmsl: bool = False  # its leaks carry hmsl fingerprints

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "kind": self.kind,
                "sha256": self.sha256, "size": self.size, "formats": self.formats,
                "credentials": self.credentials, "per_exchange": self.per_exchange,
                "rejected": self.rejected, "rejects": self.rejects,
                "ingested_at": self.ingested_at, "already_ingested": self.already,
                "skipped": self.skipped, "hmsl": self.hmsl}


@dataclass(frozen=True)
class NothingNew:
    source: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "nothing_new": self.reason}


@dataclass(frozen=True)
class SourceFailure:
    source: str
    error: IncidentError

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "error": str(self.error),
                "exit_code": int(self.error.exit_code)}


def ingest(store: Store, specs: list[str], options: IngestOptions,
           progress: Progress | None = None) -> list[DumpResult | NothingNew | SourceFailure]:
    default = resolve(options.exchange) if options.exchange else None
    out: list[DumpResult | NothingNew | SourceFailure] = []
    for spec in specs:
        named = options
        if options.name and len(specs) > 1:  # one name for several dumps: tell them apart
            named = replace(options, name=f"{options.name}: {shown(spec)}")
        try:
            out.append(ingest_one(store, spec, named, default, progress))
        except IncidentError as e:
            out.append(SourceFailure(shown(spec), e))
        except Exception as e:  # noqa: BLE001 - one source's bug must not stop the others
            unexpected = IncidentError(f"unexpected error ({type(e).__name__}); run with "
                                       "--debug for a traceback")
            unexpected.__cause__ = e  # --debug shows its frames, never its message
            out.append(SourceFailure(shown(spec), unexpected))
    return out


def ingest_one(store: Store, spec: str, options: IngestOptions, default: str | None,
               progress: Progress | None) -> DumpResult | NothingNew:
    label = shown(spec)  # what is stored and printed (a URL's query may hold a token)
    state = SourceState(sql.load_state(store.conn, label))
    source = source_for(spec, options.sources, state)
    tops = list(source.members())
    skipped = list(source.skipped)
    if not tops and source.kind == "twitter":
        return NothingNew(label, "no new tweets since the last run")
    if not tops:
        raise InputError("nothing to ingest: an empty directory", Place(label))
    digest, size = _digest(tops, spec)
    existing = sql.dump_with_sha256(store.conn, digest)
    if existing is not None:
        return _result(store, existing[0], already=True, skipped=skipped)
    name = options.name or label
    # --hmsl: one reader; its scrypt threads keep every core busy
    ranges = [(0, None)] if options.hmsl else _split(tops)
    args = [(tops, default, options.strict, options.sources.max_bytes, start, end,
             options.hmsl) for start, end in ranges]
    columns = HMSL_COLUMNS if options.hmsl else COLUMNS
    stream: Generator[Any, None, None] = child_streams(_read, args)
    now = utc_now()
    try:
        with store.write() as conn:
            again = sql.dump_with_sha256(conn, digest)  # another process, meanwhile
            if again is not None:
                raise _Already(again[0])
            dump_id = sql.begin_dump(conn, name, label, source.kind, digest, size, now,
                                     options.hmsl)
            before = sql.last_leak_id(conn)
            writer = sql.leak_writer(conn, dump_id, options.hmsl)
            if size // BYTES_PER_ROW_MIN >= max(BULK_MIN_ROWS, sql.count_leaks(conn)):
                sql.drop_leak_indexes(conn)  # built again by the first lookup
            formats: set[str] = set()
            per_exchange: Counter[str] = Counter()
            rejects: list[tuple[str, int | None, str | None, str]] = []
            rejected = done = found = 0
            for message in stream:
                kind = message[0]
                if kind == "batch":  # rows go in as they came: no per-row work here
                    _, packed, counts, read = message
                    writer.columns(wire.unpack_columns(columns, packed))
                    per_exchange.update(counts)
                    found += packed[0]
                    done += read
                    if progress:
                        progress(done, found)
                elif kind == "member":
                    _, member_no, member_name, fmt, unit = message
                    sql.add_member(conn, dump_id, member_no, member_name, fmt, unit)
                    formats.add(fmt)
                elif kind == "failed":  # a member of many could not be read: drop its part
                    _, member_no, member_name, position, reason = message
                    gone = sql.delete_member_leaks(conn, before, member_no)
                    per_exchange.subtract(gone)
                    found -= sum(gone.values())
                    rejected += 1
                    rejects.append((member_name, position, None, reason))
                elif kind == "problems":
                    _, member_name, kept, total = message
                    rejected += total
                    rejects.extend((member_name, line, column, reason)
                                   for reason, line, column in kept)
            after = sql.last_leak_id(conn)
            first, last = (before + 1, after) if after > before else (None, None)
            sql.finish_dump(conn, dump_id, sorted(formats), found,
                            {k: v for k, v in per_exchange.items() if v > 0}, rejected,
                            rejects, first, last)
            if state.values:
                sql.save_state(conn, label, state.values, now)
    except _Already as already:
        return _result(store, already.dump_id, already=True, skipped=skipped)
    finally:
        stream.close()
    return _result(store, dump_id, skipped=skipped)


class _Already(Exception):
    """The same bytes were stored by another process while these were read."""

    def __init__(self, dump_id: int) -> None:
        self.dump_id = dump_id


def _digest(tops: list[Member], root: str) -> tuple[bytes, int]:
    """The dump's SHA-256: of its bytes when it is one file, page or archive; else of a
    manifest (each member's name below `root` and its SHA-256, a line each, in order),
    so a folder named `dumps` or `/home/me/dumps` is the same dump. And its size."""
    hashes: list[tuple[str, bytes]] = []
    size = 0
    for member in tops:
        h = hashlib.sha256()
        with member.open() as raw:
            while chunk := raw.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        hashes.append((member.name, h.digest()))
    if len(hashes) == 1:
        return hashes[0][1], size
    manifest = "".join(f"{n.removeprefix(root).lstrip('/')}\t{d.hex()}\n"
                       for n, d in hashes)
    return hashlib.sha256(manifest.encode("utf-8")).digest(), size


def _split(tops: list[Member]) -> list[tuple[int, int | None]]:
    """Byte ranges for parallel readers: only a single large quote-free CSV splits."""
    whole: list[tuple[int, int | None]] = [(0, None)]
    if len(tops) != 1 or (tops[0].size or 0) < SPLIT_MIN_BYTES:
        return whole
    member = tops[0]
    if archives.kind_of(member) is not None or not isinstance(detect(member), Delimited) \
            or bom_encoding(member.head()[:4]) in ("utf-16", "utf-32"):  # 2-byte units:
        return whole  # a cut at a newline byte may fall inside one
    header_line, _, cells = Delimited().header(member)
    if not TablePlan(cells).simple:
        return whole
    with member.open() as raw:
        for _ in range(header_line):
            raw.readline()
        return quote_free_cuts(raw, member.size or 0, raw.tell(), READERS) or whole


class StrictProblems(Problems):
    """--strict: the first bad record stops the dump."""

    def add(self, message: str, line: int | None = None, column: str | None = None) -> None:
        raise InputError(message, Place(self.source, line, column))


def _read(send: Send, tops: list[Member], default: str | None, strict: bool, cap: int,
          start: int = 0, end: int | None = None, hmsl: bool = False) -> None:
    """In a child process: read every member (or the byte range [start, end) of the one
    CSV) and send fingerprints. Messages: ("member", number, name, format, unit),
    ("batch", packed rows, count per exchange, bytes read), ("failed", number, name,
    position, reason), ("problems", name, kept, total). Members are numbered in reading
    order, the same in every reader (two readers of one file both call it 1).

    A member that cannot be read is a "failed" record and the others are still read;
    when none could be read, the dump fails with the first reason. --strict: the first
    failure fails the dump. hmsl: rows carry hmsl fingerprints too (HMSL_COLUMNS)."""
    failures: list[InputError] = []
    read_any = False
    index = 0

    def failed(error: InputError, number: int) -> None:
        if strict:
            raise error
        failures.append(error)
        send(("failed", number, error.place.source if error.place else "",
              error.place.line if error.place else None, error.message))

    for top in tops:
        try:
            for item in archives.expand(top, cap):
                if isinstance(item, archives.Unreadable):
                    failed(InputError(item.reason, Place(item.name)), 0)
                    continue
                index += 1
                try:
                    _read_member(send, item, index, default, strict, start, end, hmsl)
                    read_any = True
                except InputError as e:
                    failed(e, index)
        except InputError as e:  # an archive that cannot be opened at all
            failed(e, 0)
    if failures and not read_any:
        raise failures[0]


def _read_member(send: Send, member: Member, index: int, default: str | None, strict: bool,
                 start: int, end: int | None, hmsl: bool) -> None:
    problems: Problems = (StrictProblems if strict else Problems)(member.name, limit=100)
    fmt = detect(member)
    if fmt is None:
        if member.size == 0 or not member.head().strip():
            raise InputError("empty: nothing to read", Place(member.name))
        raise InputError("binary data or an unknown format; not read", Place(member.name))
    send(("member", index, member.name, fmt.name, fmt.unit))
    try:
        for counts, packed, read in _batches(member, index, fmt, problems, default, start,
                                             end, hmsl):
            if packed[0] or read:
                send(("batch", packed, counts, read))
    finally:
        if problems:
            send(("problems", member.name, problems.as_tuples(), problems.total))


def _packed(rows: list[tuple[Any, ...]], read: int) -> Batch:
    """Rows of _row, or of _row_hmsl: their plaintext becomes hmsl fingerprints here, a
    batch at a time on every core, and goes no further."""
    if rows and len(rows[0]) > len(COLUMNS) + 1:
        values = [r[7] for r in rows] + [r[8] for r in rows if r[8] is not None]
        digests = iter(hmsl_many(values))
        keys = [next(digests) for _ in rows]
        rows = [(*r[:7], k, None if r[8] is None else next(digests), r[9])
                for r, k in zip(rows, keys)]
        del values
        return Counter(r[5] for r in rows), wire.pack(HMSL_COLUMNS, rows), read
    return Counter(r[5] for r in rows), wire.pack(COLUMNS, rows), read


def _row(index: int, f: Found, position: int) -> tuple[Any, ...]:
    """A credential as the store keeps it (COLUMNS, then the position)."""
    k, s, flags = fingerprints(f)
    return (index, k, s, sql.prefix(k), None if s is None else sql.prefix(s), f.exchange,
            flags, position)


def _row_hmsl(index: int, f: Found, position: int) -> tuple[Any, ...]:
    """_row with the canonical key and secret before the position, for _packed to hash."""
    row = _row(index, f, position)
    return (*row[:7], f.key, f.secret, position)


def _batches(member: Member, index: int, fmt: Any, problems: Problems, default: str | None,
             start: int, end: int | None, hmsl: bool) -> Iterator[Batch]:
    """Batches of fingerprinted rows, packed for the wire. `index`: the member's number
    (its rows carry it)."""
    row = _row_hmsl if hmsl else _row
    if isinstance(fmt, Delimited):
        yield from _table_batches(member, index, fmt, problems, default, start, end, row)
        return
    rows: list[tuple[Any, ...]] = []
    loose = fmt.name == "text"
    by_line = fmt.unit == "line"  # a line offset inside a record moves the position only
    for record in fmt.records(member, problems):  # when the position counts lines
        for offset, f in extract(record, default, loose):
            rows.append(row(index, f, record.position + offset if by_line else
                            record.position))
        if len(rows) >= BATCH:
            yield _packed(rows, 0)
            rows = []
    yield _packed(rows, member.size or 0)


def _table_batches(member: Member, index: int, fmt: Delimited, problems: Problems,
                   default: str | None, start: int, end: int | None,
                   row: Callable[[int, Found, int], tuple[Any, ...]] = _row
                   ) -> Iterator[Batch]:
    header_line, delimiter, cells = fmt.header(member)
    plan = TablePlan(cells, default)
    with member.open() as raw:
        first_line = 1
        if start:
            first_line = lines_before(raw, start) + 1
            raw.seek(start)

        def by_rows(stream: BinaryIO, line: int, stop: int | None = None) -> Iterator[Batch]:
            """Row by row, through the csv module: quoted fields, UTF-16, any header."""
            rows: list[tuple[Any, ...]] = []
            for n, values in fmt.rows(member, problems, stream, header_line, delimiter,
                                      len(cells), line, stop):
                rows += (row(index, f, n) for f in plan.found_all(values))
                if len(rows) >= BATCH:
                    yield _packed(rows, 0)
                    rows = []
            yield _packed(rows, 0)

        bom = bom_encoding(raw.peek(4)[:4] if hasattr(raw, "peek") else b"")
        if not plan.simple or bom in ("utf-16", "utf-32") or row is _row_hmsl:
            yield from by_rows(raw, first_line, end)
            yield Counter(), (0, []), member.size or 0
            return
        table = FastTable(member.name, plan, delimiter, len(cells), index, problems)
        yield from table.blocks(raw, header_line, first_line, end, by_rows)


def _result(store: Store, dump_id: int, already: bool = False,
            skipped: list[str] | None = None) -> DumpResult:
    d = sql.get_dump(store.conn, dump_id)
    assert d is not None
    rejects = [f"{Place(m, p, c)}: {r}" for m, p, c, r in sql.rejects_of(store.conn, dump_id,
                                                                          20)]
    return DumpResult(d["id"], d["name"], d["source"], d["kind"], bytes(d["sha256"]).hex(),
                      d["size"], json.loads(d["formats"]), d["credentials"],
                      json.loads(d["per_exchange"]), d["rejected"], rejects,
                      d["ingested_at"], already, skipped or [], bool(d["hmsl"]))
