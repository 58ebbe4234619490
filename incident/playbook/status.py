"""What `incident playbook status` shows: a run, its steps, and each item's state."""

from __future__ import annotations

from typing import Any

from incident.errors import UsageError
from incident.store import Store
from incident.store import runs as sql


def runs(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    return [{"id": r.id, "playbook": r.playbook, "status": r.status, "dry_run": r.dry_run,
             "started_by": r.started_by, "started_at": r.started_at,
             "updated_at": r.updated_at, "position": r.position}
            for r in sql.listing(store.conn, limit)]


def of(store: Store, run_id: int) -> dict[str, Any]:
    from incident.playbook.schema import parse

    conn = store.conn
    run = sql.get(conn, run_id)
    if run is None:
        raise UsageError(f"no run {run_id} (see 'incident playbook status')")
    book = parse(run.source, f"run {run_id}")
    states = sql.steps(conn, run_id)
    counts = sql.item_counts(conn, run_id)
    steps = []
    for spec in book.steps:
        state = states.get(spec.id)
        entry: dict[str, Any] = {"id": spec.id, "uses": spec.uses,
                                 "side_effect": spec.side_effect,
                                 "status": state.status if state else "not started",
                                 "items": counts.get(spec.id, {}),
                                 "error": state.error if state else None}
        if state and spec.for_each is not None:
            entry["open"] = [{"name": i.name, "status": i.status, "error": i.error,
                              "attempts": i.attempts}
                             for i in sql.items(conn, run_id, spec.id)
                             if i.status != "done"][:100]
        steps.append(entry)
    return {"run": {"id": run.id, "playbook": run.playbook, "sha256": run.sha256,
                    "status": run.status, "position": run.position, "reason": run.reason,
                    "dry_run": run.dry_run, "started_by": run.started_by,
                    "started_at": run.started_at, "updated_at": run.updated_at,
                    "inputs": run.inputs},
            "steps": steps,
            "approvals": [{"step": s, "item": i, "kind": k, "by": by, "at": at, "note": n}
                          for s, i, k, by, at, n in sql.approvals(conn, run_id)]}


def lines(report: dict[str, Any]) -> list[str]:
    run = report["run"]
    out = [f"run {run['id']}: {run['playbook']}, {run['status']}"
           f"{' (dry run)' if run['dry_run'] else ''}; started {run['started_at'][:19]}Z by "
           f"{run['started_by']}"]
    if run["reason"]:
        out.append(f"  {run['reason']}")
    for s in report["steps"]:
        tally = ", ".join(f"{n} {k}" for k, n in sorted(s["items"].items()))
        out.append(f"  {s['id']:<18} {s['status']:<12} {tally}")
        for item in s.get("open", [])[:10]:
            out.append(f"      {item['name']}: {item['status']}"
                       f"{' - ' + item['error'] if item['error'] else ''}")
        if s["error"] and not s.get("open"):
            out.append(f"      {s['error']}")
    for a in report["approvals"]:
        out.append(f"  {a['kind']} of {a['step']} by {a['by']} at {a['at'][:19]}Z"
                   f"{': ' + a['note'] if a['note'] else ''}")
    return out
