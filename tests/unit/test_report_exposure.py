"""The exposure report on the sample data directory: whole outputs against golden files,
byte-stable, escaped, and free of key material."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incident.report.exposure import ExposureReport
from incident.report.interface import ReportError
from incident.report.render import render
from incident.settings import Settings
from incident.store import Store
from tests.canary import Canary
from tests.reports import USER, assert_golden, load_sample, register_exposed

FORMATS = ("html", "md", "json")
# Markdown, HTML and a shell all read something into this.
SPECIAL = "a|b <script>*x*</script> [y](z) `q` #1 _u_ 'o'"


@pytest.fixture
def sample(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    load_sample(home)
    with Store.open(Settings.from_env()) as store:
        yield store


def outputs(store: Store, label: str | None = None,
            options: dict[str, Any] | None = None) -> dict[str, bytes]:
    return render(ExposureReport().build(store, label=label, options=options), FORMATS)


def test_every_key_against_the_golden_files(sample: Store) -> None:
    report = ExposureReport().build(sample)
    assert report.kind == "exposure" and report.stem == "exposure"
    for fmt, data in render(report, FORMATS).items():
        assert_golden(f"exposure.{fmt}", data)


def test_one_label_against_the_golden_files(sample: Store) -> None:
    report = ExposureReport().build(sample, label="user-0001-binance")
    assert report.stem == "exposure-user-0001-binance"
    assert report.model["title"] == "Exposure report: user-0001-binance"
    assert [e["label"] for e in report.model["exposed"]] == ["user-0001-binance"]
    assert report.model["clean"] == report.model["not_checked"] == []
    for fmt, data in render(report, FORMATS).items():
        assert_golden(f"exposure-user-0001-binance.{fmt}", data)


def test_the_label_option_is_the_label_argument(sample: Store) -> None:
    by_option = outputs(sample, options={"label": "alice-okx"})
    assert by_option == outputs(sample, label="alice-okx")
    assert json.loads(by_option["json"])["scope"] == {"label": "alice-okx"}


def test_what_the_sample_says(sample: Store) -> None:
    """The figures the golden files hold, checked against what the sample is known to be."""
    m = ExposureReport().build(sample).model
    assert m["summary"] == {
        "registered": 45, "exposed": 10, "pending": 5, "clean": 31, "not_checked": 1,
        "unmatchable": 3, "dumps": 8, "credentials": 262,
        "last_match_run": "2026-11-21T19:44:53Z", "tone": "exposed",
        "verdict": "10 of 45 keys are in a leak; 5 still need action (see \"What to do "
                   "now\" under each key)."}
    status = {e["label"]: e["status"]["code"] for e in m["exposed"]}
    assert status == {"alice-okx": "open", "binance-sub-001": "verified",
                      "binance-sub-002": "verified", "binance-sub-003": "verified",
                      "binance-sub-004": "verified", "binance-sub-005": "verified",
                      "user-0001-binance": "manual", "user-0006-bybit": "open",
                      "user-0007-kraken": "open", "user-0025-binance": "open"}
    # The Bybit key stood swapped in its dump (its key where the secret goes).
    bybit = next(e for e in m["exposed"] if e["label"] == "user-0006-bybit")
    assert [(s["key_role"], s["secret_role"]) for s in bybit["sightings"]] == [("secret", "key")]
    # Registered after the last match over dumps 1-7: not clean, not yet checked.
    assert [(c["label"], c["unchecked_dumps"]) for c in m["not_checked"]] == [
        ("binance-platform-master", [1, 2, 3, 4, 5, 6, 7])]
    assert [c["label"] for c in m["unmatchable"]] == [
        "FAKE********J8", "FAKE********fO", "FAKE********hR"]
    assert [g["exchange"] for g in m["exchanges"]] == ["binance", "bybit", "kraken", "okx"]
    assert m["playbook"]["command"] == "incident playbook run 3commas-2022"


@pytest.mark.parametrize("label, tone, section, verdict", [
    ("user-0002-binance", "clean", "## Clean keys", "This key is in none of the 8 dumps"),
    ("binance-platform-master", "unknown", "## Not yet checked",
     "This key is in none of the dumps it was compared with, but it has not yet been"),
    ("FAKE********J8", "unknown", "## Cannot be checked",
     "This key was registered by HMSL fingerprint only"),
])
def test_one_key_that_is_not_in_a_leak(sample: Store, label: str, tone: str, section: str,
                                       verdict: str) -> None:
    report = ExposureReport().build(sample, label=label)
    assert report.model["summary"]["tone"] == tone
    assert report.model["summary"]["verdict"].startswith(verdict)
    assert report.model["playbook"] is None and report.model["exchanges"] == []
    md = render(report, ("md",))["md"].decode()
    assert section in md and "## Keys in a leak" not in md
    assert md.count("\n## ") == 2  # its own section, and the advice


def test_a_key_deleted_by_hand_and_verified(home: Path) -> None:
    """The user's own data directory: the exchange's API could not delete the key, the
    user deleted it by hand (the playbook's manual task, marked done), verify-revoked
    proved it dead."""
    load_sample(home, USER)
    with Store.open(Settings.from_env()) as store:
        m = ExposureReport().build(store).model
    (key,) = m["exposed"]
    assert key["status"]["code"] == "verified"
    actions = [h["action"] for h in key["history"]]
    assert actions.index("revoke") < actions.index("manual-done") < actions.index(
        "verify-revoked")
    assert m["summary"]["verdict"] == "This key is in a leak; it is revoked and verified dead."
    assert m["playbook"] is None and m["exchanges"] == []


def test_twice_and_elsewhere_the_same_bytes(sample: Store, tmp_path: Path) -> None:
    first = outputs(sample)
    assert outputs(sample) == first
    with Store.open(Settings(load_sample(tmp_path / "other"))) as other:
        assert outputs(other) == first  # nothing of the data directory's place in it


def test_source_date_epoch_sets_the_time(sample: Store, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = outputs(sample, label="alice-okx")
    assert json.loads(out["json"])["generated_at"] == "2023-11-14T22:13:20Z"
    assert b'<meta name="dcterms.created" content="2023-11-14T22:13:20Z">' in out["html"]
    assert b"Generated 2023-11-14T22:13:20Z (UTC)" in out["md"]


def test_without_it_the_time_is_the_newest_data(sample: Store) -> None:
    # alice-okx: the newest thing the report rests on is match run 3 (19:44:53).
    assert json.loads(outputs(sample, label="alice-okx")["json"])["generated_at"] == \
        "2026-11-21T19:44:53Z"


def test_the_json_holds_no_floats(sample: Store) -> None:
    def no_float(text: str) -> Any:
        raise AssertionError(f"a float in the JSON: {text}")

    document = json.loads(outputs(sample)["json"], parse_float=no_float)
    assert document["format"] == "incident-report/1" and document["kind"] == "exposure"

    def walk(value: Any) -> None:
        assert isinstance(value, (str, int, bool, type(None), list, dict)), type(value)
        for v in value.values() if isinstance(value, dict) else \
                value if isinstance(value, list) else ():
            walk(v)

    walk(dict(ExposureReport().build(sample).model))


@pytest.mark.parametrize("label, options, message", [
    ("nobody", None, "no key labelled 'nobody'"),
    (None, {"label": "nobody"}, "no key labelled 'nobody'"),
    (None, {"dump": 1}, "no option 'dump'; known: label"),
    ("alice-okx", {"label": "user-0006-bybit"}, "two different labels"),
    (None, {"label": 7}, "option 'label' must be a label"),
])
def test_what_it_refuses(sample: Store, label: str | None, options: dict[str, Any] | None,
                         message: str) -> None:
    with pytest.raises(ReportError, match=re.escape(message)):
        ExposureReport().build(sample, label=label, options=options)


def test_a_label_with_specials_is_escaped_and_no_key_leaks(
        cli, home: Path, tmp_path: Path, canary: Canary,
        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A key registered by fingerprint under a label full of Markdown, HTML and shell
    specials, found in a dump: every format shows the label as text, the commands quote
    it for the shell, and no piece of the key or secret is anywhere."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    register_exposed(cli, home, tmp_path, canary, SPECIAL)
    with Store.open(Settings.from_env()) as store:
        report = ExposureReport().build(store, label=SPECIAL)
        out = render(report, FORMATS)
    for fmt, data in out.items():
        canary.record(f"exposure.{fmt}", data)
    assert re.fullmatch(r"exposure-a-b-script-x-script-y-z-q-1-_u_-o-[0-9a-f]{8}", report.stem)
    assert report.model["exposed"][0]["label"] == SPECIAL
    html, md = out["html"].decode(), out["md"].decode()
    assert "<script>" not in html and "&lt;script&gt;*x*&lt;/script&gt;" in html
    quoted = "'a|b <script>*x*</script> [y](z) `q` #1 _u_ '\"'\"'o'\"'\"''"
    assert f"incident verify-revoked {quoted}" in html.replace("&#39;", "'").replace(
        "&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
    # Markdown: outside fenced blocks the label appears only escaped; inside them, only as
    # a shell word (a fenced block is shown as text).
    prose = re.sub(r"```sh\n.*?```", "", md, flags=re.DOTALL)
    fenced = re.findall(r"```sh\n(.*?)```", md, flags=re.DOTALL)
    escaped = r"a\|b \<script\>\*x\*\</script\> \[y\](z) \`q\` \#1 \_u\_ 'o'"
    assert SPECIAL not in prose and "<script>" not in prose
    assert prose.count(escaped) >= 2  # the title and the key's heading at least
    assert fenced and all(quoted in f for f in fenced if "verify-revoked" in f)
