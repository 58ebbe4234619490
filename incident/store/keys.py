"""SQL for the key registry.

Every addition is an event in `key_sources` (a prompt, stdin, or an import of a file, with
its times and counts); each key points at the event that added it. An import inserts
straight into `keys`, batch by batch, inside one write transaction, binding only the
columns its layout has (its source id goes in as a literal: at a million rows, each bound
parameter costs a third of a second).

Careful mode: a batch that trips a UNIQUE index is rolled back to its savepoint and replayed
row by row, and each failing row is classified: the same as what was registered before this
import (skipped, so re-importing a file changes nothing), a clash inside the file, or a
clash with the registry.

Bulk mode, for an import at least as large as the registry: the unique indexes are dropped
and rebuilt in one sort at the end, in the same transaction. If the rebuild finds a clash
the caller rolls back and replays the file in careful mode to name every line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from incident.store.db import BulkInsert

IDENTITY = ("exchange", "label", "key_sha256", "secret_sha256", "key_hmsl", "secret_hmsl",
            "has_passphrase")
# A registry row as read: IDENTITY, then source kind, file, source_line, added_at
KeyRow = tuple[str, str, bytes | None, bytes | None, bytes | None, bytes | None, int | None,
               str, str | None, int | None, str]
IMPORT_CACHE_KIB = 64 * 1024  # index inserts and rebuilds want the index in the cache

_ID = ", ".join(IDENTITY)


class Importer:
    """Inserts one addition's rows. `columns` (a subset of IDENTITY, in any order) are bound
    per row, followed by source_line; the rest of IDENTITY stays NULL."""

    def __init__(self, conn: sqlite3.Connection, source_id: int,
                 columns: Sequence[str]) -> None:
        assert set(columns) <= set(IDENTITY)
        self.conn = conn
        self.columns = tuple(columns)
        self._insert = BulkInsert(conn, "keys", (*self.columns, "source_line"),
                                  {"source_id": source_id})
        self._sql = self._insert.one

    def insert_many(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Raises sqlite3.IntegrityError at the first clash (careful mode only); what the
        batch inserted before it is the caller's to roll back."""
        self._insert.rows(rows)

    def insert_one(self, row: tuple[object, ...]) -> None:
        self.conn.execute(self._sql, row)

    def says(self, row: tuple[object, ...]) -> dict[str, object]:
        """What a row says, by column (its line left out)."""
        return dict(zip(self.columns, row))


def begin_source(conn: sqlite3.Connection, kind: str, started_at: str, file: str | None = None,
                 layout: str | None = None) -> int:
    cur = conn.execute("INSERT INTO key_sources (kind, file, layout, started_at)"
                       " VALUES (?, ?, ?, ?)", (kind, file, layout, started_at))
    assert cur.lastrowid is not None
    return cur.lastrowid


def finish_source(conn: sqlite3.Connection, source_id: int, rows: int, added: int,
                  updated: int, finished_at: str) -> None:
    if added == updated == 0:  # nothing came of it: an import that changes nothing
        conn.execute("DELETE FROM key_sources WHERE id = ?", (source_id,))
        return
    conn.execute("UPDATE key_sources SET rows = ?, added = ?, updated = ?, unchanged = ?,"
                 " finished_at = ? WHERE id = ?",
                 (rows, added, updated, rows - added - updated, finished_at, source_id))


def reset_claims(conn: sqlite3.Connection) -> None:
    """Start an import's record of which registered keys its lines matched (TEMP: on this
    connection only, on disk rather than in memory, gone with it)."""
    conn.execute("DROP TABLE IF EXISTS temp.import_claims")
    conn.execute("CREATE TEMP TABLE import_claims (key_id INTEGER PRIMARY KEY, line INTEGER)")


def claim(conn: sqlite3.Connection, key_id: int, line: int) -> int | None:
    """Record that `line` matched a registered key; the earlier line if one already did."""
    row = conn.execute("SELECT line FROM import_claims WHERE key_id = ?", (key_id,)).fetchone()
    if row is not None:
        return int(row[0])
    conn.execute("INSERT INTO import_claims (key_id, line) VALUES (?, ?)", (key_id, line))
    return None


def fill(conn: sqlite3.Connection, key_id: int, values: dict[str, object]) -> None:
    """Set columns of a key that were unknown (NULL). Raises IntegrityError on a clash."""
    assert set(values) <= set(IDENTITY) - {"label"}
    sets = ", ".join(f"{c} = ?" for c in values)
    conn.execute(f"UPDATE keys SET {sets} WHERE id = ?", (*values.values(), key_id))


def drop_unique_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the registry's unique indexes; their CREATE statements, to rebuild them."""
    found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                         " AND tbl_name = 'keys' AND sql LIKE 'CREATE UNIQUE INDEX%'").fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def create_indexes(conn: sqlite3.Connection, statements: Iterable[str]) -> None:
    """Raises sqlite3.IntegrityError if the rows now clash."""
    for statement in statements:
        conn.execute(statement)


def last_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM keys").fetchone()[0])


def holder(conn: sqlite3.Connection, column: str,
           value: object) -> tuple[int, str, int | None, dict[str, object]] | None:
    """(id, label, source_line, IDENTITY by column) of the key whose `column` is value."""
    assert column in ("label", "key_sha256", "key_hmsl")
    row = conn.execute(
        f"SELECT id, label, source_line, {_ID} FROM keys WHERE {column} = ?", (value,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], dict(zip(IDENTITY, row[3:])))


def iter_keys(conn: sqlite3.Connection, exchange: str | None = None,
              label: str | None = None) -> Iterator[KeyRow]:
    sql = (f"SELECT {', '.join('k.' + c for c in IDENTITY)}, s.kind, s.file, k.source_line,"
           " s.started_at FROM keys k JOIN key_sources s ON s.id = k.source_id")
    where, args = [], []
    for column, value in (("exchange", exchange), ("label", label)):
        if value is not None:
            where.append(f"k.{column} = ?")
            args.append(value)
    if where:
        sql += " WHERE " + " AND ".join(where)
    yield from conn.execute(sql + " ORDER BY k.label", args)


def count_keys(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM keys").fetchone()[0])


def delete_labels(conn: sqlite3.Connection, labels: Iterable[str]) -> list[str]:
    """Delete by label; the labels that were not registered. The events that added them
    stay in key_sources: they are history."""
    missing = []
    for label in labels:
        if conn.execute("DELETE FROM keys WHERE label = ?", (label,)).rowcount == 0:
            missing.append(label)
    return missing
