"""The incident report on the sample data directory: whole outputs against golden files,
byte-stable, scoped, capped, escaped, and honest about a tampered audit log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incident import audit
from incident.report.interface import ReportError
from incident.report.render import render
from incident.report.responder import IncidentReport
from incident.settings import Settings
from incident.store import Store
from tests.canary import Canary
from tests.reports import assert_golden, load_sample, register_exposed

FORMATS = ("html", "md", "json")
SPECIAL = "a|b <script>*x*</script> [y](z) `q` #1"


@pytest.fixture
def sample(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    load_sample(home)
    with Store.open(Settings.from_env()) as store:
        yield store


def outputs(store: Store, options: dict[str, Any] | None = None) -> dict[str, bytes]:
    return render(IncidentReport().build(store, options=options), FORMATS)


def test_against_the_golden_files(sample: Store) -> None:
    report = IncidentReport().build(sample)
    assert report.kind == "incident" and report.stem == "incident"
    for fmt, data in render(report, FORMATS).items():
        assert_golden(f"incident.{fmt}", data)


def test_one_dump_against_the_golden_files(sample: Store) -> None:
    report = IncidentReport().build(sample, options={"dump": 8})
    assert report.stem == "incident-dump-8"
    m = report.model
    assert [a["label"] for a in m["affected"]] == [f"binance-sub-00{i}" for i in range(1, 6)]
    assert [d["id"] for d in m["indicators"]["dumps"]] == [8]
    assert [r["id"] for r in m["actions"]["runs"]] == [1, 2]
    for fmt, data in render(report, ("md", "json")).items():
        assert_golden(f"incident-dump-8.{fmt}", data)
    assert outputs(sample, {"dump": "8"}) == outputs(sample, {"dump": 8})


def test_what_the_sample_says(sample: Store) -> None:
    """The figures the golden files hold, checked against what the sample is known to be."""
    m = IncidentReport().build(sample).model
    s = m["summary"]
    assert (s["dumps"], s["credentials"], s["registered"]) == (8, 262, 45)
    assert (s["exposed"], s["contained"], s["verified"], s["pending"]) == (10, 5, 5, 5)
    assert [(x["status"], x["count"]) for x in s["statuses"]] == [
        ("verified", 5), ("manual", 1), ("open", 4)]
    binance = next(e for e in s["exchanges"] if e["exchange"] == "binance")
    assert {k: binance[k] for k in ("credentials", "registered", "exposed", "contained",
                                    "verified", "pending")} == {
        "credentials": 115, "registered": 24, "exposed": 7, "contained": 5, "verified": 5,
        "pending": 2}
    assert [k["label"] for k in m["pending"]["unverified"]] == [
        "user-0001-binance", "user-0025-binance", "user-0006-bybit", "user-0007-kraken",
        "alice-okx"]
    events = [(t["source"], t["event"]) for t in m["timeline"]]
    assert ("audit log #43-#52", "Revoke 5 keys at Binance: 4 done, 1 already revoked") in events
    assert ("audit log #42", "Run 2, step revoke: approved: 5 keys, list checked") in events
    assert [t["at"] for t in m["timeline"]] == sorted(t["at"] for t in m["timeline"])
    assert m["evidence"]["audit_log"] == {
        "entries": 72, "verified": True, "problems": 0, "first_problems": [],
        "head": "78c771259207903bb40a792187e01997cac80f6e85cf46b4a7c199dfb2254343"}
    assert [x["file"] for x in m["evidence"]["snapshots"]] == ["intact"]
    # Six keys were registered after the one match run over dumps 1-7.
    assert {x["dump"]: x["keys_not_compared"] for x in m["pending"]["matching"]} == {
        d: 6 for d in range(1, 8)}


def test_twice_and_elsewhere_the_same_bytes(sample: Store, tmp_path: Path) -> None:
    first = outputs(sample)
    assert outputs(sample) == first
    with Store.open(Settings(load_sample(tmp_path / "other"))) as other:
        assert outputs(other) == first


def test_source_date_epoch_sets_the_time(sample: Store, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    assert json.loads(outputs(sample)["json"])["generated_at"] == "2026-11-21T19:44:57Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = outputs(sample)
    assert json.loads(out["json"])["generated_at"] == "2023-11-14T22:13:20Z"
    assert b"Generated 2023-11-14T22:13:20Z (UTC)" in out["html"]
    assert b"Generated 2023-11-14T22:13:20Z (UTC)" in out["md"]


def test_the_json_holds_no_floats(sample: Store) -> None:
    def no_float(text: str) -> Any:
        raise AssertionError(f"a float in the JSON: {text}")

    document = json.loads(outputs(sample)["json"], parse_float=no_float)
    assert document["format"] == "incident-report/1" and document["kind"] == "incident"

    def walk(value: Any) -> None:
        assert isinstance(value, (str, int, bool, type(None), list, dict)), type(value)
        for v in value.values() if isinstance(value, dict) else \
                value if isinstance(value, list) else ():
            walk(v)

    walk(dict(IncidentReport().build(sample).model))


def test_long_tables_are_capped_in_html_and_markdown_not_in_json(
        sample: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IncidentReport, "ROWS_SHOWN", 3)
    out = outputs(sample)
    assert len(json.loads(out["json"])["affected"]) == 10
    md, html = out["md"].decode(), out["html"].decode()
    section = md.split("### Affected keys")[1].split("## 2.")[0]
    assert re.findall(r"^\| (\S+) \| binance \|", section, flags=re.MULTILINE) == [
        "binance-sub-001", "binance-sub-002", "binance-sub-003"]
    line = "The first 3 of 10 affected keys are shown here; 7 more are in the JSON report."
    assert line in md and line in html
    assert "The first 3 of 30 timeline entries are shown here; 27 more" in md
    assert "The first 3 of 5 keys not yet verified dead are shown here; 2 more" in md


def test_the_status_of_a_key_follows_the_audit_log(sample: Store) -> None:
    """Each status from entries logged for the sample's open keys."""
    def log(label: str, action: str, phase: str, outcome: str | None,
            detail: dict[str, Any] | None = None) -> None:
        with sample.write() as conn:
            audit.append(conn, action=action, phase=phase, label=label, exchange="x",
                         outcome=outcome, detail=detail or {})

    log("alice-okx", "revoke", "start", None)  # and nothing after: killed mid-write
    log("user-0006-bybit", "restrict", "start", None)
    log("user-0006-bybit", "restrict", "end", "done")
    log("user-0007-kraken", "verify-revoked", "read", "live")
    log("user-0025-binance", "revoke", "start", None)
    log("user-0025-binance", "revoke", "end", "failed")
    with sample.write() as conn:  # the manual deletion marked done in a playbook
        audit.append(conn, action="manual-done", phase="read", outcome="done",
                     detail={"run": 9, "step": "guide", "item": "user-0001-binance",
                             "note": "deleted"})
    m = IncidentReport().build(sample).model
    status = {a["label"]: a["status"] for a in m["affected"]}
    assert status == {
        "alice-okx": "interrupted", "user-0006-bybit": "restricted",
        "user-0007-kraken": "live", "user-0025-binance": "failed",
        "user-0001-binance": "deleted", **{f"binance-sub-00{i}": "verified" for i in range(1, 6)}}
    s = m["summary"]
    assert (s["contained"], s["verified"], s["pending"]) == (7, 5, 5)
    assert ("revoke", "started, no end recorded", 1) in [
        (c["action"], c["outcome"], c["entries"]) for c in m["actions"]["counts"]]
    log("user-0007-kraken", "revoke", "end", "done")  # revoked after it was found live
    assert {a["label"]: a["status"] for a in IncidentReport().build(sample).model[
        "affected"]}["user-0007-kraken"] == "revoked"


def test_runs_and_items_still_open_are_pending(sample: Store) -> None:
    with sample.write() as conn:
        conn.execute("UPDATE runs SET status = 'waiting', position = 'notify', reason ="
                     " 'step ''notify'' needs approval' WHERE id = 2")
        conn.execute("UPDATE run_items SET status = 'failed', attempts = 3, error ="
                     " 'binance -2015: refused' WHERE run_id = 2 AND step = 'verify'"
                     " AND idx = 1")
    m = IncidentReport().build(sample).model
    assert m["pending"]["runs"] == [{
        "id": 2, "playbook": "platform-bulk-response", "status": "waiting",
        "position": "notify", "reason": "step 'notify' needs approval",
        "started_by": "first-responder", "updated_at": "2026-11-21T19:44:57Z"}]
    assert m["pending"]["open_items"] == [{
        "run": 2, "step": "verify", "item": 1, "name": "binance-sub-002", "status": "failed",
        "attempts": 3, "error": "binance -2015: refused"}]
    md = render(IncidentReport().build(sample), ("md",))["md"].decode()
    assert "- Run 2 (platform-bulk-response, started by first-responder): waiting at step" \
           " notify: step 'notify' needs approval (since 2026-11-21T19:44:57Z)" in md
    assert "| 2 | verify | binance-sub-002 | failed | 3 | binance -2015: refused |" in md


def test_a_tampered_audit_log_is_reported_and_the_report_still_builds(sample: Store) -> None:
    conn = sample.conn
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET outcome = 'done' WHERE id = 4")
    conn.execute("UPDATE audit_log SET detail = 'not json' WHERE id = 61")
    m = IncidentReport().build(sample).model
    log = m["evidence"]["audit_log"]
    assert not log["verified"] and log["problems"] == 2
    assert log["first_problems"][0].startswith("entry 4 was edited")
    out = render(IncidentReport().build(sample), ("md",))["md"].decode()
    assert "does NOT verify: 2 problems" in out


@pytest.mark.parametrize("label, options, message", [
    ("alice-okx", None, "takes no label"),
    (None, {"dump": 99}, "no dump 99"),
    (None, {"dump": "eight"}, "option 'dump' must be a dump's number"),
    (None, {"dump": True}, "option 'dump' must be a dump's number"),
    (None, {"label": "alice-okx"}, "no option 'label'; known: dump"),
])
def test_what_it_refuses(sample: Store, label: str | None, options: dict[str, Any] | None,
                         message: str) -> None:
    with pytest.raises(ReportError, match=re.escape(message)):
        IncidentReport().build(sample, label=label, options=options)


def test_a_label_with_specials_is_escaped_and_no_key_leaks(
        cli, home: Path, tmp_path: Path, canary: Canary,
        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    register_exposed(cli, home, tmp_path, canary, SPECIAL)
    with Store.open(Settings.from_env()) as store:
        out = outputs(store)
    for fmt, data in out.items():
        canary.record(f"incident.{fmt}", data)
    html, md = out["html"].decode(), out["md"].decode()
    assert json.loads(out["json"])["affected"][0]["label"] == SPECIAL
    assert "<script>" not in html and "a|b &lt;script&gt;*x*&lt;/script&gt;" in html
    assert SPECIAL not in md and "<script>" not in md
    row = r"| a\|b \<script\>\*x\*\</script\> \[y\](z) \`q\` \#1 | binance |"
    assert md.count(row) == 2  # affected, and not yet verified dead
