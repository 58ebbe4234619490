"""Shared fuzzing helpers for the ingest tests: hypothesis settings, edit strategies that
mutate a seed (text or bytes), and `survive`, the check that reading a member with a Format
raises nothing but InputError, yields well-formed Records, and names no value in a message."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest.interface import Format, Member, Record

# The base for every fuzz test; a test narrows it with settings(FUZZ, max_examples=...).
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any bytes, or the UTF-8 of any text: what a format must survive with no seed at all.
RANDOM_BYTES = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))

TextEdit = tuple[int, int, str]  # (at, cut, junk): replace text[at:at + cut] by junk
ByteEdit = tuple[str, int, int]  # (op, at, byte): delete, insert or flip a bit of one byte


def text_edits(junk: st.SearchStrategy[str], reach: int, cut: int = 12,
               most: int = 6) -> st.SearchStrategy[list[TextEdit]]:
    """Up to `most` edits, each at an offset below `reach` (wrapped to the text), cutting up
    to `cut` characters and putting junk from the given strategy in their place."""
    return st.lists(st.tuples(st.integers(0, reach), st.integers(0, cut), junk), max_size=most)


def mutate(text: str, edits: list[TextEdit]) -> str:
    for at, cut, junk in edits:
        at %= len(text) + 1
        text = text[:at] + junk + text[at + cut:]
    return text


def byte_edits(reach: int, most: int) -> st.SearchStrategy[list[ByteEdit]]:
    """One to `most` byte edits, each at an offset below `reach` (wrapped to the data)."""
    return st.lists(st.tuples(st.sampled_from(["delete", "insert", "flip"]),
                              st.integers(0, reach), st.integers(0, 255)),
                    min_size=1, max_size=most)


def mutate_bytes(data: bytes, edits: list[ByteEdit]) -> bytes:
    out = bytearray(data)
    for op, at, byte in edits:
        at %= max(len(out), 1)
        if op == "delete" and out:
            del out[at]
        elif op == "insert":
            out.insert(at, byte)
        elif out:
            out[at] ^= 1 << (byte % 8)
    return bytes(out)


def no_fake(message: str) -> bool:
    return "FAKE" not in message


def survive(fmt: Format, data: bytes, *, name: str = "fuzz",
            clean: Callable[[str], bool] = no_fake) -> list[Record]:
    """Sniffing and reading raise nothing but InputError, every record is a Record with a
    position and string fields, and neither the error nor any problem fails `clean`.
    Returns the records read (those before an InputError, if one was raised)."""
    member = Member.of_bytes(name, data)
    fmt.sniff(member)
    problems = Problems(name)
    records: list[Record] = []
    try:
        for record in fmt.records(member, problems):
            assert isinstance(record, Record) and record.position >= 1
            assert all(isinstance(n, str) and isinstance(v, str) for n, v in record.fields)
            records.append(record)
    except InputError as e:
        assert clean(str(e)), str(e)
    assert all(clean(str(p)) for p in problems.kept), [str(p) for p in problems.kept]
    return records
