"""Opening the database: private files, WAL, a busy timeout, forward migrations."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from incident.errors import InputError, SchemaTooNew, StoreBusy
from incident.settings import Settings
from incident.store.migrations import MIGRATIONS

DIR_MODE = 0o700
FILE_MODE = 0o600


def utc_now() -> str:
    """The current time as UTC ISO 8601 with a Z, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def private_dir(path: Path) -> Path:
    """Create `path` as 0700. An existing directory that other users can enter is refused,
    not changed: it may be shared (a sticky /tmp), and chmod-ing it would break that."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as e:
        raise InputError(f"{path}: cannot use as the data directory ({e.strerror})") from e
    if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid():
        raise InputError(
            f"{path}: the data directory must be yours and private (mode "
            f"{oct(stat.S_IMODE(st.st_mode))}); run 'chmod 700 {path}' or set INCIDENT_HOME "
            "to a new directory")
    return path


def _private_file(path: Path) -> None:
    # Created 0600 before SQLite opens it; SQLite gives the -wal and -shm files the
    # database file's permissions.
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    except OSError as e:
        raise InputError(f"{path}: cannot open the database ({e.strerror})") from e
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        path.chmod(FILE_MODE)


def _statements(script: str) -> Iterator[str]:
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                yield buf
            buf = ""


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class Store:
    """An open database. Use `with Store.open(settings) as store:`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, settings: Settings) -> Store:
        private_dir(settings.data_dir)
        path = settings.database
        _private_file(path)
        try:
            conn = sqlite3.connect(path, timeout=settings.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as e:
            raise InputError(f"cannot open the database ({type(e).__name__})") from e
        store = cls(conn, path)
        try:
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                raise InputError(f"{path}: cannot switch the database to WAL mode")
            conn.execute("PRAGMA foreign_keys=ON")
            store._migrate()
        except sqlite3.DatabaseError as e:
            conn.close()
            if isinstance(e, sqlite3.OperationalError) and _is_busy(e):
                raise StoreBusy(f"{path}: the database stayed locked by another process") from e
            raise InputError(f"{path}: not a usable incident database ({e})") from e
        except BaseException:
            conn.close()
            raise
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @property
    def schema_version(self) -> int:
        """The schema's version: 0 for a new database."""
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                 " AND name = 'schema_version'").fetchone():
            return 0
        row = self.conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        if self.schema_version == len(MIGRATIONS):
            return
        with self.write():
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version"
                              " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            current = self.schema_version  # again, under the lock: another process may have
            if current > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"{self.path}: written by a newer incident (schema {current}; "
                    f"this version knows up to {len(MIGRATIONS)})"
                )
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, utc_now()),
                )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so two writers queue on the
        busy timeout instead of failing on a lock upgrade. All or nothing."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise StoreBusy(
                    f"{self.path}: another incident process held the database for longer "
                    "than the busy timeout; try again"
                ) from e
            raise
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")


class BulkInsert:
    """INSERT of many rows into `table`: `columns` bound per row, and `literals` (column ->
    an int the caller owns, such as the id of the import or dump) written into the SQL.
    A hundred rows a statement: the same binding, a fifth fewer steps than one a row."""

    ROWS = 100  # well under SQLite's 32,766 parameters at 8 a row

    def __init__(self, conn: sqlite3.Connection, table: str, columns: Sequence[str],
                 literals: dict[str, int] | None = None) -> None:
        self.conn = conn
        fixed = literals or {}
        names = ", ".join([*columns, *fixed])
        values = "(" + ", ".join(["?"] * len(columns) + [str(int(v)) for v in fixed.values()])
        values += ")"
        head = f"INSERT INTO {table} ({names}) VALUES "
        self.one = head + values
        self.many = head + ", ".join([values] * self.ROWS)

    def rows(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Raises sqlite3.IntegrityError at the first clash; what the call inserted before
        it is the caller's to roll back."""
        whole = len(rows) - len(rows) % self.ROWS
        for i in range(0, whole, self.ROWS):
            self.conn.execute(self.many, tuple(chain.from_iterable(rows[i:i + self.ROWS])))
        self.conn.executemany(self.one, rows[whole:])

    def columns(self, columns: Sequence[Sequence[object]]) -> None:
        """The same, given by column: no row tuples are kept (each statement's parameters
        are interleaved from the columns as it is bound)."""
        n = len(columns[0]) if columns else 0
        whole = n - n % self.ROWS
        for i in range(0, whole, self.ROWS):
            self.conn.execute(self.many, tuple(chain.from_iterable(
                zip(*[c[i:i + self.ROWS] for c in columns]))))
        self.conn.executemany(self.one, zip(*[c[whole:] for c in columns]))
