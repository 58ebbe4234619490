"""The explicit registries of formats and sources: every name resolves, in order."""

from __future__ import annotations

import pytest

from incident.errors import UsageError
from incident.ingest.formats import by_name, detect, registry
from incident.ingest.interface import Member, SourceOptions, SourceState
from incident.ingest.sources import SOURCES, shown, source_for


def test_every_format_is_registered_under_its_name() -> None:
    formats = registry()
    assert list(formats) == ["xlsx", "sql", "telegram-json", "telegram-html", "jsonl", "json",
                             "html", "toml", "yaml", "env", "code", "csv", "text"]
    for name, fmt in formats.items():
        assert fmt.name == name and by_name(name) is fmt
        assert fmt.unit in ("line", "row", "record", "message")
    with pytest.raises(UsageError, match="no format 'xlsm'; known: xlsx, sql, "):
        by_name("xlsm")


def test_text_takes_what_nothing_else_claims() -> None:
    assert detect(Member.of_bytes("notes", b"nothing to see here\n")).name == "text"  # type: ignore[union-attr]
    assert detect(Member.of_bytes("blob", b"\x00\x01\x02" * 100)) is None
    assert detect(Member.of_bytes("empty", b"")) is None


@pytest.mark.parametrize("spec, kind", [
    ("twitter:@leakwatch", "twitter"), ("twitter:search:binance api", "twitter"),
    ("https://paste.example/raw/x", "url"), ("http://127.0.0.1:8000/p", "url"),
    ("dumps/release.tar.gz", "file"), ("./twitter.csv", "file"),
])
def test_every_source_spec_resolves(spec: str, kind: str) -> None:
    source = source_for(spec, SourceOptions(), SourceState())
    assert source.kind == kind and SOURCES[kind] is type(source)


def test_a_url_is_shown_without_what_may_be_a_token() -> None:
    assert shown("https://user:pw@paste.example/raw/x?token=abc#frag") == \
        "https://paste.example/raw/x"
    assert shown("dumps/a.csv") == "dumps/a.csv"
