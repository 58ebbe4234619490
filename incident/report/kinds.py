"""The report kinds: every name `incident report KIND` and a playbook's `report` step
accept, and its class. Explicit: nothing is discovered or imported by name."""

from __future__ import annotations

from incident.report.claim import ClaimReport
from incident.report.exposure import ExposureReport
from incident.report.interface import ReportError, ReportKind
from incident.report.responder import IncidentReport

REPORTS: dict[str, type[ReportKind]] = {cls.name: cls for cls in (
    ExposureReport, IncidentReport, ClaimReport)}


def kind(name: str) -> ReportKind:
    cls = REPORTS.get(name)
    if cls is None:
        raise ReportError(f"no report kind {name!r}; known: {', '.join(sorted(REPORTS))}")
    return cls()
