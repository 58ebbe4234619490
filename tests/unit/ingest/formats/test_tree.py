from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest.formats.tree import MAX_DEPTH, Json, JsonLines, Toml, Yaml, tree_records
from incident.ingest.interface import Format, Member
from tests.unit.ingest.fuzzing import FUZZ, RANDOM_BYTES, TextEdit, mutate, survive, text_edits

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest"
# Fake, random: the canary pieces below must never appear in a message.
K = "FAKEq8Zk2mT9vL4xR7pW3nB6cY1dH5jF0sG8aE2uQ7iO4wX9rT6yU3pL1kM5nB8v"
S = "FAKEh3Jd8Ks2Lq9Wm4Nx7Pc1Vb6Zr5Ty0Ua8Ie3Ow2Qp9As4Df7Gh1Jk6Lz5Xc3V"
K2, S2 = "FAKEv7dkHGQSdOUzzQ", "FAKEYPFRwlKd1ygZqN0O4lrE8dvvZmrv82Cv"
PIECES = {v[i:i + 12] for v in (K, S, K2, S2) for i in range(len(v) - 11)}
FORMATS: list[Format] = [Json(), JsonLines(), Yaml(), Toml()]

Row = tuple[int, list[tuple[str, str]], str, str | None, str | None]


def read(fmt: Format, payload: str | bytes, name: str = "dump") -> tuple[list[Row], list[str]]:
    data = payload.encode() if isinstance(payload, str) else payload
    problems = Problems(name)
    records = [(r.position, list(r.fields), r.text, r.exchange, r.sub)
               for r in fmt.records(Member.of_bytes(name, data), problems)]
    return records, [str(p) for p in problems.kept]


def clean(message: str) -> bool:
    return "FAKE" not in message and not any(p in message for p in PIECES)


# (payload, records: (position, fields, text, exchange, sub))
JSON_CASES: list[tuple[str, list[Row]]] = [
    (json.dumps({"key": K, "secret": S, "n": 12, "ok": True, "none": None}),
     [(1, [("key", K), ("secret", S), ("n", "12")], "", None, None)]),
    ('{"passphrase": 1.10, "big": 1e3, "huge": ' + "9" * 5000 + "}",
     [(1, [("passphrase", "1.10"), ("big", "1e3"), ("huge", "9" * 5000)], "", None, None)]),
    (json.dumps({"binance": {"apiKey": K, "secret": S}}),
     [(1, [("apiKey", K), ("secret", S)], "", "binance", "$.binance")]),
    (json.dumps({"Gate.io": [{"key": K}, {"key": K2, "extra": {"secret": S2}}]}),
     [(1, [("key", K)], "", "Gate.io", "$['Gate.io'][0]"),
      (2, [("key", K2)], "", "Gate.io", "$['Gate.io'][1]"),
      (3, [("secret", S2)], "", "Gate.io", "$['Gate.io'][1].extra")]),
    (json.dumps({"exchange": {"name": "okex", "apiKey": K, "ccxt": {"timeout": 3}}}),
     [(1, [("name", "okex"), ("apiKey", K)], "", "okex", "$.exchange"),
      (2, [("timeout", "3")], "", "okex", "$.exchange.ccxt")]),
    (json.dumps([["exchange", "api_key", "api_secret"], ["binance", K, S], ["okx", K2, S2, 7],
                 [1, 2]]),
     [(1, [("exchange", "binance"), ("api_key", K), ("api_secret", S)], "", None, "$[1]"),
      (2, [("exchange", "okx"), ("api_key", K2), ("api_secret", S2), ("4", "7")], "", None,
       "$[2]")]),
    (json.dumps({"rows": [[K, S], [K2, None, S2]]}),
     [(1, [("1", K), ("2", S)], "", None, "$.rows[0]"),
      (2, [("1", K2), ("3", S2)], "", None, "$.rows[1]")]),
    (json.dumps({"note": "old", "lines": [f"{K}:{S}", 5, f"{K2}:{S2}"]}),
     [(1, [("note", "old")], f"{K}:{S}\n{K2}:{S2}", None, None)]),
    (json.dumps([f"{K}:{S}", {"key": K2}]),
     [(1, [], f"{K}:{S}", None, None), (2, [("key", K2)], "", None, "$[1]")]),
    (json.dumps({K: {"secret": S}, "api keys": {"key": K2}, "sub_account_12": {"x": "y"},
                 "EXCHANGE_SETTINGS": {"a": "b"}, "FAKEvHGQSdOUzzQ": {"c": "d"}}),
     [(1, [("secret", S)], "", None, "$.<key 1>"),
      (2, [("key", K2)], "", None, "$['api keys']"),
      (3, [("x", "y")], "", None, "$.<key 3>"),
      (4, [("a", "b")], "", None, "$.EXCHANGE_SETTINGS"),
      (5, [("c", "d")], "", None, "$.<key 5>")]),
    (json.dumps(f"{K}:{S}"), [(1, [], f"{K}:{S}", None, None)]),
    ("{}", []),
    ("[[], {}, [[]]]", []),
]


@pytest.mark.parametrize("payload, expected", JSON_CASES)
def test_json_records(payload: str, expected: list[Row]) -> None:
    assert read(Json(), payload) == (expected, [])


def test_a_freqtrade_config_is_one_record_with_its_exchange() -> None:
    records, problems = read(Json(), (DATA / "json" / "freqtrade_config.json").read_bytes())
    assert problems == []
    assert records == [
        (1, [("max_open_trades", "3"), ("stake_currency", "USDT"),
             ("stake_amount", "unlimited")], "", None, None),
        (2, [("name", "binance"), ("key", K), ("secret", S)], "BTC/USDT\nETH/USDT\nBNB/.*",
         "binance", "$.exchange"),
        (3, [("method", "StaticPairList")], "", None, "$.pairlists[0]"),
        (4, [("token", ""), ("chat_id", "")], "", None, "$.telegram"),
        (5, [("listen_ip_address", "127.0.0.1"), ("listen_port", "8080")], "", None,
         "$.api_server"),
    ]


def test_json_lines_position_is_the_line_and_a_bad_line_is_a_problem() -> None:
    payload = (f'{{"key": "{K}", "secret": "{S}"}}\n\n{{"key": "{K2}",}}\n'
               f'{{"binance": {{"key": "{K2}"}}}}\r\n')
    assert read(JsonLines(), payload) == (
        [(1, [("key", K), ("secret", S)], "", None, None),
         (4, [("key", K2)], "", "binance", "$.binance")],
        ["dump:3: invalid JSON"])


YAML_CASES: list[tuple[str, list[Row]]] = [
    # numbers and dates keep their text; a bool is no credential
    ("binance:\n  key: 0123\n  secret: 1.10\n  pass: yes\n  since: 2024-01-01\n"
     "  n: !!int FAKE1\n  b: !!bool FAKE2\n",
     [(1, [("key", "0123"), ("secret", "1.10"), ("since", "2024-01-01"), ("n", "FAKE1"),
           ("b", "FAKE2")], "", "binance", "$.binance")]),
    (f"defaults: &d\n  key: {K}\nprod:\n  <<: *d\n  secret: {S}\nagain: *d\n",
     [(1, [("key", K)], "", None, "$.defaults"),
      (2, [("key", K), ("secret", S)], "", None, "$.prod")]),
    (f"key: {K}\n---\nkey: {K2}\n...\n",
     [(1, [("key", K)], "", None, "document 1"), (2, [("key", K2)], "", None, "document 2")]),
    (f"exchange:\n  name: gateio\n  api_key: '{K}'\npairs:\n  - BTC_USDT\n",
     [(1, [], "BTC_USDT", None, None),
      (2, [("name", "gateio"), ("api_key", K)], "", "gateio", "$.exchange")]),
    ("", []),
]


@pytest.mark.parametrize("payload, expected", YAML_CASES)
def test_yaml_records(payload: str, expected: list[Row]) -> None:
    assert read(Yaml(), payload) == (expected, [])


def test_yaml_aliases_are_walked_once() -> None:
    lines = ['a: &a ["FAKEx", "FAKEy"]'] + [
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    records, problems = read(Yaml(), "\n".join(lines))
    assert problems == [] and records == [(1, [], "FAKEx\nFAKEy", None, None),
                                          (2, [("1", "FAKEx"), ("2", "FAKEy")], "", None,
                                           "$.b[0]")]


def test_toml_records() -> None:
    payload = (f'title = "bots"\n[binance]\napi_key = "{K}"\napi_secret = "{S}"\nrate = 1.50\n'
               f'[[okx]]\napiKey = "{K2}"\nwhen = 1979-05-27\n')
    assert read(Toml(), payload) == (
        [(1, [("title", "bots")], "", None, None),
         (2, [("api_key", K), ("api_secret", S), ("rate", "1.50")], "", "binance",
          "$.binance"),
         (3, [("apiKey", K2), ("when", "1979-05-27")], "", "okx", "$.okx[0]")], [])


# (name, payload, the formats among these four that claim it)
SNIFF: list[tuple[str, str | bytes, set[str]]] = [
    ("a", '{"a": 1}', {"json"}),
    ("a", ' \n[{"a": 1},\n {"b": 2}]', {"json"}),
    ("a", "[1, 2]", {"json"}),
    ("a", codecs.BOM_UTF16_LE + '{"a": 1}'.encode("utf-16-le"), {"json"}),
    ("a", codecs.BOM_UTF8 + b'{"a": 1}\n{"b": 2}\n', {"jsonl"}),
    ("a", '{"a": 1}\n{"b": 2}\n{"c": ', {"jsonl"}),
    ("a", f'[binance]\nkey = "{K}"\nsecret = "{S}"\n', {"toml"}),
    ("a", f'[[bots]]\nkeys = [\n  "{K}",\n]\n', {"toml"}),
    ("a", f"binance:\n  key: {K}\n  secret: {S}\n", {"yaml"}),
    ("a", f"---\nkey: {K}\nsecret: {S}\n", {"yaml"}),
    ("a", f"accounts:\n- key: {K}\n  secret: {S}\n", {"yaml"}),
    ("a.yml", "hello", {"yaml"}),
    ("a.toml", "hello", {"toml"}),
    ("a", f"key: {K}\nsecret: {S}\n", set()),  # flat: could be a paste; text reads it
    ("a", f"{K}:{S}\n{K2}:{S2}\n", set()),
    ("a", f"exchange,api_key,api_secret\nbinance,{K},{S}\n", set()),
    ("a", f'"exchange","api_key"\n"binance","{K}"\n', set()),
    ("a", f"[binance]\nkey = {K}\nsecret = {S}\n", set()),  # INI
    ("a", "---\ntitle: notes\n---\n# Keys\nSome prose here.\nMore prose.\n", set()),
    ("a", f"Binance:\n  key: {K}: {S}\n", set()),  # not YAML after all
    ("a", "-- MySQL dump\nINSERT INTO `k` VALUES (1);\n", set()),
    ("a.json", b"\x00\x01\x02\x03" * 8, set()),
    ("a", "", set()),
]


@pytest.mark.parametrize("name, payload, claimed", SNIFF)
def test_sniff(name: str, payload: str | bytes, claimed: set[str]) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    member = Member.of_bytes(name, data)
    assert {f.name for f in FORMATS if f.sniff(member)} == claimed


# One data file per malformed case: the format, and every line of the expected message.
BAD: dict[str, tuple[Format, list[str]]] = {
    "json/missing_comma.json": (Json(), [
        "missing_comma.json:5: invalid JSON (Expecting ',' delimiter) at line 5 column 5"]),
    "json/unterminated_string.json": (Json(), [
        "unterminated_string.json:1: invalid JSON (Invalid control character) at line 1 "
        "column 152"]),
    "json/bad_escape.json": (Json(), [
        "bad_escape.json:1: invalid JSON (Invalid \\escape) at line 1 column 92"]),
    "json/extra_data.json": (Json(), [
        "extra_data.json:2: invalid JSON (Extra data) at line 2 column 1"]),
    "json/nul_byte.json": (Json(), ["nul_byte.json: binary data, not text"]),
    "jsonl/bad_line.jsonl": (JsonLines(), ["bad_line.jsonl:2: invalid JSON"]),
    "yaml/bad_indent.yaml": (Yaml(), [
        "bad_indent.yaml:3: invalid YAML (mapping values are not allowed here) at line 3 "
        "column 10"]),
    "yaml/unclosed_quote.yaml": (Yaml(), [
        "unclosed_quote.yaml:4: invalid YAML (found unexpected end of stream) at line 4 "
        "column 1"]),
    "yaml/unclosed_flow.yaml": (Yaml(), [
        "unclosed_flow.yaml:2: invalid YAML (expected ',' or ']', but got ':') at line 2 "
        "column 7"]),
    "yaml/undefined_alias.yaml": (Yaml(), [
        "undefined_alias.yaml:3: invalid YAML (found undefined alias) at line 3 column 11"]),
    "yaml/python_tag.yaml": (Yaml(), [
        "python_tag.yaml:1: invalid YAML (could not determine a constructor for the tag) at "
        "line 1 column 10"]),
    "yaml/bad_merge.yaml": (Yaml(), [
        "bad_merge.yaml:2: invalid YAML (expected a mapping or list of mappings for merging, "
        "but found scalar) at line 2 column 7"]),
    "yaml/control_char.yaml": (Yaml(), [
        "control_char.yaml:3: invalid YAML (a control character) at line 3"]),
    "toml/unterminated_string.toml": (Toml(), [
        "unterminated_string.toml:2: invalid TOML (Illegal character '\\n') at line 2 "
        "column 72"]),
    "toml/table_twice.toml": (Toml(), [
        "table_twice.toml:4: invalid TOML (Cannot declare twice) at line 4 column 9"]),
    "toml/secret_table_twice.toml": (Toml(), [
        "secret_table_twice.toml:4: invalid TOML (Cannot declare twice) at line 4 column 66"]),
    "toml/key_twice.toml": (Toml(), [
        "key_twice.toml:3: invalid TOML (Cannot overwrite a value) at line 3 column 73"]),
    "toml/bare_value.toml": (Toml(), [
        "bare_value.toml:2: invalid TOML (Invalid value) at line 2 column 7"]),
    "toml/unclosed_array.toml": (Toml(), [
        "unclosed_array.toml:3: invalid TOML (Invalid value) at the end"]),
}


@pytest.mark.parametrize("path", sorted(BAD))
def test_malformed_input_names_the_place_only(path: str) -> None:
    fmt, expected = BAD[path]
    name = path.rsplit("/", 1)[-1]
    try:
        _, problems = read(fmt, (DATA / path).read_bytes(), name)
        messages = problems
    except InputError as e:
        messages = str(e).splitlines()
    assert messages == expected
    assert all(clean(m) for m in messages)


def test_a_5000_deep_json_is_refused_by_place_not_a_crash() -> None:
    deep = '{"a": ' * 5000 + f'{{"key": "{K}"}}' + "}" * 5000
    with pytest.raises(InputError) as e:
        read(Json(), deep)
    assert str(e.value) == "dump: invalid JSON: nested too deeply to read"
    assert read(JsonLines(), deep + "\n" + deep) == ([], ["dump:1: invalid JSON",
                                                           "dump:2: invalid JSON"])
    for fmt, payload in ((Yaml(), "[" * 5000), (Toml(), "a = " + "[" * 5000 + "]" * 5000)):
        with pytest.raises(InputError):
            read(fmt, payload)


def test_the_walker_is_iterative_and_stops_at_max_depth() -> None:
    deep: dict[str, object] = {"key": K}
    for _ in range(5000):
        deep = {"a": deep, "n": "x"}
    problems = Problems("dump")
    records = list(tree_records(deep, problems))
    assert len(records) == MAX_DEPTH + 1 and all(r.fields == [("n", "x")] for r in records)
    assert [str(p) for p in problems.kept] == [
        f"dump: nested deeper than {MAX_DEPTH} levels: the deeper part was not read"]
    nested = '{"a": ' * 150 + f'{{"key": "{K}"}}' + "}" * 150
    assert read(Json(), nested)[0][-1][1] == [("key", K)]


SEEDS = [
    (Json(), (DATA / "json" / "freqtrade_config.json").read_text()),
    (JsonLines(), f'{{"key": "{K}", "n": [1, {{"s": "{S}"}}]}}\n{{"a": [["key", "secret"]]}}\n'),
    (Yaml(), f"a: &x\n  key: {K}\n  list: [1, 'two', {{b: c}}]\nb: *x\n---\n- {S}\n"),
    (Toml(), f'[binance]\nkey = "{K}"\narr = [1, 2]\n[[okx]]\nsecret = """{S}"""\n'),
]
EDITS = text_edits(st.text(alphabet='{}[]":,\n \t-*&!|>#=\'\\0aZ.', max_size=8), reach=2000)


@settings(FUZZ, max_examples=150)
@given(st.sampled_from(SEEDS), EDITS)
def test_mutated_trees_raise_only_input_errors(seed: tuple[Format, str],
                                               edits: list[TextEdit]) -> None:
    fmt, text = seed
    survive(fmt, mutate(text, edits).encode(), clean=clean)


@settings(FUZZ, max_examples=100)
@given(RANDOM_BYTES)
def test_random_bytes_raise_only_input_errors(data: bytes) -> None:
    for fmt in FORMATS:
        survive(fmt, data, clean=clean)
