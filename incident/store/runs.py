"""SQL for playbook runs: the run, its steps, their items, and approvals."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from incident.store.db import utc_now


@dataclass(frozen=True)
class RunRow:
    id: int
    playbook: str
    source: str
    sha256: str
    inputs: dict[str, Any]
    dry_run: bool
    started_by: str
    started_at: str
    updated_at: str
    status: str
    position: str | None
    reason: str | None


@dataclass(frozen=True)
class StepRow:
    step: str
    status: str
    items: int
    output: Any
    error: str | None
    started_at: str
    ended_at: str | None


@dataclass(frozen=True)
class ItemRow:
    idx: int
    name: str
    item: Any
    status: str
    attempts: int
    output: Any
    error: str | None
    started_at: str | None
    ended_at: str | None


_RUN = ("id, playbook, source, sha256, inputs, dry_run, started_by, started_at, updated_at,"
        " status, position, reason")


def _run(row: tuple[Any, ...]) -> RunRow:
    values = list(row)
    values[4] = json.loads(values[4])
    values[5] = bool(values[5])
    return RunRow(*values)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def create(conn: sqlite3.Connection, playbook: str, source: str, sha256: str,
           inputs: dict[str, Any], dry_run: bool, actor: str, first: str) -> int:
    now = utc_now()
    cur = conn.execute("INSERT INTO runs (playbook, source, sha256, inputs, dry_run, "
                       "started_by, started_at, updated_at, status, position) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                       (playbook, source, sha256, _json(inputs), int(dry_run), actor, now,
                        now, first))
    return int(cur.lastrowid or 0)


def get(conn: sqlite3.Connection, run_id: int) -> RunRow | None:
    row = conn.execute(f"SELECT {_RUN} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _run(row) if row else None


def listing(conn: sqlite3.Connection, limit: int) -> list[RunRow]:
    return [_run(r) for r in conn.execute(f"SELECT {_RUN} FROM runs ORDER BY id DESC LIMIT ?",
                                          (limit,))]


def set_run(conn: sqlite3.Connection, run_id: int, status: str, position: str | None,
            reason: str | None = None) -> None:
    conn.execute("UPDATE runs SET status = ?, position = ?, reason = ?, updated_at = ? "
                 "WHERE id = ?", (status, position, reason, utc_now(), run_id))


def steps(conn: sqlite3.Connection, run_id: int) -> dict[str, StepRow]:
    return {r[0]: StepRow(r[0], r[1], r[2], _load(r[3]), r[4], r[5], r[6]) for r in conn.execute(
        "SELECT step, status, items, output, error, started_at, ended_at FROM run_steps "
        "WHERE run_id = ?", (run_id,))}


def begin_step(conn: sqlite3.Connection, run_id: int, step: str,
               items: Sequence[tuple[str, Any]]) -> None:
    now = utc_now()
    conn.execute("INSERT INTO run_steps (run_id, step, status, items, started_at) VALUES "
                 "(?, ?, 'running', ?, ?)", (run_id, step, len(items), now))
    conn.executemany("INSERT INTO run_items (run_id, step, idx, name, item, status) VALUES "
                     "(?, ?, ?, ?, ?, 'pending')",
                     [(run_id, step, i, name, _json(item)) for i, (name, item) in
                      enumerate(items)])


def add_items(conn: sqlite3.Connection, run_id: int, step: str,
              items: Sequence[tuple[str, Any]]) -> None:
    start = conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM run_items WHERE run_id = ? "
                         "AND step = ?", (run_id, step)).fetchone()[0]
    conn.executemany("INSERT INTO run_items (run_id, step, idx, name, item, status) VALUES "
                     "(?, ?, ?, ?, ?, 'pending')",
                     [(run_id, step, start + i, name, _json(item)) for i, (name, item) in
                      enumerate(items)])
    conn.execute("UPDATE run_steps SET items = items + ? WHERE run_id = ? AND step = ?",
                 (len(items), run_id, step))


def skip_step(conn: sqlite3.Connection, run_id: int, step: str) -> None:
    now = utc_now()
    conn.execute("INSERT INTO run_steps (run_id, step, status, items, output, started_at, "
                 "ended_at) VALUES (?, ?, 'skipped', 0, ?, ?, ?)",
                 (run_id, step, _json({"skipped": True}), now, now))


def unskip_step(conn: sqlite3.Connection, run_id: int, step: str) -> None:
    conn.execute("DELETE FROM run_steps WHERE run_id = ? AND step = ? AND status = 'skipped'",
                 (run_id, step))


def set_step(conn: sqlite3.Connection, run_id: int, step: str, status: str,
             output: Any = None, error: str | None = None) -> None:
    ended = utc_now() if status in ("done", "failed") else None
    conn.execute("UPDATE run_steps SET status = ?, output = ?, error = ?, ended_at = ? "
                 "WHERE run_id = ? AND step = ?",
                 (status, None if output is None else _json(output), error, ended, run_id,
                  step))


def items(conn: sqlite3.Connection, run_id: int, step: str) -> list[ItemRow]:
    return [ItemRow(r[0], r[1], json.loads(r[2]), r[3], r[4], _load(r[5]), r[6], r[7], r[8])
            for r in conn.execute(
                "SELECT idx, name, item, status, attempts, output, error, started_at, "
                "ended_at FROM run_items WHERE run_id = ? AND step = ? ORDER BY idx",
                (run_id, step))]


def item_counts(conn: sqlite3.Connection, run_id: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for step, status, n in conn.execute("SELECT step, status, count(*) FROM run_items WHERE "
                                        "run_id = ? GROUP BY step, status", (run_id,)):
        out.setdefault(step, {})[status] = n
    return out


def start_item(conn: sqlite3.Connection, run_id: int, step: str, idx: int) -> None:
    conn.execute("UPDATE run_items SET status = 'started', attempts = attempts + 1, "
                 "started_at = ?, error = NULL WHERE run_id = ? AND step = ? AND idx = ?",
                 (utc_now(), run_id, step, idx))


def end_item(conn: sqlite3.Connection, run_id: int, step: str, idx: int, status: str,
             output: Any = None, error: str | None = None) -> None:
    conn.execute("UPDATE run_items SET status = ?, output = ?, error = ?, ended_at = ? "
                 "WHERE run_id = ? AND step = ? AND idx = ?",
                 (status, None if output is None else _json(output), error,
                  utc_now() if status in ("done", "failed") else None, run_id, step, idx))


def add_approval(conn: sqlite3.Connection, run_id: int, step: str, idx: int | None,
                 kind: str, actor: str, note: str | None) -> None:
    conn.execute("INSERT INTO run_approvals (run_id, step, idx, kind, actor, at, note) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, step, idx, kind, actor, utc_now(),
                                                  note))


def approvals(conn: sqlite3.Connection, run_id: int,
              step: str | None = None) -> list[tuple[str, int | None, str, str, str, str | None]]:
    sql = "SELECT step, idx, kind, actor, at, note FROM run_approvals WHERE run_id = ?"
    args: tuple[Any, ...] = (run_id,)
    if step is not None:
        sql += " AND step = ?"
        args += (step,)
    return [tuple(r) for r in conn.execute(sql + " ORDER BY rowid", args)]
