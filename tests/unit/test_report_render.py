"""Formatting shared by every report: amounts, Markdown escaping, the output files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from incident.report import render
from incident.report.interface import Report, data_time


@pytest.mark.parametrize("value, places, shown", [
    (0.0, 8, "0.00000000"),
    (-0.0, 2, "0.00"),
    (-1e-12, 8, "0.00000000"),  # no "-0"
    (5.23e-06, 8, "0.00000523"),  # never "5.23E-6"
    (123.455, 2, "123.46"),  # the digits shown (repr), not the binary value, are rounded
    (0.125, 2, "0.12"),  # half to even
    (1e20, 2, "100000000000000000000.00"),
    (float("nan"), 2, ""),
    (None, 2, ""),
    ("already text", 2, "already text"),
])
def test_amounts(value: object, places: int, shown: str) -> None:
    assert render.amount(value, places) == shown


@pytest.mark.parametrize("text, shown", [
    ("user|1", "user\\|1"),
    ("<script>", "\\<script\\>"),
    ("a\nb\r\nc", "a b c"),
    ("`code` *b* _i_ [l](x) #h", "\\`code\\` \\*b\\* \\_i\\_ \\[l\\](x) \\#h"),
    (None, ""),
])
def test_markdown_escapes(text: str | None, shown: str) -> None:
    assert render.md(text) == shown


def test_unknown_formats_are_refused() -> None:
    report = Report("claim", "x", {"title": "t", "generated_at": "2022-12-20T08:00:00Z"})
    with pytest.raises(ValueError, match="no format 'docx'"):
        render.render(report, ["docx"])


def test_outputs_are_written_whole_and_private(tmp_path: Path) -> None:
    paths = render.write({"md": b"# x\n", "json": b"{}\n"}, tmp_path / "out", "stem")
    assert [p.name for p in paths] == ["stem.md", "stem.json"]
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stem.json", "stem.md"]


def test_the_time_is_the_datas_newest_unless_source_date_epoch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert data_time(["2022-12-20T08:00:00.123456Z", None, "2021-01-01T00:00:00Z"]) == \
        "2022-12-20T08:00:00Z"
    assert data_time([]) == "1970-01-01T00:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert data_time(["2022-12-20T08:00:00Z"]) == "1970-01-01T00:00:00Z"
