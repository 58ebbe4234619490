"""SQL for leak dumps: the dump, its members, its rejected records, its leaks.

A dump is written inside one write transaction (the caller's): `begin_dump` inserts the
row with zero counts, leaks go in batch by batch, `finish_dump` sets the counts.

The two lookup indexes on leaks (by key and by secret fingerprint prefix) are built
lazily: a large dump (at least as large as the corpus) drops them and leaves them to the
first lookup (`ensure_leak_indexes`, one sort over the whole corpus: about 1.2 s a million
leaks), instead of rebuilding them at the end of every bulk load. Ingesting ten large
parts in a row then sorts once, not ten times. Small dumps keep them up to date.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from incident.store.db import BulkInsert

LEAK_INDEXES = ("leaks_key", "leaks_secret")
# In the order a reading process sends them (pipeline.COLUMNS, then the position).
_LEAK_COLUMNS = ("member_no", "key_sha256", "secret_sha256", "key_prefix", "secret_prefix",
                 "exchange", "flags", "position")
# With hmsl fingerprints (pipeline.HMSL_COLUMNS, then the position).
_LEAK_COLUMNS_HMSL = (*_LEAK_COLUMNS[:-1], "key_hmsl", "secret_hmsl", "position")
MAX_REJECTS_KEPT = 1000
# leaks.flags (see migration 2)
PASSPHRASE, PASSPHRASE_UNKNOWN, SWAPPED = 1, 2, 4
DUMP_COLUMNS = ("id", "name", "source", "kind", "sha256", "size", "formats", "credentials",
                "per_exchange", "rejected", "ingested_at", "hmsl")


def leak_flags(has_passphrase: bool | None, swapped: bool) -> int:
    return ((PASSPHRASE if has_passphrase else 0)
            | (PASSPHRASE_UNKNOWN if has_passphrase is None else 0)
            | (SWAPPED if swapped else 0))


def prefix(digest: bytes) -> int:
    """The first 8 bytes of a fingerprint as the signed integer the indexes hold."""
    return int.from_bytes(digest[:8], "big", signed=True)


def dump_with_sha256(conn: sqlite3.Connection, sha256: bytes) -> tuple[int, str] | None:
    row = conn.execute("SELECT id, name FROM dumps WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def begin_dump(conn: sqlite3.Connection, name: str, source: str, kind: str, sha256: bytes,
               size: int, ingested_at: str, hmsl: bool = False) -> int:
    cur = conn.execute(
        "INSERT INTO dumps (name, source, kind, sha256, size, formats, credentials,"
        " per_exchange, rejected, ingested_at, hmsl)"
        " VALUES (?, ?, ?, ?, ?, '[]', 0, '{}', 0, ?, ?)",
        (name, source, kind, sha256, size, ingested_at, int(hmsl)))
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_member(conn: sqlite3.Connection, dump_id: int, member_no: int, name: str, fmt: str,
               unit: str) -> None:
    """Record a member (once: two readers of one file both announce it)."""
    conn.execute("INSERT OR IGNORE INTO dump_members (dump_id, member_no, name, format, unit)"
                 " VALUES (?, ?, ?, ?, ?)", (dump_id, member_no, name, fmt, unit))


def leak_writer(conn: sqlite3.Connection, dump_id: int, hmsl: bool = False) -> BulkInsert:
    """Inserts one dump's leaks, by column (`.columns(...)`, in _LEAK_COLUMNS order, or
    _LEAK_COLUMNS_HMSL with hmsl fingerprints)."""
    return BulkInsert(conn, "leaks", _LEAK_COLUMNS_HMSL if hmsl else _LEAK_COLUMNS,
                      {"dump_id": dump_id})


def count_leaks(conn: sqlite3.Connection) -> int:
    """About how many leaks are stored (from the id range: no table scan)."""
    row = conn.execute("SELECT max(id) - min(id) + 1 FROM leaks").fetchone()
    return int(row[0] or 0)


def last_leak_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM leaks").fetchone()[0])


def delete_member_leaks(conn: sqlite3.Connection, after: int, member_no: int) -> Counter[str]:
    """Drop what a member that failed half-way had added to this dump (ids past `after`);
    how many of each exchange that was."""
    gone: Counter[str] = Counter(dict(conn.execute(
        "SELECT exchange, count(*) FROM leaks WHERE id > ? AND member_no = ? GROUP BY"
        " exchange", (after, member_no)).fetchall()))
    conn.execute("DELETE FROM leaks WHERE id > ? AND member_no = ?", (after, member_no))
    return gone


_INDEX_SQL = {
    "leaks_key": "CREATE INDEX IF NOT EXISTS leaks_key ON leaks (key_prefix)",
    "leaks_secret": "CREATE INDEX IF NOT EXISTS leaks_secret ON leaks (secret_prefix)"
                    " WHERE secret_prefix IS NOT NULL",
}


def drop_leak_indexes(conn: sqlite3.Connection) -> None:
    for name in LEAK_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def leak_indexes_missing(conn: sqlite3.Connection) -> bool:
    have = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                       " AND tbl_name = 'leaks'")}
    return not set(LEAK_INDEXES) <= have


def ensure_leak_indexes(conn: sqlite3.Connection) -> None:
    """Build the lookup indexes if a bulk load left them to the first lookup (in the
    caller's write transaction)."""
    for name in LEAK_INDEXES:
        conn.execute(_INDEX_SQL[name])


def finish_dump(conn: sqlite3.Connection, dump_id: int, formats: Sequence[str],
                credentials: int, per_exchange: dict[str, int], rejected: int,
                rejects: Sequence[tuple[str, int | None, str | None, str]],
                first_leak: int | None, last_leak: int | None) -> None:
    conn.execute("UPDATE dumps SET formats = ?, credentials = ?, per_exchange = ?,"
                 " rejected = ?, first_leak = ?, last_leak = ? WHERE id = ?",
                 (json.dumps(sorted(formats)), credentials,
                  json.dumps(dict(sorted(per_exchange.items()))), rejected, first_leak,
                  last_leak, dump_id))
    conn.executemany(f"INSERT INTO dump_rejects (dump_id, member, position, field, reason)"
                     f" VALUES ({int(dump_id)}, ?, ?, ?, ?)", rejects[:MAX_REJECTS_KEPT])


def iter_dumps(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for row in conn.execute(f"SELECT {', '.join(DUMP_COLUMNS)} FROM dumps ORDER BY id"):
        yield dict(zip(DUMP_COLUMNS, row))


def get_dump(conn: sqlite3.Connection, dump_id: int) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {', '.join(DUMP_COLUMNS)} FROM dumps WHERE id = ?",
                       (dump_id,)).fetchone()
    return None if row is None else dict(zip(DUMP_COLUMNS, row))


def members_of(conn: sqlite3.Connection, dump_id: int) -> list[tuple[str, str, int]]:
    """(name, format, leaks found in it) of each member."""
    return [(n, f, c) for n, f, c in conn.execute(
        "SELECT m.name, m.format, (SELECT count(*) FROM leaks l WHERE"
        " l.member_no = m.member_no AND l.id BETWEEN coalesce(d.first_leak, 0) AND"
        " coalesce(d.last_leak, -1)) FROM dump_members m JOIN dumps d ON d.id = m.dump_id"
        " WHERE m.dump_id = ? ORDER BY m.member_no", (dump_id,))]


def rejects_of(conn: sqlite3.Connection, dump_id: int, limit: int = 50
               ) -> list[tuple[str, int | None, str | None, str]]:
    return list(conn.execute("SELECT member, position, field, reason FROM dump_rejects"
                             " WHERE dump_id = ? ORDER BY rowid LIMIT ?", (dump_id, limit)))


def seen_before(conn: sqlite3.Connection, dump_id: int) -> int:
    """How many of the dump's leaks were already in an earlier dump (same key and
    secret): the rest are new credentials."""
    row = conn.execute(
        "SELECT count(*) FROM leaks l JOIN dumps d ON d.id = ? WHERE l.id BETWEEN"
        " d.first_leak AND d.last_leak AND EXISTS (SELECT 1 FROM leaks o WHERE"
        " o.key_prefix = l.key_prefix AND o.key_sha256 = l.key_sha256 AND"
        " o.secret_sha256 IS l.secret_sha256 AND o.dump_id < l.dump_id)", (dump_id,)
    ).fetchone()
    return int(row[0])


def delete_dump(conn: sqlite3.Connection, dump_id: int) -> bool:
    dump = conn.execute("SELECT first_leak, last_leak FROM dumps WHERE id = ?",
                        (dump_id,)).fetchone()
    if dump is None:
        return False
    if dump[0] is not None:
        conn.execute("DELETE FROM matches WHERE leak_id BETWEEN ? AND ?", dump)
        conn.execute("DELETE FROM leaks WHERE id BETWEEN ? AND ?", dump)
    conn.execute("DELETE FROM dumps WHERE id = ?", (dump_id,))
    return True


def load_state(conn: sqlite3.Connection, source: str) -> dict[str, str]:
    row = conn.execute("SELECT state FROM source_state WHERE source = ?", (source,)).fetchone()
    return {} if row is None else dict(json.loads(row[0]))


def save_state(conn: sqlite3.Connection, source: str, state: dict[str, str], now: str) -> None:
    conn.execute("INSERT INTO source_state (source, state, updated_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (source) DO UPDATE SET state = excluded.state,"
                 " updated_at = excluded.updated_at", (source, json.dumps(state), now))
