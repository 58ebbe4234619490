"""HTML pages: a paste site's page, a leaked admin panel, a saved forum thread.

Records, in order: each `textarea`, `pre`, `code` and inline `script` as its own text (a
paste sits in a textarea or a pre; a `code` inside a `pre` counts once); each row of each
table with a header row, with the header cells as field names; then the rest of the
visible text, with the values of the form inputs as fields.
"""

from __future__ import annotations

from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag

from incident.errors import Problems
from incident.ingest.formats.telegram import is_telegram_html, looks_html
from incident.ingest.formats.tree import head_text, whole_text
from incident.ingest.interface import Format, Member, Record
from incident.ingest.names import header_score

_BLOCKS = ("textarea", "pre", "code", "script")
_BREAKS = ("address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "footer",
           "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
           "ol", "p", "section", "table", "title", "tr", "ul")
_NO_VALUE = {"button", "checkbox", "file", "image", "radio", "reset", "submit"}


def _tags(parent: Tag, *names: str) -> list[Tag]:
    return [t for t in parent.find_all(list(names)) if isinstance(t, Tag)]


def _text(tag: Tag) -> str:
    return tag.get_text(" ").strip()


def _table(table: Tag) -> tuple[list[str], list[list[str]]] | None:
    """(header names, rows of cell texts) of a table with a header row, else None."""
    rows = []
    for tr in _tags(table, "tr"):
        if tr.find_parent("table") is table:
            cells = [c for c in tr.find_all(["td", "th"], recursive=False) if isinstance(c, Tag)]
            if cells:
                rows.append((tr, cells))
    if not rows:
        return None
    first, cells = rows[0]
    names = [_text(c) for c in cells]
    in_head = first.find_parent("thead") is not None
    if not (in_head or all(c.name == "th" for c in cells)) and header_score(names) < 2:
        return None
    return names, [[_text(c) for c in row] for _, row in rows[1:]]


def _inputs(soup: BeautifulSoup) -> list[tuple[str, str]]:
    fields = []
    for tag in _tags(soup, "input"):
        value = tag.get("value")
        if isinstance(value, str) and value and str(tag.get("type", "text")).lower() not in \
                _NO_VALUE:
            fields.append((str(tag.get("name") or tag.get("id") or "input"), value))
    return fields


class Html(Format):
    name = "html"
    unit = "record"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        return text is not None and looks_html(text) and not is_telegram_html(text)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        soup = BeautifulSoup(whole_text(member), "html.parser")
        tables = [(table, found) for table in _tags(soup, "table")
                  if (found := _table(table)) is not None]
        inside = {id(t) for t, _ in tables}
        position = 1
        for block in _tags(soup, *_BLOCKS):
            if block.decomposed or block.find_parent(list(_BLOCKS)) is not None or any(
                    id(t) in inside for t in block.find_parents("table")):
                continue
            if block.name == "script" and block.get("src"):
                continue
            name, text = block.name, block.get_text().strip("\r\n")
            block.decompose()
            if text.strip():
                yield Record(position, text=text, sub=name)
                position += 1
        for number, (table, (header, rows)) in enumerate(tables, 1):
            for cells in rows:
                fields = [(header[i] if i < len(header) else str(i + 1), cell)
                          for i, cell in enumerate(cells)]
                if any(cell for cell in cells):
                    yield Record(position, fields, sub=f"table {number}")
                    position += 1
            if not table.decomposed:
                table.decompose()
        fields = _inputs(soup)
        for tag in _tags(soup, "script", "style", "template", "td", "th", "br", *_BREAKS):
            if tag.decomposed or tag.parent is None:
                continue
            if tag.name in ("script", "style", "template"):
                tag.decompose()
            else:
                tag.insert_after(" " if tag.name in ("td", "th") else "\n")
        lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
        text = "\n".join(line for line in lines if line)
        if text or fields:
            yield Record(position, fields, text)
