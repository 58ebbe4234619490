from __future__ import annotations

import codecs
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident import registry
from incident.registry import readers
from incident.errors import DuplicateKey, IncidentError, InputError, InputErrors, UnknownLabel
from incident.errors import Problems, UsageError
from incident.fingerprint import hmsl
from incident.secret import Secret
from incident.settings import Settings
from incident.store import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "keys_import"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(Settings(data_dir=tmp_path / "home")) as s:
        yield s


def state(store: Store) -> list[tuple[object, ...]]:
    """Everything the registry holds: keys and the events that added them."""
    rows = list(store.conn.execute("SELECT * FROM keys ORDER BY id"))
    return rows + list(store.conn.execute("SELECT * FROM key_sources ORDER BY id"))


def write(tmp_path: Path, text: str, name: str = "keys.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def labels(store: Store) -> dict[str, dict[str, object]]:
    return {k.label: k.to_json() for k in registry.list_keys(store)}


# One data file per malformed case, with every line of the expected message.
BAD = {
    "missing_column.csv": ["1: missing column 'api_key'"],
    "unknown_column.csv": ["1: header cell 5 is not a column this layout takes (exchange, "
                           "label, api_key, api_secret, passphrase)"],
    "header_runs_into_row.csv": [f"1: header cell {n} is not a column this layout takes"
                                 for n in (5, 6, 7, 8, 9)],
    "lone_cr.csv": ["1: lines end in a lone CR (classic Mac)"],
    "unterminated_quote.csv": ["3: malformed CSV (unexpected end of data); reading stopped"],
    "mapping_cleartext_quoted.txt": [f"{n}: the name is the secret itself" for n in (1, 2)],
    "column_twice.csv": ["1: column 'api_key': column named twice"],
    "ragged_rows.csv": ["3: 3 columns, header has 4", "4: 5 columns, header has 4"],
    "unknown_exchange.csv": ["2: column 'exchange': unknown exchange 'binanse' (did you mean "
                             "binance?)",
                             "3: column 'exchange': unknown exchange (value not shown); known: "
                             "binance"],
    "empty_key.csv": ["2: column 'api_key': empty value", "3: column 'api_key': empty value"],
    "bad_label.csv": ["2: column 'label': empty, longer than 200 characters, or unprintable",
                      "3: column 'label': empty, longer than 200 characters, or unprintable"],
    "label_twice.csv": ["4: column 'label': the same label as line 2"],
    "key_twice.csv": ["4: column 'api_key': the same key as line 2"],
    "bad_fingerprint.csv": ["3: column 'key_sha256': not a fingerprint of 64 hex characters",
                            "4: column 'key_sha256': not a fingerprint of 64 hex characters",
                            "4: column 'secret_sha256': not a fingerprint of 64 hex characters"],
    "bad_has_passphrase.csv": ["2: column 'has_passphrase': expected true/false, yes/no, 1/0 "
                               "or empty"],
    "not_utf8.csv": ["3: not valid UTF-8 (byte 12 of the line)"],
    "nul_byte.csv": ["2: column 'api_key': contains control characters"],
    "empty.csv": [": empty file: no header and no rows"],
    "unrecognised_header.csv": ["1: header names neither a plaintext layout"],
    "mapping_cleartext.txt": ["2: the name is the secret itself (ggshield --naming-strategy "
                              "cleartext): this file holds plaintext"],
}


def test_every_malformed_case_has_a_data_file() -> None:
    assert sorted(BAD) == sorted(p.name for p in DATA.iterdir())


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_names_each_place_and_stores_nothing(store: Store, name: str) -> None:
    registry.add_key(store, "okx", "existing", Secret("existing-key"), None, True, "stdin")
    before = state(store)
    with pytest.raises(InputError) as e:
        registry.import_file(store, DATA / name, exchange="binance" if name.endswith(".txt")
                             else None)
    message = str(e.value)
    for expected in BAD[name]:
        assert f"{DATA / name}:{expected}" in message or f"{DATA / name}{expected}" in message
    assert e.value.exit_code == 3
    assert state(store) == before


def test_a_mapping_without_an_exchange_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, f"{hmsl('k').hex()}:name\n", "mapping.txt")
    with pytest.raises(UsageError, match="pass --exchange"):
        registry.import_file(store, path)


def test_plaintext_is_hashed_canonically(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "exchange,label,api_key,api_secret,passphrase\n"
                           'Binance,alice," k1 ",s1,pp\nGate.io,bob,k2,,\n')
    result = registry.import_file(store, path)
    assert (result.layout, result.rows, result.added, result.updated, result.unchanged) == (
        "plaintext", 2, 2, 0, 0)
    got = labels(store)
    assert got["alice"] | {"added_at": None} == {
        "label": "alice", "exchange": "binance", "key_sha256": sha("k1"),
        "secret_sha256": sha("s1"), "key_hmsl": None, "secret_hmsl": None,
        "has_passphrase": True, "source": "import", "source_file": str(path),
        "source_line": 2, "added_at": None}
    assert got["bob"]["exchange"] == "gate" and got["bob"]["secret_sha256"] is None
    assert got["bob"]["has_passphrase"] is False


def test_without_a_passphrase_column_its_presence_is_unknown(store: Store,
                                                             tmp_path: Path) -> None:
    registry.import_file(store, write(tmp_path, "exchange,label,api_key\nokx,a,k1\n"))
    assert labels(store)["a"]["has_passphrase"] is None


@pytest.mark.parametrize("encoding, text", [
    ("utf-8-sig", "exchange;label;api_key;api_secret\nbinance;a;k1;s1\n"),
    ("utf-16", "exchange\tlabel\tapi_key\tapi_secret\r\nbinance\ta\tk1\ts1\r\n"),
    ("utf-8", "\n\nEXCHANGE | Label | API_KEY | api_secret\nbinance|a|k1|s1\n"),
    ("utf-8", 'exchange,label,api_key,api_secret\nbinance,a,"k1","s1"\n'),
])
def test_encodings_and_delimiters(store: Store, tmp_path: Path, encoding: str,
                                  text: str) -> None:
    registry.import_file(store, write(tmp_path, text, encoding=encoding))
    got = labels(store)["a"]
    assert (got["key_sha256"], got["secret_sha256"]) == (sha("k1"), sha("s1"))


def test_a_quoted_label_may_hold_the_delimiter(store: Store, tmp_path: Path) -> None:
    registry.import_file(store, write(tmp_path, 'exchange,label,api_key\nokx,"Doe, J.",k1\n'))
    assert list(labels(store)) == ["Doe, J."]


def test_fingerprint_layout(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "label,exchange,key_sha256,secret_sha256,has_passphrase\n"
                           f"a,okx,{sha('k1').upper()},{sha('s1')},yes\nb,okx,{sha('k2')},,\n")
    result = registry.import_file(store, path)
    assert result.layout == "fingerprints"
    got = labels(store)
    assert got["a"]["key_sha256"] == sha("k1") and got["a"]["has_passphrase"] is True
    assert got["b"]["secret_sha256"] is None and got["b"]["has_passphrase"] is None


def test_fingerprint_layout_takes_the_exchange_option_for_files_without_one(
        store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, f"label,key_sha256\na,{sha('k1')}\n")
    registry.import_file(store, path, exchange="kraken")
    assert labels(store)["a"]["exchange"] == "kraken"


def test_ggshield_mapping(store: Store, tmp_path: Path) -> None:
    h1, h2 = hmsl("key-one").hex(), hmsl("key-two").hex()
    path = write(tmp_path, f"{h1}:key-***one\n{h2}\n", "mapping.txt")
    result = registry.import_file(store, path, exchange="bybit")
    assert result.layout == "hmsl-mapping"
    got = labels(store)
    assert got["key-***one"]["key_hmsl"] == h1 and got["key-***one"]["key_sha256"] is None
    assert got[f"hmsl:{h2[:16]}"]["exchange"] == "bybit"


def test_hmsl_on_request(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "exchange,label,api_key,api_secret\nbinance,a,k1,s1\nbinance,b,k2,\n")
    registry.import_file(store, path, with_hmsl=True)
    got = labels(store)
    assert got["a"]["key_hmsl"] == hmsl("k1").hex() and got["a"]["secret_hmsl"] == hmsl("s1").hex()
    assert got["b"]["key_hmsl"] == hmsl("k2").hex() and got["b"]["secret_hmsl"] is None


@pytest.fixture(params=["careful", "bulk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test in both import modes: bulk is chosen for any file when its threshold is 0."""
    if request.param == "bulk":
        monkeypatch.setattr(registry, "BULK_MIN_ROWS", 0)
        monkeypatch.setattr(registry, "BYTES_PER_ROW_MIN", 1)
    return str(request.param)


def many(n: int, start: int = 0) -> str:
    return "exchange,label,api_key,api_secret\n" + "".join(
        f"binance,user-{i},key-{i},secret-{i}\n" for i in range(start, start + n))


def test_reimport_changes_nothing(store: Store, tmp_path: Path, mode: str) -> None:
    path = write(tmp_path, many(25_000))
    assert registry.import_file(store, path).added == 25_000
    before = state(store)
    again = registry.import_file(store, path)
    assert (again.rows, again.added, again.unchanged) == (25_000, 0, 25_000)
    assert state(store) == before


def test_a_file_that_overlaps_the_registry_adds_only_the_new(store: Store, tmp_path: Path,
                                                             mode: str) -> None:
    registry.import_file(store, write(tmp_path, many(100), "a.csv"))
    result = registry.import_file(store, write(tmp_path, many(150, start=50), "b.csv"))
    assert (result.added, result.unchanged) == (100, 50)
    assert len(labels(store)) == 200


def test_both_modes_store_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, many(3_000))
    results = []
    for name in ("careful", "bulk"):
        if name == "bulk":
            monkeypatch.setattr(registry, "BULK_MIN_ROWS", 0)
            monkeypatch.setattr(registry, "BYTES_PER_ROW_MIN", 1)
        with Store.open(Settings(data_dir=tmp_path / name)) as s:
            registry.import_file(s, path)
            results.append(list(s.conn.execute(
                "SELECT label, exchange, key_sha256, secret_sha256, source_line FROM keys"
                " ORDER BY label")))
    assert results[0] == results[1] and len(results[0]) == 3_000


def test_clashes_in_the_file_are_named_in_both_modes(store: Store, tmp_path: Path,
                                                     mode: str) -> None:
    text = many(40) + "binance,user-7,other-key,s\nbinance,someone,key-9,s\n"
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, write(tmp_path, text))
    assert [str(p).split(":", 1)[1] for p in e.value.problems] == [
        "42: column 'label': the same label as line 9",
        "43: column 'api_key': the same key as line 11"]
    assert state(store) == []


def test_clashes_with_the_registry(store: Store, tmp_path: Path, mode: str) -> None:
    registry.add_key(store, "binance", "alice", Secret("k1"), Secret("s1"), False, "stdin")
    text = ("exchange,label,api_key,api_secret\nbinance,alice,k-other,s1\n"
            "binance,bob,k1,s2\n")
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, write(tmp_path, text))
    assert [str(p).split(":", 1)[1] for p in e.value.problems] == [
        "2: column 'label': already registered with other fingerprints or exchange "
        "(remove it first to replace it)",
        "3: column 'api_key': this key is already registered as 'alice'"]
    assert list(labels(store)) == ["alice"]


def test_add_key(store: Store) -> None:
    added = registry.add_key(store, "OKX", "mine", Secret(" k1 "), Secret("s1"), True, "prompt")
    assert added.key_sha256 == bytes.fromhex(sha("k1")) and added.key_hmsl == hmsl("k1")
    assert added.secret_hmsl == hmsl("s1") and added.has_passphrase is True
    assert labels(store)["mine"] == added.to_json()
    with pytest.raises(InputError, match="label 'mine' is already registered"):
        registry.add_key(store, "okx", "mine", Secret("k2"), None, False, "prompt")
    with pytest.raises(DuplicateKey, match="already registered as 'mine'"):
        registry.add_key(store, "okx", "other", Secret('"k1"'), None, False, "prompt")
    with pytest.raises(InputError, match="label: empty"):
        registry.add_key(store, "okx", "  ", Secret("k3"), None, False, "prompt")
    assert list(labels(store)) == ["mine"]


def test_remove_is_all_or_nothing(store: Store) -> None:
    for label in ("a", "b"):
        registry.add_key(store, "okx", label, Secret(f"key-{label}"), None, False, "stdin")
    with pytest.raises(UnknownLabel, match="no key labelled 'zz'; nothing was removed"):
        registry.remove_keys(store, ["a", "zz"])
    assert list(labels(store)) == ["a", "b"]
    assert registry.remove_keys(store, ["a", "b"]) == 2
    assert labels(store) == {}


def test_list_filters_by_exchange(store: Store) -> None:
    registry.add_key(store, "okx", "a", Secret("k1"), None, False, "stdin")
    registry.add_key(store, "kraken", "b", Secret("k2"), None, False, "stdin")
    assert [k.label for k in registry.list_keys(store, "OKEx")] == ["a"]


VALID = many(5).encode() + f"okx,z,k,s\n".encode()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=300),
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=3)),
             min_size=1, max_size=6).map(lambda edits: _mutate(VALID, edits)),
))
def test_no_input_crashes_the_importer_or_half_stores(store: Store, tmp_path: Path,
                                                      data: bytes) -> None:
    seed = uuid.uuid4().hex  # the registry is shared by the examples: a fresh key each time
    registry.add_key(store, "okx", f"seed-{seed}", Secret(seed), None, False, "stdin")
    before = state(store)
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        result = registry.import_file(store, path, exchange="binance")
    except IncidentError as e:
        assert e.exit_code in (2, 3)
        assert state(store) == before
    else:
        assert len(state(store)) >= len(before) and result.rows >= result.added


def _mutate(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for at, new in edits:
        out[at:at + len(new)] = new
    return bytes(out)


def test_bom_only_file_is_empty(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8)
    with pytest.raises(InputError, match="empty file"):
        registry.import_file(store, path)


def test_a_later_import_may_fill_in_what_was_unknown(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "exchange,label,api_key,api_secret\nokx,a,k1,s1\nokx,b,k2,\n")
    registry.import_file(store, path)
    filled = registry.import_file(store, path, with_hmsl=True)
    assert (filled.added, filled.updated, filled.unchanged) == (0, 2, 0)
    assert labels(store)["a"]["key_hmsl"] == hmsl("k1").hex()
    before = state(store)
    again = registry.import_file(store, path, with_hmsl=True)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert state(store) == before


def test_a_duplicate_of_a_registered_row_inside_one_file_is_named(store: Store,
                                                                 tmp_path: Path) -> None:
    registry.add_key(store, "okx", "L", Secret("KEYDUPDUP1"), None, False, "stdin")
    before = state(store)
    path = write(tmp_path, "exchange,label,api_key\nokx,L,KEYDUPDUP1\nokx,L,KEYDUPDUP1\n")
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, path)
    assert [str(p).split(":", 1)[1] for p in e.value.problems] == [
        "3: column 'label': the same label as line 2"]
    assert state(store) == before


def test_a_line_longer_than_the_limit_is_skipped_and_named(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"exchange,label,api_key\nokx,a,k1\n" + b"x" * (readers.MAX_LINE + 5)
                     + b"\nokx,b,k2\n")
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, path)
    assert [str(p) for p in e.value.problems] == [f"{path}:3: longer than 1 MiB; skipped"]


def test_problems_keep_the_first_lines_whatever_order_they_arrive_in() -> None:
    problems = Problems("f.csv", limit=3)
    for line in (40, 7, 99, 2, 15):
        problems.add("bad", line)
    assert [p.place.line for p in problems.kept if p.place] == [2, 7, 15]
    assert problems.total == 5


def test_a_fifo_imports_without_a_position(store: Store, tmp_path: Path) -> None:
    fifo = tmp_path / "keys.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=("exchange,label,api_key\nokx,a,k1\n",))
    writer.start()
    assert registry.import_file(store, fifo).added == 1
    writer.join(timeout=10)


@pytest.mark.parametrize("readers_n", [2, 3])
def test_split_reading_stores_and_reports_exactly_as_one_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers_n: int) -> None:
    text = many(3_000)
    path = write(tmp_path, text)
    results = []
    for n in (1, readers_n):
        monkeypatch.setattr(registry, "READERS", n)
        monkeypatch.setattr(registry, "SPLIT_MIN_BYTES", 0)
        with Store.open(Settings(data_dir=tmp_path / f"home-{n}")) as s:
            registry.import_file(s, path)
            results.append(list(s.conn.execute(
                "SELECT label, exchange, key_sha256, secret_sha256, source_line FROM keys"
                " ORDER BY source_line")))
    assert results[0] == results[1] and len(results[0]) == 3_000
    assert [r[4] for r in results[1]] == list(range(2, 3_002))


def test_split_reading_names_the_right_lines_in_every_range(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SPLIT_MIN_BYTES", 0)
    lines = many(4_000).splitlines()
    lines[10] = "binance,bad-early"        # line 11
    lines[3_500] = "binance,bad-late"      # line 3501, in the second range
    lines[3_600] = "binance,user-5,k,s"    # line 3601: label of line 7
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, write(tmp_path, "\n".join(lines) + "\n"))
    assert [str(p).split(":", 1)[1] for p in e.value.problems] == [
        "11: 2 columns, header has 4", "3501: 2 columns, header has 4",
        "3601: column 'label': the same label as line 7"]


def test_files_that_are_not_split(tmp_path: Path) -> None:
    cases = {
        "quoted.csv": b'exchange,label,api_key\nokx,"a",k\n' * 2,
        "utf16.csv": "exchange,label,api_key\nokx,a,k\n".encode("utf-16"),
        "mapping.txt": f"{hmsl('k').hex()}:n\n".encode() * 2,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with open(path, "rb") as raw:
            assert readers.split_ranges(raw, 2, 0) == [(0, None)], name
    plain = write(tmp_path, many(100))
    with open(plain, "rb") as raw:
        ranges = readers.split_ranges(raw, 2, 0)
        assert len(ranges) == 2 and ranges[0][0] == 0 and ranges[1][1] == plain.stat().st_size
        raw.seek(ranges[1][0] - 1)
        assert raw.read(1) == b"\n"


def test_a_fill_never_joins_two_different_keys(store: Store, tmp_path: Path) -> None:
    mapping = write(tmp_path, f"{hmsl('REALKEY').hex()}:acct1\n", "mapping.txt")
    registry.import_file(store, mapping, exchange="binance")
    before = state(store)
    other = write(tmp_path, "exchange,label,api_key,api_secret\nbinance,acct1,OTHERKEY,S\n")
    with pytest.raises(InputErrors, match="2: column 'label': already registered with other"):
        registry.import_file(store, other)
    assert state(store) == before


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split even small files between two readers."""
    monkeypatch.setattr(registry, "SPLIT_MIN_BYTES", 0)


def test_split_a_bom_mapping_is_read_whole(store: Store, tmp_path: Path, split: None) -> None:
    lines = "".join(f"{hmsl(f'k{i}').hex()}:n{i}\n" for i in range(10))
    path = tmp_path / "mapping.txt"
    path.write_bytes(codecs.BOM_UTF8 + lines.encode())
    assert registry.import_file(store, path, exchange="binance").added == 10


def test_split_never_cuts_before_the_header(store: Store, tmp_path: Path, split: None) -> None:
    path = write(tmp_path, "\n" * 1000 + many(3))
    result = registry.import_file(store, path)
    assert result.added == 3
    assert sorted(k["source_line"] for k in labels(store).values()) == [1002, 1003, 1004]


def test_split_a_long_line_does_not_make_a_range_overrun(store: Store, tmp_path: Path,
                                                         split: None) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(many(2).encode() + b"x" * (readers.MAX_LINE + 5) + b"\n"
                     + many(200, start=2).split("\n", 1)[1].encode())
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, path)
    assert [str(p) for p in e.value.problems] == [f"{path}:4: longer than 1 MiB; skipped"]


def test_split_clashes_name_the_later_line(store: Store, tmp_path: Path, split: None) -> None:
    text = many(400) + "binance,LX,key-0,SECX\n"
    with pytest.raises(InputErrors) as e:
        registry.import_file(store, write(tmp_path, text))
    assert [str(p).split(":", 1)[1] for p in e.value.problems] == [
        "402: column 'api_key': the same key as line 2"]
