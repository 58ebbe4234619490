"""Files shipped with incident: Jinja2 templates and YAML playbooks.

In an installed copy they sit inside the package (incident/templates, incident/playbooks:
the wheel puts them there); in a source checkout, at the top of the repository. Imports
nothing heavy, so an installed copy can be checked without its dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

_PACKAGE = Path(__file__).resolve().parent
KINDS = ("templates", "playbooks")


def resource_dir(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"no resource kind {kind!r}; known: {', '.join(KINDS)}")
    for candidate in (_PACKAGE / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{kind}/ is missing from this installation of incident")


def template_environment() -> jinja2.Environment:
    """Autoescaped, and an undefined name is an error, never an empty string. Templates
    receive view models that are already masked, never Secret objects."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        autoescape=jinja2.select_autoescape(("html", "html.j2", "xml")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
