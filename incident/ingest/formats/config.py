"""Configuration and source files of trading bots: `.env` files, and code with keys inline.

A `.env` is one Record of its assignments (`BINANCE_API_KEY=...` beside its secret), at
the line of the first; a name assigned again starts the next Record (dumps concatenate
many bots' files). Lines that are not assignments are kept as the Record's text, each at
its own line. A source file is one Record of its whole text, for the extractor's patterns
(`apiKey: '...'`, `ccxt.binance({...})`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from incident.errors import Problems
from incident.ingest.formats.tree import head_text, split_lines, truncated, whole_text
from incident.ingest.interface import Format, Member, Record

_ASSIGN = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)")
_CLOSING = {'"': re.compile(r'(?:[^"\\]|\\.)*"'), "'": re.compile(r"[^']*'")}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)")
_CODE_SUFFIXES = ("py", "js", "ts", "mjs", "cjs", "jsx", "tsx")
MAX_QUOTED_LINES = 64  # a quoted value may span lines (a PEM key), up to this many


def _name_like(name: str) -> bool:
    """An env-var name, not a key someone wrote `key=secret` with: one case, few digits."""
    return len(name) <= 64 and (name.isupper() or name.islower() or "_" not in name and
                                name.isalpha()) and 10 * sum(c.isdigit() for c in name) <= \
        3 * len(name)


def _value(rest: str, lines: list[str], index: int) -> tuple[str, int] | None:
    """(value, index of the line after it) of what follows `NAME=`; None when a quote
    never closes."""
    quote = rest[:1]
    if quote not in _CLOSING:
        return re.split(r"\s#", rest, maxsplit=1)[0].strip(), index
    body, end = rest[1:], index
    while True:
        closed = _CLOSING[quote].match(body)
        if closed is not None:
            raw = closed.group(0)[:-1]
            if quote == "'":
                return raw, end
            return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw), end
        if end >= len(lines) or end - index >= MAX_QUOTED_LINES:
            return None
        body += "\n" + lines[end]
        end += 1


class EnvFile(Format):
    name = "env"
    unit = "line"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        base = member.basename.lower()
        if text is None or base == ".env" or base.endswith(".env") or base.startswith(".env."):
            return text is not None
        if member.suffix in _CODE_SUFFIXES:  # a module of assignments is still code
            return False
        lines = [x for x in split_lines(text) if x.strip() and not x.lstrip().startswith("#")]
        if truncated(member):
            lines = lines[:-1]
        assigned = sum(1 for x in lines if (m := _ASSIGN.fullmatch(x)) and _name_like(m[1]))
        return assigned >= 1 and 5 * assigned >= 4 * len(lines)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        lines = split_lines(whole_text(member))
        fields: list[tuple[str, str]] = []
        names: set[str] = set()
        text: list[str] = []  # from the record's first line on, "" for the assignments
        first, index, assignments = 0, 0, 0
        while index < len(lines):
            number, line = index + 1, lines[index]
            index += 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            assigned = _ASSIGN.fullmatch(line)
            if assigned is not None and assigned[1] in names:
                yield Record(first, fields, "\n".join(text).rstrip("\n"))
                fields, names, text, first = [], set(), [], 0
            first = first or number
            text += [""] * (number - first - len(text))
            if assigned is None:
                text.append(line)
                continue
            assignments += 1
            found = _value(assigned[2], lines, index)
            if found is None:  # named by number: on a line that broke, what stands before
                # '=' may be a piece of a value (a key), however much it looks like a name
                problems.add("a quote is never closed", number, f"variable {assignments}")
                found = assigned[2][1:].strip(), index
            value, index = found
            fields.append((assigned[1], value))
            names.add(assigned[1])
        if fields or any(text):
            yield Record(first, fields, "\n".join(text).rstrip("\n"))


_CCXT = re.compile(r"""^\s*(?:import\s+ccxt|from\s+ccxt|import\s.*\bfrom\s+['"]ccxt|"""
                   r""".*\brequire\(\s*['"]ccxt['"]\s*\))""", re.M)
_DECLARATION = re.compile(r"""\s*(?:import\s+[\w{*]|from\s+[\w.]+\s+import\s|"""
                          r"""(?:async\s+)?def\s+\w+\s*\(|(?:export\s+)?(?:const|let|var)\s+"""
                          r"""[\w{\[]|(?:async\s+)?function\b|class\s+\w+|.*\brequire\(\s*['"])""")
_CODE_LIKE = re.compile(r"\s|#|//|/\*|\*|.*[;{}()\[\],:]\s*$")


class SourceCode(Format):
    name = "code"
    unit = "line"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        if text is None or member.suffix in _CODE_SUFFIXES:
            return text is not None
        if _CCXT.search(text):
            return True
        lines = [x for x in split_lines(text) if x.strip()]
        declared = sum(1 for x in lines if _DECLARATION.match(x))
        code_like = sum(1 for x in lines if _DECLARATION.match(x) or _CODE_LIKE.match(x))
        return declared >= 2 and 10 * code_like >= 6 * len(lines)

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        text = whole_text(member)
        if text.strip():
            yield Record(1, text=text)
