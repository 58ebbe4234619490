from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident.errors import InputError, Problems
from incident.ingest.formats.telegram import TelegramHtml, TelegramJson
from incident.ingest.formats.tree import Json
from incident.ingest.interface import Format, Member
from tests.unit.ingest.fuzzing import FUZZ, RANDOM_BYTES, TextEdit, mutate, survive, text_edits

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "telegram-json"
K = "FAKEq8Zk2mT9vL4xR7pW3nB6cY1dH5jF0sG8aE2uQ7iO4wX9rT6yU3pL1kM5nB8v"
S = "FAKEh3Jd8Ks2Lq9Wm4Nx7Pc1Vb6Zr5Ty0Ua8Ie3Ow2Qp9As4Df7Gh1Jk6Lz5Xc3V"
PIECES = {v[i:i + 12] for v in (K, S) for i in range(len(v) - 11)}

Row = tuple[int, str, str | None]


def read(fmt: Format, payload: str | bytes, name: str = "result.json"
         ) -> tuple[list[Row], list[str]]:
    data = payload.encode() if isinstance(payload, str) else payload
    problems = Problems(name)
    records = [(r.position, r.text, r.sub)
               for r in fmt.records(Member.of_bytes(name, data), problems)]
    return records, [str(p) for p in problems.kept]


def message(ident: int, text: object, kind: str = "message", **more: object
            ) -> dict[str, object]:
    return {"id": ident, "type": kind, "date": "2023-01-01T10:00:00", "text": text, **more}


def chat(messages: list[object], name: str | None = "Drops", ident: int = 42
         ) -> dict[str, object]:
    return {"name": name, "type": "public_channel", "id": ident, "messages": messages}


JSON_CASES: list[tuple[object, list[Row]]] = [
    (chat([message(1, "", "service", action="create_channel"),
           message(2, f"Binance key {K}\nsecret {S}"),
           message(3, ["Key: ", {"type": "code", "text": K}, "\nSecret: ",
                       {"type": "bold", "text": S}, {"type": "link"}, 7]),
           message(4, "", text_entities=[{"type": "plain", "text": "Key: "},
                                         {"type": "code", "text": K}]),
           message(5, "  "),
           message(6, "hi", "service")]),
     [(2, f"Binance key {K}\nsecret {S}", "Drops"), (3, f"Key: {K}\nSecret: {S}", "Drops"),
      (4, f"Key: {K}", "Drops")]),
    ({"about": "Here is the data you requested.", "personal_information": {"user_id": 1},
      "chats": {"about": "All chats.", "list": [
          chat([message(7, f"key {K}")], name=None, ident=99),
          chat([message(7, f"secret {S}")], name="Bots\x07\nKeys")]},
      "left_chats": {"list": [chat([message(1, "old")], name="Left")]}},
     [(7, f"key {K}", "chat 99"), (7, f"secret {S}", "chat 42"), (1, "old", "Left")]),
    (chat([]), []),
]


@pytest.mark.parametrize("export, expected", JSON_CASES)
def test_telegram_json_records(export: object, expected: list[Row]) -> None:
    assert read(TelegramJson(), json.dumps(export, indent=1)) == (expected, [])


def page(*messages: str) -> str:
    return ('<!DOCTYPE html>\n<html>\n <head><meta charset="utf-8"/><title>Exported Data</title>'
            '</head>\n <body>\n  <div class="page_wrap"><div class="history">\n'
            + "\n".join(messages) + "\n  </div></div>\n </body>\n</html>\n")


HTML_MESSAGES = page(
    '<div class="message service" id="message-1"><div class="body details">January 1</div>'
    "</div>",
    '<div class="message default clearfix" id="message12"><div class="body">'
    '<div class="from_name">Drops</div><div class="text">\nBinance API: <code>' + K +
    "</code><br>Secret: <strong>" + S + "</strong>\n</div></div></div>",
    '<div class="message default clearfix joined" id="message13"><div class="body">'
    '<div class="forwarded body"><div class="from_name">Other</div><div class="text">'
    "Key &amp; more</div></div><div class=\"text\">tail</div></div></div>",
    '<div class="message default clearfix" id="message14"><div class="body">'
    '<div class="media_wrap">photo</div></div></div>',
    '<div class="message default" id="messageX"><div class="text">no id</div></div>')


def test_telegram_html_records() -> None:
    assert read(TelegramHtml(), HTML_MESSAGES, "messages.html") == (
        [(12, f"Binance API: {K}\nSecret: {S}", None), (13, "Key & more\ntail", None)], [])


FULL_HEAD = '{\n "about": "Here is the data you requested.",\n "personal_information": {\n'
# (payload, claimed by TelegramJson, claimed by TelegramHtml)
SNIFF: list[tuple[str, bool, bool]] = [
    (json.dumps(chat([message(1, "x")]), indent=1), True, False),
    (json.dumps(chat([])), True, False),
    (FULL_HEAD + ' "user_id": 1' * 5000, True, False),  # messages beyond the head
    (json.dumps({"messages": [{"id": 1, "text": "x"}]}), False, False),
    (json.dumps({"data": [{"type": "message"}]}), False, False),
    ("[" + json.dumps(chat([message(1, "x")])) + "]", False, False),
    (HTML_MESSAGES, False, True),
    ("<html><body><div class='message'>x</div></body></html>", False, False),
    ('Docs: `<div class="message default" id="message12">` is a message.', False, False),
]


@pytest.mark.parametrize("payload, as_json, as_html", SNIFF)
def test_sniff(payload: str, as_json: bool, as_html: bool) -> None:
    member = Member.of_bytes("export", payload.encode())
    assert (TelegramJson().sniff(member), TelegramHtml().sniff(member)) == (as_json, as_html)


# One data file per malformed case: the records it still gives, and every message.
BAD: dict[str, tuple[list[Row], list[str]]] = {
    "truncated.json": ([], [
        "truncated.json:28: invalid JSON (Unterminated string) at line 28 column 14"]),
    "not_an_export.json": ([], [
        "not_an_export.json: no 'messages' list and no 'chats' list: not a Telegram export"]),
    "bad_messages.json": ([(3, f"Key: {K}\nSecret: {S}", "Key Drops")], [
        "bad_messages.json: chat 1: message 1 of the list is not an object",
        "bad_messages.json: chat 1: message 2 of the list has no valid id",
        "bad_messages.json: chat 1: message 4 of the list has no valid id"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_exports_name_the_place_only(name: str) -> None:
    records, expected = BAD[name]
    try:
        found, messages = read(TelegramJson(), (DATA / name).read_bytes(), name)
    except InputError as e:
        found, messages = [], str(e).splitlines()
    assert (found, messages) == (records, expected)
    assert not any("FAKE" in m or any(p in m for p in PIECES) for m in messages)


SEEDS = [(TelegramJson(), json.dumps(JSON_CASES[0][0], indent=1)),
         (TelegramJson(), json.dumps(JSON_CASES[1][0])), (TelegramHtml(), HTML_MESSAGES)]
EDITS = text_edits(st.text(alphabet='{}[]":,\n <>/="-1a', max_size=8), reach=3000, cut=20)


def survive_without_fields(fmt: Format, data: bytes) -> None:
    """A chat message is free text: no record has fields."""
    assert not any(record.fields for record in survive(fmt, data))


@settings(FUZZ, max_examples=120)
@given(st.sampled_from(SEEDS), EDITS)
def test_mutated_exports_raise_only_input_errors(seed: tuple[Format, str],
                                                 edits: list[TextEdit]) -> None:
    fmt, text = seed
    survive_without_fields(fmt, mutate(text, edits).encode())


@settings(FUZZ, max_examples=80)
@given(RANDOM_BYTES)
def test_random_bytes_raise_only_input_errors(data: bytes) -> None:
    for fmt in (TelegramJson(), TelegramHtml()):
        survive_without_fields(fmt, data)


def test_an_export_is_also_json_so_telegram_must_be_tried_first() -> None:
    member = Member.of_bytes("result.json", json.dumps(chat([message(1, "x")])).encode())
    assert TelegramJson().sniff(member) and Json().sniff(member)


@pytest.mark.parametrize("name, sub", [
    ("Binance signals", "Binance signals"),
    ("Крипто ключи 🔑", "Крипто ключи 🔑"),
    ("FAKEv7dkHGQSdOUzzQ", "chat 42"),  # a chat named with a key (bybit's shape)
    ("\x1b[31mKeys\x1b[0m", "chat 42"),  # a terminal escape
    ("x" * 41, "chat 42"),
    ("  ", "chat 42"),
])
def test_a_chat_name_is_shown_only_if_safe(name: str, sub: str) -> None:
    records, _ = read(TelegramJson(), json.dumps(chat([message(1, "x")], name=name)))
    assert records == [(1, "x", sub)]


def test_nested_messages_are_read_in_linear_time() -> None:
    # find_all per message over nested messages was cubic: 2,000 took minutes.
    depth = 20_000
    nested = page(*(f'<div class="message default" id="message{i}"><div class="body">'
                    for i in range(1, depth + 1)),
                  f'<div class="text">key {K}</div>' + "</div></div>" * depth)
    started = time.monotonic()
    records, problems = read(TelegramHtml(), nested, "messages.html")
    assert time.monotonic() - started < 10
    assert (records, problems) == ([(depth, f"key {K}", None)], [])


def test_markup_the_parser_rejects_is_an_input_error_quoting_nothing() -> None:
    with pytest.raises(InputError) as caught:
        read(TelegramHtml(), "<![DOCTYPE html><div class='message' id='message1'>", "m.html")
    assert str(caught.value) == "m.html: not readable HTML" and caught.value.__cause__ is None
