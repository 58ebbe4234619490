"""Templating of a playbook's `with`, `when` and `for_each`: Jinja2's sandbox, where an
undefined name is an error, never an empty string.

A string that is exactly one `{{ expression }}` gives the expression's value as it is (a
list stays a list); any other string is rendered as text. `when` and `for_each` are bare
expressions (`steps.match.count > 0`). Nothing can reach Python beyond the values given:
the sandbox refuses attribute access to internals, and no name is ever imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

WHOLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.S)


class TemplateError(Exception):
    """A template that does not parse or cannot be evaluated; the message says why, and
    the caller adds the path."""


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["label_of"] = lambda items: [i["label"] for i in items]
    return env


def check(text: str) -> None:
    """Parse a template (or a whole `{{ expression }}`) without evaluating it."""
    m = WHOLE.match(text)
    if m:
        check_expression(m.group("expr"), "template")
    else:
        _parsed(lambda: environment().parse(text), "template")


def check_expression(text: str, what: str = "expression") -> None:
    _parsed(lambda: environment().compile_expression(text), what)


def _parsed(parse: Callable[[], object], what: str) -> None:
    try:
        parse()
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"{what} does not parse: {e.message}") from None
    except RecursionError:
        raise TemplateError(f"{what} nested too deeply") from None


def names(text: str) -> set[str]:
    """The top-level names a template or expression uses (for validation)."""
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(environment().parse(text)))
    except (jinja2.TemplateSyntaxError, RecursionError):
        return set()


def expression(text: str, context: Mapping[str, Any]) -> Any:
    """The expression's value, as plain JSON values; TemplateError for anything else (an
    undefined name, a refused attribute, a division by zero)."""
    try:
        value = environment().compile_expression(text, undefined_to_none=False)(**context)
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        return _plain(value)
    except jinja2.UndefinedError as e:
        raise TemplateError(f"undefined: {e.message}") from None
    except jinja2.TemplateError as e:
        raise TemplateError(f"cannot evaluate: {e.message}") from None
    except RecursionError:
        raise TemplateError("nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - an expression's own failure, as a place
        raise TemplateError(f"cannot evaluate ({type(e).__name__})") from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Every string in `value` (a JSON value) rendered against `context`."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        m = WHOLE.match(value)
        if m:
            return expression(m.group("expr"), context)
        try:
            return environment().from_string(value).render(**context)
        except jinja2.UndefinedError as e:
            raise TemplateError(f"undefined: {e.message}") from None
        except jinja2.TemplateError as e:
            raise TemplateError(f"cannot render: {e.message}") from None
        except RecursionError:
            raise TemplateError("nested too deeply") from None
        except Exception as e:  # noqa: BLE001 - as in expression()
            raise TemplateError(f"cannot render ({type(e).__name__})") from None
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A rendered value as JSON: tuples (groupby's) become lists, generators lists."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):  # groupby's (grouper, list)
        return {k: _plain(v) for k, v in value._asdict().items()}
    try:
        return [_plain(v) for v in value]
    except TypeError:
        return str(value)
