from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.errors import Problems
from incident.ingest.formats.config import EnvFile, SourceCode
from incident.ingest.interface import Format, Member
from tests.unit.ingest.fuzzing import FUZZ, RANDOM_BYTES, TextEdit, mutate, survive, text_edits

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "env"
K = "FAKEq8Zk2mT9vL4xR7pW3nB6cY1dH5jF0sG8aE2uQ7iO4wX9rT6yU3pL1kM5nB8v"
S = "FAKEh3Jd8Ks2Lq9Wm4Nx7Pc1Vb6Zr5Ty0Ua8Ie3Ow2Qp9As4Df7Gh1Jk6Lz5Xc3V"
K2, S2 = "FAKEv7dkHGQSdOUzzQ", "FAKEYPFRwlKd1ygZqN0O4lrE8dvvZmrv82Cv"
PEM = "-----BEGIN EC PRIVATE KEY-----\nFAKEMHcCAQEEIBjKz\n-----END EC PRIVATE KEY-----"

Row = tuple[int, list[tuple[str, str]], str]


def read(fmt: Format, payload: str | bytes, name: str = ".env") -> tuple[list[Row], list[str]]:
    data = payload.encode() if isinstance(payload, str) else payload
    problems = Problems(name)
    records = [(r.position, list(r.fields), r.text)
               for r in fmt.records(Member.of_bytes(name, data), problems)]
    return records, [str(p) for p in problems.kept]


ENV_CASES: list[tuple[str, list[Row]]] = [
    (f"# bot\nexport BINANCE_API_KEY={K}\nBINANCE_API_SECRET=\"{S}\"   # inline comment\n"
     "KUCOIN_API_PASSPHRASE='Fake-pass # kept'\nURL=http://x/#frag\nNOTE=a b # trailing\n"
     "EMPTY=\nSPACED = value\n",
     [(2, [("BINANCE_API_KEY", K), ("BINANCE_API_SECRET", S),
           ("KUCOIN_API_PASSPHRASE", "Fake-pass # kept"), ("URL", "http://x/#frag"),
           ("NOTE", "a b"), ("EMPTY", ""), ("SPACED", "value")], "")]),
    (f'COINBASE_API_SECRET="{PEM}"\nESCAPED="{PEM.replace(chr(10), chr(92) + "n")}"\n'
     f"QUOTE=\"say \\\"hi\\\" \\\\ \\q\"\nRAW='a\\nb'\nAFTER={K2}\n",
     [(1, [("COINBASE_API_SECRET", PEM), ("ESCAPED", PEM), ("QUOTE", 'say "hi" \\ q'),
           ("RAW", "a\\nb"), ("AFTER", K2)], "")]),
    (f"my keys:\nAPI_KEY={K}\n{K2} {S2}\nAPI_SECRET={S}\n",  # stray lines: text, in place
     [(1, [("API_KEY", K), ("API_SECRET", S)], f"my keys:\n\n{K2} {S2}")]),
    (f"API_KEY={K}\nAPI_SECRET={S}\n\n# next bot\nAPI_KEY={K2}\nAPI_SECRET={S2}\n",
     [(1, [("API_KEY", K), ("API_SECRET", S)], ""),
      (5, [("API_KEY", K2), ("API_SECRET", S2)], "")]),
    (f"A_KEY={K}\r\nA_SECRET='{S}'\r\n", [(1, [("A_KEY", K), ("A_SECRET", S)], "")]),
    ("# nothing\n\n", []),
]


@pytest.mark.parametrize("payload, expected", ENV_CASES)
def test_env_records(payload: str, expected: list[Row]) -> None:
    assert read(EnvFile(), payload) == (expected, [])


def test_an_unclosed_quote_is_a_problem_named_by_line_and_field() -> None:
    records, problems = read(EnvFile(), (DATA / "unterminated_quote.env").read_bytes(),
                             "unterminated_quote.env")
    assert records == [(1, [("BINANCE_API_KEY", K), ("BINANCE_API_SECRET", S),
                            ("LOG_LEVEL", "info")], "")]
    assert problems == ["unterminated_quote.env:2: column 'variable 2': a quote is never "
                        "closed"]


@pytest.mark.parametrize("name, column", [
    # Never by name: on a line that broke, what stands before '=' may be a piece of a
    # value (hypothesis found `FAKE='...` made of a key's first letters).
    ("BINANCE_API_KEY", "variable 2"),
    ("sk_live_ABCDEFGHIJKLMNOP", "variable 2"),  # a key written `key=secret`
    ("FAKEv7dkHGQSdOUzzQ", "variable 2"),
    ("FAKE", "variable 2"),
])
def test_a_variable_with_an_unclosed_quote_is_named_by_number(name: str, column: str
                                                              ) -> None:
    records, problems = read(EnvFile(), f"LOG_LEVEL=info\n{name}='{S}\n")
    assert problems == [f".env:2: column '{column}': a quote is never closed"]
    assert records == [(1, [("LOG_LEVEL", "info"), (name, S)], "")]


def test_source_code_is_one_record_of_its_text() -> None:
    text = f"import ccxt\n\nex = ccxt.binance({{\n    'apiKey': '{K}',\n}})\n"
    assert read(SourceCode(), text, "bot.py") == ([(1, [], text)], [])
    assert read(SourceCode(), " \n", "bot.py") == ([], [])


# (name, payload, claimed by EnvFile, claimed by SourceCode)
SNIFF: list[tuple[str, str, bool, bool]] = [
    (".env", "anything at all", True, False),
    ("repo/prod.env", "x", True, False),
    ("dump.zip!bot/.env.local", "x", True, False),
    ("config", f"API_KEY={K}\nAPI_SECRET={S}\n", True, False),
    ("config", f"# keys\nexport apiKey={K}\n\nsecret='{S}'\n", True, False),
    ("dump.txt", f"{K}={S}\n{K2}={S2}\n", False, False),  # a key is no variable name
    ("dump.txt", f"{K}:{S}\n", False, False),
    ("dump.txt", f"exchange,api_key\nbinance,{K}\n", False, False),
    ("dump.txt", f'[binance]\nkey = "{K}"\n', False, False),
    ("dump.txt", f"Keys below\nleaked today\nAPI_KEY={K}\n", False, False),
    ("bot.py", "x = 1", False, True),
    ("src/index.ts", "x", False, True),
    ("main.MJS", "x", False, True),
    ("snippet", "import ccxt\n", False, True),
    ("snippet", "const ccxt = require('ccxt');\n", False, True),
    ("snippet", "const a = 1;\nconst b = 2;\nfunction f() {\n  return a + b;\n}\n", False, True),
    ("snippet", "import os\n\ndef main():\n    return os.environ\n", False, True),
    ("notes.txt", "const is a keyword.\nI define things.\nNothing else here.\n", False, False),
    ("notes.txt", "def main():\n", False, False),
    ("a.py", "\x00\x01\x02\x03" * 10, False, False),
]


@pytest.mark.parametrize("name, payload, as_env, as_code", SNIFF)
def test_sniff(name: str, payload: str, as_env: bool, as_code: bool) -> None:
    member = Member.of_bytes(name, payload.encode())
    assert (EnvFile().sniff(member), SourceCode().sniff(member)) == (as_env, as_code)


SEED = ENV_CASES[0][0] + ENV_CASES[1][0] + ENV_CASES[2][0]
EDITS = text_edits(st.text(alphabet="=\"'#\\\n \texport AB_", max_size=8), reach=2000, most=8)


@settings(FUZZ, max_examples=150)
@given(EDITS)
def test_mutated_env_files_raise_only_input_errors(edits: list[TextEdit]) -> None:
    survive(EnvFile(), mutate(SEED, edits).encode(), name="fuzz.env")


@settings(FUZZ, max_examples=80)
@given(RANDOM_BYTES)
def test_random_bytes_raise_only_input_errors(data: bytes) -> None:
    for fmt in (EnvFile(), SourceCode()):
        survive(fmt, data, name="fuzz.env")
