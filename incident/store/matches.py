"""SQL for matching: the registry's fingerprints and the corpus's prefixes, read in bulk;
the sightings that matched, with their dump and place; and the matches each run stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# A matched sighting: leak id, key and secret fingerprints, exchange, flags, position,
# member name and unit, and its dump's id, name, source, sha256 and time of ingest.
SIGHTING = ("l.id, l.key_sha256, l.secret_sha256, l.exchange, l.flags, l.position, m.name,"
            " m.unit, d.id, d.name, d.source, d.sha256, d.ingested_at")


def registry(conn: sqlite3.Connection) -> Iterator[tuple[int, str, str, bytes | None,
                                                          bytes | None, bool]]:
    """(id, label, exchange, key_sha256, secret_sha256, registered by hmsl only) of every
    registered key, by label."""
    for row in conn.execute("SELECT id, label, exchange, key_sha256, secret_sha256,"
                            " key_sha256 IS NULL FROM keys ORDER BY label"):
        yield row[0], row[1], row[2], row[3], row[4], bool(row[5])


def leak_prefixes(conn: sqlite3.Connection, dump_id: int | None
                  ) -> Iterator[tuple[int, int, int | None]]:
    """(id, key_prefix, secret_prefix) of every sighting, or of one dump's."""
    if dump_id is None:
        yield from conn.execute("SELECT id, key_prefix, secret_prefix FROM leaks")
        return
    yield from conn.execute("SELECT l.id, l.key_prefix, l.secret_prefix FROM leaks l JOIN"
                            " dumps d ON d.id = ? WHERE l.id BETWEEN d.first_leak AND"
                            " d.last_leak", (dump_id,))


def sightings(conn: sqlite3.Connection, leak_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(leak_ids), 500):
        chunk = leak_ids[i:i + 500]
        out += conn.execute(
            f"SELECT {SIGHTING} FROM leaks l JOIN dumps d ON d.id = l.dump_id"
            " JOIN dump_members m ON m.dump_id = l.dump_id AND m.member_no = l.member_no"
            f" WHERE l.id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
    return out


def known(conn: sqlite3.Connection) -> dict[tuple[int, int], str]:
    """(key id, leak id) -> when it was first found, of every stored match."""
    return {(k, l): t for k, l, t in conn.execute(
        "SELECT key_id, leak_id, found_at FROM matches")}


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
