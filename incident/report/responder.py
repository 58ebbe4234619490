"""The incident report: for a platform's incident responder, after NIST SP 800-61
(detection and analysis; containment, eradication and recovery; post-incident activity;
preparation is out of its scope).

    summary      dumps, credential records, registered keys exposed, and how many are
                 contained, verified dead or pending, per exchange
    timeline     UTC, each entry citing its source (dumps #2, match_runs #1, audit log #43)
    indicators   the dumps (sha256, source, members), the exchanges, what the audit log shows
    affected     every exposed key: label, exchange, fingerprint prefix, dumps, status
    actions      counts per action and outcome; each playbook run, who started and approved
    pending      keys not yet verified dead, runs waiting, failed items, dumps not matched
    evidence     snapshots (sha256, counts, file intact), the audit log (entries, head,
                 verified), the dumps' sha256

Option `dump` (a dump's id) scopes it to the keys exposed in that dump and what was done
about them. Built for a platform with 100,000 exposed keys: counts are SQL aggregates, the
audit log's per-key actions are grouped into runs of one action (gaps and islands), and
the JSON holds every row while HTML and Markdown show the first `ROWS_SHOWN` of each long
table (by exchange and label), saying how many more the JSON holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incident import audit
from incident.report.exposure import (
    CONTAINED,
    EVENTS,
    STATE_COLUMNS,
    STATUS_SQL,
    STATUS_TEXT,
    STATUSES,
    coverage,
    exchange_name,
    fingerprint,
    plural,
    snapshots,
    utc,
)
from incident.report.interface import Report, ReportError, ReportKind, data_time
from incident.store import Store

# What each audit action is, for the actions table.
ACTIONS = {
    "audit-key": "Read a key's permissions at its exchange",
    "snapshot": "Snapshot an account (evidence)",
    "revoke": "Revoke a key at its exchange",
    "restrict": "Restrict a key (read-only, IP whitelist)",
    "verify-revoked": "Check that a key is dead",
    "http": "Call your own endpoint (playbook http step)",
    "notify": "Notify (e-mail, webhook)",
    "manual-done": "Manual task marked done",
    "playbook-run": "Playbook run",
    "playbook-step": "Playbook step finished",
    "approve": "Approval of a step",
    "evidence-bundle": "Write a claim's evidence bundle",
}
# The NIST SP 800-61 phase each kind of timeline entry belongs to.
PHASES = {
    "dump": "detection", "match": "detection", "audit-key": "analysis",
    "snapshot": "analysis", "revoke": "containment", "restrict": "containment",
    "http": "containment", "manual-done": "containment", "verify-revoked": "eradication",
    "notify": "notification", "playbook-run": "response", "approve": "response",
    "evidence-bundle": "post-incident",
}
_VERB = {"audit-key": "Read the permissions of", "snapshot": "Snapshot of",
         "revoke": "Revoke", "restrict": "Restrict", "verify-revoked": "Verify dead",
         "http": "Calls to your own endpoint", "notify": "Notifications",
         "manual-done": "Manual task marked done for",
         "evidence-bundle": "Evidence bundle of"}
_OUTCOME = {"already": "already revoked", "manual": "no API: manual steps",
            "dry-run": "dry run (nothing changed)", "revoked": "dead", "live": "still live"}
_NEEDS = {"live": "revoke it: verify-revoked found it working",
          "revoked": "verify it dead", "deleted": "verify it dead",
          "restricted": "revoke it (restricted only)",
          "interrupted": "check it: a revoke or restrict recorded no end",
          "manual": "the exchange's manual steps, then verify",
          "failed": "revoke it: the revoke failed", "open": "revoke it, then verify"}


@dataclass(frozen=True)
class _Scope:
    """What the report covers, as SQL over the store (every literal an int from the
    store, written into the SQL)."""

    dump: int | None
    leaks: tuple[int, int] | None  # the dump's leak id range

    @property
    def hits(self) -> str:
        """Stored matches in scope: key_id, leak_id, run_id, found_at."""
        sql = "SELECT key_id, leak_id, run_id, found_at FROM matches"
        if self.leaks is not None:
            sql += f" WHERE leak_id BETWEEN {self.leaks[0]} AND {self.leaks[1]}"
        return sql

    @property
    def dumps(self) -> str:
        return "1" if self.dump is None else f"id = {self.dump}"

    @property
    def labels(self) -> str:
        return f"SELECT label FROM keys WHERE id IN (SELECT key_id FROM ({self.hits}))"

    @property
    def runs(self) -> str:
        """Playbook runs in scope: all, or those with an item named by an affected key."""
        if self.dump is None:
            return "SELECT id FROM runs"
        return f"SELECT DISTINCT run_id FROM run_items WHERE name IN ({self.labels})"

    @property
    def audit(self) -> str:
        """Audit entries in scope: all, or the affected keys' and their runs'."""
        if self.dump is None:
            return "1"
        return (f"(label IN ({self.labels}) OR label IS NULL AND {_json('run')} IN "
                f"({self.runs}))")

    @property
    def match_runs(self) -> str:
        if self.dump is None:
            return "1"
        return f"(dump_id = {self.dump} OR id IN (SELECT run_id FROM ({self.hits})))"


def _json(name: str, column: str = "detail") -> str:
    """A field of an audit entry's detail (NULL where the detail is not JSON: an edited
    entry, which `verify` names)."""
    return (f"CASE WHEN json_valid({column}) THEN json_extract({column}, '$.{name}') END")


class IncidentReport(ReportKind):
    name = "incident"
    title = "Incident report"
    audience = ("a platform's incident responder: what leaked, which keys, what was done, "
                "what is pending, the evidence (after NIST SP 800-61)")
    ROWS_SHOWN = 1000  # rows of a long table in HTML and Markdown; the JSON holds all

    def build(self, store: Store, *, label: str | None = None,
              options: Mapping[str, Any] | None = None) -> Report:
        if label is not None:
            raise ReportError("incident report: it covers every exposed key and takes no "
                              "label (scope it to a dump with option 'dump'; for one key, "
                              "the exposure report)")
        scope = _scope(store.conn, options)
        stem = "incident" if scope.dump is None else f"incident-dump-{scope.dump}"
        return Report(self.name, stem, _Builder(store, scope, self.ROWS_SHOWN).model())


def _scope(conn: sqlite3.Connection, options: Mapping[str, Any] | None) -> _Scope:
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"dump"})
    if unknown:
        raise ReportError(f"incident report: no option {unknown[0]!r}; known: dump")
    value = opts.get("dump")
    if value is None:
        return _Scope(None, None)
    text = str(value).strip()
    if isinstance(value, bool) or not isinstance(value, (int, str)) \
            or not (text.isascii() and text.isdigit()):
        raise ReportError("incident report: option 'dump' must be a dump's number (see "
                          "'incident dumps list')")
    dump_id = int(text)
    row = conn.execute("SELECT first_leak, last_leak FROM dumps WHERE id = ?",
                       (dump_id,)).fetchone()
    if row is None:
        raise ReportError(f"incident report: no dump {dump_id} (see 'incident dumps list')")
    first, last = row
    return _Scope(dump_id, (int(first), int(last)) if first is not None else (0, -1))


class _Builder:
    def __init__(self, store: Store, scope: _Scope, rows_shown: int) -> None:
        self.store = store
        self.conn = store.conn
        self.scope = scope
        self.rows_shown = rows_shown

    def q(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return self.conn.execute(sql, args).fetchall()

    def model(self) -> dict[str, Any]:
        dumps = self.dumps()
        affected = self.affected()
        summary = self.summary(dumps, affected)
        snaps = snapshots(self.conn, self.store.path.parent,
                          None if self.scope.dump is None
                          else sorted({a["label"] for a in affected}))
        title = "Incident report"
        if self.scope.dump is not None:
            title += f": dump #{self.scope.dump}"
        return {
            "title": title,
            "generated_at": self.generated_at(snaps),
            "scope": {"dump": self.scope.dump,
                      "dump_name": dumps[0]["name"] if self.scope.dump is not None else None},
            "rows_shown": self.rows_shown,
            "summary": summary,
            "timeline": self.timeline(),
            "indicators": self.indicators(dumps),
            "affected": affected,
            "actions": self.actions(),
            "pending": self.pending(affected),
            "evidence": self.evidence(dumps, snaps),
        }

    # -- what leaked ----------------------------------------------------------------------

    def dumps(self) -> list[dict[str, Any]]:
        members: dict[int, list[dict[str, Any]]] = {}
        for dump_id, name, fmt, unit in self.q(
                "SELECT dump_id, name, format, unit FROM dump_members WHERE dump_id IN"
                f" (SELECT id FROM dumps WHERE {self.scope.dumps})"
                " ORDER BY dump_id, member_no"):
            members.setdefault(dump_id, []).append({"name": name, "format": fmt,
                                                    "unit": unit})
        exposed = dict(self.q(
            f"SELECT l.dump_id, count(DISTINCT h.key_id) FROM ({self.scope.hits}) h"
            " JOIN leaks l ON l.id = h.leak_id GROUP BY l.dump_id"))
        out = []
        for (dump_id, name, source, kind, sha256, size, formats, credentials, rejected,
             ingested_at) in self.q(
                "SELECT id, name, source, kind, sha256, size, formats, credentials, rejected,"
                f" ingested_at FROM dumps WHERE {self.scope.dumps} ORDER BY id"):
            out.append({"id": dump_id, "name": name, "source": source, "kind": kind,
                        "sha256": bytes(sha256).hex(), "size": size,
                        "formats": _list(formats), "credentials": credentials,
                        "rejected": rejected, "ingested_at": utc(ingested_at),
                        "exposed_keys": exposed.get(dump_id, 0),
                        "members": members.get(dump_id, []),
                        "source_ref": f"dumps #{dump_id}"})
        return out

    def affected(self) -> list[dict[str, Any]]:
        """Every exposed key in scope, by exchange and label, with its status from the
        audit log: one query, aggregated in SQL."""
        rows = self.q(
            f"WITH {self._affected_cte()}"
            " SELECT a.label, a.exchange, a.key_sha256, a.key_hmsl, a.dumps, a.found,"
            " a.status, l.at, l.id FROM aff a LEFT JOIN audit_log l ON l.id = a.last"
            " ORDER BY a.exchange, a.label")
        out = []
        for label, exchange, key_sha, key_hmsl, dumps, found, status, at, last in rows:
            out.append({"label": label, "exchange": exchange,
                        "fingerprint": fingerprint(key_sha, key_hmsl),
                        "dumps": sorted(int(d) for d in str(dumps).split(",")),
                        "found_at": utc(found), "status": status,
                        "status_text": STATUS_TEXT[status],
                        "last_action_at": utc(at),
                        "last_action": f"audit log #{last}" if last else None})
        return out

    def _affected_cte(self) -> str:
        """CTEs ending in `aff`: every exposed key in scope with its dumps, when it was first
        found, its status and its last action. The matches and the audit log's entries
        about keys are grouped by key in one pass (an audit entry finds its key through
        the label index), never joined key by key."""
        return (f"per AS (SELECT h.key_id, group_concat(DISTINCT l.dump_id) AS dumps,"
                f" min(h.found_at) AS found FROM ({self.scope.hits}) h"
                " JOIN leaks l ON l.id = h.leak_id GROUP BY h.key_id),"
                " facts AS (SELECT key_id, dumps, found, NULL AS id, NULL AS action,"
                " NULL AS phase, NULL AS outcome FROM per UNION ALL"
                " SELECT k.id, NULL, NULL, e.id, e.action, e.phase, e.outcome"
                f" FROM ({EVENTS}) e JOIN keys k ON k.label = e.label),"
                f" s AS (SELECT key_id, max(dumps) AS dumps, max(found) AS found,"
                f" {STATE_COLUMNS} FROM facts GROUP BY key_id HAVING max(dumps) IS NOT NULL),"
                " aff AS (SELECT k.label, k.exchange, substr(k.key_sha256, 1, 6) AS key_sha256,"
                " substr(k.key_hmsl, 1, 6) AS key_hmsl, s.dumps,"
                f" s.found, {STATUS_SQL} AS status, s.last AS last FROM s"
                " JOIN keys k ON k.id = s.key_id)")

    def summary(self, dumps: list[dict[str, Any]], affected: list[dict[str, Any]]
                ) -> dict[str, Any]:
        per: dict[str, dict[str, Any]] = {}

        def row(exchange: str) -> dict[str, Any]:
            return per.setdefault(exchange, {
                "exchange": exchange, "name": exchange_name(exchange), "credentials": 0,
                "registered": 0, "exposed": 0, "contained": 0, "verified": 0, "pending": 0,
                "statuses": {}})

        for exchange, n in self.q(
                "SELECT j.key, sum(j.value) FROM (SELECT per_exchange FROM dumps WHERE"
                f" {self.scope.dumps}) d, json_each(d.per_exchange) j GROUP BY j.key"):
            row(exchange)["credentials"] = int(n)
        for exchange, n in self.q("SELECT exchange, count(*) FROM keys GROUP BY exchange"):
            row(exchange)["registered"] = int(n)
        statuses: dict[str, int] = {}
        for exchange, status, n in self.q(
                f"WITH {self._affected_cte()}"
                " SELECT exchange, status, count(*) FROM aff GROUP BY exchange, status"):
            r = row(exchange)
            r["exposed"] += n
            r["statuses"][status] = n
            r["contained"] += n if status in CONTAINED else 0
            r["verified"] += n if status == "verified" else 0
            r["pending"] += n if status != "verified" else 0
            statuses[status] = statuses.get(status, 0) + n
        for r in per.values():
            r["statuses"] = {s: r["statuses"][s] for s in STATUSES if s in r["statuses"]}
        exchanges = [per[e] for e in sorted(per)]
        if self.scope.dump is not None:  # the exchanges this dump concerns
            exchanges = [r for r in exchanges if r["credentials"] or r["exposed"]]
        total = {k: sum(r[k] for r in exchanges)
                 for k in ("exposed", "contained", "verified", "pending")}
        registered = self.q("SELECT count(*) FROM keys")[0][0]
        return {"dumps": len(dumps), "credentials": sum(d["credentials"] for d in dumps),
                "registered": registered, **total,
                "statuses": [{"status": s, "text": STATUS_TEXT[s], "count": statuses[s]}
                             for s in STATUSES if s in statuses],
                "exchanges": exchanges,
                "verdict": _verdict(total, len(affected))}

    # -- what happened, in order --------------------------------------------------------

    def timeline(self) -> list[dict[str, Any]]:
        """Dumps ingested, match runs, playbook runs and approvals one entry each; the
        audit log's per-key and outbound actions grouped into runs of one action by one
        person (in one playbook step), each citing the entries it covers."""
        events: list[tuple[str, int, int, dict[str, Any]]] = []

        def add(at: str, order: int, key: int, phase: str, event: str, actor: str | None,
                source: str) -> None:
            events.append((at, order, key, {"at": utc(at), "phase": phase, "event": event,
                                            "actor": actor, "source": source}))

        for dump_id, name, kind, credentials, at in self.q(
                "SELECT id, name, kind, credentials, ingested_at FROM dumps"
                f" WHERE {self.scope.dumps}"):
            add(at, 0, dump_id, PHASES["dump"], f"Dump ingested: {name} ({kind}, "
                f"{plural(credentials, 'credential record')})", None, f"dumps #{dump_id}")
        for run_id, at, dump_id, exposed, new in self.q(
                "SELECT id, started_at, dump_id, exposed, new FROM match_runs"
                f" WHERE {self.scope.match_runs}"):
            over = "every dump" if dump_id is None else f"dump #{dump_id}"
            add(at, 1, run_id, PHASES["match"], f"Match run over {over}: "
                f"{plural(exposed, 'registered key')} exposed, "
                f"{plural(new, 'new match', 'new matches')}", None, f"match_runs #{run_id}")
        for entry_id, at, actor, action, outcome, detail in self.q(
                "SELECT id, at, actor, action, outcome, detail FROM audit_log WHERE action IN"
                f" ('playbook-run', 'approve') AND {self.scope.audit}"):
            add(at, 2, entry_id, PHASES[action], _run_event(action, outcome, detail), actor,
                f"audit log #{entry_id}")
        for island in self._islands():
            add(island["at"], 2, island["first"], PHASES.get(island["action"], "response"),
                island["event"], island["actor"], island["source"])
        events.sort(key=lambda e: e[:3])
        return [e[3] for e in events]

    def _islands(self) -> list[dict[str, Any]]:
        """Runs of consecutive audit entries of one action, by one person, in one playbook
        step (dry runs apart): their entries, keys and outcomes (gaps and islands: an
        entry's rank among all, less its rank among its kind, is constant along a run)."""
        cte = ("WITH e AS (SELECT id, at, actor, action, phase, outcome, coalesce(label,"
               f" CASE WHEN action = 'manual-done' THEN {_json('item')} END) AS label, exchange,"
               f" {_json('run')} AS run, {_json('step')} AS step,"
               " coalesce(outcome, '') = 'dry-run' AS dry FROM audit_log WHERE action NOT IN"
               f" ('playbook-run', 'playbook-step', 'approve') AND {self.scope.audit}),"
               " g AS (SELECT *, row_number() OVER (ORDER BY id) - row_number() OVER"
               " (PARTITION BY action, actor, run, step, dry ORDER BY id) AS grp FROM e) ")
        group = "grp, action, actor, run, step, dry"
        islands: dict[tuple[Any, ...], dict[str, Any]] = {}
        for (grp, action, actor, run, step, dry, first, last, at, labels, label, exchanges,
             exchange, starts, ends) in self.q(
                cte + f"SELECT {group}, min(id), max(id), min(at), count(DISTINCT label),"
                " min(label), count(DISTINCT exchange), min(exchange), sum(phase = 'start'),"
                f" sum(phase = 'end') FROM g GROUP BY {group}"):
            islands[(grp, action, actor, run, step, dry)] = {
                "action": action, "actor": actor, "run": run, "step": step, "first": first,
                "last": last, "at": at, "labels": labels, "label": label,
                "exchanges": exchanges, "exchange": exchange, "starts": starts, "ends": ends,
                "outcomes": {}}
        for grp, action, actor, run, step, dry, outcome, n in self.q(
                cte + f"SELECT {group}, outcome, count(*) FROM g WHERE phase <> 'start'"
                f" GROUP BY {group}, outcome"):
            word = _OUTCOME.get(outcome or "", outcome or "no outcome")
            outcomes = islands[(grp, action, actor, run, step, dry)]["outcomes"]
            outcomes[word] = outcomes.get(word, 0) + n
        out = []
        for i in islands.values():
            i["event"] = _island_event(i)
            i["source"] = ("audit log #" + str(i["first"]) if i["first"] == i["last"]
                           else f"audit log #{i['first']}-#{i['last']}")
            out.append(i)
        return out

    # -- indicators, actions, pending, evidence ------------------------------------------

    def indicators(self, dumps: list[dict[str, Any]]) -> dict[str, Any]:
        where = self.scope.audit
        actors = [{"actor": a, "entries": n, "first": utc(f), "last": utc(last)}
                  for a, n, f, last in self.q(
                      "SELECT actor, count(*), min(at), max(at) FROM audit_log"
                      f" WHERE {where} GROUP BY actor ORDER BY actor")]
        apis = [{"exchange": ex, "name": exchange_name(ex), "base_url": base,
                 "entries": n} for ex, base, n in self.q(
                    f"SELECT exchange, {_json('base_url')} AS base, count(*) FROM audit_log"
                    " WHERE action IN ('audit-key', 'revoke', 'restrict', 'verify-revoked')"
                    f" AND exchange IS NOT NULL AND {where} GROUP BY exchange, base"
                    " ORDER BY exchange, base")]
        for api in apis:
            if api["base_url"] is None:
                from incident.exchanges import BASE_URLS

                default = BASE_URLS.get(api["exchange"])
                api["base_url"] = f"{default} (default)" if default else "(default)"
        outbound = [{"kind": f"http {method or ''}".strip(), "target": url, "calls": n}
                    for method, url, n in self.q(
                        f"SELECT {_json('method')} AS m, {_json('url')} AS u, count(*)"
                        " FROM audit_log WHERE action = 'http' AND phase = 'start' AND"
                        f" {where} GROUP BY m, u ORDER BY m, u")]
        # Webhooks by address; e-mail by count only (the addresses stay in the audit log).
        outbound += [{"kind": channel or "notify", "target": to, "calls": n}
                     for channel, to, n in self.q(
                         f"SELECT {_json('channel')} AS c, CASE WHEN {_json('channel')} ="
                         f" 'webhook' THEN {_json('to')} END AS t, count(*) FROM audit_log"
                         f" WHERE action = 'notify' AND phase = 'start' AND {where}"
                         " GROUP BY c, t ORDER BY c, t")]
        risks = [{"risk": risk, "count": n} for risk, n in self.q(
            "SELECT j.value, count(DISTINCT a.label) FROM (SELECT label, detail FROM"
            f" audit_log WHERE action = 'audit-key' AND outcome = 'ok' AND {where}) a,"
            " json_each(CASE WHEN json_valid(a.detail) THEN a.detail ELSE '{}' END, '$.risk') j"
            " GROUP BY j.value ORDER BY j.value")]
        exchanges = [{"exchange": ex, "name": exchange_name(ex), "credentials": int(n)}
                     for ex, n in self.q(
                         "SELECT j.key, sum(j.value) FROM (SELECT per_exchange FROM dumps"
                         f" WHERE {self.scope.dumps}) d, json_each(d.per_exchange) j"
                         " GROUP BY j.key ORDER BY j.key")]
        return {"dumps": [{k: d[k] for k in ("id", "name", "source", "kind", "sha256",
                                              "size", "formats", "credentials", "rejected",
                                              "exposed_keys", "ingested_at", "members",
                                              "source_ref")}
                          for d in dumps],
                "exchanges": exchanges, "actors": actors, "exchange_apis": apis,
                "outbound": outbound, "key_risks": risks}

    def actions(self) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {}
        for action, phase, outcome, n in self.q(
                "SELECT action, phase, outcome, count(*) FROM audit_log"
                f" WHERE {self.scope.audit} GROUP BY action, phase, outcome"):
            counts.setdefault(action, {}).setdefault(f"{phase}:{outcome or ''}", n)
        rows = []
        for action in sorted(counts):
            c = counts[action]
            starts = sum(n for k, n in c.items() if k.startswith("start:"))
            ends = sum(n for k, n in c.items() if k.startswith("end:"))
            for key in sorted(k for k in c if not k.startswith("start:")):
                rows.append({"action": action, "what": ACTIONS.get(action, action),
                             "outcome": key.partition(":")[2] or "(none)",
                             "entries": c[key]})
            if starts > ends:
                rows.append({"action": action, "what": ACTIONS.get(action, action),
                             "outcome": "started, no end recorded", "entries": starts - ends})
        return {"counts": rows, "runs": self.runs()}

    def runs(self) -> list[dict[str, Any]]:
        in_scope = f"run_id IN ({self.scope.runs})"
        items: dict[int, dict[str, dict[str, int]]] = {}
        for run_id, step, status, n in self.q(
                "SELECT run_id, step, status, count(*) FROM run_items"
                f" WHERE {in_scope} GROUP BY run_id, step, status"):
            items.setdefault(run_id, {}).setdefault(step, {})[status] = n
        steps: dict[int, list[dict[str, Any]]] = {}
        for run_id, step, status, count, started, ended, error in self.q(
                "SELECT run_id, step, status, items, started_at, ended_at, error"
                f" FROM run_steps WHERE {in_scope} ORDER BY run_id, started_at, step"):
            steps.setdefault(run_id, []).append({
                "step": step, "status": status, "item_count": count,
                "item_status": dict(sorted(items.get(run_id, {}).get(step, {}).items())),
                "started_at": utc(started), "ended_at": utc(ended), "error": error})
        approvals: dict[int, list[dict[str, Any]]] = {}
        for run_id, step, idx, kind, actor, at, note in self.q(
                "SELECT run_id, step, idx, kind, actor, at, note FROM run_approvals"
                f" WHERE {in_scope} ORDER BY run_id, at, rowid"):
            approvals.setdefault(run_id, []).append({
                "step": step, "item": idx, "kind": kind, "actor": actor, "at": utc(at),
                "note": note})
        out = []
        for (run_id, playbook, dry_run, by, started, updated, status, position,
             reason) in self.q(
                "SELECT id, playbook, dry_run, started_by, started_at, updated_at, status,"
                f" position, reason FROM runs WHERE id IN ({self.scope.runs}) ORDER BY id"):
            out.append({"id": run_id, "playbook": playbook, "dry_run": bool(dry_run),
                        "started_by": by, "started_at": utc(started),
                        "updated_at": utc(updated), "status": status, "position": position,
                        "reason": reason, "steps": steps.get(run_id, []),
                        "approvals": approvals.get(run_id, [])})
        return out

    def pending(self, affected: list[dict[str, Any]]) -> dict[str, Any]:
        keys = [{**{k: a[k] for k in ("label", "exchange", "fingerprint", "status",
                                      "status_text", "last_action_at", "last_action")},
                 "needs": _NEEDS[a["status"]]} for a in affected if a["status"] != "verified"]
        runs = [{"id": r, "playbook": p, "status": s, "position": pos, "reason": why,
                 "started_by": by, "updated_at": utc(at)}
                for r, p, s, pos, why, by, at in self.q(
                    "SELECT id, playbook, status, position, reason, started_by, updated_at"
                    f" FROM runs WHERE id IN ({self.scope.runs}) AND status <> 'done'"
                    " ORDER BY id")]
        items = [{"run": r, "step": st, "item": idx, "name": name, "status": s,
                  "attempts": attempts, "error": error}
                 for r, st, idx, name, s, attempts, error in self.q(
                     "SELECT run_id, step, idx, name, status, attempts, error FROM run_items"
                     f" WHERE run_id IN ({self.scope.runs}) AND status IN ('failed',"
                     " 'waiting', 'started') ORDER BY run_id, step, idx")]
        return {"unverified": keys, "runs": runs, "open_items": items,
                "matching": self.matching()}

    def matching(self) -> list[dict[str, Any]]:
        """Dumps some registered keys have not been compared with: no match run since the
        dump's ingest, or keys registered after the last run over it (keys registered by
        hmsl fingerprint only cannot be compared at all, and are not counted)."""
        added = self.q("SELECT coalesce(s.finished_at, s.started_at), count(*) FROM keys k"
                       " JOIN key_sources s ON s.id = k.source_id"
                       " WHERE k.key_sha256 IS NOT NULL GROUP BY k.source_id")
        total = sum(n for _, n in added)
        names = dict(self.q(f"SELECT id, name FROM dumps WHERE {self.scope.dumps}"))
        out = []
        for dump_id, ingested, run in coverage(self.conn):
            if dump_id not in names:
                continue
            behind = total if run is None or run < ingested else sum(
                n for at, n in added if at > run)
            if behind:
                out.append({"dump": dump_id, "name": names[dump_id],
                            "last_match_run": utc(run), "keys_not_compared": behind})
        return out

    def evidence(self, dumps: list[dict[str, Any]], snaps: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        verdict = audit.verify(audit.entries(self.conn))
        return {
            "snapshots": snaps,
            "audit_log": {"entries": verdict.count, "head": verdict.head,
                          "verified": verdict.ok, "problems": len(verdict.problems),
                          "first_problems": [p.message for p in verdict.problems[:20]]},
            "dumps": [{k: d[k] for k in ("id", "name", "sha256", "size", "ingested_at")}
                      for d in dumps],
        }

    def generated_at(self, snaps: list[dict[str, Any]]) -> str:
        times = [t for (t,) in self.q(
            f"SELECT max(ingested_at) FROM dumps WHERE {self.scope.dumps} UNION ALL"
            f" SELECT max(started_at) FROM match_runs WHERE {self.scope.match_runs} UNION ALL"
            f" SELECT max(at) FROM audit_log WHERE {self.scope.audit} UNION ALL"
            f" SELECT max(updated_at) FROM runs WHERE id IN ({self.scope.runs}) UNION ALL"
            f" SELECT max(at) FROM run_approvals WHERE run_id IN ({self.scope.runs})")]
        return data_time([*times, *(s["taken_at"] for s in snaps)])


def _list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return sorted(str(v) for v in value) if isinstance(value, list) else []


def _verdict(total: Mapping[str, int], exposed: int) -> str:
    if not exposed:
        return "No registered key is in the dumps."
    if total["pending"] == 0:
        return (f"Every exposed key ({exposed:,}) is revoked and verified dead.")
    return (f"{plural(exposed, 'registered key')} exposed: {total['contained']:,} contained, "
            f"{total['verified']:,} verified dead, {total['pending']:,} not yet verified "
            "dead.")


def _run_event(action: str, outcome: str | None, detail: str) -> str:
    try:
        d = json.loads(detail)
    except ValueError:
        d = {}
    d = d if isinstance(d, dict) else {}
    run = f"Run {d.get('run', '?')}"
    if action == "approve":
        note = f": {d['note']}" if d.get("note") else ""
        return f"{run}, step {d.get('step', '?')}: approved{note}"
    book = f" ({d['playbook']})" if d.get("playbook") else ""
    if outcome == "started":
        return f"{run}{book} started" + (" (dry run: nothing changed)" if d.get("dry_run")
                                         else "")
    if outcome in ("waiting", "failed"):
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"{run} {outcome} at step {d.get('step', '?')}{why}"
    failed = d.get("failed_items") or {}
    more = ""
    if isinstance(failed, dict) and failed:
        more = "; failed items: " + ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
    return f"{run}{book} {outcome or 'recorded'}{more}"


def _island_event(i: Mapping[str, Any]) -> str:
    """One line for a run of audit entries: "Revoke 5 keys at Binance: 4 done, 1 already
    revoked"."""
    verb = _VERB.get(i["action"], i["action"])
    if i["labels"] == 1:
        subject = f" {i['label']}"
        if i["exchange"]:
            subject += f" ({exchange_name(i['exchange'])})"
    elif i["labels"] > 1:
        subject = f" {i['labels']:,} keys"
        if i["exchanges"] == 1:
            subject += f" at {exchange_name(i['exchange'])}"
    else:
        subject = ""
    if i["run"] is not None:
        subject += f" (run {i['run']}" + (f", step {i['step']})" if i["step"] else ")")
    words = sorted(i["outcomes"].items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{n:,} {w}" for w, n in words] if sum(i["outcomes"].values()) > 1 else \
        [w for w, _ in words]
    if i["starts"] > i["ends"]:
        parts.append(f"{i['starts'] - i['ends']:,} started with no end recorded")
    return f"{verb}{subject}: {', '.join(parts)}" if parts else f"{verb}{subject}"

