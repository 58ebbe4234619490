"""HTML pages: a paste site's page, a leaked admin panel, a saved forum thread.

Records, in order: each `textarea`, `pre`, `code` and inline `script` as its own text (a
paste sits in a textarea or a pre; a `code` inside a `pre` counts once); each row of each
table with a header row, with the header cells as field names; then the rest of the
visible text, with the values of the form inputs as fields. A block inside a block is read
with the outermost; a header table inside a cell is read as its own rows, not as part of
the cell's text; so each string is read once and the reading is linear in the page.
"""

from __future__ import annotations

import functools

from collections.abc import Iterator
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bs4 itself is imported with the first page: see bs4_types
    from bs4 import BeautifulSoup, Tag
    from bs4.element import PageElement

from incident.errors import InputError, Place, Problems
from incident.ingest.formats.telegram import is_telegram_html, looks_html
from incident.ingest.formats.tree import head_text, whole_text
from incident.ingest.interface import Format, Member, Record
from incident.ingest.names import header_score

_BLOCKS = ("textarea", "pre", "code", "script")
_BREAKS = ("address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "footer",
           "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
           "ol", "p", "section", "table", "title", "tr", "ul")
_NO_VALUE = {"button", "checkbox", "file", "image", "radio", "reset", "submit"}


_HIDDEN = ("script", "style", "template")
_CELLS = ("td", "th")


@functools.cache
def bs4_types() -> tuple[type[BeautifulSoup], type[Tag], tuple[type, ...], type[Exception]]:
    """(BeautifulSoup, Tag, the string types get_text reads (no comments, no <rt>, no
    script), ParserRejectedMarkup), imported with the first page read: importing bs4
    would cost every command 0.06 s."""
    import bs4
    from bs4.element import NavigableString
    return bs4.BeautifulSoup, bs4.Tag, (NavigableString, bs4.CData), bs4.ParserRejectedMarkup
HEADER_CAP = 256  # characters of a first-row cell read to tell whether it is a header


def parse(text: str, name: str) -> BeautifulSoup:
    """The page's tree; markup html.parser gives up on (`<![DOCTYPE`) is an InputError by
    place: the parser's message quotes the page, so it never gets out."""
    soup, _, _, rejected = bs4_types()
    try:
        return soup(text, "html.parser")
    except (rejected, AssertionError):
        raise InputError("not readable HTML", Place(name)) from None


def walk(root: Tag, limit: int | None = None) -> Iterator[tuple[bool, PageElement]]:
    """(entering, element) in document order: (True, tag) before a tag's contents and
    (False, tag) after them, (True, string) for each string. Iterative, so a page nested
    100,000 deep is walked in linear time and without recursion; with `limit`, stops
    after that many elements."""
    tag_type = bs4_types()[1]
    stack: list[tuple[Tag, Iterator[PageElement]]] = [(root, iter(root.contents))]
    seen = 0
    while stack:
        tag, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            yield False, tag
            continue
        seen += 1
        if limit is not None and seen > limit:
            return
        yield True, child
        if isinstance(child, tag_type):
            stack.append((child, iter(child.contents)))


def _capped_text(cell: Tag) -> str:
    """A cell's text as get_text(" ") gives it, up to about HEADER_CAP characters (enough
    to tell a header name; a longer cell is no header)."""
    parts: list[str] = []
    size = 0
    strings = bs4_types()[2]
    for entering, element in walk(cell, limit=4 * HEADER_CAP):
        if entering and type(element) in strings:
            parts.append(str(element))
            size += len(parts[-1]) + 1
            if size > HEADER_CAP:
                break
    return " ".join(parts).strip()


@dataclass
class _Table:
    rows: list[list[Tag]] = field(default_factory=list)  # its rows' cells, empty rows left out
    in_head: bool = False  # its first row is inside a thead
    header: bool = False


def _structure(soup: BeautifulSoup) -> dict[int, _Table]:
    """Every table's rows (the tr whose nearest table it is), by id, in page order."""
    tables: dict[int, _Table] = {}
    nearest: list[_Table | None] = [None]  # the nearest table of each open tag
    theads: list[bool] = [False]  # whether each open tag is inside a thead
    tag_type = bs4_types()[1]
    for entering, element in walk(soup):
        if not isinstance(element, tag_type):
            continue
        if not entering:
            nearest.pop()
            theads.pop()
            continue
        table, in_head = nearest[-1], theads[-1] or element.name == "thead"
        if element.name == "table":
            table = tables[id(element)] = _Table()
        elif element.name == "tr" and table is not None:
            cells = [c for c in element.contents if isinstance(c, tag_type) and c.name in _CELLS]
            if cells:
                if not table.rows:
                    table.in_head = theads[-1]
                table.rows.append(cells)
        nearest.append(table)
        theads.append(in_head)
    return tables


Cells = list[list[str]]  # a row's cells, each the strings it holds


def _header_tables(tables: dict[int, _Table]) -> tuple[list[list[Cells]], dict[int, list[str]]]:
    """Which tables have a header row (marking them), and for each of those its rows'
    cells' strings, to be filled: (the lists by table, in page order; the list of each
    cell, by the cell's id)."""
    texts: list[list[Cells]] = []
    owners: dict[int, list[str]] = {}
    for table in tables.values():
        if not table.rows:
            continue
        first = table.rows[0]
        table.header = table.in_head or all(c.name == "th" for c in first) or \
            header_score([_capped_text(c) for c in first]) >= 2
        if table.header:
            rows: list[Cells] = [[[] for _ in cells] for cells in table.rows]
            for cells, strings in zip(table.rows, rows):
                for tag, parts in zip(cells, strings):
                    owners[id(tag)] = parts
            texts.append(rows)
    return texts, owners


def _inputs_field(tag: Tag) -> tuple[str, str] | None:
    value = tag.get("value")
    if isinstance(value, str) and value and str(tag.get("type", "text")).lower() not in \
            _NO_VALUE:
        return str(tag.get("name") or tag.get("id") or "input"), value
    return None


class Html(Format):
    name = "html"
    unit = "record"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        return text is not None and looks_html(text) and not is_telegram_html(text)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        # Two walks over the page, each linear whatever its depth (bs4's find_parent is
        # linear in the depth, and `.decomposed` searches the subtree): the first finds
        # the tables' rows; the second the blocks, each header table's cell texts, the
        # inputs and the rest of the text. Nothing on the page is changed.
        soup = parse(whole_text(member), member.name)
        tables = _structure(soup)
        texts, owners = _header_tables(tables)
        blocks: list[Tag] = []
        fields: list[tuple[str, str]] = []
        rest: list[str] = []
        # Of each open tag: the strings of the header table cell it is in (or None),
        # whether it is in a block, and whether its text is left out of the rest.
        cell: list[list[str] | None] = [None]
        in_block: list[bool] = [False]
        left_out: list[bool] = [False]
        hidden: list[bool] = [False]
        in_header = [False]
        _, tag_type, strings, _ = bs4_types()
        for entering, element in walk(soup):
            if not isinstance(element, tag_type):
                if type(element) in strings:
                    if (parts := cell[-1]) is not None:
                        parts.append(str(element))
                    if not left_out[-1] and not hidden[-1]:
                        rest.append(str(element))
                continue
            if not entering:
                gone, unseen = left_out.pop(), hidden.pop()
                cell.pop()
                in_block.pop()
                in_header.pop()
                if not gone and not unseen and (element.name in _CELLS or
                                                element.name in _BREAKS or
                                                element.name == "br"):
                    rest.append(" " if element.name in _CELLS else "\n")
                continue
            name = element.name
            found_table = tables.get(id(element)) if name == "table" else None
            header = found_table is not None and found_table.header
            gone = left_out[-1] or header
            if name in _BLOCKS and not in_block[-1] and not in_header[-1] and not (
                    name == "script" and element.get("src")):
                blocks.append(element)  # an outermost block: its own record
                gone = True
            if name == "input" and not gone and (value := _inputs_field(element)):
                fields.append(value)
            cell.append(owners.get(id(element), cell[-1]))
            in_block.append(in_block[-1] or name in _BLOCKS)
            in_header.append(in_header[-1] or header)
            left_out.append(gone)
            hidden.append(hidden[-1] or name in _HIDDEN)
        position = 1
        for block in blocks:  # outermost, so each string is read once
            text = block.get_text().strip("\r\n")
            if text.strip():
                yield Record(position, text=text, sub=block.name)
                position += 1
        for number, table_rows in enumerate(texts, 1):
            header_row = [" ".join(parts).strip() for parts in table_rows[0]]
            for row in table_rows[1:]:
                values = [" ".join(parts).strip() for parts in row]
                named = [(header_row[i] if i < len(header_row) else str(i + 1), value)
                         for i, value in enumerate(values)]
                if any(values):
                    yield Record(position, named, sub=f"table {number}")
                    position += 1
        lines = (" ".join(line.split()) for line in "".join(rest).splitlines())
        text = "\n".join(line for line in lines if line)
        if text or fields:
            yield Record(position, fields, text)
