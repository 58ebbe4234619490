"""Steps that work on this installation's own data: ingest, match, lookup, manual."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

from incident.errors import InputError, Place
from incident.ingest.interface import SourceOptions
from incident.ingest.pipeline import DumpResult, IngestOptions, NothingNew, SourceFailure, ingest
from incident.match import run_match
from incident.registry import list_keys
from incident.playbook.interface import JSON, Context, Param, Step

MAX_LOOKUP_ROWS = 5_000_000


class Ingest(Step):
    name = "ingest"
    side_effect = "read"  # reads dumps; changes nothing outside this installation
    summary = "Ingest leak dumps (files, directories, archives, URLs): fingerprints only."
    params = {
        "sources": Param("list", required=True, help="files, directories, archives, URLs"),
        "name": Param("str", help="the dump's name"),
        "exchange": Param("exchange", help="for records that name none"),
        "strict": Param("bool", default=False),
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        options = IngestOptions(name=args.get("name"), exchange=args.get("exchange"),
                                strict=bool(args.get("strict")),
                                sources=SourceOptions(timeout=ctx.timeout(30.0)))
        results = ingest(ctx.store, [str(s) for s in args["sources"]], options)
        failures = [r for r in results if isinstance(r, SourceFailure)]
        if failures:
            raise failures[0].error
        dumps = [r for r in results if isinstance(r, DumpResult)]
        return {"dumps": [{"id": d.id, "name": d.name, "sha256": d.sha256,
                           "credentials": d.credentials, "already": d.already}
                          for d in dumps],
                "dump_ids": [d.id for d in dumps],
                "credentials": sum(d.credentials for d in dumps),
                "nothing_new": [n.source for n in results if isinstance(n, NothingNew)],
                "summary": f"{len(dumps)} dump(s), {sum(d.credentials for d in dumps):,} "
                           "credentials"}


class Match(Step):
    name = "match"
    side_effect = "read"
    summary = "Match registered keys against the ingested dumps, by fingerprint."
    params = {
        "dump": Param("int", help="only this dump (default: every dump)"),
        "labels": Param("list", help="only these registered labels"),
        "exchange": Param("exchange", help="only keys of this exchange"),
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        report = run_match(ctx.store, args.get("dump"))
        labels = set(args["labels"]) if args.get("labels") else None
        exposed = [e for e in report.exposed
                   if (labels is None or e.label in labels)
                   and (args.get("exchange") is None or e.exchange == args["exchange"])]
        return {"count": len(exposed), "new": sum(1 for e in exposed if e.new),
                "exposed": [{"label": e.label, "exchange": e.exchange,
                             "components": e.components, "new": e.new,
                             "dumps": sorted({s.dump for s in e.sightings})}
                            for e in exposed],
                "ran_at": report.ran_at,
                "summary": f"{len(exposed)} registered key(s) exposed"}


class Keys(Step):
    name = "keys"
    side_effect = "read"
    summary = "The registered keys (by label, exchange and fingerprint prefix), to act on each."
    params = {
        "exchange": Param("exchange", help="only keys of this exchange"),
        "labels": Param("list", help="only these labels"),
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        labels = set(args["labels"]) if args.get("labels") else None
        keys = [{"label": k.label, "exchange": k.exchange, "added_at": k.added_at,
                 "key_prefix": (k.key_sha256 or k.key_hmsl or b"").hex()[:12]}
                for k in list_keys(ctx.store, args.get("exchange"))
                if labels is None or k.label in labels]
        return {"found": keys, "count": len(keys), "summary": f"{len(keys)} registered key(s)"}


class Lookup(Step):
    name = "lookup"
    side_effect = "read"
    summary = ("Look labels up in a CSV a platform exports (label, e-mail, sub-account, ...), "
               "grouped by a column: one notice per person, not per key.")
    params = {
        "file": Param("path", required=True, help="CSV with a header; one row per label"),
        "labels": Param("list", required=True, help="the labels to look up"),
        "key": Param("str", default="label", help="the column holding the label"),
        "group_by": Param("str", help="a column to group the rows by (e.g. email)"),
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        path = ctx.path(args["file"])
        wanted = {str(label) for label in args["labels"]}
        key, group_by = str(args.get("key") or "label"), args.get("group_by")
        rows: dict[str, dict[str, str]] = {}
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                columns = reader.fieldnames or []
                for column in [key] + ([str(group_by)] if group_by else []):
                    if column not in columns:
                        raise InputError(f"no column '{column}' in the header",
                                         Place(str(path), 1))
                for n, row in enumerate(reader, start=2):
                    if n > MAX_LOOKUP_ROWS:
                        raise InputError("more rows than a lookup reads", Place(str(path), n))
                    if None in row:
                        raise InputError("more fields than the header has", Place(str(path), n))
                    label = (row.get(key) or "").strip()
                    if label in wanted:
                        rows[label] = {k: (v or "").strip() for k, v in row.items()}
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror})", Place(str(path))) from e
        except (UnicodeDecodeError, csv.Error) as e:
            raise InputError(f"not a CSV file ({type(e).__name__})", Place(str(path))) from e
        found = [rows[label] for label in sorted(wanted) if label in rows]
        out: dict[str, Any] = {"rows": {r[key]: r for r in found},
                               "missing": sorted(wanted - set(rows)), "count": len(found)}
        if group_by:
            groups: dict[str, list[dict[str, str]]] = {}
            for r in found:
                if r[str(group_by)]:
                    groups.setdefault(r[str(group_by)], []).append(r)
            out["groups"] = [{"key": value, str(group_by): value,
                              "labels": [r[key] for r in members], "rows": members}
                             for value, members in sorted(groups.items())]
            out["ungrouped"] = sorted(r[key] for r in found if not r[str(group_by)])
        out["summary"] = f"{len(found)} of {len(wanted)} found"
        return out


class Manual(Step):
    """A checklist a person works through and marks done with a note (in a terminal when
    the run has one, else `incident playbook approve RUN STEP --note TEXT`). The runner
    does the waiting (`by_person`); this class declares the arguments."""

    name = "manual"
    side_effect = "none"
    by_person = True
    summary = "A checklist a person marks done, with a note."
    params = {
        "title": Param("str", required=True),
        "checklist": Param("list", default=[]),
    }
