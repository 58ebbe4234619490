"""The block-at-a-time reader of large CSVs gives exactly what the row-by-row path gives:
same rows, same fingerprints, exchanges, flags and line numbers, same problems."""

from __future__ import annotations

import hashlib
import random
import string
from pathlib import Path

import pytest

from incident.errors import Problems
from incident.ingest import fastpath
from incident.ingest.formats.delimited import Delimited
from incident.ingest.interface import Member
from incident.ingest.pipeline import COLUMNS, _row, _table_batches
from incident.registry import wire

R = random.Random(3)
AN = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def pick(alphabet: str, n: int) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def uuid() -> str:
    return "-".join(pick(HEX, n) for n in (8, 4, 4, 4, 12))


def row(i: int) -> str:
    kind = i % 13
    if kind == 0:
        return f"{i},okx,{uuid()},{pick('0123456789ABCDEF', 32)},pass{i}"
    if kind == 1:
        return f"{i},,{pick(AN, 18)},{pick(AN, 36)},"  # no exchange: shapes say bybit
    if kind == 2:
        return f"{i},bybit,{pick(AN, 36)},{pick(AN, 18)},"  # swapped
    if kind == 3:
        return f"{i},binance,{'x' * 64},{pick(AN, 64)},"  # a placeholder key
    if kind == 4:
        return f"{i},binance,{pick(AN, 64)},changeme,"  # a placeholder secret
    if kind == 5:
        return f"{i},kukoin,{pick(HEX, 24)},{uuid()},pw"  # an alias
    if kind == 6:
        return f"{i},binance,{pick(AN, 60)},{pick(AN, 64)},"  # the wrong length
    if kind == 7:
        return f"{i},gate,{pick(HEX, 32)},{pick(HEX, 64)},"
    if kind == 8:
        return f"{i},somewhere,{pick(AN + '_', 40)},{pick(AN, 50)},"  # unknown
    if kind == 9:
        return f"{i},binance,{pick(AN, 64)}"  # ragged
    if kind == 10:
        return ""  # blank
    if kind == 11:
        return f"{i},kraken,{pick(AN + '+/', 56)},{pick(AN + '+/', 86)}==,"
    return f"{i},binance,{pick(AN, 64)},{pick(AN, 64)}, "


def slow_rows(member: Member, problems: Problems) -> list[tuple[object, ...]]:
    fmt = Delimited()
    header_line, delimiter, cells = fmt.header(member)
    from incident.ingest.extract import TablePlan
    plan = TablePlan(cells)
    out = []
    with member.open() as raw:
        for n, values in fmt.rows(member, problems, raw, header_line, delimiter, len(cells)):
            f = plan.found(values)
            if f is not None:
                out.append(_row(1, f, n))
    return out


def fast_rows(member: Member, problems: Problems) -> list[tuple[object, ...]]:
    out = []
    for _, packed, _ in _table_batches(member, 1, Delimited(), problems, None, 0, None):
        out.extend(wire.unpack(COLUMNS, packed))
    return out


@pytest.mark.parametrize("variant", ["plain", "crlf", "non-ascii", "quote-late", "bom",
                                     "small-blocks"])
def test_fast_equals_slow(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["report of the leak", "", "id,exchange,api_key,api_secret,passphrase"]
    lines += [row(i) for i in range(1, 3000)]
    if variant == "non-ascii":
        lines[1500] = f"1500,binance,{pick(AN, 64)},{pick(AN, 64)},café"
    if variant == "quote-late":
        lines[2000] = f'2000,binance,"{pick(AN, 64)}",{pick(AN, 64)},'
    text = "\r\n".join(lines) if variant == "crlf" else "\n".join(lines)
    data = text.encode("utf-8")
    if variant == "bom":
        data = b"\xef\xbb\xbf" + data
    if variant == "small-blocks":
        monkeypatch.setattr(fastpath, "BLOCK", 1000)
    member = Member.of_bytes("dump.csv", data)
    p_slow, p_fast = Problems("dump.csv", limit=1000), Problems("dump.csv", limit=1000)
    slow = sorted(slow_rows(member, p_slow), key=lambda r: r[-1])  # type: ignore[arg-type, return-value]
    fast = sorted(fast_rows(member, p_fast), key=lambda r: r[-1])  # type: ignore[arg-type, return-value]
    assert len(slow) > 1500
    assert [hashlib.sha256(repr(r).encode()).hexdigest() for r in fast] == \
        [hashlib.sha256(repr(r).encode()).hexdigest() for r in slow]
    assert p_fast.as_tuples() == p_slow.as_tuples() and p_fast.total == p_slow.total


def test_a_split_range_numbers_its_lines(tmp_path: Path) -> None:
    lines = ["id,exchange,api_key,api_secret"] + [
        f"{i},binance,{pick(AN, 64)},{pick(AN, 64)}" for i in range(1, 401)]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    member = Member.of_bytes(str(path), data)
    got = []
    for start, end in ((0, cut), (cut, None)):
        for _, packed, _ in _table_batches(member, 1, Delimited(), Problems("d"), None, start,
                                           end):
            got.extend(r[-1] for r in wire.unpack(COLUMNS, packed))
    assert sorted(got) == list(range(2, 402))
