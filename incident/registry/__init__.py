"""The key registry: a user's or a platform's own keys, by fingerprint only.

Plaintext arrives (a prompt, stdin, a plaintext CSV), is fingerprinted in bounded batches,
and is dropped; nothing below this module ever sees it.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from incident.errors import DuplicateKey, InputError, Place, Problems, UnknownLabel
from incident.exchanges.names import resolve
from incident.fingerprint import hmsl, hmsl_many, sha256
from incident.registry import readers, wire
from incident.registry.interface import ImportResult, RegisteredKey
from incident.registry.readers import clean_label
from incident.secret import Secret
from incident.store import Store
from incident.store import keys as sql
from incident.store.db import utc_now
from incident.streams import Send, child_streams, rebatched

__all__ = ["ImportResult", "RegisteredKey", "add_key", "check_names", "get_key", "import_file",
           "list_keys", "remove_keys"]

BATCH = 10_000
Progress = Callable[[int, int], None]  # (bytes read, rows read)


def check_names(exchange: str, label: str) -> tuple[str, str]:
    """(ccxt id, label) for a key about to be added, or the error: ask before any secret."""
    clean = clean_label(label)
    if clean is None:
        raise InputError(f"label: empty, longer than {readers.MAX_LABEL} characters, "
                         "or unprintable")
    return resolve(exchange), clean


def add_key(store: Store, exchange: str, label: str, key: Secret, secret: Secret | None,
            has_passphrase: bool, source: str) -> RegisteredKey:
    """Register one credential from plaintext held in memory (hmsl included: one is cheap)."""
    ex, clean = check_names(exchange, label)
    if not key:
        raise InputError("API key: empty")
    row = (ex, clean, sha256(key.reveal()), sha256(secret.reveal()) if secret else None,
           hmsl(key.reveal()), hmsl(secret.reveal()) if secret else None, has_passphrase)
    added_at = utc_now()
    with store.write() as conn:
        if sql.holder(conn, "label", clean) is not None:
            raise InputError(f"label '{clean}' is already registered (remove it first)")
        for column, digest in (("key_sha256", row[2]), ("key_hmsl", row[4])):
            other = sql.holder(conn, column, digest)
            if other is not None:
                raise DuplicateKey(f"this key is already registered as '{other[1]}'")
        source_id = sql.begin_source(conn, source, added_at)
        sql.Importer(conn, source_id, sql.IDENTITY).insert_one(row + (None,))
        sql.finish_source(conn, source_id, 1, 1, 0, added_at)
    return RegisteredKey.from_row(row + (source, None, None, added_at))


def import_file(store: Store, path: Path, *, exchange: str | None = None,
                with_hmsl: bool = False, progress: Progress | None = None) -> ImportResult:
    """Import a key file (plaintext CSV, fingerprint CSV, or ggshield mapping.txt).

    Child processes read and fingerprint the file (two for a large plain file, a half
    each) while this one inserts, batch by batch. The whole file lands in one transaction
    or not at all: on any bad line it raises InputErrors naming every bad line (the
    first 20) and stores nothing.
    """
    default_ex = resolve(exchange) if exchange else None
    try:
        estimate = path.stat().st_size // BYTES_PER_ROW_MIN
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(str(path))) from e
    try:
        return _import(store, path, default_ex, with_hmsl, progress, estimate)
    except _BulkClash:
        # Rolled back. Replay carefully: skips rows already registered, names every clash.
        return _import(store, path, default_ex, with_hmsl, progress, None)


BULK_MIN_ROWS = 50_000
BYTES_PER_ROW_MIN = 200  # a file of N bytes has at least N/200 rows (typical rows: 80-160)


class _BulkClash(Exception):
    pass


def _import(store: Store, path: Path, default_ex: str | None, with_hmsl: bool,
            progress: Progress | None, estimate: int | None) -> ImportResult:
    """One attempt. `estimate`: a low estimate of the file's rows, to choose bulk mode;
    None for careful mode whatever the size."""
    source = str(path)
    problems = Problems(source)
    ranges: list[tuple[int, int | None]] = [(0, None)]
    if path.is_file():  # never open a FIFO here: that would take its one reading
        try:
            with open(path, "rb") as raw:
                ranges = readers.split_ranges(raw, READERS, SPLIT_MIN_BYTES)
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror})", Place(source)) from e
    stream: Generator[Any, None, None] = child_streams(
        _read_file, [(path, default_ex, with_hmsl, start, end) for start, end in ranges])
    done = 0
    try:
        layout: readers.Layout = next(stream)  # every reader sends the same layout first
        count = added = updated = 0
        with store.write() as conn, _cache(conn, sql.IMPORT_CACHE_KIB):
            sql.reset_claims(conn)
            source_id = sql.begin_source(conn, "import", utc_now(), source, layout.name)
            importer = sql.Importer(conn, source_id, layout.columns)
            before = sql.last_id(conn)
            # Rebuilding the unique indexes in one sort beats a million random inserts,
            # but only when the import is at least as large as the registry.
            indexes: list[str] = []
            if estimate is not None and estimate >= max(BULK_MIN_ROWS, sql.count_keys(conn)):
                indexes = sql.drop_unique_indexes(conn)
            for message in stream:
                if isinstance(message, readers.Layout):
                    continue
                kind, payload, read = message
                if kind == "problems":
                    problems.merge(*payload)
                    continue
                payload = wire.unpack(layout.columns, payload)
                count += len(payload)
                done += read
                if progress:
                    progress(done, count)
                if problems and indexes:
                    continue  # bulk mode cannot name clashes: report the bad lines first
                if indexes:
                    importer.insert_many(payload)
                    added += len(payload)
                    continue
                conn.execute("SAVEPOINT batch")
                try:
                    importer.insert_many(payload)
                    added += len(payload)
                except sqlite3.IntegrityError:
                    conn.execute("ROLLBACK TO batch")
                    more, filled = _insert_each(importer, payload, before, problems,
                                                layout.plaintext)
                    added, updated = added + more, updated + filled
                conn.execute("RELEASE batch")
            problems.raise_if_any()  # rolls the whole import back
            try:
                sql.create_indexes(conn, indexes)
            except sqlite3.IntegrityError as e:
                raise _BulkClash from e
            sql.finish_source(conn, source_id, count, added, updated, utc_now())
    finally:
        stream.close()
    return ImportResult(source, layout.name, count, added, updated, count - added - updated)


READERS = 2  # reading processes for a large plain file; the parent is the third
SPLIT_MIN_BYTES = 8 << 20


def _read_file(send: Send, path: Path, default_ex: str | None, with_hmsl: bool,
               start: int = 0, end: int | None = None) -> None:
    """In a child process: read and fingerprint a key file, or the byte range [start, end)
    of it (see readers.split_ranges). Sends the layout, then ("batch", packed rows, bytes
    read since the last message) for each batch of good rows (after a bad one too: the
    parent still looks for clashes in careful mode), and last ("problems", ..., 0).
    Only fingerprints, labels, counts and line numbers cross the pipe."""
    source = str(path)
    problems = Problems(source)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - a with block right below
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(source)) from e
    with raw:
        if start == 0:
            reader = readers.KeyFileReader(readers.text_lines(raw, problems, end), source,
                                           problems, default_ex)
        else:  # a later range: the header from the top, then the range's own lines
            header = next((line for line in readers.text_lines(raw, Problems(source))
                           if line.strip()), "")
            first = readers.lines_before(raw, start) + 1
            raw.seek(start)
            lines = itertools.chain([header], readers.text_lines(raw, problems, end, first))
            reader = readers.KeyFileReader(lines, source, Problems(source), default_ex,
                                           data_line0=first - 1)
            if reader.problems:  # the first range's reader reports the header's problems
                send(reader.layout)
                send(("problems", ([], 0), 0))
                return
            reader.problems = problems
        layout = reader.layout
        if not layout.plaintext:
            chunks = reader.chunks()
        else:
            layout = replace(layout, columns=reader.plaintext_columns(with_hmsl))
            if with_hmsl:
                chunks = _with_hmsl(reader.chunks())
            else:
                chunks = reader.chunks(hashlib.sha256)  # = fingerprint.sha256, inlined
        send(layout)
        seekable = raw.seekable()  # a pipe or FIFO has no position: no byte progress
        position = raw.tell() if seekable else 0
        for batch in rebatched(chunks, BATCH):
            now = raw.tell() if seekable else 0
            send(("batch", wire.pack(layout.columns, batch), now - position))
            position = now
    send(("problems", (problems.as_tuples(), problems.total), 0))


def _insert_each(importer: sql.Importer, batch: list[tuple[object, ...]], before: int,
                 problems: Problems, plaintext: bool) -> tuple[int, int]:
    """Insert a batch that clashed row by row; record each clash with its place (the
    file's own column name). A row that agrees with a key registered before this import
    (every value it states is the stored one, or fills a stored NULL) is not a clash: the
    NULLs are filled in. (inserted, updated)."""
    conn = importer.conn
    added = updated = 0
    key_column = "api_key" if plaintext else None
    for row in batch:
        try:
            importer.insert_one(row)
            added += 1
            continue
        except sqlite3.IntegrityError:
            pass
        line, mine = int(row[-1]), importer.says(row)  # type: ignore[call-overload]
        same_label = sql.holder(conn, "label", mine["label"])
        if same_label is not None:
            row_id, _, other_line, theirs = same_label
            if row_id > before:
                _twice(problems, "label", "label", line, other_line)
                continue
            # The same key: one key fingerprint known on both sides and equal; and nothing
            # stated differs. Only then may this line fill in what is unknown.
            same_key = any(mine.get(c) is not None and mine.get(c) == theirs[c]
                           for c in ("key_sha256", "key_hmsl"))
            if not same_key or any(v is not None and theirs[c] is not None and theirs[c] != v
                                   for c, v in mine.items()):
                problems.add("already registered with other fingerprints or exchange "
                             "(remove it first to replace it)", line, "label")
                continue
            first = sql.claim(conn, row_id, line)
            if first is not None:
                _twice(problems, "label", "label", line, first)
                continue
            gaps = {c: v for c, v in mine.items() if v is not None and theirs[c] is None}
            if gaps:
                try:
                    sql.fill(conn, row_id, gaps)
                    updated += 1
                except sqlite3.IntegrityError:  # the filled-in key is another label's
                    _key_clash(conn, mine, line, before, problems, key_column)
            continue
        _key_clash(conn, mine, line, before, problems, key_column)
    return added, updated


def _key_clash(conn: sqlite3.Connection, mine: dict[str, object], line: int, before: int,
               problems: Problems, key_column: str | None) -> None:
    for column in ("key_sha256", "key_hmsl"):
        other = sql.holder(conn, column, mine.get(column)) if mine.get(column) else None
        if other is not None and other[1] != mine["label"]:
            row_id, other_label, other_line, _ = other
            if row_id > before and other_line is not None:
                _twice(problems, "key", key_column or column, line, other_line)
            else:
                problems.add(f"this key is already registered as '{other_label}'", line,
                             key_column or column)
            return
    problems.add("conflicts with the registry", line)


def _twice(problems: Problems, what: str, column: str, line: int, other: int | None) -> None:
    """Name the later of two lines, against the earlier: with two readers, the later
    line of a file may reach the database first."""
    first, later = sorted((line, other if other is not None else line))
    problems.add(f"the same {what} as line {first}", later, column)


@contextmanager
def _cache(conn: sqlite3.Connection, kib: int) -> Iterator[None]:
    old = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size=-{int(kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size={int(old)}")


def _with_hmsl(chunks: Iterator[list[tuple[object, ...]]]
               ) -> Iterator[list[tuple[object, ...]]]:
    """Chunks of plaintext rows (exchange, label, key, secret, [has_passphrase,] line) to
    rows with sha256 and hmsl fingerprints, hmsl on every core. Each chunk's plaintext goes
    out of scope once it is hashed."""
    for chunk in chunks:
        key_h = hmsl_many(str(r[2]) for r in chunk)
        secret_h = iter(hmsl_many(str(r[3]) for r in chunk if r[3] is not None))
        out: list[tuple[object, ...]] = [
            (ex, label, sha256(str(k)), s and sha256(str(s)), kh,
             next(secret_h) if s else None, *rest)
            for (ex, label, k, s, *rest), kh in zip(chunk, key_h)]
        del chunk
        yield out


def list_keys(store: Store, exchange: str | None = None) -> Generator[RegisteredKey, None, None]:
    ex = resolve(exchange) if exchange else None
    for row in sql.iter_keys(store.conn, ex):
        yield RegisteredKey.from_row(row)


def get_key(store: Store, label: str) -> RegisteredKey:
    """The key registered under `label`, or UnknownLabel."""
    for row in sql.iter_keys(store.conn, label=label):
        return RegisteredKey.from_row(row)
    raise UnknownLabel(f"no key labelled {label!r}: register it first (incident keys add)")


def remove_keys(store: Store, labels: list[str]) -> int:
    """Remove the given labels, all or none; the number removed."""
    with store.write() as conn:
        missing = sql.delete_labels(conn, labels)
        if missing:
            raise UnknownLabel(f"no key labelled {', '.join(repr(m) for m in missing)}; "
                               "nothing was removed")
    return len(labels)
