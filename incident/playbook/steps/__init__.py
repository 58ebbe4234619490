"""The step registry: every name a playbook's `uses:` may give, and its class. Explicit:
nothing named in a playbook is ever imported."""

from __future__ import annotations

from incident.playbook.interface import Step
from incident.playbook.steps.exchange import AuditKey, Restrict, Revoke, Snapshot, VerifyRevoked
from incident.playbook.steps.local import Ingest, Keys, Lookup, Manual, Match
from incident.playbook.steps.outbound import Http, Notify
from incident.playbook.steps.reports import Bundle, Report

STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (
    Ingest, Match, Keys, Lookup, AuditKey, Snapshot, Revoke, Restrict, VerifyRevoked, Manual,
    Notify, Http, Report, Bundle)}
