"""Delimited text with a header (comma, semicolon, tab, pipe), and plain credential lines.

`Delimited` claims a member whose first non-blank lines include a header naming a key or
secret column in any spelling dumps use (names.py), with that header's delimiter; rows
stream one at a time, so a file of any size is read in bounded memory, with exact line
numbers (a quoted field may span lines). `Lines` reads everything else that is text, a
line at a time: `key:secret`, `exchange | key | secret | passphrase`, whitespace.

`Delimited.plan` hands the pipeline a per-file `TablePlan`, so the hot loop over a
million rows does no per-row name lookups.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from incident.errors import InputError, Place, Problems
from incident.ingest import names
from incident.ingest.decode import bom_encoding, decode_line, looks_binary
from incident.ingest.interface import Format, Member, Record

DELIMITERS = (",", ";", "\t", "|")
MAX_LINE = 1024 * 1024
HEADER_WITHIN = 20  # non-blank lines a header may sit below the top (a title, a note)


def stream_lines(raw: BinaryIO, name: str, start_line: int = 1, end: int | None = None
                 ) -> Iterator[tuple[int, str]]:
    """(line number, text) of a binary stream: UTF-16/32 by BOM, else UTF-8 a line at a
    time with the cp1252 fallback. A line over 1 MiB is refused by place. With `end`,
    stop at that byte offset (a line boundary)."""
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    encoding = bom_encoding(head)
    if encoding in ("utf-16", "utf-32"):
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        try:
            n = start_line - 1
            for n, line in enumerate(text, start_line):
                yield n, line
        except UnicodeDecodeError:
            raise InputError(f"not valid {encoding.upper()} text", Place(name, n + 1)) from None
        finally:
            text.detach()
        return
    left = None if end is None else end - raw.tell()
    for n, data in enumerate(iter(lambda: raw.readline(MAX_LINE + 1), b""), start_line):
        if left is not None:
            if left <= 0:
                return
            left -= len(data)
        if len(data) > MAX_LINE:
            raise InputError("a line longer than 1 MiB: not a text dump", Place(name, n))
        if n == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[3:]
        yield n, decode_line(data)


def _first_lines(member: Member) -> list[str]:
    head = member.head()
    encoding = bom_encoding(head)
    if encoding in ("utf-16", "utf-32"):
        text = head.decode(encoding, errors="ignore")
    else:
        text = decode_line(head.removeprefix(codecs.BOM_UTF8))
    # Split as the stream is read (at \n only): str.splitlines would also break at \f, \v
    # or \u2028 and put the header on the wrong line.
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and (len(head) == 64 * 1024 or not lines[-1]):
        lines.pop()  # cut mid-line, or the empty piece after the last newline
    return [line for line in lines if line.strip()][:HEADER_WITHIN]


def find_header(lines: list[str]) -> tuple[int, str, list[str]] | None:
    """(index among non-blank lines, delimiter, names) of the first line that reads as a
    header naming a key or secret column."""
    for i, line in enumerate(lines):
        for delimiter in DELIMITERS:
            if delimiter not in line:
                continue
            try:
                cells = next(csv.reader([line], delimiter=delimiter))
            except csv.Error:  # a lone \r inside the line, say: no header
                continue
            if names.header_score(cells) >= 2 and len(cells) >= 2 \
                    and _rows_agree(lines[i + 1:], delimiter, len(cells)):
                return i, delimiter, [c.strip() for c in cells]
    return None


def _rows_agree(rows: list[str], delimiter: str, width: int) -> bool:
    """Whether the lines after a would-be header are rows of it: at least half as wide (a
    paste of `key:secret` lines under a `exchange | key | secret` title is no table)."""
    if not rows:
        return True
    try:
        widths = [len(cells) for cells in csv.reader(rows, delimiter=delimiter)]
    except csv.Error:
        return False
    return sum(w == width for w in widths) >= 0.5 * len(widths)


class Delimited(Format):
    name = "csv"
    unit = "line"

    def sniff(self, member: Member) -> bool:
        head = member.head()
        return bool(head) and not looks_binary(head) and find_header(_first_lines(member)) \
            is not None

    def header(self, member: Member) -> tuple[int, str, list[str]]:
        """(line number, delimiter, column names) of the header, read from the stream."""
        lines = _first_lines(member)
        found = find_header(lines)
        if found is None:
            raise InputError("no header naming a key or secret column", Place(member.name))
        index, delimiter, cells = found
        with member.open() as raw:
            seen = -1
            for n, line in stream_lines(raw, member.name):
                if line.strip():
                    seen += 1
                    if seen == index:
                        return n, delimiter, cells
        raise InputError("the header could not be found again", Place(member.name))

    def rows(self, member: Member, problems: Problems, raw: BinaryIO, header_line: int,
             delimiter: str, width: int, start_line: int = 1, end: int | None = None
             ) -> Iterator[tuple[int, list[str]]]:
        """(line, cells) of each data row after the header, from `raw` positioned at
        `start_line` (up to byte `end`). The csv module parses (a quoted field may span
        lines: a row is numbered by its first line); ragged rows are problems, not rows.
        Bytes that are not UTF-8 come through as surrogate escapes (see fix_text)."""
        encoding = bom_encoding(raw.peek(4)[:4] if hasattr(raw, "peek") else b"")
        if encoding not in ("utf-16", "utf-32"):
            encoding = "utf-8-sig" if start_line == 1 else "utf-8"
        source = Bounded(raw, member.name, None if end is None else end - raw.tell())
        text = io.TextIOWrapper(source, encoding=encoding, errors="surrogateescape",
                                newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        before = start_line - 1  # lines above the first this reader sees
        done = 0  # lines the reader has consumed
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    problems.add(_csv_reason(e), before + done + 1)
                    done = reader.line_num
                    continue
                except UnicodeDecodeError:
                    raise InputError(f"not valid {encoding.upper()} text",
                                     Place(member.name, before + done + 1)) from None
                n, done = before + done + 1, reader.line_num
                if n <= header_line or not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) != width:
                    problems.add(f"{len(cells)} columns, the header has {width}", n)
                    continue
                yield n, cells
        finally:
            text.detach()

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        header_line, delimiter, cells = self.header(member)
        with member.open() as raw:
            for n, row in self.rows(member, problems, raw, header_line, delimiter, len(cells)):
                yield Record(n, list(zip(cells, row)))


def _csv_reason(error: csv.Error) -> str:
    """The csv module's message, which names a character class, never the content."""
    text = str(error)
    if "field larger" in text:
        return "a field longer than the csv limit (131,072 characters)"
    if "new-line" in text or "newline" in text:
        return "a line break inside an unquoted field"
    return "malformed quoting"


class Bounded(io.RawIOBase):
    """A stream's bytes, after `head` (bytes already read, put back in front), up to `left`
    more of them (one reader's range of a split file), with no line over MAX_LINE: the
    csv module would hold a line of any length in memory."""

    def __init__(self, raw: BinaryIO, name: str, left: int | None = None,
                 head: bytes = b"") -> None:
        self.raw, self.name, self.left, self.head, self.run = raw, name, left, head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            data, self.head = self.head[:len(buffer)], self.head[len(buffer):]
        else:
            want = len(buffer) if self.left is None else min(len(buffer), self.left)
            data = self.raw.read(want) if want > 0 else b""
            if self.left is not None:
                self.left -= len(data)
        newline = data.rfind(b"\n")
        self.run = self.run + len(data) if newline < 0 else len(data) - newline - 1
        if self.run > MAX_LINE:
            raise InputError("a line longer than 1 MiB: not a text dump", Place(self.name))
        buffer[:len(data)] = data
        return len(data)


class Lines(Format):
    """Any other text, read for credential-looking lines. A record is a block of lines
    between blank ones (a key on one line and its secret on the next belong together),
    at most BLOCK lines; credentials are located by their own line."""

    name = "text"
    unit = "line"
    BLOCK = 200

    def sniff(self, member: Member) -> bool:
        head = member.head()
        return bool(head.strip()) and not looks_binary(head)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        block: list[str] = []
        first = 0
        with member.open() as raw:
            for n, line in stream_lines(raw, member.name):
                if not line.strip() or len(block) == self.BLOCK:
                    if block:
                        yield Record(first, text="".join(block))
                    block = []
                    if not line.strip():
                        continue
                if not block:
                    first = n
                block.append(line if line.endswith("\n") else line + "\n")
        if block:
            yield Record(first, text="".join(block))
