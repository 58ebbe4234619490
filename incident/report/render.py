"""A built report in every format: self-contained HTML (charts inline as SVG), Markdown,
JSON, and PDF (WeasyPrint, from the HTML).

Templates live in `templates/reports/KIND.html.j2` and `KIND.md.j2`; HTML is autoescaped,
Markdown goes through the `md` filter wherever a value lands in text or a table cell.
HTML, Markdown and JSON are byte-identical for the same view model; the PDF is as stable
as WeasyPrint allows (see incident/report/pdf.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from incident import __version__
from incident.files import atomic_write
from incident.report.interface import FORMAT, Report

FORMATS = ("html", "md", "json", "pdf")
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"})


def md(value: Any) -> str:
    """A value for Markdown text or a table cell: specials escaped, one line."""
    text = "" if value is None else str(value)
    return " ".join(text.translate(_MD_SPECIAL).split())


def amount(value: Any, places: int = 8) -> str:
    """A number with exactly `places` decimals, half to even; '' for None. Strings pass
    through (view models hold amounts already formatted)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return ""
    q = Decimal(1).scaleb(-places)
    return format(Decimal(repr(number)).quantize(q, rounding=ROUND_HALF_EVEN) + 0, "f")


def _environment() -> Any:
    from incident.resources import template_environment

    env = template_environment()
    env.filters["md"] = md
    env.filters["amount"] = amount
    return env


def document(report: Report) -> dict[str, Any]:
    """What the JSON holds: the view model, under a format tag."""
    return {"format": FORMAT, "kind": report.kind, **report.model}


def render_json(report: Report) -> bytes:
    return (json.dumps(document(report), indent=2, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8")


# The PDF's long tables stop here: WeasyPrint lays out about 60 rows of the trade table a
# second on this project's 2-core machine. The HTML, Markdown and JSON, and a claim's
# trades.csv, carry every row.
PDF_ROWS = 200


def render_text(report: Report, fmt: str, *, for_print: bool = False) -> bytes:
    env = _environment()
    template = env.get_template(f"reports/{report.kind}.{fmt}.j2")
    charts = report.charts
    if for_print and report.print_charts is not None:
        charts = report.print_charts()
    text: str = template.render(r=report.model, charts=charts, kind=report.kind,
                                title=report.model["title"], tool_version=__version__,
                                generated_at=report.model["generated_at"],
                                for_print=for_print,
                                pdf_rows=PDF_ROWS if for_print else None)
    return text.encode("utf-8")


def render(report: Report, formats: Iterable[str] = FORMATS) -> dict[str, bytes]:
    """The report in each format asked for, by extension."""
    wanted = list(formats)
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(f"no format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    out: dict[str, bytes] = {}
    for fmt in wanted:
        if fmt == "json":
            out[fmt] = render_json(report)
        elif fmt in ("html", "md"):
            out[fmt] = render_text(report, fmt)
        elif fmt == "pdf":
            from incident.report.pdf import html_to_pdf

            source = render_text(report, "html", for_print=True)
            out[fmt] = html_to_pdf(source.decode("utf-8"))
    return out


def write(outputs: Mapping[str, bytes], out_dir: Path, stem: str) -> list[Path]:
    """Each output to OUT_DIR/STEM.EXT in one piece (a temporary file renamed into place),
    mode 0600: a report names accounts and amounts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, data in outputs.items():
        final = out_dir / f"{stem}.{ext}"
        atomic_write(final, lambda f, data=data: f.write(data))  # type: ignore[misc]
        written.append(final)
    return written
