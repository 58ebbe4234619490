"""The audit log: an append-only record of every exchange action, chained by SHA-256.

Each entry records who (the OS user), what, when (UTC), the key by label and fingerprint
prefix (never a value), the outcome, and the SHA-256 and endpoint of every raw response.
Its `sha256` is the SHA-256 of its canonical JSON (RFC 8785: sorted keys, no whitespace;
entries hold no floats), which includes the previous entry's `sha256`, so an edited,
deleted, inserted or reordered entry breaks the chain. SQLite triggers refuse UPDATE and
DELETE on the table.

A write action is logged twice: `start` before the call and `end` after it, so a run killed
in between leaves a start without an end, and whoever resumes knows to check the effect.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from incident.exchanges.interface import RawResponse, response_json
from incident.store.db import utc_now

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "action", "phase", "label", "exchange", "key_prefix",
          "outcome", "detail", "prev_sha256")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON for values without floats."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


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


def entries(conn: sqlite3.Connection, label: str | None = None) -> list[dict[str, Any]]:
    sql = f"SELECT {', '.join(FIELDS)}, sha256 FROM audit_log"
    args: tuple[str, ...] = ()
    if label is not None:
        sql += " WHERE label = ?"
        args = (label,)
    out = []
    for row in conn.execute(sql + " ORDER BY id", args):
        item = dict(zip((*FIELDS, "sha256"), row))
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out


def open_writes(conn: sqlite3.Connection, label: str, action: str) -> bool:
    """Whether a write on `label` started and never recorded its end (a killed run)."""
    row = conn.execute("SELECT phase FROM audit_log WHERE label = ? AND action = ? AND phase "
                       "IN ('start', 'end') ORDER BY id DESC LIMIT 1", (label, action)
                       ).fetchone()
    return bool(row and row[0] == "start")
