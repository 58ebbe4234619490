"""Playbook validation: one data file per malformed case with every problem it must report
(tests/data/playbooks/expected.json), the shipped playbooks, the step registry, templating
and its sandbox, `--input` coercion, and no input that makes `parse` do anything but return
a Playbook or raise PlaybookError (promptly)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from incident.errors import UsageError
from incident.playbook import runner, schema, template
from incident.playbook.interface import SIDE_EFFECTS, PlaybookError
from incident.playbook.schema import Playbook, load_file, parse, type_problem
from incident.playbook.steps import STEPS

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data" / "playbooks"
EXPECTED: dict[str, list[str]] = json.loads((DATA / "expected.json").read_text())
SHIPPED = sorted((ROOT / "playbooks").glob("*.yaml"))
KINDS = ("str", "int", "number", "bool", "list", "dict", "path", "label", "exchange", "any")
T = TypeVar("T")
LIMIT = 2.0  # seconds: parsing a small playbook takes well under 0.5 s

class Hung(Exception):
    pass


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise Hung in the (main) thread if the block runs longer than `seconds`; then give
    back SIGALRM and what was left of its timer (pytest-timeout's) as they were."""
    def expire(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL,
                             max(0.001, outer - (time.monotonic() - started)))


def within(seconds: float, fn: Callable[[], T]) -> T:
    with bounded(seconds):
        return fn()


def problems_of(path: Path) -> list[str]:
    """Every problem load_file reports, with the data directory cut from the source."""
    try:
        within(LIMIT, lambda: load_file(path))
    except PlaybookError as e:
        return [p.replace(f"{DATA}/", "") for p in e.problems]
    return []


def book(text: str, limit: float = LIMIT) -> Playbook:
    return within(limit, lambda: parse(text, "t.yaml"))


# --- one data file per case ---------------------------------------------------------------

def test_every_data_file_has_its_expected_problems() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in DATA.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_playbook(name: str) -> None:
    assert problems_of(DATA / name) == EXPECTED[name]


def test_problems_carry_the_source_and_count() -> None:
    with pytest.raises(PlaybookError) as e:
        book((DATA / "bad_retry.yaml").read_text())
    assert e.value.source == "t.yaml"
    assert str(e.value) == ("t.yaml: the playbook does not validate (2 problems):\n"
                            "  t.yaml:6: steps[0].retry.count: a whole number from 0 to 20\n"
                            "  t.yaml:7: steps[0].retry.backoff: seconds, from 0 to 600")


def test_http_get_may_be_declared_read() -> None:
    spec = book((DATA / "side_effect_http_get_read.yaml").read_text()).step("status")
    assert (spec.uses, spec.side_effect) == ("http", "read")
    assert spec.args == {"method": "GET", "url": "https://example.invalid/status"}


def test_a_step_spec_has_what_the_yaml_says() -> None:
    got = book("name: t\ninputs:\n  dump: {type: path, required: true}\nsteps:\n"
               "  - id: match\n    uses: match\n"
               "  - id: revoke\n    name: Revoke each\n    uses: revoke\n"
               "    for_each: '{{ steps.match.exposed }}'\n    when: steps.match.count > 0\n"
               "    approval: {approvers: [alice], four_eyes: true}\n"
               "    retry: 3\n    timeout: 60\n    on_error: {goto: match}\n"
               "    with: {label: '{{ item.label }}'}\n")
    spec = got.step("revoke")
    assert (spec.title, spec.for_each, spec.when) == ("Revoke each", "steps.match.exposed",
                                                      "steps.match.count > 0")
    assert (spec.approval, spec.retries, spec.backoff, spec.timeout) == (
        schema.Approval(("alice",), True), 3, 1.0, 60.0)
    assert (spec.on_error, spec.goto, spec.side_effect) == ("goto", "match", "write")
    assert [s.id for s in got.writes] == ["revoke"] and got.after("match") == "revoke"
    assert got.inputs == (schema.Input("dump", "path", True, None, ""),)


def test_messages_do_not_quote_long_values() -> None:
    """A value is quoted only when short (24 characters), as type_problem does."""
    long_exchange = "x" * 40
    with pytest.raises(PlaybookError) as e:
        book(f"name: t\nsteps: [{{id: m, uses: match, with: {{exchange: {long_exchange}}}}}]\n")
    assert e.value.problems == ["t.yaml:2: steps[0].with.exchange: unknown exchange"]


def test_the_http_side_effect_message_does_not_quote_a_long_method() -> None:
    with pytest.raises(PlaybookError) as e:
        book("name: t\nsteps:\n  - id: a\n    uses: http\n    side_effect: read\n"
             f"    with: {{url: 'https://example.invalid', method: {'p' * 60}}}\n")
    assert not any("p" * 25 in p.lower() for p in e.value.problems), e.value.problems


# --- no input crashes or hangs parse --------------------------------------------------------

def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _laughs(levels: int) -> str:
    lines = ["name: t", "x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines + ["steps: [{id: a, uses: match}]", ""])


CRASHES = {
    "a null top-level key": (
        "name: t\n~: 1\nsteps: [{id: a, uses: match}]\n", "hung"),
    "an `on:` top-level key (YAML 1.1 true)": (
        "name: t\non: push\nsteps: [{id: a, uses: match}]\n", "hung"),
    "a recursive alias": (
        "name: t\nsteps:\n  - &s {id: a, uses: match, with: {labels: *s}}\n",
        "RecursionError: schema.py _marks() (line 151) follows aliases without end"),
    "a recursive alias at the top": (
        "&a [*a]\n", "RecursionError: schema.py _marks() (line 155)"),
    "an alias bomb (400 bytes, 10**8 nodes)": (
        _laughs(8), ("hangs: schema.py _marks() walks every path through aliases: "
                    "exponential in the file's size")),
    "a deeply nested template": (
        "name: t\nsteps:\n  - id: a\n    uses: manual\n    with: {title: \"{{ "
        + "(" * 300 + "1" + ")" * 300 + " }}\"}\n",
        ("RecursionError from jinja2's parser: template.check() catches only "
        "TemplateSyntaxError (schema.py line 342)")),
    "a deeply nested when": (
        "name: t\nsteps:\n  - id: a\n    uses: match\n    when: \""
        + "(" * 3000 + "1" + ")" * 3000 + "\"\n",
        "RecursionError: template.check_expression() (schema.py line 299)"),
    "deeply nested YAML": (
        "name: t\nsteps: [{id: a, uses: http, with: {url: x, body: " + _nested(2000) + "}}]\n",
        "RecursionError from PyYAML's composer, not caught in parse() (schema.py line 125)"),
}


@pytest.mark.parametrize("text", [pytest.param(text, id=name)
                                  for name, (text, _) in CRASHES.items()])
def test_parse_raises_only_playbook_error_promptly(text: str) -> None:
    with pytest.raises(PlaybookError):
        book(text)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 100_000),
                    st.floats(allow_nan=True), st.text(max_size=12),
                    st.sampled_from(["match", "revoke", "revok", "http", "report", "stop",
                                     "continue", "binance", "binanse", "path", "float", "GET",
                                     "{{ item.label }}", "{{ steps.a.b }}", "{{ inputs.x }}",
                                     "{{ nope }}", "{{ x + }}", "steps.a.count > 0",
                                     "{% for %}"]))
KEYS = st.sampled_from(list(schema.TOP_KEYS + schema.STEP_KEYS) + [
    "goto", "count", "backoff", "approvers", "four_eyes", "type", "required", "default",
    "label", "exchange", "method", "url", "timeout", "require", "sources", "title", "x"])
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)
STEP = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"]),
                              "uses": st.sampled_from(sorted(STEPS) + ["report", "x"])},
                             optional={k: TREES for k in schema.STEP_KEYS[3:]})
PLAYBOOKS = st.fixed_dictionaries(
    {"name": st.sampled_from(["t", "Bad Name"]), "steps": st.lists(STEP, max_size=4)},
    optional={"inputs": st.dictionaries(st.sampled_from(["x", "y", "Bad"]), TREES, max_size=3),
              "description": TREES, "extra": TREES})
FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=list(HealthCheck))


def _only_playbook_error(data: Any) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        book(text, limit=0.5)
    except PlaybookError as e:
        assert e.problems and all(p.startswith("t.yaml") for p in e.problems), e.problems


@FAST
@given(PLAYBOOKS)
def test_random_playbooks_raise_only_playbook_error(data: dict[str, Any]) -> None:
    _only_playbook_error(data)


@settings(FAST, max_examples=60)
@given(st.one_of(TREES, st.dictionaries(st.one_of(KEYS, SCALARS), TREES, max_size=5)))
def test_random_yaml_raises_only_playbook_error(data: Any) -> None:
    _only_playbook_error(data)


# --- the shipped playbooks and the step registry --------------------------------------------

def test_there_are_shipped_playbooks() -> None:
    assert len(SHIPPED) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_playbook_validates(path: Path) -> None:
    got = within(LIMIT, lambda: load_file(path))
    assert got.name == path.stem
    assert got.description.strip() and got.steps


@pytest.mark.parametrize("name", sorted(STEPS))
def test_a_registered_step_resolves(name: str) -> None:
    cls = STEPS[name]
    assert cls.name == name
    assert (cls.__doc__ or "").strip() or cls.summary.strip()
    assert SIDE_EFFECTS == ("none", "read", "write")
    assert cls.side_effect in SIDE_EFFECTS
    for arg, param in cls.params.items():
        assert param.kind in KINDS, (arg, param.kind)
        assert not (param.required and param.default is not None), arg
        if not param.required:
            assert type_problem(param.default, param) is None, (arg, param.default)
        assert not param.choices or param.default is None or param.default in param.choices


def test_the_report_and_bundle_steps_are_registered() -> None:
    assert STEPS["report"].params["kind"].choices == ("exposure", "incident", "claim")
    assert STEPS["bundle"].params["label"].required


# --- templates ------------------------------------------------------------------------------

CONTEXT = {"steps": {"match": {"count": 2, "exposed": [{"label": "a"}, {"label": "b"}]}},
           "inputs": {"dump": "/tmp/d"}}


@pytest.mark.parametrize("value, rendered", [
    ("{{ steps.match.exposed | map(attribute='label') | list }}", ["a", "b"]),
    ("  {{ steps.match.exposed }} ", [{"label": "a"}, {"label": "b"}]),
    ("{{ steps.match.count }}", 2),
    ("{{ steps.match.count > 1 }}", True),
    ("{{ steps.match.exposed | label_of }}", ["a", "b"]),
    ("{{ steps.match.count }} exposed", "2 exposed"),
    ("{{ steps.match.count }}{{ inputs.dump }}", "2/tmp/d"),
    ("{% if steps.match.count %}some{% endif %}", "some"),
    ("no template", "no template"),
    (["{{ inputs.dump }}", {"n": "{{ steps.match.count }}"}, 3], ["/tmp/d", {"n": 2}, 3]),
])
def test_render(value: Any, rendered: Any) -> None:
    assert template.render(value, CONTEXT) == rendered


@pytest.mark.parametrize("value", [
    "n: {{ nope }}",
    "n: {{ steps.missing.count }}",
    "{{ steps.missing.count }}",
    "{{ nope }}",
    "{{ steps.match.nope }}",
])
def test_an_undefined_name_is_a_template_error(value: str) -> None:
    with pytest.raises(template.TemplateError):
        template.render(value, CONTEXT)


@pytest.mark.parametrize("value", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "x {{ ''.__class__.__mro__ }}",
    "{{ steps.__class__.__init__.__globals__ }}",
    "{{ steps.match.exposed.append(1) }}",
    "{{ ''.__class__ }}",
])
def test_the_sandbox_refuses_python_internals(value: str) -> None:
    with pytest.raises(template.TemplateError):
        template.render(value, CONTEXT)


@pytest.mark.parametrize("value", ["{{ 1 / 0 }}", "n: {{ 1 / 0 }}", "n: {{ 1 + 'a' }}"])
def test_an_error_while_rendering_is_a_template_error(value: str) -> None:
    with pytest.raises(template.TemplateError):
        template.render(value, CONTEXT)


def test_check_and_names() -> None:
    template.check("{{ steps.a.b | list }} and {% if x %}y{% endif %}")
    with pytest.raises(template.TemplateError, match="^template does not parse: "):
        template.check("{{ x + }}")
    with pytest.raises(template.TemplateError, match="^expression does not parse: "):
        template.check_expression("steps.a >")
    assert template.names("{{ steps.a }} {{ item.b | default(inputs.c) }}") == {
        "steps", "item", "inputs"}


# --- --input coercion -----------------------------------------------------------------------

INPUTS = book("name: t\ninputs:\n  dump: {type: path, required: true}\n  limit: int\n"
              "  ratio: number\n  strict: {type: bool, default: false}\n  labels: list\n"
              "  exchange: exchange\n  note: {type: str, default: hello}\n"
              "steps: [{id: a, uses: match}]\n")


def test_coerce_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    got = runner.coerce_inputs(INPUTS, {"dump": "dumps/leak.zip", "limit": "7", "ratio": "0.5",
                                        "strict": "Yes", "labels": "a, b,,c",
                                        "exchange": "Gate.io"})
    assert got == {"dump": str(tmp_path / "dumps" / "leak.zip"), "limit": 7, "ratio": 0.5,
                   "strict": True, "labels": ["a", "b", "c"], "exchange": "gate",
                   "note": "hello"}
    home = runner.coerce_inputs(INPUTS, {"dump": "~/leak"})["dump"]
    assert home == str(tmp_path / "me" / "leak") and Path(home).is_absolute()


@pytest.mark.parametrize("given_, message", [
    ({"dump": "d", "dumps": "x"}, ("--input dumps: the playbook declares no such input; it "
                                  "takes: dump, limit, ratio, strict, labels, exchange, note")),
    ({}, "--input dump=...: required (path)"),
    ({"dump": "d", "limit": "ten"}, "--input limit: not a int"),
    ({"dump": "d", "limit": "1.5"}, "--input limit: not a int"),
    ({"dump": "d", "ratio": "half"}, "--input ratio: not a number"),
    ({"dump": "d", "strict": "maybe"}, "--input strict: true or false"),
])
def test_coerce_inputs_refuses(given_: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        runner.coerce_inputs(INPUTS, given_)
    assert str(e.value) == message
