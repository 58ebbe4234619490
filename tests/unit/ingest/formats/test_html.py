from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest.formats.html import Html
from incident.ingest.interface import Member
from tests.unit.ingest.fuzzing import FUZZ, RANDOM_BYTES, TextEdit, mutate, survive, text_edits

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "html"
K = "FAKEq8Zk2mT9vL4xR7pW3nB6cY1dH5jF0sG8aE2uQ7iO4wX9rT6yU3pL1kM5nB8v"
S = "FAKEh3Jd8Ks2Lq9Wm4Nx7Pc1Vb6Zr5Ty0Ua8Ie3Ow2Qp9As4Df7Gh1Jk6Lz5Xc3V"
K2, S2 = "FAKEv7dkHGQSdOUzzQ", "FAKEYPFRwlKd1ygZqN0O4lrE8dvvZmrv82Cv"

Row = tuple[int, list[tuple[str, str]], str, str | None]


def read(payload: str | bytes, name: str = "page.html") -> tuple[list[Row], list[str]]:
    data = payload.encode() if isinstance(payload, str) else payload
    problems = Problems(name)
    records = [(r.position, list(r.fields), r.text, r.sub)
               for r in Html().records(Member.of_bytes(name, data), problems)]
    return records, [str(p) for p in problems.kept]


def body(inner: str) -> str:
    return f"<!DOCTYPE html>\n<html><head><title>Paste 27/12</title></head><body>{inner}" \
           f"</body></html>\n"


CASES: list[tuple[str, list[Row]]] = [
    (body(f'<textarea class="paste">\n# key:secret &lt;3\n{K}:{S}\n</textarea>'
          f"<p>Posted by <b>a guest</b></p>"),
     [(1, [], f"# key:secret <3\n{K}:{S}", "textarea"),
      (2, [], "Paste 27/12\nPosted by a guest", None)]),
    (body(f"<pre><code>apiKey: '{K}'\n  secret: '{S}'</code></pre>"
          f"<p>inline <code>{K2}</code> here</p>"),
     [(1, [], f"apiKey: '{K}'\n  secret: '{S}'", "pre"), (2, [], K2, "code"),
      (3, [], "Paste 27/12\ninline here", None)]),
    (body(f"<script>const cfg = {{apiKey: '{K}'}};</script><script src='/a.js'></script>"
          f"<style>p {{color: red}}</style><template><div>x<br></div></template>"
          f"<div>Visible</div>"),
     [(1, [], f"const cfg = {{apiKey: '{K}'}};", "script"),
      (2, [], "Paste 27/12\nVisible", None)]),
    (body(f"<table><thead><tr><th>Exchange</th><th>API key</th><th>Secret</th></tr></thead>"
          f"<tbody><tr><td>OKX</td><td><code>{K}</code></td><td>{S}</td><td>x</td></tr>"
          f"<tr></tr><tr><td></td><td></td></tr></tbody></table>"
          f"<table><tr><td>api_key</td><td>api_secret</td></tr>"
          f"<tr><td>{K2}</td><td>{S2}</td></tr></table>"
          f"<table><tr><td>just</td><td>layout</td></tr></table>"),
     [(1, [("Exchange", "OKX"), ("API key", K), ("Secret", S), ("4", "x")], "", "table 1"),
      (2, [("api_key", K2), ("api_secret", S2)], "", "table 2"),
      (3, [], "Paste 27/12\njust layout", None)]),
    (body(f'<form><input name="apiKey" value="{K}"><input type="password" id="sec" '
          f'value="{S}"><input type="submit" value="Save"><input value=""></form>'),
     [(1, [("apiKey", K), ("sec", S)], "Paste 27/12", None)]),
    ("<html><body></body></html>", []),
]


@pytest.mark.parametrize("payload, expected", CASES)
def test_html_records(payload: str, expected: list[Row]) -> None:
    assert read(payload) == (expected, [])


# (payload, whether Html claims it)
SNIFF: list[tuple[str | bytes, bool]] = [
    ("<!DOCTYPE html>\n<html></html>", True),
    ("<!doctype HTML><title>x</title>", True),
    ("  \n<html lang='en'><body>x</body></html>", True),
    (codecs.BOM_UTF8 + b"<html><body>x</body></html>", True),
    ('<?xml version="1.0"?>\n<!-- saved -->\n<html xmlns="x"></html>', True),
    ("<body>x</body>", True),
    ('<!DOCTYPE html><html><div class="message default" id="message12">'
     '<div class="text">x</div></div></html>', False),  # Telegram's, not generic HTML
    ("Saved page follows: <html><body>x</body></html>", False),
    ("# README\n\nUse <html> tags.", False),
    ("<htmlx>", False),
    (b"<html>\x00\x01\x02\x03\x00\x00\x00", False),
]


@pytest.mark.parametrize("payload, claimed", SNIFF)
def test_sniff(payload: str | bytes, claimed: bool) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    assert Html().sniff(Member.of_bytes("page", data)) is claimed


def test_a_binary_member_is_refused_by_place() -> None:
    with pytest.raises(InputError) as e:
        read((DATA / "nul_byte.html").read_bytes(), "nul_byte.html")
    assert str(e.value) == "nul_byte.html: binary data, not text"


SEED = CASES[0][0] + CASES[1][0] + CASES[3][0] + CASES[4][0]
JUNK = st.one_of(st.text(alphabet="<>/=\"' &;!-abtdrhx\n", max_size=8),
                st.sampled_from(["<template>", "</template>", "<pre>", "</pre>", "<code>",
                                 "<br>", "<table>", "<th>", "<tr>", "<td>", "<script>",
                                 "</script>", "<textarea>", "<input value=x>", "<thead>"]))
EDITS = text_edits(JUNK, reach=5000, cut=20)


@settings(FUZZ, max_examples=100)
@given(EDITS)
def test_mutated_pages_raise_only_input_errors(edits: list[TextEdit]) -> None:
    survive(Html(), mutate(SEED, edits).encode())


@settings(FUZZ, max_examples=80)
@given(RANDOM_BYTES)
def test_random_bytes_raise_only_input_errors(data: bytes) -> None:
    survive(Html(), data)


DEEP = 50_000


def test_a_deeply_nested_page_is_read_in_linear_time() -> None:
    # bs4's find_parent is linear in the depth and `.decomposed` searches the subtree:
    # asked of each tag, 50,000 nested divs took minutes.
    page = body("<div>" * DEEP + f"<pre>{K}:{S}</pre>" + "</div>" * DEEP)
    started = time.monotonic()
    records, problems = read(page)
    assert time.monotonic() - started < 10
    assert records[0] == (1, [], f"{K}:{S}", "pre") and problems == []


def test_deeply_nested_tables_are_read_in_linear_time() -> None:
    page = body("<table><tr><th>api_key</th></tr><tr><td>" * 5_000 + K +
                "</td></tr></table>" * 5_000)
    started = time.monotonic()
    records, _ = read(page)
    assert time.monotonic() - started < 10
    # A cell's text leaves out the header tables inside it (read as their own rows), so
    # the key is read once, with the innermost table, and the outer rows are empty.
    assert records == [(1, [("api_key", K)], "", "table 5000"), (2, [], "Paste 27/12", None)]


def test_nested_blocks_are_read_once_with_the_outermost() -> None:
    page = body(f"<pre>a <code>{K}</code> <textarea>{S}</textarea></pre><p>{K2}</p>")
    records, _ = read(page)
    assert records == [(1, [], f"a {K} {S}", "pre"), (2, [], f"Paste 27/12\n{K2}", None)]


def test_markup_the_parser_rejects_is_an_input_error_quoting_nothing() -> None:
    with pytest.raises(InputError) as caught:
        read(f"<![DOCTYPE html><pre>{K}</pre>", "p.html")
    assert str(caught.value) == "p.html: not readable HTML" and caught.value.__cause__ is None
