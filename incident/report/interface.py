"""What every report kind is: a name, a title, and `build()` that turns stored data into a
view model. Rendering (HTML, Markdown, JSON, PDF) is the same for all kinds: render.py.

A view model is plain data: str, int, bool, None, lists and dicts. No floats (amounts are
formatted strings, so the JSON is byte-stable and nobody re-reads a rounded float), no
Secret objects, no key material: a key is named by its label and fingerprint prefix.

    ReportError (InputError)   a report cannot be built from what is stored (exit 3)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from incident.errors import InputError
from incident.store import Store

FORMAT = "incident-report/1"


class ReportError(InputError):
    """What is stored does not make this report: no such label, no snapshot, ..."""


@dataclass(frozen=True)
class Report:
    """A built report: its view model (what the JSON holds) and its charts (inline SVG,
    HTML and PDF only)."""

    kind: str
    stem: str  # the file name without its extension: claim-binance-victim-01
    model: Mapping[str, Any] = field(repr=False)
    charts: Mapping[str, str] = field(default_factory=dict, repr=False)
    # the same charts as pictures, for the PDF: made only when a PDF is asked for
    print_charts: Callable[[], Mapping[str, str]] | None = field(
        default=None, repr=False, compare=False)


class ReportKind:
    """One kind of report. Subclasses set `name` and `title` and implement `build`."""

    name: ClassVar[str]
    title: ClassVar[str]
    audience: ClassVar[str]  # who it is for, for `--help`

    def build(self, store: Store, *, label: str | None = None,
              options: Mapping[str, Any] | None = None) -> Report:
        raise NotImplementedError


def file_stem(label: str) -> str:
    """A label as part of a file name: itself when it is safe there, else its safe
    characters and a short hash of the whole (so two labels never share a file)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}", label):
        return label
    safe = re.sub(r"[^A-Za-z0-9._@-]+", "-", label).strip(".-")[:60]
    digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}" if safe else digest


def data_time(times: Iterable[str | None]) -> str:
    """The report's time: $SOURCE_DATE_EPOCH when set (reproducible builds' convention),
    else the newest time among the data it draws on. Never the clock, so the same inputs
    give the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    known = sorted(t for t in times if t)
    if not known:
        return "1970-01-01T00:00:00Z"
    return to_utc(known[-1])


def to_utc(text: str) -> str:
    """An ISO 8601 time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms_to_utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def utc_to_ms(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1000)
