"""Dump formats: one Format class each, one registry, tried in order by content.

The order goes from the most particular to the most general: a workbook and an SQL dump
first, a Telegram export before generic JSON and HTML, delimited text with a header
before plain lines, which take any text that is left.
"""

from __future__ import annotations

from incident.ingest.formats.config import EnvFile, SourceCode
from incident.ingest.formats.delimited import Delimited, Lines
from incident.ingest.formats.html import Html
from incident.ingest.formats.sql import SqlDump
from incident.ingest.formats.telegram import TelegramHtml, TelegramJson
from incident.ingest.formats.tree import Json, JsonLines, Toml, Yaml
from incident.ingest.formats.xlsx import Xlsx
from incident.ingest.interface import Format, Member

FORMATS: dict[str, Format] = {}


def _register() -> None:
    ordered: list[Format] = []
    ordered += [Xlsx(), SqlDump(), TelegramJson(), TelegramHtml(), JsonLines(), Json(),
                Html(), Toml(), Yaml(), EnvFile(), SourceCode(), Delimited(), Lines()]
    for fmt in ordered:
        FORMATS[fmt.name] = fmt


def registry() -> dict[str, Format]:
    if not FORMATS:
        _register()
    return FORMATS


def detect(member: Member) -> Format | None:
    """The first format whose sniff claims the member, or None (binary, empty, unknown)."""
    for fmt in registry().values():
        if fmt.sniff(member):
            return fmt
    return None


def by_name(name: str) -> Format:
    formats = registry()
    if name not in formats:
        from incident.errors import UsageError
        raise UsageError(f"no format '{name}'; known: {', '.join(formats)}")
    return formats[name]
