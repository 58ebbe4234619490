"""The audit log: chained entries, append-only in the database."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from incident import audit
from incident.exchanges.interface import RawResponse
from incident.settings import Settings
from incident.store import Store


def test_entries_chain_and_hash_their_canonical_json(tmp_path: Path) -> None:
    with Store.open(Settings(tmp_path)) as store:
        raw = RawResponse("GET /v5/user/query-api", "2026-01-01T00:00:00.000Z", 200, b"{}")
        with store.write() as conn:
            a = audit.append(conn, action="revoke", phase="start", label="alice",
                             exchange="bybit", key_sha256=bytes(range(32)))
            b = audit.append(conn, action="revoke", phase="end", label="alice",
                             exchange="bybit", outcome="done", detail={"calls": ["POST x"]},
                             responses=[raw])
        rows = audit.entries(store.conn)
        assert audit.open_writes(store.conn, "alice", "revoke") is False
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["prev_sha256"] == audit.GENESIS and rows[1]["prev_sha256"] == a.sha256
    assert rows[0]["key_prefix"] == bytes(range(32)).hex()[:12]
    assert rows[1]["detail"]["responses"][0]["sha256"] == hashlib.sha256(b"{}").hexdigest()
    for row, entry in zip(rows, (a, b)):
        body = {k: v for k, v in row.items() if k != "sha256"}
        assert hashlib.sha256(audit.canonical(body)).hexdigest() == entry.sha256 == row["sha256"]


def test_a_start_without_an_end_is_an_open_write(tmp_path: Path) -> None:
    with Store.open(Settings(tmp_path)) as store:
        with store.write() as conn:
            audit.append(conn, action="revoke", phase="start", label="alice")
        assert audit.open_writes(store.conn, "alice", "revoke")
        assert not audit.open_writes(store.conn, "bob", "revoke")


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET outcome = 'done'",
                                 "DELETE FROM audit_log"])
def test_the_table_refuses_edits(tmp_path: Path, sql: str) -> None:
    with Store.open(Settings(tmp_path)) as store:
        with store.write() as conn:
            audit.append(conn, action="audit-key", phase="read", label="alice")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            with store.write() as conn:
                conn.execute(sql)
        assert len(audit.entries(store.conn)) == 1


def test_canonical_json_is_rfc8785_for_our_values() -> None:
    assert audit.canonical({"b": [1, "é", None, True], "a": {"d": 1, "c": "\u2028"}}) == \
        '{"a":{"c":"\u2028","d":1},"b":[1,"é",null,true]}'.encode()
