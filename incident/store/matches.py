"""SQL for matching: the registry's fingerprints and the corpus's prefixes, read in bulk;
the sightings that matched, with their dump and place; and the matches each run stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

# A matched sighting: leak id, key and secret fingerprints, exchange, flags, position,
# member name and unit, and its dump's id, name, source, sha256 and time of ingest.
SIGHTING = ("l.id, l.key_sha256, l.secret_sha256, l.exchange, l.flags, l.position, m.name,"
            " m.unit, d.id, d.name, d.source, d.sha256, d.ingested_at")


def _where_in(conn: sqlite3.Connection, select: str, column: str, ids: Sequence[int]
              ) -> list[Any]:
    """The rows of `select ... WHERE column IN (ids)`, asked 500 ids at a time (SQLite
    caps the parameters a statement may bind)."""
    out: list[Any] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out += conn.execute(f"{select} WHERE {column} IN ({', '.join('?' * len(chunk))})",
                            chunk).fetchall()
    return out


def registry_prefixes(conn: sqlite3.Connection) -> list[tuple[int, bytes, bytes, int, int]]:
    """(id, first 8 bytes of key_sha256, of secret_sha256, has key_sha256, has secret_sha256)
    of every registered key; 8 zero bytes where a fingerprint is missing."""
    return conn.execute(
        "SELECT id, coalesce(substr(key_sha256, 1, 8), zeroblob(8)),"
        " coalesce(substr(secret_sha256, 1, 8), zeroblob(8)), key_sha256 IS NOT NULL,"
        " secret_sha256 IS NOT NULL FROM keys").fetchall()


def registered(conn: sqlite3.Connection, key_ids: Sequence[int]
               ) -> list[tuple[int, str, str, bytes | None, bytes | None]]:
    """(id, label, exchange, key_sha256, secret_sha256) of these keys."""
    return _where_in(conn, "SELECT id, label, exchange, key_sha256, secret_sha256 FROM keys",
                     "id", key_ids)


def labels(conn: sqlite3.Connection) -> list[tuple[int, str, int]]:
    """(id, label, 1 if registered by hmsl only) of every key, by label."""
    return conn.execute("SELECT id, label, key_sha256 IS NULL FROM keys ORDER BY label"
                        ).fetchall()


LEAK_PREFIXES = ("SELECT l.id, l.key_prefix, coalesce(l.secret_prefix, 0),"
                 " l.secret_prefix IS NOT NULL FROM leaks l")


def leak_prefixes(conn: sqlite3.Connection, dump_id: int | None) -> sqlite3.Cursor:
    """(id, key_prefix, secret_prefix or 0, has a secret) of every sighting, or of one
    dump's: a cursor, read straight into arrays."""
    if dump_id is None:
        return conn.execute(LEAK_PREFIXES)
    return conn.execute(LEAK_PREFIXES + " JOIN dumps d ON d.id = ? WHERE l.id BETWEEN"
                        " d.first_leak AND d.last_leak", (dump_id,))


def sightings(conn: sqlite3.Connection, leak_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    return _where_in(conn, f"SELECT {SIGHTING} FROM leaks l JOIN dumps d ON d.id = l.dump_id"
                     " JOIN dump_members m ON m.dump_id = l.dump_id AND"
                     " m.member_no = l.member_no", "l.id", leak_ids)


def by_prefixes(conn: sqlite3.Connection, prefixes: Sequence[int]) -> list[tuple[Any, ...]]:
    """The sightings (as `sightings` gives them) whose key or secret has one of these
    prefixes: two lookups in the leak indexes each."""
    marks = ", ".join("?" * len(prefixes))
    ids = [i for (i,) in conn.execute(
        f"SELECT id FROM leaks WHERE key_prefix IN ({marks}) UNION SELECT id FROM leaks"
        f" WHERE secret_prefix IN ({marks})", (*prefixes, *prefixes))]
    return sightings(conn, ids)


def count_sightings(conn: sqlite3.Connection) -> tuple[int, int]:
    """(dumps, sightings) in the corpus."""
    row = conn.execute("SELECT count(*), coalesce(sum(credentials), 0) FROM dumps").fetchone()
    return int(row[0]), int(row[1])


def known(conn: sqlite3.Connection, key_ids: Sequence[int]) -> dict[tuple[int, int], str]:
    """(key id, leak id) -> when it was first found, of the stored matches of these keys."""
    rows = _where_in(conn, "SELECT key_id, leak_id, found_at FROM matches", "key_id", key_ids)
    return {(k, l): t for k, l, t in rows}


def last_run(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT max(started_at) FROM match_runs").fetchone()
    return None if row is None else row[0]


def store_run(conn: sqlite3.Connection, started_at: str, dump_id: int | None, exposed: int,
              new: Iterable[tuple[int, int, str | None, str | None]]) -> int:
    """Record a run and the matches it found first; the run's id."""
    rows = list(new)
    cur = conn.execute("INSERT INTO match_runs (started_at, dump_id, exposed, new)"
                       " VALUES (?, ?, ?, ?)", (started_at, dump_id, exposed, len(rows)))
    run_id = cur.lastrowid
    assert run_id is not None
    conn.executemany("INSERT OR IGNORE INTO matches (key_id, leak_id, key_role, secret_role,"
                     f" run_id, found_at) VALUES (?, ?, ?, ?, {int(run_id)}, ?)",
                     [(*r, started_at) for r in rows])
    return run_id
