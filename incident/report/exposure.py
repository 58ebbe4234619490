"""The exposure report: for an affected user, their own registered keys (all, or one label).

For each key: whether it is in a leak, and where (dump, member, line), which of its parts
leaked and in which role, when the match was found; what has been done about it since (from
the audit log); and what to do now, concretely and per exchange. Keys not in any dump are
listed as clean, but only when every dump was compared with them: a key registered after
the last match run, or a dump ingested after it, is listed as not yet checked. Keys
registered by HMSL fingerprint only cannot be compared with the corpus and say so.

Everything comes from the store as it is: building a report writes nothing and reads no
clock. The key status logic (`EVENTS`, `STATE_COLUMNS`, `STATUS_SQL`) is shared with the
incident report (responder.py).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incident import audit, registry
from incident.errors import UnknownLabel
from incident.exchanges.names import EXCHANGES
from incident.report.interface import (Report, ReportError, ReportKind, data_time, file_stem,
                                       to_utc)
from incident.store import Store
from incident.store import dumps as dump_sql
from incident.store import matches as match_sql

# -- a key's status, from the audit log (shared with the incident report) ---------------

# The audit log's entries about keys, each with the label it concerns: its own, or for a
# manual task marked done (a key deleted by hand in a playbook's guide step) its item.
EVENTS = """SELECT id, action, phase, outcome, coalesce(label, CASE WHEN action = 'manual-done'
      AND json_valid(detail) THEN json_extract(detail, '$.item') END) AS label
    FROM audit_log"""

# Per key, the id of the latest audit entry of each kind that decides its status (from
# EVENTS rows). A write logs `start` then `end`: a start after the latest end is a write
# that never ended.
STATE_COLUMNS = """
      max(CASE WHEN action = 'revoke' AND phase = 'end' AND outcome IN ('done', 'already')
               THEN id END) AS revoked,
      max(CASE WHEN action = 'restrict' AND phase = 'end' AND outcome IN ('done', 'already')
               THEN id END) AS restricted,
      max(CASE WHEN action = 'verify-revoked' AND outcome = 'revoked' THEN id END) AS dead,
      max(CASE WHEN action = 'verify-revoked' AND outcome = 'live' THEN id END) AS live,
      max(CASE WHEN action IN ('revoke', 'restrict') AND phase = 'end' AND outcome = 'manual'
               THEN id END) AS manual,
      max(CASE WHEN action = 'manual-done' THEN id END) AS by_hand,
      max(CASE WHEN action IN ('revoke', 'restrict') AND phase = 'end' AND outcome = 'failed'
               THEN id END) AS failed,
      max(CASE WHEN action IN ('revoke', 'restrict') AND phase = 'start' THEN id END)
          AS started,
      max(CASE WHEN action IN ('revoke', 'restrict') AND phase = 'end' THEN id END) AS ended,
      max(CASE WHEN action = 'snapshot' AND outcome = 'ok' THEN id END) AS snapshot,
      max(CASE WHEN phase <> 'start' AND coalesce(outcome, '') <> 'dry-run' THEN id END)
          AS last"""

# The status of a key whose `state` row is `s` (NULL: nothing logged), most final first.
STATUS_SQL = """CASE
      WHEN s.dead IS NOT NULL AND s.dead > coalesce(s.live, 0) THEN 'verified'
      WHEN s.live IS NOT NULL AND s.live > max(coalesce(s.revoked, 0),
               coalesce(s.restricted, 0), coalesce(s.by_hand, 0)) THEN 'live'
      WHEN s.revoked IS NOT NULL THEN 'revoked'
      WHEN s.manual IS NOT NULL AND s.by_hand > s.manual THEN 'deleted'
      WHEN s.restricted IS NOT NULL THEN 'restricted'
      WHEN s.started > coalesce(s.ended, 0) THEN 'interrupted'
      WHEN s.manual IS NOT NULL THEN 'manual'
      WHEN s.failed IS NOT NULL THEN 'failed'
      ELSE 'open' END"""

STATUS_TEXT = {
    "verified": "revoked, verified dead",
    "live": "still live: verify-revoked found it working",
    "revoked": "revoked, not yet verified dead",
    "deleted": "deleted by hand (a manual task marked done), not yet verified dead",
    "restricted": "restricted, not revoked",
    "interrupted": "a revoke or restrict started and recorded no end",
    "manual": "waiting for the exchange's manual steps",
    "failed": "revoke failed",
    "open": "nothing done yet",
}
STATUSES = tuple(STATUS_TEXT)  # most final first
CONTAINED = frozenset({"verified", "revoked", "deleted", "restricted"})


def state_cte(where: str = "") -> str:
    """A CTE `state`: one row per label with STATE_COLUMNS, restricted by `where` (SQL on
    the label, with its own parameters), e.g. " AND label IN (?, ?)"."""
    return (f"state AS (SELECT label, {STATE_COLUMNS} FROM ({EVENTS})"
            f" WHERE label IS NOT NULL{where} GROUP BY label)")


# -- small helpers (shared with the incident report) ----------------------------------------

def utc(text: str | None) -> str | None:
    return to_utc(text) if text else None


def fingerprint(sha: bytes | None, hmsl: bytes | None = None) -> str:
    """A key's fingerprint prefix, named by its scheme: sha256:068b073331a9."""
    if sha:
        return f"sha256:{bytes(sha).hex()[:12]}"
    return f"hmsl:{bytes(hmsl).hex()[:12]}" if hmsl else "-"


def exchange_name(exchange: str) -> str:
    return EXCHANGES.get(exchange, exchange)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def snapshots(conn: sqlite3.Connection, data_dir: Path, labels: Sequence[str] | None
              ) -> list[dict[str, Any]]:
    """The snapshots taken (of these labels, or all), each with whether its snapshot.json
    is still there and still hashes to the sha256 recorded when it was taken."""
    sql = ("SELECT id, label, exchange, path, since, until, taken_at, sha256, counts"
           " FROM snapshots")
    rows: list[tuple[Any, ...]] = []
    if labels is None:
        rows = conn.execute(sql + " ORDER BY taken_at, id").fetchall()
    else:
        for i in range(0, len(labels), 500):
            chunk = list(labels[i:i + 500])
            rows += conn.execute(sql + f" WHERE label IN ({', '.join('?' * len(chunk))})",
                                 chunk).fetchall()
        rows.sort(key=lambda r: (r[6], r[0]))
    out = []
    for sid, label, exchange, path, since, until, taken_at, sha256, counts in rows:
        out.append({"id": sid, "label": label, "exchange": exchange, "path": path,
                    "since": utc(since), "until": utc(until), "taken_at": utc(taken_at),
                    "sha256": sha256, "counts": _counts(counts),
                    "file": _file_state(data_dir, path, sha256)})
    return out


def _counts(text: str) -> dict[str, int]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in sorted(value.items()) if isinstance(v, int)}


def _file_state(data_dir: Path, path: str, sha256: str) -> str:
    """intact | changed | missing | outside (a path that leaves the data directory)."""
    root = data_dir.resolve()
    folder = (root / path).resolve()
    if root not in folder.parents:
        return "outside"
    try:
        digest = hashlib.sha256((folder / "snapshot.json").read_bytes()).hexdigest()
    except OSError:
        return "missing"
    return "intact" if digest == sha256 else "changed"


def coverage(conn: sqlite3.Connection) -> list[tuple[int, str, str | None]]:
    """(dump id, ingested_at, start of the latest match run that covered it or None) of
    every dump, by id. A key was compared with a dump when that run started after both the
    dump's ingest and the key's registration."""
    return [(int(i), str(t), r) for i, t, r in conn.execute(
        "SELECT d.id, d.ingested_at, (SELECT max(r.started_at) FROM match_runs r"
        " WHERE r.dump_id IS NULL OR r.dump_id = d.id) FROM dumps d ORDER BY d.id")]


def unchecked(cover: Sequence[tuple[int, str, str | None]], added: str) -> list[int]:
    """The dumps a key registered at `added` has not been compared with."""
    return [d for d, ingested, run in cover
            if run is None or run < ingested or run < added]


def command(words: Sequence[str], label: str | None = None) -> str:
    """A command line, each word quoted for a POSIX shell, the label last: after `--` when
    it would read as an option (a label may begin with '-')."""
    out = [shlex.quote(w) for w in words]
    if label is not None:
        out += (["--"] if label.startswith("-") else []) + [shlex.quote(label)]
    return " ".join(out)


# -- the exposure report --------------------------------------------------------------------

_OTHER = {"key": "secret", "secret": "key", None: None}
_PLACE = {"key": "the API key's place", "secret": "the secret's place"}
_COMPONENTS = {"both": "API key and secret", "key": "API key only (not its secret)",
               "secret": "secret only (not its API key)"}
_OUTCOME = {"done": "done", "already": "already revoked",
            "manual": "no API for it: manual steps needed", "failed": "failed",
            "dry-run": "dry run (nothing changed)", "revoked": "the key is dead",
            "live": "the key still works", "ok": "ok"}
_ACTION = {"revoke": "Revoke", "restrict": "Restrict", "verify-revoked": "Verify revoked",
           "snapshot": "Snapshot", "audit-key": "Read the key's permissions",
           "manual-done": "Manual task marked done",
           "evidence-bundle": "Evidence bundle written"}
_PLAYBOOK_STEPS = {
    "3commas-2022": "match, read each key's permissions, snapshot, revoke, guide you "
                    "through the exchange's manual steps, verify",
    "generic-exchange-key-leak": "match, snapshot, revoke, guide you through the exchange's "
                                 "manual steps, verify",
}
ADVICE = (
    ("Look in each exposed account for open orders, trades, withdrawals, transfers and "
     "sub-accounts you did not make, and for API keys or withdrawal addresses you did not "
     "add. A snapshot records what the exchange shows now."),
    ("Do not reuse a leaked key. Create a new one bound to your own IP addresses (an IP "
     "whitelist), without withdrawal or transfer rights, with trading only if your bot "
     "needs it, and give it only to services you still use."),
    "Turn on the exchange's withdrawal address whitelist and two-factor authentication.",
    ("If trades or withdrawals you did not make cost you money, keep the snapshot and the "
     "audit log: the claim report (incident report claim) turns them into evidence an "
     "exchange or an insurer can check."),
)


class ExposureReport(ReportKind):
    name = "exposure"
    title = "Exposure report"
    audience = ("an affected user: which of my keys are in a leak, where, what has been done "
                "and what to do now")

    def build(self, store: Store, *, label: str | None = None,
              options: Mapping[str, Any] | None = None) -> Report:
        wanted = _label(label, options)
        if wanted is not None:
            try:
                registry.get_key(store, wanted)
            except UnknownLabel as e:
                raise ReportError(f"exposure report: no key labelled {wanted!r} (see "
                                  "'incident keys list')") from e
        stem = "exposure" if wanted is None else f"exposure-{file_stem(wanted)}"
        return Report(self.name, stem, _model(store, wanted))


def _label(label: str | None, options: Mapping[str, Any] | None) -> str | None:
    opts = dict(options or {})
    unknown = sorted(set(opts) - {"label"})
    if unknown:
        raise ReportError(f"exposure report: no option {unknown[0]!r}; known: label")
    given = opts.get("label")
    if given is not None and not isinstance(given, str):
        raise ReportError("exposure report: option 'label' must be a label (text)")
    if label is not None and given is not None and given != label:
        raise ReportError("exposure report: two different labels given (the argument and "
                          "option 'label')")
    return label if label is not None else given


def _model(store: Store, wanted: str | None) -> dict[str, Any]:
    conn = store.conn
    keys = conn.execute(
        "SELECT k.id, k.label, k.exchange, k.key_sha256, k.key_hmsl, k.has_passphrase,"
        " coalesce(s.finished_at, s.started_at) FROM keys k JOIN key_sources s"
        " ON s.id = k.source_id" + (" WHERE k.label = ?" if wanted is not None else "")
        + " ORDER BY k.label", (wanted,) if wanted is not None else ()).fetchall()
    found = _sightings(conn, wanted)
    cover = coverage(conn)
    dump_count, records = match_sql.count_sightings(conn)
    labels = [k[1] for k in keys if k[0] in found]
    states = _states(conn, labels)
    shots = snapshots(conn, store.path.parent, labels)
    hand = _by_hand(conn)
    exposed: list[dict[str, Any]] = []
    clean: list[dict[str, Any]] = []
    not_checked: list[dict[str, Any]] = []
    unmatchable: list[dict[str, Any]] = []
    times: list[str | None] = [t for _, t, _ in cover]
    times += [r for _, _, r in cover]
    for key_id, label, exchange, key_sha, key_hmsl, has_pp, added in keys:
        times.append(added)
        base = {"label": label, "exchange": exchange, "exchange_name": exchange_name(exchange),
                "fingerprint": fingerprint(key_sha, key_hmsl), "registered_at": utc(added)}
        if key_sha is None:
            unmatchable.append(base)
            continue
        missing = unchecked(cover, added)
        if key_id not in found:
            if missing:
                not_checked.append({**base, "unchecked_dumps": missing})
            else:
                clean.append(base)
            continue
        sightings = found[key_id]
        state = states.get(label, _NOTHING)
        history = _history(conn, label, hand.get(label, []))
        own = [s for s in shots if s["label"] == label]
        times += [s["found_at"] for s in sightings] + [h["at"] for h in history]
        times += [s["taken_at"] for s in own]
        exposed.append({
            **base, **_exposure(exchange, sightings),
            "registered_passphrase": None if has_pp is None else bool(has_pp),
            "unchecked_dumps": missing, "status": state, "history": history,
            "snapshots": own, "todo": _todo(label, exchange, state, sightings, missing)})
    pending = [e for e in exposed if e["status"]["code"] != "verified"]
    summary = {"registered": len(keys), "exposed": len(exposed), "pending": len(pending),
               "clean": len(clean), "not_checked": len(not_checked),
               "unmatchable": len(unmatchable), "dumps": dump_count, "credentials": records,
               "last_match_run": utc(max((r for _, _, r in cover if r), default=None))}
    return {
        "title": "Exposure report" + (f": {wanted}" if wanted is not None else ""),
        "generated_at": data_time(times),
        "scope": {"label": wanted},
        "summary": {**summary, **_verdict(summary, wanted is not None)},
        "exposed": exposed,
        "clean": clean,
        "not_checked": not_checked,
        "unmatchable": unmatchable,
        "exchanges": _guides(pending),
        "playbook": _playbook(pending),
        "advice": list(ADVICE),
    }


def _verdict(s: Mapping[str, Any], one: bool) -> dict[str, str]:
    """The report's first sentence, and its tone: exposed (action needed), done (every
    exposed key verified dead), clean, or unknown (not compared, or not comparable)."""
    one = one or s["registered"] == 1
    if s["exposed"] and s["pending"]:
        tone = "exposed"
        text = ("This key is in a leak and still needs action: see \"What to do now\"."
                if one else f"{s['exposed']:,} of {s['registered']:,} keys "
                f"{'is' if s['exposed'] == 1 else 'are'} in a leak; {s['pending']:,} still "
                f"{'needs' if s['pending'] == 1 else 'need'} action (see \"What to do now\" "
                "under each key).")
    elif s["exposed"]:
        tone = "done"
        text = ("This key is in a leak; it is revoked and verified dead." if one else
                f"{s['exposed']:,} of {s['registered']:,} keys "
                f"{'is' if s['exposed'] == 1 else 'are'} in a leak; every one of them is "
                "revoked and verified dead.")
    elif s["not_checked"] or s["unmatchable"]:
        tone = "unknown"
        if one and s["unmatchable"]:
            text = ("This key was registered by HMSL fingerprint only: it cannot be compared "
                    "with the dumps (see below).")
        elif one:
            text = ("This key is in none of the dumps it was compared with, but it has not "
                    "yet been compared with every dump (see below).")
        else:
            text = (f"None of the {s['registered']:,} keys is in the dumps it was compared "
                    f"with, but {s['not_checked'] + s['unmatchable']:,} have not been "
                    "compared with every dump, or cannot be (see below).")
    else:
        tone = "clean"
        text = (f"{'This key is in none' if one else 'None of these keys is in any'} of the "
                f"{s['dumps']:,} dumps searched.")
    return {"verdict": text, "tone": tone}


def _sightings(conn: sqlite3.Connection, wanted: str | None
               ) -> dict[int, list[dict[str, Any]]]:
    """Registered key id -> where it was seen, as the stored matches say (dump, member,
    position; roles as the dump gave them), in dump and reading order."""
    sql = (f"SELECT x.key_id, x.key_role, x.secret_role, x.run_id, x.found_at,"
           f" {match_sql.SIGHTING}, d.kind FROM matches x"
           " JOIN leaks l ON l.id = x.leak_id JOIN dumps d ON d.id = l.dump_id"
           " JOIN dump_members m ON m.dump_id = l.dump_id AND m.member_no = l.member_no")
    args: tuple[Any, ...] = ()
    if wanted is not None:
        sql += " JOIN keys k ON k.id = x.key_id WHERE k.label = ?"
        args = (wanted,)
    sql += " ORDER BY x.key_id, d.id, m.member_no, l.position, l.id"
    out: dict[int, list[dict[str, Any]]] = {}
    for (key_id, key_role, secret_role, run_id, found_at, _leak, _key, _secret, exchange,
         flags, position, member, unit, dump_id, dump, source, sha256, ingested_at,
         kind) in conn.execute(sql, args):
        if flags & dump_sql.SWAPPED:  # stored the right way round: the dump had them swapped
            key_role, secret_role = _OTHER[key_role], _OTHER[secret_role]
        passphrase = None if flags & dump_sql.PASSPHRASE_UNKNOWN else bool(
            flags & dump_sql.PASSPHRASE)
        out.setdefault(key_id, []).append({
            "dump_id": dump_id, "dump": dump, "source": source, "kind": kind,
            "sha256": bytes(sha256).hex(), "ingested_at": utc(ingested_at),
            "member": member, "unit": unit, "position": position,
            "locator": f"{member}: {unit} {position}" if position is not None else member,
            "exchange": exchange, "key_role": key_role, "secret_role": secret_role,
            "leaked": _leaked(key_role, secret_role), "passphrase": passphrase,
            "found_at": utc(found_at), "match_run": run_id})
    return out


def _leaked(key_role: str | None, secret_role: str | None) -> str:
    """Which parts of the registered key a leaked record held, and where the dump had
    them: "API key and secret", "API key (in the secret's place) and secret (in ...)"."""
    parts = []
    for what, role, own in (("API key", key_role, "key"), ("secret", secret_role, "secret")):
        if role is not None:
            parts.append(what if role == own else f"{what} (in {_PLACE[role]})")
    return " and ".join(parts)


def _exposure(exchange: str, sightings: list[dict[str, Any]]) -> dict[str, Any]:
    key = any(s["key_role"] for s in sightings)
    secret = any(s["secret_role"] for s in sightings)
    components = "both" if key and secret else "key" if key else "secret"
    phrases = {s["passphrase"] for s in sightings}
    passphrase = True if True in phrases else False if phrases == {False} else None
    return {"components": components, "components_text": _COMPONENTS[components],
            "passphrase_in_dump": passphrase,
            "dumps": sorted({s["dump_id"] for s in sightings}),
            "first_found": min(s["found_at"] for s in sightings),
            "exchange_agrees": all(s["exchange"] in (exchange, "unknown") for s in sightings),
            "sightings": sightings}


_NOTHING: dict[str, Any] = {"code": "open", "text": STATUS_TEXT["open"], "contained": False,
                            "snapshot": False, "last_action_at": None, "last_action": None}


def _states(conn: sqlite3.Connection, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Label -> its status from the audit log (labels with no entry are left out)."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(labels), 500):
        chunk = list(labels[i:i + 500])
        marks = ", ".join("?" * len(chunk))
        for label, code, snapshot, last, last_at in conn.execute(
                f"WITH {state_cte(f' AND label IN ({marks})')} SELECT s.label, {STATUS_SQL},"
                " s.snapshot IS NOT NULL, s.last, a.at FROM state s"
                " LEFT JOIN audit_log a ON a.id = s.last", chunk):
            out[label] = {"code": code, "text": STATUS_TEXT[code],
                          "contained": code in CONTAINED, "snapshot": bool(snapshot),
                          "last_action_at": utc(last_at), "last_action": last}
    return out


def _history(conn: sqlite3.Connection, label: str,
             by_hand: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the audit log records for a key: each action once (a write's end, or its start
    when no end follows), and the manual tasks marked done for it (`by_hand`: entries
    naming it as their item), with who, when, and the entry's number."""
    entries = sorted([*audit.entries(conn, label=label), *by_hand], key=lambda e: e["id"])
    out = []
    for n, e in enumerate(entries):
        if e["phase"] == "start":
            if any(f["action"] == e["action"] and f["phase"] == "end" for f in entries[n + 1:]):
                continue
            outcome = "started, no end recorded"
        else:
            outcome = _OUTCOME.get(e["outcome"] or "", e["outcome"] or "")
        out.append({"id": e["id"], "at": utc(e["at"]), "actor": e["actor"],
                    "action": e["action"], "what": _ACTION.get(e["action"], e["action"]),
                    "outcome": outcome, "source": f"audit log #{e['id']}"})
    return out


def _by_hand(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """Manual tasks marked done, by the item they name (a key's label in a guide step)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in audit.entries(conn, action="manual-done"):
        item = e["detail"].get("item") if isinstance(e["detail"], dict) else None
        if isinstance(item, str):
            out.setdefault(item, []).append(e)
    return out


def _connector(exchange: str) -> Any:
    from incident.exchanges import CONNECTORS, connector_class

    return connector_class(exchange) if exchange in CONNECTORS else None


def _todo(label: str, exchange: str, state: Mapping[str, Any],
          sightings: list[dict[str, Any]], missing: list[int]) -> list[dict[str, Any]]:
    """The next steps for one exposed key, in order, from where it stands."""
    code = state["code"]
    name = exchange_name(exchange)
    conn = _connector(exchange)
    todo: list[dict[str, Any]] = []

    def add(text: str, cmd: str | None = None) -> None:
        todo.append({"text": text, "command": cmd})

    if code == "verified":
        add("Nothing is left to do for the key itself: it is revoked and verified dead. "
            "Check the account (see \"In any case\" below).")
        return todo
    alive = code not in ("revoked", "deleted")
    if alive and not state["snapshot"] and conn is not None:
        add("Snapshot the account as evidence first (balances, orders, trades, deposits, "
            "withdrawals, with the exchange's own answers). It covers the last 90 days; add "
            "--since to reach back to when the key may first have been used:",
            command(("incident", "snapshot"), label))
    if code == "interrupted":
        add("A revoke or restrict of this key started and recorded no end (the command was "
            "stopped): check whether the key still works before anything else:",
            command(("incident", "verify-revoked"), label) if conn else None)
    if code == "manual":
        add(f"Delete the key at {name} by hand (the steps for {name} are below): {name}'s "
            "API could not delete it.")
    elif alive and conn is None:
        add(f"Delete the key at {name} by hand (the steps for {name} are below): incident "
            f"has no {name} connector to revoke it.")
    elif alive and conn.self_revoke:
        add(f"Revoke it through {name}'s API (every call is recorded in the audit log):",
            command(("incident", "revoke"), label))
    elif alive and conn.master_revoke:
        add(f"Delete the key at {name} by hand (the steps for {name} are below): {name}'s "
            "API cannot delete a main-account key with that same key. A sub-account key can "
            "be revoked through its master account's key instead:",
            command(("incident", "revoke", "--master", "MASTER-LABEL", "--sub-account",
                     "SUB-ACCOUNT"), label))
    elif alive:
        add(f"Delete the key at {name} by hand (the steps for {name} are below): {name}'s "
            "API cannot delete a key.")
    if conn is not None:
        add("Then prove it dead: a signed call with it must now fail the way the exchange "
            "fails a deleted key:", command(("incident", "verify-revoked"), label))
    else:
        add(f"Then check on {name}'s API management page that the key is no longer listed "
            "(incident cannot verify it for this exchange).")
    if any(s["passphrase"] for s in sightings):
        add("The leaked record carried the key's passphrase too: give the new key a new "
            "passphrase.")
    if missing:
        add(f"It has not been compared with {plural(len(missing), 'dump')} yet (ingested "
            "before it was registered, or after the last match run): compare it, it may be "
            "in more of them:", "incident match")
    return todo


def _guides(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per exchange with a key still to revoke or verify: what its API can do, and the
    exchange's own steps for deleting a key by hand."""
    by_exchange: dict[str, list[str]] = {}
    for e in pending:
        by_exchange.setdefault(e["exchange"], []).append(e["label"])
    out = []
    for exchange in sorted(by_exchange):
        name = exchange_name(exchange)
        conn = _connector(exchange)
        steps: list[dict[str, str | None]]
        if conn is None:
            api = (f"incident has no {name} connector: delete the key on {name}'s website, "
                   "and check there that it is gone.")
            steps = [{"text": f"Log in to {name} and open its API management page.",
                      "url": None},
                     {"text": "Find the key by its label and the first characters of its "
                              "API key.", "url": None},
                     {"text": "Delete it and confirm.", "url": None},
                     {"text": "Check the key is no longer listed.", "url": None}]
            url = None
        else:
            if conn.self_revoke:
                api = (f"incident revoke deletes a key through {name}'s API; if that fails, "
                       "delete it by hand:")
            elif conn.master_revoke:
                api = (f"{name}'s API cannot delete a main-account key with that same key: "
                       "delete it by hand. (A sub-account key can be deleted through its "
                       "master account's key: incident revoke with --master and "
                       "--sub-account.)")
            else:
                api = f"{name}'s API cannot delete a key: delete it by hand."
            steps = [{"text": s.text, "url": s.url} for s in conn.manual_revoke]
            url = conn.api_management_url
        out.append({"exchange": exchange, "name": name, "labels": by_exchange[exchange],
                    "connector": conn is not None, "api": api, "management_url": url,
                    "steps": steps})
    return out


def _playbook(pending: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The shipped playbook that does every step for every exposed key, when one is left:
    3commas-2022 when a dump's name or source says 3Commas, else the generic one."""
    if not pending:
        return None
    names = (f"{s['dump']} {s['source']}".lower() for e in pending for s in e["sightings"])
    name = ("3commas-2022" if any("3commas" in n for n in names)
            else "generic-exchange-key-leak")
    return {"name": name, "command": command(("incident", "playbook", "run", name)),
            "steps": _PLAYBOOK_STEPS[name],
            "credentials": "Signing needs each key's secret at run time: --input "
                           "credentials=FILE (a keys-import CSV), or INCIDENT_API_KEY and "
                           "INCIDENT_API_SECRET, or the OS keyring."}
