"""Playbook files: YAML read with the safe loader, then checked against the schema, with
the path (and line) of every problem: `x.yaml:14: steps[3].with.exchange: unknown exchange
'binanse'`. A playbook names its steps by their registered names; nothing is imported.

    name: platform-bulk-response
    description: ...
    inputs:
      dump: {type: path, required: true, description: ...}
    steps:
      - id: revoke                    # [a-z][a-z0-9_]*, unique
        uses: revoke                  # a registered step
        with: {label: "{{ item.label }}"}
        when: steps.match.count > 0   # an expression
        for_each: steps.match.exposed # an expression giving a list
        approval: {approvers: [alice, bob], four_eyes: true}
        retry: {count: 3, backoff: 2}
        timeout: 60                   # seconds, each item
        on_error: stop                # stop | continue | {goto: step_id}
        side_effect: write            # none | read | write: as the step declares
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from incident.exchanges.names import lookup as exchange_lookup
from incident.playbook import template
from incident.playbook.interface import SIDE_EFFECTS, Param, PlaybookError, Step

ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
INPUT_KINDS = ("str", "int", "number", "bool", "path", "list", "label", "exchange")
STEP_KEYS = ("id", "name", "uses", "with", "when", "for_each", "approval", "retry",
             "timeout", "on_error", "side_effect")
TOP_KEYS = ("name", "description", "inputs", "steps")
MAX_BYTES = 1 << 20
MAX_NODES = 100_000


@dataclass(frozen=True)
class Input:
    name: str
    kind: str
    required: bool
    default: Any
    description: str


@dataclass(frozen=True)
class Approval:
    approvers: tuple[str, ...]  # empty: anyone
    four_eyes: bool


@dataclass(frozen=True)
class StepSpec:
    id: str
    uses: str
    title: str
    args: dict[str, Any]
    when: str | None
    for_each: str | None
    approval: Approval | None
    retries: int
    backoff: float
    timeout: float | None
    on_error: str  # stop | continue | goto
    goto: str | None
    side_effect: str


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    inputs: tuple[Input, ...]
    steps: tuple[StepSpec, ...]
    source: str  # where it was read from, for messages
    text: str  # the YAML as read: a run keeps it, so a resume runs what was started
    sha256: str

    def step(self, step_id: str) -> StepSpec:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def after(self, step_id: str) -> str | None:
        ids = [s.id for s in self.steps]
        i = ids.index(step_id) + 1
        return ids[i] if i < len(ids) else None

    @property
    def writes(self) -> list[StepSpec]:
        return [s for s in self.steps if s.side_effect == "write"]


def load_file(path: Path) -> Playbook:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise PlaybookError(str(path), [f"{path}: {size:,} bytes; a playbook is at most "
                                                "1 MiB"])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlaybookError(str(path), [f"{path}: not UTF-8 text"]) from None
    except OSError as e:
        raise PlaybookError(str(path), [f"{path}: cannot read ({e.strerror})"]) from None
    return parse(text, str(path))


def parse(text: str, source: str) -> Playbook:
    from incident.playbook.steps import STEPS

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None and _size(node, {}, set()) > MAX_NODES:
                raise PlaybookError(source, [f"{source}: more than {MAX_NODES:,} values once "
                                             "its aliases are expanded"])
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise PlaybookError(source, [f"{source}: nested too deeply"]) from None
    except ValueError as e:
        raise PlaybookError(source, [f"{source}: {e}"]) from None
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise PlaybookError(source, [f"{source}:{line}: not valid YAML ({e.problem})"]) from None
    except yaml.YAMLError:
        raise PlaybookError(source, [f"{source}: not valid YAML"]) from None
    lines: dict[str, int] = {}
    if node is not None:
        _marks(node, "", lines, set())
    checker = _Checker(source, lines, STEPS)
    book = checker.playbook(data, text, source)
    if checker.problems or book is None:
        raise PlaybookError(source, checker.problems)
    return book


def _marks(node: yaml.Node, path: str, out: dict[str, int], seen: set[int]) -> None:
    """The line of every path, each node visited once (an alias is not walked again)."""
    out[path] = node.start_mark.line + 1
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = str(k.value)
            sub = f"{path}.{key}" if path else key
            _marks(v, sub, out, seen)
            out[sub] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _marks(v, f"{path}[{i}]", out, seen)


def _size(node: yaml.Node, memo: dict[int, int], stack: set[int]) -> int:
    """How many nodes the document holds with its aliases expanded (an alias bomb is
    small as text and huge as data); ValueError if an alias refers to itself."""
    if id(node) in stack:
        raise ValueError("an alias refers to itself")
    if id(node) in memo:
        return memo[id(node)]
    stack.add(id(node))
    total = 1
    if isinstance(node, yaml.MappingNode):
        total += sum(_size(k, memo, stack) + _size(v, memo, stack) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total += sum(_size(v, memo, stack) for v in node.value)
    stack.discard(id(node))
    memo[id(node)] = total
    return total


class _Checker:
    def __init__(self, source: str, lines: dict[str, int],
                 steps: Mapping[str, type[Step]]) -> None:
        self.source = source
        self.lines = lines
        self.registry = steps
        self.problems: list[str] = []

    def bad(self, path: str, message: str) -> None:
        line, near = self.lines.get(path), path
        while line is None and near:  # a missing key: the line of what holds it
            shorter = re.sub(r"(\.[^.\[]*|\[\d+\]|^[^.\[]*)$", "", near)
            if shorter == near:
                break
            near = shorter
            line = self.lines.get(near)
        self.problems.append(f"{self.source}:{line}: {path or '(top)'}: {message}" if line
                             else f"{self.source}: {path or '(top)'}: {message}")

    def playbook(self, data: Any, text: str, source: str) -> Playbook | None:
        if not isinstance(data, dict):
            self.bad("", "a playbook is a mapping with name, description, inputs and steps")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.bad(str(key), f"unknown key '{key}'; known: {', '.join(TOP_KEYS)}")
        name = data.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name):
            self.bad("name", "required: lowercase letters, digits and dashes")
        description = data.get("description", "")
        if not isinstance(description, str):
            self.bad("description", "must be text")
        inputs = self.inputs(data.get("inputs") or {})
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            self.bad("steps", "required: a list of at least one step")
            return None
        ids = [s.get("id") if isinstance(s, dict) else None for s in steps]
        specs = [self.step(i, s, ids, {x.name for x in inputs}) for i, s in enumerate(steps)]
        if self.problems:
            return None
        return Playbook(str(name), str(description), tuple(inputs),
                        tuple(s for s in specs if s is not None), source, text,
                        hashlib.sha256(text.encode()).hexdigest())

    def inputs(self, data: Any) -> list[Input]:
        if not isinstance(data, dict):
            self.bad("inputs", "must be a mapping of input names")
            return []
        out = []
        for name, spec in data.items():
            path = f"inputs.{name}"
            if not isinstance(name, str) or not ID.match(name):
                self.bad(path, "an input name is lowercase letters, digits and _")
                continue
            spec = {"type": spec} if isinstance(spec, str) else spec
            if not isinstance(spec, dict):
                self.bad(path, "must be a type name or a mapping (type, required, default, "
                               "description)")
                continue
            for key in spec:
                if key not in ("type", "required", "default", "description"):
                    self.bad(f"{path}.{key}", f"unknown key '{key}'")
            kind = spec.get("type", "str")
            if kind not in INPUT_KINDS:
                self.bad(f"{path}.type", f"unknown type '{kind}'; known: "
                                         f"{', '.join(INPUT_KINDS)}")
            required = spec.get("required", False)
            if not isinstance(required, bool):
                self.bad(f"{path}.required", "must be true or false")
            out.append(Input(name, str(kind), bool(required), spec.get("default"),
                             str(spec.get("description", ""))))
        return out

    def step(self, i: int, data: Any, ids: list[Any], inputs: set[str]) -> StepSpec | None:
        path = f"steps[{i}]"
        if not isinstance(data, dict):
            self.bad(path, "a step is a mapping with at least id and uses")
            return None
        for key in data:
            if key not in STEP_KEYS:
                close = difflib.get_close_matches(str(key), STEP_KEYS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.bad(f"{path}.{key}", f"unknown key '{key}'{hint}")
        sid = data.get("id")
        if not isinstance(sid, str) or not ID.match(sid):
            self.bad(f"{path}.id", "required: lowercase letters, digits and _, starting "
                                   "with a letter")
        elif ids.count(sid) > 1:
            self.bad(f"{path}.id", f"'{sid}' is the id of more than one step")
        uses = data.get("uses")
        cls = self.registry.get(uses) if isinstance(uses, str) else None
        if cls is None:
            if isinstance(uses, str):
                close = difflib.get_close_matches(uses, list(self.registry), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.bad(f"{path}.uses", f"unknown step '{uses}'{hint}; known: "
                                         f"{', '.join(sorted(self.registry))}")
            else:
                self.bad(f"{path}.uses", "required: the name of a step")
        earlier = {x for x in ids[:i] if isinstance(x, str)}
        for_each = self.expr(f"{path}.for_each", data.get("for_each"), earlier, inputs, False)
        when = self.expr(f"{path}.when", data.get("when"), earlier, inputs, for_each is not None)
        args = data.get("with") or {}
        if not isinstance(args, dict):
            self.bad(f"{path}.with", "must be a mapping of argument names")
            args = {}
        if cls is not None:
            self.args(f"{path}.with", cls, args, earlier, inputs, for_each is not None)
        side_effect = self.side_effect(path, data.get("side_effect"), cls, args)
        approval = self.approval(f"{path}.approval", data.get("approval"))
        retries, backoff = self.retry(f"{path}.retry", data.get("retry"))
        timeout = data.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or
                                    not isinstance(timeout, (int, float)) or
                                    not 1 <= timeout <= 86_400):
            self.bad(f"{path}.timeout", "seconds, from 1 to 86400")
            timeout = None
        on_error, goto = self.on_error(f"{path}.on_error", data.get("on_error", "stop"), ids,
                                       sid)
        title = data.get("name", sid)
        if cls is None or not isinstance(sid, str):
            return None
        return StepSpec(sid, str(uses), str(title), dict(args),
                        when, for_each, approval, retries, backoff,
                        float(timeout) if timeout is not None else None, on_error, goto,
                        side_effect)

    def expr(self, path: str, value: Any, earlier: set[str], inputs: set[str],
             has_item: bool) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str) or not value.strip():
            self.bad(path, "must be an expression, such as steps.match.count > 0")
            return None
        text = value.strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2].strip()
        try:
            template.check_expression(text)
        except template.TemplateError as e:
            self.bad(path, str(e))
            return None
        self.references(path, text, earlier, inputs, has_item)
        return text

    def references(self, path: str, text: str, earlier: set[str], inputs: set[str],
                   has_item: bool) -> None:
        for name in sorted(template.names(text if "{{" in text else "{{" + text + "}}")):
            if name not in ("inputs", "steps", "item", "run"):
                self.bad(path, f"unknown name '{name}'; known: inputs, steps, item, run")
            elif name == "item" and not has_item:
                self.bad(path, "'item' is only defined in a step with for_each")
        for ref in re.findall(r"(?<![\w.])steps\.([A-Za-z_]\w*)", text):
            if ref not in earlier:
                self.bad(path, f"step '{ref}' is not an earlier step")
        for ref in re.findall(r"(?<![\w.])inputs\.([A-Za-z_]\w*)", text):
            if ref not in inputs:
                self.bad(path, f"input '{ref}' is not declared under inputs")

    def args(self, path: str, cls: type[Step], args: dict[str, Any], earlier: set[str],
             inputs: set[str], has_item: bool) -> None:
        for name in args:
            if name not in cls.params:
                close = difflib.get_close_matches(str(name), list(cls.params), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.bad(f"{path}.{name}", f"step '{cls.name}' takes no argument '{name}'"
                                           f"{hint}; it takes: {', '.join(cls.params)}")
        for name, param in cls.params.items():
            if name not in args:
                if param.required:
                    self.bad(f"{path}.{name}", f"required by step '{cls.name}'")
                continue
            self.value(f"{path}.{name}", args[name], param, earlier, inputs, has_item)

    def value(self, path: str, value: Any, param: Param, earlier: set[str], inputs: set[str],
              has_item: bool) -> None:
        templated = False
        for text in _strings(value):
            if "{{" in text or "{%" in text:
                templated = True
                try:
                    template.check(text)
                except template.TemplateError as e:
                    self.bad(path, str(e))
                    continue
                self.references(path, text, earlier, inputs, has_item)
        if templated and isinstance(value, str):
            return  # its type is known only when it is rendered
        problem = type_problem(value, param)
        if problem:
            self.bad(path, problem)

    def side_effect(self, path: str, declared: Any, cls: type[Step] | None,
                    args: Mapping[str, Any]) -> str:
        own = cls.side_effect if cls is not None else "write"
        if declared is None:
            return own
        if declared not in SIDE_EFFECTS:
            self.bad(f"{path}.side_effect", f"one of {', '.join(SIDE_EFFECTS)}")
            return own
        if cls is not None and cls.name == "http":
            method = str(args.get("method", "POST")).upper()
            if declared != "write" and method not in ("GET", "HEAD"):
                self.bad(f"{path}.side_effect", f"an http {method} is a write" if
                         len(method) <= 8 else "an http call other than GET or HEAD is a write")
                return own
            return str(declared)
        if SIDE_EFFECTS.index(declared) < SIDE_EFFECTS.index(own):
            self.bad(f"{path}.side_effect", f"step '{own and cls.name if cls else '?'}' "
                                            f"has side effect '{own}'; it cannot be "
                                            f"declared '{declared}'")
            return own
        return str(declared)

    def approval(self, path: str, value: Any) -> Approval | None:
        if value is None or value is False:
            return None
        if value is True:
            return Approval((), False)
        if not isinstance(value, dict):
            self.bad(path, "true, or a mapping with approvers and four_eyes")
            return None
        for key in value:
            if key not in ("approvers", "four_eyes"):
                self.bad(f"{path}.{key}", f"unknown key '{key}'; known: approvers, four_eyes")
        approvers = value.get("approvers") or []
        if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
            self.bad(f"{path}.approvers", "a list of user names")
            approvers = []
        four_eyes = value.get("four_eyes", False)
        if not isinstance(four_eyes, bool):
            self.bad(f"{path}.four_eyes", "must be true or false")
        return Approval(tuple(approvers), bool(four_eyes))

    def retry(self, path: str, value: Any) -> tuple[int, float]:
        if value is None:
            return 0, 1.0
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"count": value}
        if not isinstance(value, dict):
            self.bad(path, "a mapping with count and backoff")
            return 0, 1.0
        count, backoff = value.get("count", 0), value.get("backoff", 1.0)
        for key in value:
            if key not in ("count", "backoff"):
                self.bad(f"{path}.{key}", f"unknown key '{key}'; known: count, backoff")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 20:
            self.bad(f"{path}.count", "a whole number from 0 to 20")
            count = 0
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) \
                or not 0 <= backoff <= 600:
            self.bad(f"{path}.backoff", "seconds, from 0 to 600")
            backoff = 1.0
        return int(count), float(backoff)

    def on_error(self, path: str, value: Any, ids: list[Any], sid: Any) -> tuple[str, str | None]:
        if value in ("stop", "continue"):
            return str(value), None
        if isinstance(value, dict) and list(value) == ["goto"]:
            target = value["goto"]
            if target not in ids:
                self.bad(f"{path}.goto", f"no step '{target}'")
            elif target == sid:
                self.bad(f"{path}.goto", "a step cannot go to itself")
            return "goto", str(target)
        self.bad(path, "stop, continue, or {goto: STEP_ID}")
        return "stop", None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def type_problem(value: Any, param: Param) -> str | None:
    """Why `value` does not fit `param` (for literals, and for rendered values at run time)."""
    kind = param.kind
    if value is None:
        return "required" if param.required else None
    if kind == "any":
        return None
    if kind in ("str", "path", "label"):
        if not isinstance(value, str):
            return f"must be text ({kind})"
        if param.choices and value not in param.choices:
            return f"'{value}' is not one of {', '.join(param.choices)}" \
                if len(value) <= 24 else f"not one of {', '.join(param.choices)}"
        return None
    if kind == "exchange":
        if not isinstance(value, str):
            return "must be an exchange name"
        if exchange_lookup(value) is None:
            return f"unknown exchange '{value}'" if len(value) <= 24 else "unknown exchange"
        return None
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) \
            else "must be a whole number"
    if kind == "number":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else "must be a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "list":
        return None if isinstance(value, list) else "must be a list"
    if kind == "dict":
        return None if isinstance(value, dict) else "must be a mapping"
    return f"unknown parameter kind {kind}"
