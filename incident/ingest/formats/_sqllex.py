"""The tokenizer of SQL dumps (formats/sql.py reads the statements).

Linear: every regex here matches one run of one kind of character where the cursor
stands, and every search (`find`) starts past what was already read, so no character is
read twice except to count lines. Tokens: words (keywords, bare names, numbers), strings
('...', E'...', $tag$...$tag$), double-quoted and backticked names, and single-character
punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

NAMES = ("word", "dq", "bq")  # kinds of token a name can be: bare, "quoted", `quoted`
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[\w$:@]+")
_DOLLAR = re.compile(r"\$(?:[^\W\d]\w*)?\$")
# Where a string left open most likely ended: a line that starts a statement.
_STATEMENT = re.compile(
    r"(?:(?:INSERT|REPLACE) INTO|(?:CREATE|DROP|ALTER) TABLE|(?:UN)?LOCK TABLES|COPY) ")
_RUNS = {(q, escapes): re.compile("[^" + re.escape(q) + ("\\\\" if escapes else "") + "\n]+")
         for q in "'\"`" for escapes in (False, True)}
# A quoted text with nothing to undo in it, the common case.
_SIMPLE = {(q, escapes): re.compile(re.escape(q) + "(" + run.pattern[:-1] + "*)" + re.escape(q))
           for (q, escapes), run in _RUNS.items()}
_KINDS = {"'": "str", '"': "dq", "`": "bq"}
_SKIPPED = frozenset(" \t\r\n\f\v-/#") | {chr(c) for c in range(0x1c, 0x20)} | {
    "\x85", "\xa0", "\u1680", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"} | {
    chr(c) for c in range(0x2000, 0x200b)}
_ESCAPES = {"0": "\0", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a",
            "%": "\\%", "_": "\\_"}  # MySQL keeps the backslash of \% and \_
_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class Token(NamedTuple):
    kind: str  # word | str | dq | bq | punct | eof
    start: int
    end: int
    value: str

    def is_word(self, word: str) -> bool:
        return self.kind == "word" and self.value.upper() == word

    def is_punct(self, char: str) -> bool:
        return self.kind == "punct" and self.value == char


class Unterminated(Exception):
    """A quote or comment left open: reading resumes at `resume`."""

    def __init__(self, what: str, start: int, resume: int) -> None:
        super().__init__(what)
        self.what, self.start, self.resume = what, start, resume
        self.item = 0  # which item of a parenthesised list it was in


class Cut(Exception):
    """A parenthesised list that a `;` or the end of the text cut short."""


@dataclass(slots=True)
class Item:
    """One item of a parenthesised list: a value of a row, a column's definition."""

    first: Token | None = None
    second: Token | None = None
    count: int = 0
    strings: int = 0
    string: str = ""
    end: int = 0

    def add(self, tok: Token) -> None:
        if self.first is None:
            self.first = tok
        elif self.second is None:
            self.second = tok
        self.count += 1
        if tok.kind in ("str", "dq"):
            self.strings += 1
            self.string = tok.value
        self.end = tok.end


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.escapes = True  # MySQL's backslash escapes, until the dump says otherwise
        self._at, self._line = 0, 1

    def line_of(self, pos: int) -> int:
        """The line number of a position (cheap for positions near the last one asked)."""
        if pos >= self._at:
            self._line += self.text.count("\n", self._at, pos)
        else:
            self._line -= self.text.count("\n", pos, self._at)
        self._at = pos
        return self._line

    def line_end(self) -> int:
        """The position after the end of the current line."""
        nl = self.text.find("\n", self.pos)
        return len(self.text) if nl < 0 else nl + 1

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text = self.text
        while True:
            m = _SPACE.match(text, self.pos)
            if m:
                self.pos = m.end()
            if text.startswith("--", self.pos) or (self.escapes
                                                   and text.startswith("#", self.pos)):
                self.pos = self.line_end()
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise Unterminated("unterminated comment", self.pos, len(text))
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos:self.pos + 1]

    def next(self) -> Token:
        text, pos = self.text, self.pos
        if pos >= len(text) or text[pos] in _SKIPPED:
            self.skip()
            pos = self.pos
            if pos >= len(text):
                return Token("eof", pos, pos, "")
        c = text[pos]
        if c in "'\"`":
            escapes = self.escapes and c != "`"
            if (m := _SIMPLE[c, escapes].match(text, pos)) and not text.startswith(c, m.end()):
                self.pos = m.end()
                return Token(_KINDS[c], pos, self.pos, m.group(1))
            return self._quoted(pos, pos, c, escapes)
        if c in "eE" and text.startswith("'", pos + 1):
            return self._quoted(pos, pos + 1, "'", True)
        if c == "$" and (m := _DOLLAR.match(text, pos)):
            end = text.find(m.group(), m.end())
            if end < 0:
                raise Unterminated("unterminated string", pos, len(text))
            self.pos = end + len(m.group())
            return Token("str", pos, self.pos, text[m.end():end])
        if m := _WORD.match(text, pos):
            self.pos = m.end()
            return Token("word", pos, self.pos, m.group())
        self.pos = pos + 1
        return Token("punct", pos, pos + 1, c)

    def _breaks(self, nl: int) -> bool:
        """Whether a quoted text running over the newline at `nl` was most likely left
        open: the next line starts a statement, or a row after a line ending a row."""
        if _STATEMENT.match(self.text, nl + 1):
            return True
        return (self.text[max(0, nl - 3):nl].rstrip("\r").endswith("),")
                and self.text.startswith("(", nl + 1))

    def _quoted(self, start: int, opening: int, q: str, escapes: bool) -> Token:
        text, run = self.text, _RUNS[q, escapes]
        what = "unterminated quoted name" if q == "`" else "unterminated string"
        parts: list[str] = []
        pos = opening + 1
        while True:
            if m := run.match(text, pos):
                parts.append(m.group())
                pos = m.end()
            if pos >= len(text):
                raise Unterminated(what, start, len(text))
            c = text[pos]
            if c == q:
                if not text.startswith(q, pos + 1):
                    self.pos = pos + 1
                    return Token(_KINDS[q], start, self.pos, "".join(parts))
                parts.append(q)
                pos += 2
            elif c == "\n":
                if self._breaks(pos):
                    raise Unterminated(what, start, pos + 1)
                parts.append(c)
                pos += 1
            elif pos + 1 >= len(text):
                raise Unterminated(what, start, len(text))
            else:  # a backslash escape
                parts.append(_ESCAPES.get(text[pos + 1], text[pos + 1]))
                pos += 2

    def group(self) -> list[Item]:
        """The items of a parenthesised list whose `(` was just read, up to its `)`."""
        items: list[Item] = []
        item, depth = Item(), 0
        try:
            while True:
                tok = self.next()
                if tok.kind == "punct":
                    if tok.value == ";":
                        raise Cut()
                    if depth == 0 and tok.value in ",)":
                        if item.count or items or tok.value == ",":
                            items.append(item)
                        if tok.value == ")":
                            return items
                        item = Item()
                        continue
                    if tok.value in "()":
                        depth += 1 if tok.value == "(" else -1
                elif tok.kind == "eof":
                    raise Cut()
                item.add(tok)
        except Unterminated as e:
            e.item = len(items)
            raise

    def value(self, item: Item) -> str | None:
        """A row's value as text; None for NULL (and an empty item)."""
        first = item.first
        if first is None:
            return None
        if item.strings == 1:  # 'x', _binary 'x', 'x'::text, CAST('x' AS CHAR), X'78'
            hexed = item.count == 2 and first.kind == "word" and first.value in ("X", "x")
            return (hexed and _unhex(item.string)) or item.string
        if item.count == 1:  # NULL, 5, true, 0x78 (mysqldump --hex-blob)
            if first.value[:2] in ("0x", "0X"):
                return _unhex(first.value[2:]) or first.value
            return None if first.is_word("NULL") else first.value
        return self.text[first.start:item.end]  # -5, 1.5, now(), CONCAT('a', 'b')

    def copy_lines(self) -> Iterator[tuple[int, int, str | None]]:
        """(position, line number, line) of COPY data up to its `\\.` line, which is
        passed; the last is (end, line, None) when the text ends first."""
        text = self.text
        line = self.line_of(self.pos)
        while self.pos < len(text):
            pos, self.pos = self.pos, self.line_end()
            row = text[pos:self.pos].rstrip("\n")
            row = row[:-1] if row.endswith("\r") else row
            if row == "\\.":
                self._at, self._line = self.pos, line + 1
                return
            yield pos, line, row
            line += 1
        self._at, self._line = self.pos, line
        yield self.pos, line, None


def _unhex(digits: str) -> str | None:
    """The text a hex literal spells, if it is printable UTF-8 (a key in a binary column)."""
    try:
        text = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return text if text.isprintable() and text else None


def copy_value(field: str) -> str | None:
    """A field of COPY text format: \\N is NULL; \\t, \\n, \\\\ ... are escapes."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while (j := field.find("\\", i)) >= 0 and j + 1 < len(field):
        out.append(field[i:j])
        out.append(_COPY_ESCAPES.get(field[j + 1], field[j + 1]))
        i = j + 2
    out.append(field[i:])
    return "".join(out)
