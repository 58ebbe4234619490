"""No input makes ingestion crash: random and mutated bytes through format detection,
every format's records, extraction and archive expansion raise nothing but InputError."""

from __future__ import annotations

import gzip
import io
import zipfile

from hypothesis import given
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest import archives
from incident.ingest.extract import extract
from incident.ingest.formats import detect, registry
from incident.ingest.interface import Member
from tests.unit.ingest.fuzzing import FUZZ

VALID = [
    b"id,exchange,api_key,api_secret\n1,binance," + b"A1b2" * 16 + b"," + b"C3d4" * 16 + b"\n",
    b'{"users": [{"apiKey": "' + b"x9Y8" * 16 + b'", "secret": "' + b"Q7w6" * 16 + b'"}]}',
    b"INSERT INTO k (key, secret) VALUES ('" + b"a" * 20 + b"', 'b');\n",
    b"BINANCE_API_KEY=" + b"Zz09" * 16 + b"\nBINANCE_API_SECRET=" + b"Yy18" * 16 + b"\n",
    b"<html><body><pre>" + b"k1" * 32 + b":" + b"s2" * 32 + b"</pre></body></html>",
]


def read_everything(data: bytes, name: str = "fuzz.bin") -> None:
    member = Member.of_bytes(name, data)
    try:
        for inner in archives.expand(member, 1 << 20):
            if isinstance(inner, archives.Unreadable):
                assert inner.reason and inner.name.startswith(name)
                continue
            fmt = detect(inner)
            formats = [fmt] if fmt is not None else []
            for f in formats:
                for record in f.records(inner, Problems(inner.name)):
                    extract(record, loose=f.name == "text")
    except InputError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    read_everything(data)


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=4)),
                                         max_size=6))
def test_mutated_dumps(base: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(base)
    for at, new in edits:
        at %= len(data) + 1
        data[at:at + len(new)] = new  # overwrite (a flip), or insert at the end
    read_everything(bytes(data))


@FUZZ
@given(st.sampled_from(VALID), st.integers(1, 400))
def test_truncated_archives(base: bytes, cut: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/dump.txt", base)
    for packed in (buf.getvalue(), gzip.compress(base)):
        read_everything(packed[:cut], "dump.zip")


@FUZZ
@given(st.text(max_size=500))
def test_every_format_reads_any_text(text: str) -> None:
    """Each format's records() on text it did not claim still fails only by InputError."""
    member = Member.of_bytes("any.txt", text.encode("utf-8", "surrogatepass"))
    for fmt in registry().values():
        try:
            for record in fmt.records(member, Problems(member.name)):
                extract(record)
        except InputError:
            pass


def test_a_decompression_bomb_is_capped() -> None:
    bomb = gzip.compress(b"0" * (3 << 20))
    member = Member.of_bytes("bomb.gz", bomb)
    (inner,) = archives.expand(member, 1 << 20)
    assert isinstance(inner, Member)
    try:
        with inner.open() as raw:
            while raw.read(1 << 16):
                pass
    except InputError as e:
        assert str(e) == "bomb.gz!bomb: expands to more than 1 MiB; not read"
    else:
        raise AssertionError("the cap did not hold")


def test_archives_nested_too_deep_are_refused() -> None:
    data = b"key,secret\n"
    for _ in range(archives.MAX_DEPTH + 1):
        data = gzip.compress(data)
    (last,) = archives.expand(Member.of_bytes("deep.gz", data), 1 << 20)
    assert isinstance(last, archives.Unreadable)
    assert last.reason == f"archives nested more than {archives.MAX_DEPTH} deep"
