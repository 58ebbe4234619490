from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from incident.registry import wire

COLUMNS = ("exchange", "label", "key_sha256", "secret_sha256", "key_hmsl", "secret_hmsl",
           "has_passphrase")
digest = st.binary(min_size=32, max_size=32)
name = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=20)
row = st.tuples(name, name, digest, st.none() | digest, st.none() | digest,
                st.none() | digest, st.none() | st.booleans(), st.integers(1, 2**40))


@given(st.lists(row, max_size=50))
def test_roundtrip_all_columns(rows: list[tuple[object, ...]]) -> None:
    assert wire.unpack(COLUMNS, wire.pack(COLUMNS, rows)) == rows


@given(st.lists(st.tuples(name, name, digest, st.none() | digest, st.integers(1, 10**9)),
                max_size=50))
def test_roundtrip_the_plaintext_layout(rows: list[tuple[object, ...]]) -> None:
    cols = COLUMNS[:4]
    assert wire.unpack(cols, wire.pack(cols, rows)) == rows
