"""Telegram Desktop exports: result.json (one chat, or the whole account) and messages.html.

Each message is a Record of its text, at its message id, in its chat. Service messages
(joins, pins, calls) carry no text of their own and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


from incident.errors import InputError, Place, Problems
from incident.ingest.formats.naming import safe_name
from incident.ingest.formats.tree import head_text, load_json, whole_text
from incident.ingest.interface import Format, Member, Record

_MESSAGES = re.compile(r'"messages"\s*:\s*\[\s*(\]|\{)')
_MESSAGE_TYPE = re.compile(r'"type"\s*:\s*"(?:message|service)"')
_FULL_EXPORT = re.compile(r'"personal_information"\s*:\s*\{|"chats"\s*:\s*\{\s*"about"')
_HTML_START = re.compile(r"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
                         r"(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I | re.S)
_HTML_MESSAGE = re.compile(r'<div class="message[ "]')
_HTML_ID = re.compile(r'id="message-?[0-9]+"')
_ID = re.compile(r"message(-?[0-9]+)")


def looks_html(text: str) -> bool:
    """Whether a text starts as an HTML page does (after a BOM, blanks, comments)."""
    return bool(_HTML_START.match(text.lstrip("\ufeff \t\r\n")))


def is_telegram_html(text: str) -> bool:
    """Whether a text is a Telegram Desktop messages.html."""
    return looks_html(text) and bool(_HTML_MESSAGE.search(text) and _HTML_ID.search(text))


def _joined(value: object) -> str:
    """A message's text: a string, or a list of strings and {"type", "text"} entities."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    parts = []
    for part in value:
        if type(part) is str:  # not a number, which the JSON reader keeps as text
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(str(part["text"]))
    return "".join(parts)


def _chats(export: object) -> list[dict[str, object]]:
    """The chats of a single-chat export (itself) or of a full one (chats, left chats)."""
    if not isinstance(export, dict):
        return []
    if isinstance(export.get("messages"), list):
        return [export]
    chats = []
    for part in ("chats", "left_chats"):
        listed = export.get(part)
        if isinstance(listed, dict) and isinstance(listed.get("list"), list):
            chats += [chat for chat in listed["list"] if isinstance(chat, dict)]
    return chats


def _chat_label(chat: dict[str, object], number: int) -> str:
    """The chat's name if it is safe to show (naming: not long, no control characters or
    escapes, nothing like a key), else `chat <its id>` (a number, never other text from
    the file) or `chat <its place in the export>`."""
    ident = _message_id(chat.get("id"))
    fallback = f"chat {ident or number}"
    name = chat.get("name")
    return safe_name(name, fallback) if isinstance(name, str) else fallback


def _message_id(value: object) -> int | None:
    """A message's or chat's id (a positive number), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 2**63 else None


class TelegramJson(Format):
    name = "telegram-json"
    unit = "message"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        if text is None or not text.lstrip().startswith("{"):
            return False
        messages = _MESSAGES.search(text)
        if messages and (messages.group(1) == "]" or _MESSAGE_TYPE.search(text)):
            return True
        return bool(_FULL_EXPORT.search(text))

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        export = load_json(whole_text(member), member.name)
        chats = _chats(export)
        if not chats:
            raise InputError("no 'messages' list and no 'chats' list: not a Telegram export",
                             Place(member.name))
        for number, chat in enumerate(chats, 1):
            label = _chat_label(chat, number)
            messages = chat.get("messages")
            if not isinstance(messages, list):
                continue
            for index, message in enumerate(messages, 1):
                where = f"chat {number}: message {index} of the list"
                if not isinstance(message, dict):
                    problems.add(f"{where} is not an object")
                    continue
                if message.get("type") != "message":
                    continue
                position = _message_id(message.get("id"))
                if position is None:
                    problems.add(f"{where} has no valid id")
                    continue
                text = _joined(message.get("text")) or _joined(message.get("text_entities"))
                if text.strip():
                    yield Record(position, text=text, sub=label)


class TelegramHtml(Format):
    name = "telegram-html"
    unit = "message"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        return text is not None and is_telegram_html(text)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        # One walk, linear whatever the nesting (find_all per message over nested
        # message divs was cubic): each outermost `text` div is read with its nearest
        # message with an id, a <br> as a line break.
        from incident.ingest.formats.html import bs4_types, parse, walk  # (html imports this)

        soup = parse(whole_text(member), member.name)
        messages: list[tuple[int, list[str]]] = []  # (id, its text divs' texts), in order
        owner: list[list[str] | None] = [None]  # of each open tag: its message's parts
        reading: list[list[str] | None] = [None]  # of each open tag: the text div's strings
        _, tag_type, string_types, _ = bs4_types()
        for entering, element in walk(soup):
            if not isinstance(element, tag_type):
                if (strings := reading[-1]) is not None and type(element) in string_types:
                    strings.append(str(element))
                continue
            if not entering:
                strings, parts = reading.pop(), owner.pop()
                if strings is not None and reading[-1] is None and parts is not None:
                    parts.append("".join(strings).strip())  # an outermost text div ends
                continue
            classes: object = element.get("class") or []
            parts, strings = owner[-1], reading[-1]
            if element.name == "div" and isinstance(classes, list) and "message" in classes:
                found = _ID.fullmatch(str(element.get("id") or ""))
                if found is not None and int(found.group(1)) > 0:  # else a date separator
                    parts = []
                    messages.append((int(found.group(1)), parts))
            if element.name == "div" and isinstance(classes, list) and "text" in classes \
                    and strings is None:
                strings = []
            elif element.name == "br" and strings is not None:
                strings.append("\n")
            owner.append(parts)
            reading.append(strings)
        for ident, parts in messages:
            text = "\n".join(part for part in parts if part)
            if text:
                yield Record(ident, text=text)
