"""Data trees: JSON, JSON Lines, YAML, TOML, and the walker that turns a tree into Records.

Every object (at any depth) with scalar values is one Record of them, its place a path
like `$.users[3].exchange`; a list of lists whose first string row names a key and a
secret is a table. Numbers keep the text they are written as (`0123`, `1.10`): a numeric
passphrase is text. Parser messages quote the input, so each is rebuilt from its place
(and raised `from None`: the parser's own exception would quote it in a traceback).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time

import yaml

from incident.errors import InputError, Place, Problems
from incident.exchanges.names import lookup
from incident.ingest.decode import bom_encoding, decode
from incident.ingest.formats import delimited
from incident.ingest.interface import HEAD, Format, Member, Record
from incident.ingest.names import fold, header_score, role_of

MAX_DEPTH = 200
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What a parser quotes (a repr after a blank): five characters or more may be a secret's.
_QUOTED = re.compile(r"""(?:(?<=\s)|^|(?<=\())(?:'(?:[^'\\]|\\.){5,}'|"(?:[^"\\]|\\.){5,}")""")
_EMPTY_TUPLE = re.compile(r"\s*\(\s*[,\s]*\)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,63}")
# A JSON text, not an INI/TOML `[section]`: what may follow the opening brackets.
_JSON_START = re.compile(r'\{\s*["}]|\[(?:\s*\[)*\s*(?:\{\s*["}]|["\]\d-]|true|false|null)')


class Number(str):
    """A number as the text it is written as."""


# Shared by the formats of this package -------------------------------------------------

def head_text(member: Member) -> str | None:
    """The member's head as text without a BOM, or None if it is binary."""
    head = member.head()
    encoding = bom_encoding(head)
    if encoding in ("utf-16", "utf-32"):
        return head.decode(encoding, errors="replace").lstrip("\ufeff")
    try:
        return decode(head, member.name)[0]
    except InputError:
        return None


def truncated(member: Member) -> bool:
    """Whether the head is only part of the member (its last line may be cut)."""
    return len(member.head()) >= HEAD


def whole_text(member: Member) -> str:
    return decode(member.read_all(), member.name)[0]


def split_lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def safe_reason(message: str) -> str:
    """A parser's message without what it quotes of the input (a bare character is kept)."""
    reason = " ".join(_EMPTY_TUPLE.sub("", _QUOTED.sub("", message)).split())
    reason = re.sub(r"(?: starting)? at$", "", reason)  # json: "... starting at" a place
    if len(reason) > 100:
        reason = reason[:100].rsplit(" ", 1)[0]
    return reason.rstrip(" :,") or "syntax error"


def stream_lines(member: Member) -> Iterator[tuple[int, str]]:
    """(line number, line) of a member, streamed, a line at most 1 MiB."""
    with member.open() as raw:
        for number, text in delimited.stream_lines(raw, member.name):
            yield number, (text.lstrip("\ufeff") if number == 1 else text).rstrip("\r\n")


def load_json(text: str, name: str) -> object:
    try:
        return json.loads(text, parse_int=Number, parse_float=Number, parse_constant=Number)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({safe_reason(e.msg)}) at line {e.lineno} column "
                         f"{e.colno}", Place(name, e.lineno)) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply to read", Place(name)) from None


# The walker ---------------------------------------------------------------------------

@dataclass(slots=True)
class _Task:
    value: object
    path: str
    depth: int
    exchange: str | None
    key: str | None = None  # its key in the object holding it
    header: Sequence[str] | None = None
    row: bool = False


def _scalar(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, (str, int, float, date, time)) else None


def _shown(key: str) -> bool:
    """Whether a key may appear in a path: a name, not a value someone keyed by."""
    if not _NAME.fullmatch(key):
        return False
    if len(key) <= 12 or role_of(key) or lookup(key):
        return True
    letters = [c for c in key if c.isalpha()]
    upper = sum(c.isupper() for c in letters)  # API_SETTINGS, apiSettings; not FaKeKeY
    return not any(c.isdigit() for c in key) and (upper == len(letters) or
                                                  4 * upper <= len(letters))


def _child(path: str, key: str, index: int) -> str:
    if _IDENT.fullmatch(key) and _shown(key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]" if _shown(key) else f"{path}.<key {index + 1}>"


def _exchange(node: object, task: _Task) -> str | None:
    if task.key is not None:
        if lookup(task.key) is not None:
            return task.key
        if isinstance(node, dict) and fold(task.key) == "exchange":
            for name in ("name", "id"):
                if isinstance(node.get(name), str) and node[name].strip():
                    return str(node[name])
    return task.exchange


def _visit_dict(node: dict[object, object], task: _Task, exchange: str | None,
                ) -> tuple[list[tuple[str, str]], list[str], list[_Task]]:
    fields: list[tuple[str, str]] = []
    texts: list[str] = []
    children: list[_Task] = []
    for index, (k, value) in enumerate(node.items()):
        key = str(k)
        scalar = _scalar(value)
        if scalar is not None:
            fields.append((key, scalar))
        elif isinstance(value, (dict, list, tuple)):
            if isinstance(value, (list, tuple)):
                texts.extend(v for v in value if type(v) is str)
                if not any(isinstance(v, (dict, list, tuple)) for v in value):
                    continue
            children.append(_Task(value, _child(task.path, key, index), task.depth + 1,
                                  exchange, key))
    return fields, texts, children


def _visit_list(node: Sequence[object], task: _Task, exchange: str | None,
                ) -> tuple[list[str], list[_Task]]:
    texts: list[str] = []
    children: list[_Task] = []
    header: list[str] | None = None
    for index, item in enumerate(node):
        path = f"{task.path}[{index}]"
        if isinstance(item, (list, tuple)) and item and not any(
                isinstance(v, (dict, list, tuple)) for v in item):
            if all(type(v) is str for v in item) and header_score(list(item)) >= 2:
                header = [str(v) for v in item]
            else:
                children.append(_Task(item, path, task.depth + 1, exchange, None, header, True))
        elif isinstance(item, (dict, list, tuple)):
            children.append(_Task(item, path, task.depth + 1, exchange))
        elif type(item) is str and task.key is None:  # under a key: the object's text
            texts.append(item)
    return texts, children


def _row(task: _Task) -> list[tuple[str, str]]:
    assert isinstance(task.value, (list, tuple))
    if not any(type(v) is str for v in task.value):
        return []
    names = task.header or ()
    return [(names[i] if i < len(names) else str(i + 1), scalar)
            for i, v in enumerate(task.value) if (scalar := _scalar(v)) is not None]


def tree_records(value: object, problems: Problems, name: str = "$", *,
                 line: int | None = None, first: int = 1) -> Iterator[Record]:
    """One Record per object with scalar values (and per table row), in document order.

    `name` is the root's name in paths (`$`, `document 2`). `line`: every record's
    position (a JSON Lines line); otherwise records count from `first`. Iterative, each
    container once (YAML aliases), to MAX_DEPTH levels."""
    stack = [_Task(value, name, 0, None)]
    seen: set[int] = set()
    position, deep = first, False
    while stack:
        task = stack.pop()
        node = task.value
        fields: list[tuple[str, str]] = []
        texts: list[str] = []
        if isinstance(node, (dict, list, tuple)):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if task.depth > MAX_DEPTH:
                if not deep:
                    problems.add(f"nested deeper than {MAX_DEPTH} levels: the deeper part "
                                 f"was not read", line)
                deep = True
                continue
        exchange = _exchange(node, task)
        if task.row:
            fields = _row(task)
        elif isinstance(node, dict):
            fields, texts, children = _visit_dict(node, task, exchange)
            stack.extend(reversed(children))
        elif isinstance(node, (list, tuple)):
            texts, children = _visit_list(node, task, exchange)
            stack.extend(reversed(children))
        elif type(node) is str and task.depth == 0:
            texts = [node]
        if fields or texts:
            yield Record(line or position, fields, "\n".join(texts), exchange,
                         None if task.path == "$" else task.path)
            position += 1


# The formats ---------------------------------------------------------------------------

def json_lines(text: str, cut: bool) -> bool:
    """Two or more lines, the first among them, each one `{...}` object (most of them)."""
    lines = [s for s in (x.strip() for x in split_lines(text)) if s]
    if cut and len(lines) > 1:
        lines.pop()
    objects = [s.startswith("{") and s.endswith("}") for s in lines]
    return sum(objects) >= 2 and objects[0] and 2 * sum(objects) > len(lines)


class Json(Format):
    name = "json"
    unit = "record"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        return text is not None and bool(_JSON_START.match(text.lstrip())) and not \
            json_lines(text, truncated(member))

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        yield from tree_records(load_json(whole_text(member), member.name), problems)


class JsonLines(Format):
    name = "jsonl"
    unit = "line"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        return text is not None and json_lines(text, truncated(member))

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        for number, line in stream_lines(member):
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_int=Number, parse_float=Number,
                                   parse_constant=Number)
            except (ValueError, RecursionError):
                problems.add("invalid JSON", number)
                continue
            yield from tree_records(value, problems, line=number)


_AS_TEXT = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}


class _Loader(yaml.SafeLoader):
    """SafeLoader keeping numbers and dates as the text they are written as."""


def _text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    if not isinstance(node, yaml.ScalarNode):  # `!!int [1]`
        raise yaml.constructor.ConstructorError(None, None, "expected a scalar node",
                                                node.start_mark)
    value = loader.construct_scalar(node)
    if node.tag.endswith(":bool") and value.lower() in loader.bool_values:
        return loader.bool_values[value.lower()]
    return value


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _AS_TEXT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _tag in (*_AS_TEXT, "tag:yaml.org,2002:bool"):  # `!!int x`: its text, not a crash
    _Loader.add_constructor(_tag, _text)
_YAML_LINE = re.compile(r"\s|-(?: |$)|---|\.\.\.$|(?:- )?[^\s:#,\[{][^:#,]*:(?: |$)")
_YAML_PAIR = re.compile(r"\s*(?:- )?[^\s:#,\[{][^:#,]*:(?: |$)")
_YAML_PARENT = re.compile(r"\s*(?:- )?[^\s:#,\[{][^:#,]*:\s*")  # `key:` and nothing after


def load_yaml(text: str, name: str) -> list[object]:
    """Every document of a YAML text."""
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as e:
        mark, reason = e.problem_mark or e.context_mark, safe_reason(e.problem or "")
        if mark is None:
            raise InputError(f"invalid YAML ({reason})", Place(name)) from None
        raise InputError(f"invalid YAML ({reason}) at line {mark.line + 1} column "
                         f"{mark.column + 1}", Place(name, mark.line + 1)) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, int(e.position)) + 1
        raise InputError(f"invalid YAML (a control character) at line {line}",
                         Place(name, line)) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply to read", Place(name)) from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, IndexError, KeyError):
        raise InputError("invalid YAML (a value does not fit its tag)", Place(name)) from None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _content_lines(text: str, cut: bool) -> list[str]:
    lines = [x for x in split_lines(text) if x.strip() and not x.lstrip().startswith("#")]
    return lines[:-1] if cut else lines


class Yaml(Format):
    name = "yaml"
    unit = "record"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        if text is None or member.suffix in ("yml", "yaml"):
            return text is not None
        lines = _content_lines(text, truncated(member))
        nested = any(_YAML_PARENT.fullmatch(a) and (_indent(b) > _indent(a) or (
            _indent(b) == _indent(a) and b.lstrip().startswith("- ")))
            for a, b in zip(lines, lines[1:]))
        if (sum(bool(_YAML_PAIR.match(x)) for x in lines) < 2 or not (
                nested or "---" in (x.rstrip() for x in lines))
                or 10 * sum(bool(_YAML_LINE.match(x)) for x in lines) < 9 * len(lines)):
            return False
        if truncated(member):
            return True
        try:
            return any(isinstance(d, (dict, list)) for d in load_yaml(text, member.name))
        except InputError:
            return False

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        documents = load_yaml(whole_text(member), member.name)
        position = 1
        for number, document in enumerate(documents, 1):
            root = "$" if len(documents) == 1 else f"document {number}"
            for record in tree_records(document, problems, root, first=position):
                position = record.position + 1
                yield record


_TOML_TABLE = re.compile(r"""\s*\[\[?\s*[\w"'. -]+\]\]?\s*(?:#.*)?""")
_TOML_PAIR = re.compile(r"""\s*[\w"'. -]+=\s*(?:["'\d+\-\[{]|true|false|inf|nan)""")


def load_toml(text: str, name: str) -> dict[str, object]:
    try:
        return tomllib.loads(text, parse_float=Number)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        where = re.search(r" \(at (?:line (\d+), column (\d+)|end of document)\)$", message)
        reason = safe_reason(message[:where.start()] if where else message)
        if where and where.group(1):
            line = int(where.group(1))
            raise InputError(f"invalid TOML ({reason}) at line {line} column "
                             f"{where.group(2)}", Place(name, line)) from None
        line = len(split_lines(text))
        raise InputError(f"invalid TOML ({reason}) at the end", Place(name, line)) from None
    except RecursionError:
        raise InputError("invalid TOML: nested too deeply to read", Place(name)) from None
    except ValueError:  # an integer of thousands of digits
        raise InputError("invalid TOML (a number too large)", Place(name)) from None


class Toml(Format):
    name = "toml"
    unit = "record"

    def sniff(self, member: Member) -> bool:
        text = head_text(member)
        if text is None or member.suffix == "toml":
            return text is not None
        lines = _content_lines(text, truncated(member))
        if not any(_TOML_TABLE.fullmatch(x) for x in lines) or not any(
                _TOML_PAIR.match(x) for x in lines):
            return False
        fitting = sum(bool(_TOML_TABLE.fullmatch(x) or _TOML_PAIR.match(x) or _indent(x)
                           or x.startswith("]")) for x in lines)
        if 10 * fitting < 9 * len(lines):
            return False
        try:
            return truncated(member) or bool(load_toml(text, member.name))
        except InputError:
            return False

    def records(self, member: Member, problems: Problems) -> Iterator[Record]:
        yield from tree_records(load_toml(whole_text(member), member.name), problems)
