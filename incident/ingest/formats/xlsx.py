"""Excel workbooks (.xlsx, .xlsm): every sheet, a row a Record.

A sheet's header is the first of its first 30 rows that names a key or secret column
(names.header_score >= 2), so a title or a note above it is passed over; the rows below
it are Records named by it. A sheet with no such row is read whole, its cells named by
column letter (`column A`), for extraction to go by key shapes. Cached formula results
are read, not formulas.
"""

from __future__ import annotations

import itertools
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from io import BytesIO
from typing import Any


from incident.errors import InputError, Place, Problems
from incident.ingest.formats.naming import labelled
from incident.ingest.interface import Format, Member, Record
from incident.ingest.names import header_score

HEADER_WITHIN = 30  # rows a header may sit below the top of its sheet
MAX_ROWS = 1 << 20  # Excel's limit
_BATCH = 512
_MAGIC = b"PK\x03\x04"
_UNREADABLE = "not a readable XLSX workbook"


def cell_text(value: object) -> str:
    """A cell's value as text: '' for an empty cell, integral numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else ""


def _rows(sheet: Any, name: str, label: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of a sheet, empty rows too; a sheet that cannot be read to
    its end raises InputError there. openpyxl's messages and warnings may quote a cell, so
    neither gets out: rows are read in batches with warnings off (never across a yield).
    `label` names the sheet in messages (`sheet Keys`, or `sheet 2` for an unsafe title)."""
    sheet.reset_dimensions()  # read every cell, whatever size the sheet claims to be
    rows = sheet.iter_rows(values_only=True)  # one per row number, from row 1
    number = 0
    while True:
        batch: list[Sequence[object]] = []
        broken = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                for values in itertools.islice(rows, _BATCH):
                    batch.append(values)
            except Exception:  # openpyxl, zipfile, zlib and XML errors alike
                broken = True
        for values in batch:
            number += 1
            if number > MAX_ROWS:  # a crafted row number would have us count to it
                raise InputError(f"{label} has more rows than a sheet may",
                                 Place(name, number))
            yield number, [cell_text(v) for v in values]
        if broken:
            raise InputError(f"{_UNREADABLE} ({label})", Place(name, number + 1))
        if len(batch) < _BATCH:
            return


def _local_names(head: bytes) -> Iterator[bytes]:
    """The file names of the zip local headers found in the head."""
    at = head.find(_MAGIC)
    while 0 <= at and at + 30 <= len(head):
        length = int.from_bytes(head[at + 26:at + 28], "little")
        yield head[at + 30:at + 30 + length]
        at = head.find(_MAGIC, at + 4)


def _record(number: int, names: list[str], cells: list[str], sub: str) -> Record | None:
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped, unused-ignore]
    fields = [(names[i] if i < len(names) and names[i] else f"column {get_column_letter(i + 1)}",
               text) for i, text in enumerate(cells) if text]
    return Record(number, fields, sub=sub) if fields else None


class Xlsx(Format):
    name = "xlsx"
    unit = "row"

    def sniff(self, member: Member) -> bool:
        head = member.head()
        if not head.startswith(_MAGIC):
            return False
        try:
            with member.open() as raw:
                if raw.seekable():
                    with zipfile.ZipFile(raw) as archive:
                        return "xl/workbook.xml" in archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass
        # Not seekable, or cut short (no central directory): the local headers tell.
        return any(name.startswith(b"xl/") for name in _local_names(head))

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        # openpyxl is imported when a workbook is read: it costs every command 0.1 s
        from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]
        data = member.read_all()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = load_workbook(BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises whatever its parts raise; may quote content
            raise InputError(_UNREADABLE, Place(member.name)) from None
        try:
            for index, sheet in enumerate(book.worksheets, 1):
                yield from self._sheet(sheet, index, member.name)
        finally:
            book.close()

    def _sheet(self, sheet: Any, index: int, name: str) -> Iterator[Record]:
        # A title may be a key or hold a terminal escape: shown only if safe (naming).
        sub = labelled("sheet", str(sheet.title), index)
        rows = _rows(sheet, name, sub)
        above: list[tuple[int, list[str]]] = []
        header: list[str] | None = None
        for number, cells in rows:
            if header_score([c for c in cells if c]) >= 2:
                header = [c.strip() for c in cells]
                break
            above.append((number, cells))
            if number >= HEADER_WITHIN:
                break
        names = header if header is not None else []
        pending = above if header is None else []
        for number, cells in pending:
            if (record := _record(number, names, cells, sub)) is not None:
                yield record
        for number, cells in rows:
            if (record := _record(number, names, cells, sub)) is not None:
                yield record
