"""The audit log: chained entries, append-only in the database."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident import audit
from incident.errors import InputError
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


# canonical JSON ------------------------------------------------------------------------

@pytest.mark.parametrize("value, path", [
    ({"detail": {"weight": 0.5}}, "detail.weight"),
    ({"detail": {"responses": [{"ms": 1}, {"ms": 1.0}]}}, "detail.responses[1].ms"),
    (float("nan"), "value"),
])
def test_canonical_refuses_floats_naming_their_path(value: object, path: str) -> None:
    with pytest.raises(TypeError) as e:
        audit.canonical(value)
    assert str(e.value) == f"{path}: a float; audit entries hold integers only"


def test_append_refuses_a_float_and_writes_nothing(tmp_path: Path) -> None:
    with Store.open(Settings(tmp_path)) as store:
        with pytest.raises(TypeError, match=r"^detail\.weight: a float"):
            with store.write() as conn:
                audit.append(conn, action="revoke", phase="start", detail={"weight": 0.5})
        assert audit.entries(store.conn) == []


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, so it sorts before U+E000 (RFC 8785
    # 3.2.3), though after it by code point.
    assert audit.canonical({"\ue000": 1, "\U0001f600": 2, "a": 3}) == \
        '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(json_values)
def test_canonical_json_parses_back_and_is_stable(value: object) -> None:
    text = audit.canonical(value)
    assert json.loads(text) == value
    assert audit.canonical(json.loads(text)) == text
    # no whitespace between tokens: what is left once the strings are taken out
    assert not re.search(rb"\s", re.sub(rb'"(?:[^"\\]|\\.)*"', b"", text))


# verify: a real database, tampered with after dropping the triggers -----------------------

def _log(tmp_path: Path, n: int = 5) -> Settings:
    settings = Settings(tmp_path)
    with Store.open(settings) as store, store.write() as conn:
        for i in range(1, n + 1):
            audit.append(conn, action="revoke", phase="start" if i % 2 else "end",
                         label=f"key{i}", exchange="bybit", outcome=None if i % 2 else "done",
                         detail={"n": i})
    return settings


def _forge(entry_id: int, prev: str, **changes: object) -> dict[str, object]:
    """An entry made by someone who knows the format: it hashes correctly."""
    entry: dict[str, object] = {"id": entry_id, "at": "2026-01-01T00:00:00.000000Z",
                                "actor": "mallory", "action": "revoke", "phase": "end",
                                "label": "key1", "exchange": "bybit", "key_prefix": None,
                                "outcome": "done", "detail": {}, "prev_sha256": prev}
    entry.update(changes)
    return {**entry, "sha256": hashlib.sha256(audit.canonical(entry)).hexdigest()}


def _tamper(settings: Settings, *sql: str | tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(settings.database)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in sql:
        if isinstance(statement, tuple):
            conn.execute(*statement)
        else:
            conn.execute(statement)
    conn.commit()
    conn.close()


def _insert(entry: dict[str, object]) -> tuple[str, tuple[object, ...]]:
    row = {**entry, "detail": audit.canonical(entry["detail"]).decode()}
    names = (*audit.FIELDS, "sha256")
    return (f"INSERT INTO audit_log ({', '.join(names)}) VALUES "
            f"({', '.join('?' * len(names))})", tuple(row[n] for n in names))


def _entries(settings: Settings) -> list[dict[str, object]]:
    with Store.open(settings) as store:
        return audit.entries(store.conn)


def _problems(verdict: audit.Verdict) -> list[tuple[int | None, str, str]]:
    return [(p.entry_id, p.kind, p.message) for p in verdict.problems]


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    verdict = audit.verify(rows)
    assert verdict == audit.Verdict(True, 5, str(rows[-1]["sha256"]), [])
    assert audit.verify([]) == audit.Verdict(True, 0, audit.GENESIS, [])


EDITED = "was edited: its content does not hash to its recorded sha256"


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    _tamper(settings, "UPDATE audit_log SET outcome = 'failed' WHERE id = 3")
    assert _problems(audit.verify(_entries(settings))) == [(3, "edited", f"entry 3 {EDITED}")]


def test_an_edited_detail_that_is_not_json_is_named(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    _tamper(settings, "UPDATE audit_log SET detail = '{not json' WHERE id = 2",
            "UPDATE audit_log SET key_prefix = 1.5 WHERE id = 4")
    assert _problems(audit.verify(_entries(settings))) == [
        (2, "edited", f"entry 2 {EDITED}"), (4, "edited", f"entry 4 {EDITED}")]


def test_an_entry_edited_and_rehashed_is_named_by_the_next_link(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    forged = _forge(3, str(rows[1]["sha256"]))
    _tamper(settings, "DELETE FROM audit_log WHERE id = 3", _insert(forged))
    assert _problems(audit.verify(_entries(settings))) == [
        (3, "edited", "entry 3 was replaced (edited and re-hashed): entry 4 records another "
                      "sha256 for the entry before it")]


@pytest.mark.parametrize("ids, problem", [
    ((3,), (4, "deleted", "entry 4 follows entry 2: entry 3 was deleted")),
    ((2, 3), (4, "deleted", "entry 4 follows entry 1: entries 2 and 3 were deleted")),
    ((2, 3, 4), (5, "deleted", "entry 5 follows entry 1: entries 2 to 4 were deleted")),
    ((1, 2), (3, "deleted", "entries before 3 were removed: the log starts at entry 3, "
                            "which does not link to its start")),
])
def test_deleted_entries_are_named(tmp_path: Path, ids: tuple[int, ...],
                                   problem: tuple[int, str, str]) -> None:
    settings = _log(tmp_path)
    _tamper(settings, f"DELETE FROM audit_log WHERE id IN ({', '.join(map(str, ids))})")
    assert _problems(audit.verify(_entries(settings))) == [problem]


def test_removal_from_the_end_needs_the_expected_head(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    head = str(rows[-1]["sha256"])
    assert audit.verify(rows, head).ok
    assert audit.verify(rows, str(rows[2]["sha256"])).ok  # the log grew since: fine
    _tamper(settings, "DELETE FROM audit_log WHERE id = 5")
    assert audit.verify(_entries(settings)).ok  # the chain alone cannot tell
    assert _problems(audit.verify(_entries(settings), head.upper())) == [
        (4, "truncated", f"the log ends at entry 4; the expected head {head[:16]}... is "
                         "missing: entries after it were removed")]
    assert _problems(audit.verify([], head)) == [
        (None, "truncated", f"the log is empty; the expected head {head[:16]}... is "
                            "missing: entries after it were removed")]


@pytest.mark.parametrize("prev, links", [(3, "entry 4"), (None, "no entry")])
def test_an_entry_appended_with_a_wrong_link_is_named(tmp_path: Path, prev: int | None,
                                                      links: str) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    _tamper(settings, _insert(_forge(6, str(rows[prev]["sha256"]) if prev else "f" * 64)))
    assert _problems(audit.verify(_entries(settings))) == [
        (6, "inserted", f"entry 6 was inserted (or replaced): it hashes correctly but links "
                        f"to {links}, not to entry 5")]


def test_an_entry_replaced_with_a_wrong_link_is_named(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    _tamper(settings, "DELETE FROM audit_log WHERE id = 3",
            _insert(_forge(3, str(rows[0]["sha256"]))))
    assert _problems(audit.verify(_entries(settings))) == [
        (3, "inserted", "entry 3 was inserted (or replaced): it hashes correctly but links "
                        "to entry 1, not to entry 2")]


def test_an_entry_inserted_in_the_middle_is_named(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    rows = _entries(settings)
    # Make room at id 3 (renumbering edits every later entry), then insert a forgery that
    # links correctly to entry 2.
    _tamper(settings, "UPDATE audit_log SET id = -id WHERE id >= 3",
            "UPDATE audit_log SET id = 1 - id WHERE id < 0",
            _insert(_forge(3, str(rows[1]["sha256"]))))
    assert _problems(audit.verify(_entries(settings))) == [
        (3, "inserted", "entry 4 links to entry 2: entry 3 was inserted before it"),
        (4, "edited", f"entry 4 {EDITED}"), (5, "edited", f"entry 5 {EDITED}"),
        (6, "edited", f"entry 6 {EDITED}")]


def test_reordered_entries_are_named_both(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    _tamper(settings, "UPDATE audit_log SET id = -1 WHERE id = 2",
            "UPDATE audit_log SET id = 2 WHERE id = 3",
            "UPDATE audit_log SET id = 3 WHERE id = -1")
    assert _problems(audit.verify(_entries(settings))) == [
        (2, "edited", f"entry 2 {EDITED}"),
        (2, "reordered", "entries 2 and 3 were reordered: entry 2 links to entry 3, which "
                         "comes after it"),
        (3, "edited", f"entry 3 {EDITED}")]


def test_a_first_entry_not_linked_to_genesis_is_named(tmp_path: Path) -> None:
    settings = _log(tmp_path, 2)
    rows = _entries(settings)
    forged = _forge(1, "f" * 64)
    _tamper(settings, "DELETE FROM audit_log WHERE id = 1", _insert(forged))
    assert rows[1]["prev_sha256"] == rows[0]["sha256"] != forged["sha256"]
    # Entry 2 links to the real entry 1 (gone); the forgery is named once.
    assert _problems(audit.verify(_entries(settings))) == [
        (1, "inserted", "entry 1 was inserted (or replaced): it hashes correctly but does "
                        "not link to the start of the log")]


# export ------------------------------------------------------------------------------

def _export(tmp_path: Path, label: str | None = None) -> tuple[Settings, Path, audit.Head]:
    settings = _log(tmp_path / "home")
    out = tmp_path / "audit.jsonl"
    with Store.open(settings) as store:
        head = audit.export(store.conn, out, label)
    return settings, out, head


def test_export_round_trips_and_verifies(tmp_path: Path) -> None:
    settings, out, head = _export(tmp_path)
    rows = _entries(settings)
    assert head == audit.Head(5, str(rows[-1]["sha256"]))
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "home"]
    assert out.read_bytes() == b"".join(audit.canonical(r) + b"\n" for r in rows)
    assert audit.read_export(out) == rows
    assert audit.verify(audit.read_export(out), head.sha256, lines=True) == \
        audit.Verdict(True, 5, head.sha256, [])


def test_export_replaces_a_file_whole(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").write_text("old\n" * 100)
    _, out, _ = _export(tmp_path)
    assert audit.read_export(out)


def test_export_of_one_label_keeps_the_others_as_hashes_and_verifies(tmp_path: Path) -> None:
    settings, out, head = _export(tmp_path, "key2")
    rows = _entries(settings)
    assert head == audit.Head(1, str(rows[-1]["sha256"]), omitted=4)
    lines = audit.read_export(out)
    assert lines[1] == rows[1]
    assert lines[0] == {"id": 1, "omitted": True, "prev_sha256": audit.GENESIS,
                        "sha256": rows[0]["sha256"]}
    assert "key1" not in out.read_text()
    verdict = audit.verify(lines, head.sha256, lines=True)
    assert (verdict.ok, verdict.count, verdict.omitted) == (True, 5, 4)


def test_export_to_a_missing_directory_names_it(tmp_path: Path) -> None:
    settings = _log(tmp_path / "home")
    with Store.open(settings) as store, pytest.raises(InputError) as e:
        audit.export(store.conn, tmp_path / "nowhere" / "audit.jsonl")
    assert str(e.value) == f"{tmp_path / 'nowhere' / 'audit.jsonl'}: cannot write " \
                           "(No such file or directory)"


def _edit_lines(path: Path, edit: Callable[[list[str]], list[str]]) -> list[dict[str, object]]:
    path.write_text("".join(line + "\n" for line in edit(path.read_text().splitlines())))
    return audit.read_export(path)


def _file_problems(entries: list[dict[str, object]]) -> list[tuple[int | None, int | None,
                                                                   str, str]]:
    return [(p.entry_id, p.line, p.kind, p.message)
            for p in audit.verify(entries, lines=True).problems]


def _set(line: str, **changes: object) -> str:
    return json.dumps({**json.loads(line), **changes})


def test_an_edited_export_line_is_named(tmp_path: Path) -> None:
    _, out, _ = _export(tmp_path)
    edited = _edit_lines(out, lambda ls: [*ls[:3], _set(ls[3], outcome="failed"), *ls[4:]])
    assert _file_problems(edited) == [(4, 4, "edited", f"entry 4 {EDITED}")]


def test_swapped_export_lines_are_named_both(tmp_path: Path) -> None:
    _, out, _ = _export(tmp_path)
    swapped = _edit_lines(out, lambda ls: [ls[0], ls[2], ls[1], *ls[3:]])
    assert _file_problems(swapped) == [
        (2, 3, "reordered", "entry 2 (line 3) comes after entry 3 (line 2): the entries were "
                            "reordered")]


def test_a_deleted_export_line_is_named(tmp_path: Path) -> None:
    _, out, _ = _export(tmp_path)
    assert _file_problems(_edit_lines(out, lambda ls: [*ls[:2], *ls[3:]])) == [
        (4, 3, "deleted", "entry 4 follows entry 2: entry 3 was deleted")]


def test_a_repeated_export_line_is_named(tmp_path: Path) -> None:
    _, out, _ = _export(tmp_path)
    assert _file_problems(_edit_lines(out, lambda ls: [*ls[:3], ls[2], *ls[3:]])) == [
        (3, 4, "inserted", "entry 3 on line 4 repeats line 3")]


@pytest.mark.parametrize("at", [2, 3])  # before or after the real entry 3
def test_an_inserted_export_line_with_a_taken_id_is_named(tmp_path: Path, at: int) -> None:
    _, out, _ = _export(tmp_path)
    prev = json.loads(out.read_text().splitlines()[1])["sha256"]
    forged = json.dumps(_forge(3, prev))
    inserted = _edit_lines(out, lambda ls: [*ls[:at], forged, *ls[at:]])
    real = 4 if at == 2 else 3
    assert _file_problems(inserted) == [
        (3, at + 1, "inserted", f"entry 3 on line {at + 1} was inserted: the entry after it "
                                f"follows the entry 3 on line {real}")]


# read_export: every malformed line named, never quoted ------------------------------------

SECRET = "CANARYxSECRETxVALUE123"


@pytest.mark.parametrize("line, message", [
    (SECRET, "not JSON"),
    ('{"a": NaN}', "not JSON"),
    ('{"id": 1, "id": 2}', "not JSON"),
    (b"\xff" + SECRET.encode(), "not UTF-8"),
    (f'["{SECRET}"]', "not a JSON object"),
    (f'{{"{SECRET}": 1}}', "no 'action'"),
    ("REAL", "a field that audit entries do not have"),
    ("REAL:id=0", "'id' is not a positive integer"),
    ("REAL:id=true", "'id' is not a positive integer"),
    ("REAL:sha256=" + SECRET, "'sha256' is not 64 lowercase hex digits"),
    ("REAL:actor=7", "'actor' is not a string"),
    ("REAL:label=7", "'label' is not a string or null"),
    ('{"id": 1, "omitted": true, "prev_sha256": "' + "0" * 64 + '"}', "no 'sha256'"),
])
def test_a_malformed_export_line_is_named_not_quoted(tmp_path: Path, line: str | bytes,
                                                     message: str) -> None:
    _, out, _ = _export(tmp_path)
    lines = out.read_bytes().splitlines()
    if isinstance(line, str) and line.startswith("REAL"):
        entry = json.loads(lines[1])
        if line == "REAL":
            entry[SECRET] = 1
        else:
            name, _, value = line[5:].partition("=")
            entry[name] = json.loads(value) if value[:1] in "0123456789t" else value
        line = json.dumps(entry)
    lines[1] = line.encode() if isinstance(line, str) else line
    out.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as e:
        audit.read_export(out)
    assert str(e.value) == f"{out}:2: {message}"
    assert e.value.exit_code == 3 and SECRET not in str(e.value)


def test_every_malformed_export_line_is_listed(tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    out.write_text("x\n\n[]\n")
    with pytest.raises(InputError) as e:
        audit.read_export(out)
    assert str(e.value) == (f"{out}: 3 lines are not audit entries:\n  {out}:1: not JSON\n"
                            f"  {out}:2: not JSON\n  {out}:3: not a JSON object")


def test_an_unreadable_export_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        audit.read_export(tmp_path / "missing.jsonl")
    assert str(e.value) == f"{tmp_path / 'missing.jsonl'}: cannot read (No such file or " \
                           "directory)"


def test_list_filters_by_label_action_and_last(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    with Store.open(settings) as store, store.write() as conn:
        audit.append(conn, action="snapshot", phase="read", label="key2")
    with Store.open(settings) as store:
        assert [e["id"] for e in audit.entries(store.conn, last=2)] == [5, 6]
        assert [e["id"] for e in audit.entries(store.conn, label="key2")] == [2, 6]
        assert [e["id"] for e in audit.entries(store.conn, label="key2",
                                               action="revoke")] == [2]
        assert [e["id"] for e in audit.entries(store.conn, action="revoke", last=1)] == [5]
