"""`incident audit verify | export | list` through the CLI, on a log written by the library
and tampered with as someone with write access to the files would."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from incident import audit
from incident.settings import Settings
from incident.store import Store


@pytest.fixture
def log(home: Path) -> list[dict[str, object]]:
    """Four entries: a revoke of alice (start, end), an audit of bob, a snapshot of alice."""
    with Store.open(Settings.from_env()) as store:
        with store.write() as conn:
            audit.append(conn, action="revoke", phase="start", label="alice",
                         exchange="bybit", key_sha256=bytes(32))
            audit.append(conn, action="revoke", phase="end", label="alice", exchange="bybit",
                         outcome="done", detail={"calls": ["POST /v5/user/delete-api"]})
            audit.append(conn, action="audit-key", phase="read", label="bob",
                         exchange="binance", outcome="ok", detail={"risk": []})
            audit.append(conn, action="snapshot", phase="read", label="alice",
                         exchange="bybit", outcome="ok", detail={"counts": {"trades": 3}})
        return audit.entries(store.conn)


def _tamper(home: Path, *sql: str) -> None:
    conn = sqlite3.connect(home / "incident.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_verify_an_intact_log(cli, log) -> None:  # type: ignore[no-untyped-def]
    result = cli("audit", "verify")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == f"audit log intact: 4 entries, head {log[-1]['sha256']}\n"
    result = cli("audit", "verify", "--head", log[-1]["sha256"], "--json")
    assert (result.code, json.loads(result.stdout)) == (0, {
        "ok": True, "count": 4, "omitted": 0, "head": log[-1]["sha256"], "problems": []})


def test_verify_an_empty_log(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("audit", "verify")
    assert (result.code, result.stderr) == (0, f"audit log intact: 0 entries, head "
                                               f"{audit.GENESIS}\n")


def test_verify_names_every_tampered_entry(cli, home, log) -> None:  # type: ignore[no-untyped-def]
    _tamper(home, "UPDATE audit_log SET outcome = 'failed' WHERE id = 2",
            "DELETE FROM audit_log WHERE id = 3")
    result = cli("audit", "verify")
    assert result.code == 1
    assert result.stderr == (
        "audit log TAMPERED: 2 problems in 3 entries\n"
        "  entry 2 was edited: its content does not hash to its recorded sha256\n"
        "  entry 4 follows entry 2: entry 3 was deleted\n")
    problems = json.loads(cli("audit", "verify", "--json").stdout)["problems"]
    assert problems == [
        {"entry": 2, "line": None, "kind": "edited",
         "message": "entry 2 was edited: its content does not hash to its recorded sha256"},
        {"entry": 4, "line": None, "kind": "deleted",
         "message": "entry 4 follows entry 2: entry 3 was deleted"}]


def test_verify_with_the_head_catches_removal_from_the_end(cli, home, log) -> None:  # type: ignore[no-untyped-def]
    _tamper(home, "DELETE FROM audit_log WHERE id = 4")
    assert cli("audit", "verify").code == 0
    result = cli("audit", "verify", "--head", log[-1]["sha256"])
    assert (result.code, result.stderr) == (1, (
        "audit log TAMPERED: 1 problem in 3 entries\n"
        f"  the log ends at entry 3; the expected head {str(log[-1]['sha256'])[:16]}... is "
        "missing: entries after it were removed\n"))
    assert cli("audit", "verify", "--head", "abc").code == 2


def test_export_then_verify_the_file(cli, tmp_path, log) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "audit.jsonl"
    result = cli("audit", "export", out)
    assert (result.code, result.stderr) == (
        0, f"exported 4 entries to {out}, head {log[-1]['sha256']}\n")
    assert out.stat().st_mode & 0o777 == 0o600
    assert [json.loads(line) for line in out.read_text().splitlines()] == log
    result = cli("audit", "verify", "--file", out, "--head", log[-1]["sha256"])
    assert (result.code, result.stderr) == (
        0, f"audit log intact: 4 entries, head {log[-1]['sha256']}\n")

    lines = out.read_text().splitlines()
    lines[2] = lines[2].replace('"outcome":"ok"', '"outcome":"failed"')
    out.write_text("\n".join(lines) + "\n")
    result = cli("audit", "verify", "--file", out)
    assert (result.code, result.stderr) == (1, (
        "audit log TAMPERED: 1 problem in 4 entries\n"
        f"  {out}:3: entry 3 was edited: its content does not hash to its recorded sha256\n"))


def test_export_one_label(cli, tmp_path, log) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "alice.jsonl"
    result = cli("audit", "export", out, "--label", "alice")
    assert (result.code, result.stderr) == (0, f"exported 3 entries (1 of other labels as "
                                               f"hashes only) to {out}, head "
                                               f"{log[-1]['sha256']}\n")
    assert "bob" not in out.read_text()
    result = cli("audit", "verify", "--file", out)
    assert (result.code, result.stderr) == (0, f"audit log intact: 4 entries (1 of other "
                                               f"labels omitted), head {log[-1]['sha256']}\n")


def test_verify_an_unreadable_file_names_the_line(cli, tmp_path, log) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "audit.jsonl"
    assert cli("audit", "export", out).code == 0
    lines = out.read_text().splitlines()
    lines[1] = "SECRETxCANARYx" + lines[1]
    out.write_text("\n".join(lines) + "\n")
    result = cli("audit", "verify", "--file", out)
    assert (result.code, result.stdout, result.stderr) == (3, "", f"error: {out}:2: not JSON\n")
    result = cli("audit", "verify", "--file", tmp_path / "missing.jsonl")
    assert (result.code, result.stderr) == (
        3, f"error: {tmp_path / 'missing.jsonl'}: cannot read (No such file or directory)\n")


def test_list(cli, log) -> None:  # type: ignore[no-untyped-def]
    result = cli("audit", "list", "--label", "alice", "--last", "2")
    assert result.code == 0
    rows = [line.split() for line in result.stderr.splitlines()]
    assert rows[0] == ["id", "at", "(UTC)", "actor", "action", "phase", "label", "outcome"]
    assert [(r[0], *r[-4:]) for r in rows[1:-1]] == [
        ("2", "revoke", "end", "alice", "done"), ("4", "snapshot", "read", "alice", "ok")]
    assert rows[-1] == ["2", "entries"]
    result = cli("audit", "list", "--action", "audit-key", "--json")
    assert json.loads(result.stdout) == [log[2]]
    assert cli("audit", "list", "--label", "nobody").stderr == "0 entries\n"
