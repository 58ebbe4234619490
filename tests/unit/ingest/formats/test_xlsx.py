"""Xlsx: workbooks written with openpyxl into tmp_path (no binaries in the repository),
malformed ones cut or rewritten from them, and property tests on random and mutated bytes."""

from __future__ import annotations

import io
import secrets
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]

from incident.errors import InputError, Problems
from incident.ingest.formats.xlsx import Xlsx
from incident.ingest.interface import Member
from tests.unit.ingest.fuzzing import FUZZ, ByteEdit, byte_edits, mutate_bytes, survive

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "xlsx"
K1, S1, K2, S2, K3 = (secrets.token_hex(32) for _ in range(5))
PASS = secrets.token_hex(6)
FMT = Xlsx()

Sheets = list[tuple[str, list[list[object]]]]
Row = tuple[int, str | None, list[tuple[str, str]]]


def workbook(sheets: Sheets) -> bytes:
    """A workbook of the sheets: each a title and its rows from row 1 (None: no cell)."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row, 1):
                if value is not None:
                    sheet.cell(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CASES: list[tuple[str, Sheets, list[Row]]] = [
    ("header in row 1, numbers as text",
     [("Keys", [["Exchange", "API Key", "Secret Key", "Passphrase", "Amount", "Big"],
                ["okx", K1, S1, PASS, 12.0, 1e20],
                ["binance", K2, S2, None, 1.5, 7]])], [
         (2, "sheet Keys", [("Exchange", "okx"), ("API Key", K1), ("Secret Key", S1),
                            ("Passphrase", PASS), ("Amount", "12"),
                            ("Big", "100000000000000000000")]),
         (3, "sheet Keys", [("Exchange", "binance"), ("API Key", K2), ("Secret Key", S2),
                            ("Amount", "1.5"), ("Big", "7")]),
     ]),
    ("a title above the header, a blank header cell, empty rows skipped",
     [("Export", [["Leaked keys, exported 2024-05-01"], [], [" apiKey ", None, "secret"],
                  [K1, "note", S1], [], [], ["  ", None, None], [K2, None, S2]])], [
         (4, "sheet Export", [("apiKey", K1), ("column B", "note"), ("secret", S1)]),
         (8, "sheet Export", [("apiKey", K2), ("secret", S2)]),
     ]),
    ("no header: every row, cells named by column letter",
     [("raw", [[K1, S1], [], [None, None, K3]])], [
         (1, "sheet raw", [("column A", K1), ("column B", S1)]),
         (3, "sheet raw", [("column C", K3)]),
     ]),
    ("an exchange column alone is no header",
     [("s", [["exchange"], ["kraken", K1]])], [
         (1, "sheet s", [("column A", "exchange")]),
         (2, "sheet s", [("column A", "kraken"), ("column B", K1)]),
     ]),
    ("a header below row 30 is not looked for",
     [("late", [[] for _ in range(30)] + [["key", "secret"], [K1, S1]])], [
         (31, "sheet late", [("column A", "key"), ("column B", "secret")]),
         (32, "sheet late", [("column A", K1), ("column B", S1)]),
     ]),
    ("every sheet, each its own header; an uncalculated formula has no value",
     [("A", [["key", "secret"], [K1, "=A2"]]), ("B", [["pass", "exchange"], [PASS, "okx"]])], [
         (2, "sheet A", [("key", K1)]),
         (2, "sheet B", [("pass", PASS), ("exchange", "okx")]),
     ]),
]


@pytest.mark.parametrize("sheets, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rows_become_records(sheets: Sheets, expected: list[Row], tmp_path: Path) -> None:
    path = tmp_path / "keys.xlsx"
    path.write_bytes(workbook(sheets))
    member = Member("keys.xlsx", lambda: path.open("rb"), path.stat().st_size)
    assert FMT.sniff(member)
    problems = Problems("keys.xlsx")
    assert [(r.position, r.sub, list(r.fields)) for r in FMT.records(member, problems)
            ] == expected
    assert not problems


def rewrite(data: bytes, name: str, body: bytes | None) -> bytes:
    """The zip with one member's content replaced (None: left out)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info, src.read(info))
            elif body is not None:
                dst.writestr(info, body)
    return out.getvalue()


def plain_zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in names:
            z.writestr(name, "<x/>")
    return out.getvalue()


VALID = workbook([("Keys", [["key", "secret"], [K1, S1], [K2, S2]])])


@pytest.mark.parametrize("data, claimed", [
    (VALID, True),
    (VALID[:len(VALID) // 2], True),  # cut short: the local headers still tell
    (plain_zip(["keys.csv"]), False),
    (plain_zip(["[Content_Types].xml", "word/document.xml"]), False),
    (plain_zip(["backup/xl/workbook.xml"]), False),
    (plain_zip(["keys.xlsx"]), False),
    (b"PK\x03\x04" + bytes(200), False),
    (b"key,secret\n", False),
    (b"", False),
], ids=["xlsx", "truncated", "zip", "docx", "nested", "zip of xlsx", "garbage", "csv", "empty"])
def test_sniff_claims_workbooks_only(data: bytes, claimed: bool) -> None:
    assert FMT.sniff(Member.of_bytes("upload.bin", data)) is claimed


def unreadable(data: bytes, name: str) -> tuple[list[int], str]:
    """The positions read before the InputError, and its message."""
    positions: list[int] = []
    with pytest.raises(InputError) as caught:
        for record in FMT.records(Member.of_bytes(name, data), Problems(name)):
            positions.append(record.position)
    assert caught.value.__cause__ is None  # nothing chained that could quote the content
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return positions, str(caught.value)


def test_a_truncated_workbook_is_unreadable() -> None:
    assert unreadable(VALID[:len(VALID) // 2], "cut.xlsx") == (
        [], "cut.xlsx: not a readable XLSX workbook")


def test_a_file_named_xlsx_that_is_no_workbook_is_unreadable() -> None:
    data = (DATA / "not_a_workbook.xlsx").read_bytes()
    assert not FMT.sniff(Member.of_bytes("not_a_workbook.xlsx", data))
    assert unreadable(data, "not_a_workbook.xlsx") == (
        [], "not_a_workbook.xlsx: not a readable XLSX workbook")


def test_a_zip_without_a_workbook_is_unreadable() -> None:
    data = rewrite(VALID, "xl/workbook.xml", None)
    assert unreadable(data, "k.xlsx") == ([], "k.xlsx: not a readable XLSX workbook")


def test_a_sheet_cut_inside_a_cell_is_unreadable_from_that_row_and_quotes_nothing() -> None:
    with zipfile.ZipFile(io.BytesIO(VALID)) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    cut = xml[:xml.index(K2.encode()) + 20]  # the XML parser's message would quote this
    positions, message = unreadable(rewrite(VALID, "xl/worksheets/sheet1.xml", cut), "k.xlsx")
    assert (positions, message) == (
        [2], "k.xlsx:3: not a readable XLSX workbook (sheet Keys)")


def test_a_row_number_past_excels_last_is_refused() -> None:
    with zipfile.ZipFile(io.BytesIO(VALID)) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    far = xml.replace(b'<row r="3">', b'<row r="999999999">').replace(b'r="A3"', b'r="A999999999"')
    positions, message = unreadable(rewrite(VALID, "xl/worksheets/sheet1.xml", far), "k.xlsx")
    assert (positions, message) == (
        [2], "k.xlsx:1048577: sheet Keys has more rows than a sheet may")


PROPERTY = settings(FUZZ, max_examples=100, derandomize=True)
EDITS = byte_edits(reach=1 << 16, most=6)


def clean(message: str) -> bool:
    return not any(s[:12] in message for s in (K1, S1, K2, S2))


def check(data: bytes) -> None:
    survive(FMT, data, name="k.xlsx", clean=clean)


@PROPERTY
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_raise_nothing_but_input_error(data: bytes, zip_magic: bool) -> None:
    check(b"PK\x03\x04" + data if zip_magic else data)


@PROPERTY
@given(EDITS)
def test_mutated_workbooks_raise_nothing_but_input_error(edits: list[ByteEdit]) -> None:
    check(mutate_bytes(VALID, edits))


with zipfile.ZipFile(io.BytesIO(VALID)) as _z:
    SHEET_XML = _z.read("xl/worksheets/sheet1.xml")


@PROPERTY
@given(EDITS)
def test_mutated_sheet_xml_raises_nothing_but_input_error(edits: list[ByteEdit]) -> None:
    check(rewrite(VALID, "xl/worksheets/sheet1.xml", mutate_bytes(SHEET_XML, edits)))


KEY_TITLE = "Q7wErT9yUiOp3aSdFg"  # a sheet titled with a key (bybit's shape)


@pytest.mark.parametrize("title, sub", [
    (KEY_TITLE, "sheet 1"),
    ("\x9b31mKeys", "sheet 1"),  # an 8-bit CSI: a terminal escape, valid in XML
    ("Keys\u202e", "sheet 1"),  # a bidi override
    ("api_keys", "sheet api_keys"),
])
def test_a_sheet_title_is_shown_only_if_safe(title: str, sub: str) -> None:
    data = workbook([(title, [["key", "secret"], [K1, S1]])])
    records = list(FMT.records(Member.of_bytes("k.xlsx", data), Problems("k.xlsx")))
    assert [(r.position, r.sub) for r in records] == [(2, sub)]


def test_an_unsafe_title_is_never_in_a_message() -> None:
    data = workbook([("Keys", [["key"]]), (KEY_TITLE, [["key", "secret"], [K1, S1], [K2, S2]])])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("xl/worksheets/sheet2.xml")
    cut = xml[:xml.index(K2.encode()) + 20]
    positions, message = unreadable(rewrite(data, "xl/worksheets/sheet2.xml", cut), "k.xlsx")
    assert (positions, message) == ([2], "k.xlsx:3: not a readable XLSX workbook (sheet 2)")
