"""The playbook runner: a run persisted step by step and item by item, so that one killed
at any moment (kill -9) continues with `resume` and never repeats a completed write.

An item of a write step is marked `started` (committed) before its effect and `done` with
its output after. A resumed run finds an item `started` (or `failed` after an attempt) and
first asks the step whether the effect is there (`Step.check`: is the key revoked already?
did the mail arrive, by its Message-ID?); only if not is the write made again.

A run stops, `waiting`, at a write step that needs an approval no one has given yet, or at
a manual task no one has marked done; `incident playbook approve` records either, and
`resume` goes on, whenever that is. A run is executed by one process at a time (an
exclusive lock the kernel drops when the process dies).

The runner never prints or prompts: it reports through `Options.say`, and asks about a
manual task only through `Options.ask` (the CLI gives one when there is a terminal).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident import audit
from incident.errors import IncidentError, InputError, UsageError
from incident.exchanges.interface import ExchangeAuthError
from incident.playbook import template
from incident.playbook.interface import Context, Step, StepFailed
from incident.playbook.schema import Playbook, StepSpec, parse, type_problem
from incident.playbook.steps import STEPS
from incident.settings import Settings
from incident.store import Store
from incident.store import runs as sql
from incident.store.db import private_dir

Ask = Callable[[str, list[str]], "str | None"]  # (title, checklist) -> note, or None: not done


@dataclass(frozen=True)
class Options:
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    say: Callable[[str], None] = lambda _: None
    ask: Ask | None = None  # a person at a terminal, for manual tasks


class StepTimeout(StepFailed):
    pass


class Busy(UsageError):
    pass


# What execute() reports back.
@dataclass(frozen=True)
class Outcome:
    run_id: int
    status: str  # done | waiting | failed
    reason: str | None


def coerce_inputs(book: Playbook, given: Mapping[str, str]) -> dict[str, Any]:
    """`--input k=v` values as the playbook's declared types; paths made absolute (a resume
    may run from elsewhere)."""
    declared = {i.name: i for i in book.inputs}
    for name in given:
        if name not in declared:
            raise UsageError(f"--input {name}: the playbook declares no such input; it takes: "
                             f"{', '.join(declared) or 'none'}")
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        raw = given.get(name)
        if raw is None:
            if spec.required and spec.default is None:
                raise UsageError(f"--input {name}=...: required ({spec.description or spec.kind})")
            out[name] = spec.default
            continue
        value: Any = raw
        if spec.kind == "int" or spec.kind == "number":
            try:
                value = int(raw) if spec.kind == "int" else float(raw)
            except ValueError:
                raise UsageError(f"--input {name}: not a {spec.kind}") from None
        elif spec.kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise UsageError(f"--input {name}: true or false")
            value = raw.lower() in ("1", "true", "yes")
        elif spec.kind == "list":
            value = [v.strip() for v in raw.split(",") if v.strip()]
        elif spec.kind == "path":
            value = str(Path(raw).expanduser().absolute())
        elif spec.kind == "exchange":
            from incident.exchanges.names import resolve

            value = resolve(raw)
        out[name] = value
    return out


def start(store: Store, book: Playbook, inputs: dict[str, Any], *, dry_run: bool) -> int:
    actor = audit.actor()
    with store.write() as conn:
        run_id = sql.create(conn, book.name, book.text, book.sha256, inputs, dry_run, actor,
                            book.steps[0].id)
        audit.append(conn, action="playbook-run", phase="read", outcome="started",
                     detail={"run": run_id, "playbook": book.name, "sha256": book.sha256,
                             "dry_run": dry_run, "inputs": sorted(inputs)})
    return run_id


def load(store: Store, run_id: int) -> tuple[sql.RunRow, Playbook]:
    run = sql.get(store.conn, run_id)
    if run is None:
        raise UsageError(f"no run {run_id} (see 'incident playbook status')")
    return run, parse(run.source, f"run {run_id} ({run.playbook})")


@contextmanager
def _lock(store: Store, run_id: int) -> Iterator[None]:
    folder = private_dir(store.path.parent / "runs")
    fd = os.open(folder / f"{run_id}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"run {run_id} is being run by another process") from None
        yield
    finally:
        os.close(fd)


def execute(store: Store, settings: Settings, run_id: int, options: Options) -> Outcome:
    with _lock(store, run_id):
        run, book = load(store, run_id)
        if run.status == "done":
            return Outcome(run_id, "done", None)
        return _Run(store, settings, run, book, options).go()


def item_name(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("label", "name", "to", "email", "key", "id"):
            if isinstance(value.get(key), (str, int)) and not isinstance(value.get(key), bool):
                return str(value[key])
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)[:200]
    return hashlib.sha256(audit.canonical(value)).hexdigest()[:12]


class _Run:
    def __init__(self, store: Store, settings: Settings, run: sql.RunRow, book: Playbook,
                 options: Options) -> None:
        self.store = store
        self.settings = settings
        self.run = run
        self.book = book
        self.options = options
        self.say = options.say
        self.actor = audit.actor()

    def log(self, action: str, outcome: str, detail: dict[str, Any]) -> None:
        with self.store.write() as conn:
            audit.append(conn, action=action, phase="read", outcome=outcome,
                         detail={"run": self.run.id, **detail})

    def go(self) -> Outcome:
        run_id = self.run.id
        position: str | None = self.run.position or self.book.steps[0].id
        if self.run.status == "failed" and self.run.position is None:
            # It went to the end with items failed: go back to the first such step, try
            # those again, and bring every later step's items up to date.
            counts = sql.item_counts(self.store.conn, run_id)
            position = next(s.id for s in self.book.steps if counts.get(s.id, {}).get("failed"))
            self.refresh = True
        with self.store.write() as conn:
            sql.set_run(conn, run_id, "running", position)
        while position is not None:
            spec = self.book.step(position)
            verdict = self.step(spec)
            if verdict in ("waiting", "failed"):
                reason = self.reason
                with self.store.write() as conn:
                    sql.set_run(conn, run_id, verdict, position, reason)
                    audit.append(conn, action="playbook-run", phase="read", outcome=verdict,
                                 detail={"run": run_id, "step": position, "reason": reason})
                return Outcome(run_id, verdict, reason)
            position = verdict if verdict != "next" else self.book.after(spec.id)
            with self.store.write() as conn:
                sql.set_run(conn, run_id, "running", position)
        failed = {step: n["failed"] for step, n in
                  sql.item_counts(self.store.conn, run_id).items() if n.get("failed")}
        status = "failed" if failed else "done"
        reason = None
        if failed:
            reason = (f"{sum(failed.values())} item(s) failed ("
                      + ", ".join(f"{k} {v}" for k, v in failed.items())
                      + f"): see 'incident playbook status {run_id}', mend, and resume")
        with self.store.write() as conn:
            sql.set_run(conn, run_id, status, None, reason)
            audit.append(conn, action="playbook-run", phase="read", outcome=status,
                         detail={"run": run_id, "playbook": self.book.name,
                                 "failed_items": failed})
        return Outcome(run_id, status, reason)

    reason: str | None = None
    refresh = False  # a resume after failed items: later steps take in new items

    def context(self) -> dict[str, Any]:
        done = sql.steps(self.store.conn, self.run.id)
        return {"inputs": self.run.inputs,
                "steps": {k: v.output for k, v in done.items()
                          if v.status in ("done", "skipped")},
                "run": {"id": self.run.id, "started_by": self.run.started_by,
                        "dry_run": self.run.dry_run, "playbook": self.book.name}}

    def where(self, spec: StepSpec) -> str:
        return f"steps[{[s.id for s in self.book.steps].index(spec.id)}] ({spec.id})"

    def step(self, spec: StepSpec) -> str:
        """Run one step to its end, or until it must wait or has failed: 'next', a step id
        to go to, 'waiting' or 'failed'."""
        conn = self.store.conn
        state = sql.steps(conn, self.run.id).get(spec.id)
        variables = self.context()
        if state is not None and state.status in ("done", "skipped"):
            if not self.refresh or not self.renew(spec, state, variables):
                return "next"
        if state is None:
            try:
                if spec.when is not None and not template.expression(spec.when, variables):
                    with self.store.write() as w:
                        sql.skip_step(w, self.run.id, spec.id)
                    self.say(f"- {spec.id}: skipped (when: {spec.when})")
                    return "next"
                values = [None]
                if spec.for_each is not None:
                    values = template.expression(spec.for_each, variables)
                    if not isinstance(values, list):
                        raise template.TemplateError("for_each did not give a list")
            except template.TemplateError as e:
                self.reason = f"{self.where(spec)}: {e}"
                return "failed"
            listed = self.named(spec, values)
            with self.store.write() as w:
                sql.begin_step(w, self.run.id, spec.id, listed)
            self.say(f"- {spec.id}: {spec.title}" +
                     (f" ({len(listed)} item{'s' if len(listed) != 1 else ''})"
                      if spec.for_each is not None else ""))
        if spec.approval is not None and not self.run.dry_run and not self.approved(spec):
            who = ", ".join(spec.approval.approvers) or "anyone"
            if spec.approval.four_eyes:
                who += f" other than {self.run.started_by}"
            self.reason = (f"step '{spec.id}' needs approval ({who}): incident playbook "
                           f"approve {self.run.id} {spec.id}")
            with self.store.write() as w:
                sql.set_step(w, self.run.id, spec.id, "waiting")
            return "waiting"
        step = STEPS[spec.uses]()
        waiting = failed = 0
        last_error = ""
        for item in sql.items(conn, self.run.id, spec.id):
            if item.status == "done":
                continue
            result = self.item(spec, step, item, variables)
            if result == "waiting":
                waiting += 1
            elif result != "done":
                failed += 1
                last_error = result
                if spec.on_error == "stop":
                    break
        items = sql.items(conn, self.run.id, spec.id)
        if failed and spec.on_error == "stop":
            self.reason = f"step '{spec.id}' failed: {last_error}"
            with self.store.write() as w:
                sql.set_step(w, self.run.id, spec.id, "failed", error=last_error)
            return "failed"
        if waiting:
            self.reason = self.waiting_reason(spec, items)
            with self.store.write() as w:
                sql.set_step(w, self.run.id, spec.id, "waiting")
            return "waiting"
        output = self.output(spec, items)
        with self.store.write() as w:
            sql.set_step(w, self.run.id, spec.id, "done", output,
                         error=last_error or None)
            audit.append(w, action="playbook-step", phase="read",
                         outcome="failed-items" if failed else "done",
                         detail={"run": self.run.id, "step": spec.id, "uses": spec.uses,
                                 "items": len(items), "failed": failed})
        if failed and spec.on_error == "goto":
            return spec.goto or "next"
        return "next"

    @staticmethod
    def named(spec: StepSpec, values: list[Any]) -> list[tuple[str, Any]]:
        names: dict[str, int] = {}
        listed = []
        for value in values:
            name = item_name(value) if spec.for_each is not None else spec.id
            names[name] = names.get(name, 0) + 1
            listed.append((name if names[name] == 1 else f"{name}#{names[name]}", value))
        return listed

    def renew(self, spec: StepSpec, state: sql.StepRow, variables: dict[str, Any]) -> bool:
        """On a resume after failed items: take this step up again if it has failed items
        or (for_each) its list now holds items it did not have. Whether it should run at
        all is asked again. True if there is work."""
        conn = self.store.conn
        known = {i.name for i in sql.items(conn, self.run.id, spec.id)}
        fresh: list[tuple[str, Any]] = []
        try:
            if spec.for_each is not None and (spec.when is None or
                                              template.expression(spec.when, variables)):
                values = template.expression(spec.for_each, variables)
                if isinstance(values, list):
                    fresh = [(n, v) for n, v in self.named(spec, values) if n not in known]
        except template.TemplateError:
            fresh = []
        has_failed = any(i.status == "failed" for i in sql.items(conn, self.run.id, spec.id))
        if not fresh and not has_failed:
            return False
        with self.store.write() as w:
            if state.status == "skipped":
                sql.unskip_step(w, self.run.id, spec.id)
                sql.begin_step(w, self.run.id, spec.id, fresh)
            else:
                sql.add_items(w, self.run.id, spec.id, fresh)
                sql.set_step(w, self.run.id, spec.id, "running")
        self.say(f"- {spec.id}: taken up again ({len(fresh)} new item(s)"
                 f"{', failed ones again' if has_failed else ''})")
        return True

    def waiting_reason(self, spec: StepSpec, items: list[sql.ItemRow]) -> str:
        open_items = [i.name for i in items if i.status == "waiting"]
        shown = ", ".join(open_items[:5]) + (" ..." if len(open_items) > 5 else "")
        return (f"step '{spec.id}' waits for a person: {len(open_items)} task"
                f"{'s' if len(open_items) != 1 else ''} ({shown}); when done: incident "
                f"playbook approve {self.run.id} {spec.id} --note TEXT")

    def output(self, spec: StepSpec, items: list[sql.ItemRow]) -> Any:
        if spec.for_each is None:
            only = items[0]
            if only.status == "done":
                return only.output
            return {"failed": True, "error": only.error}
        out = []
        counts: dict[str, int] = {}
        for i in items:
            entry = {"name": i.name, "item": i.item, "status": i.status}
            if isinstance(i.output, Mapping):
                entry.update(i.output)
            elif i.output is not None:
                entry["output"] = i.output
            if i.error:
                entry["error"] = i.error
            out.append(entry)
            counts[i.status] = counts.get(i.status, 0) + 1
        return {"results": out, "count": len(out), "done": counts.get("done", 0),
                "failed": counts.get("failed", 0)}

    def approved(self, spec: StepSpec) -> bool:
        return any(kind == "approval" for _, _, kind, *_ in
                   sql.approvals(self.store.conn, self.run.id, spec.id))

    def item(self, spec: StepSpec, step: Step, item: sql.ItemRow,
             variables: dict[str, Any]) -> str:
        """One item: 'done', 'waiting', or the error's text (the item is then failed)."""
        name = item.name if spec.for_each is not None else None
        label = f"{spec.id}[{item.name}]" if name else spec.id
        try:
            args = template.render(spec.args, {**variables, "item": item.item})
        except template.TemplateError as e:
            return self.fail(spec, item, f"{self.where(spec)}.with: {e}")
        for pname, param in type(step).params.items():
            value = args.get(pname, param.default)
            problem = type_problem(value, param)
            if problem:
                return self.fail(spec, item, f"{self.where(spec)}.with.{pname}: {problem}")
            args[pname] = value
        ctx = Context(self.store, self.settings, self.run.id, spec.id, name, self.run.dry_run,
                      self.actor, self.options.env, say=self.say)
        if step.by_person:
            return self.manual(spec, item, args)
        if self.run.dry_run and (spec.side_effect == "write" or not step.in_dry_run):
            try:
                out = step.plan(ctx, args)
            except IncidentError as e:
                return self.fail(spec, item, f"{label}: {e}")
            self.finish(spec, item, {"dry_run": True, **(out if isinstance(out, dict) else
                                                         {"plan": out})})
            self.say(f"  would {spec.uses} {label}: {_brief(out)}")
            return "done"
        write = spec.side_effect == "write"
        attempt = 0
        status = item.status
        while True:
            if write and (status in ("started", "failed") or attempt > 0):
                try:
                    found = step.check(ctx, args)
                except IncidentError as e:
                    found = None
                    self.say(f"  {label}: could not check the earlier attempt ({e})")
                if found is not None:
                    self.finish(spec, item, found)
                    self.log("playbook-resume", "effect-found",
                             {"step": spec.id, "item": item.name})
                    self.say(f"  {label}: done by an earlier attempt; not repeated")
                    return "done"
            with self.store.write() as w:
                sql.start_item(w, self.run.id, spec.id, item.idx)
            status = "started"
            attempt += 1
            try:
                ctx.deadline = time.monotonic() + spec.timeout if spec.timeout else None
                with _deadline(spec.timeout, label):
                    out = step.run(ctx, args)
            except (InputError, UsageError, ExchangeAuthError) as e:
                return self.fail(spec, item, f"{label}: {e}")
            except IncidentError as e:  # a service, a timeout: worth another try
                if attempt > spec.retries:
                    return self.fail(spec, item, f"{label}: {e}")
                pause = spec.backoff * (2 ** (attempt - 1))
                self.say(f"  {label}: {e}; trying again in {pause:g} s")
                time.sleep(pause)
                continue
            self.finish(spec, item, out)
            self.say(f"  {label}: {_brief(out)}")
            return "done"

    def finish(self, spec: StepSpec, item: sql.ItemRow, output: Any) -> None:
        with self.store.write() as w:
            sql.end_item(w, self.run.id, spec.id, item.idx, "done", output)

    def fail(self, spec: StepSpec, item: sql.ItemRow, error: str) -> str:
        with self.store.write() as w:
            sql.end_item(w, self.run.id, spec.id, item.idx, "failed", error=error)
        self.say(f"  failed: {error}")
        return error

    def manual(self, spec: StepSpec, item: sql.ItemRow, args: Mapping[str, Any]) -> str:
        title = str(args.get("title") or spec.title)
        checklist = [str(c) for c in args.get("checklist") or []]
        marks = [m for m in sql.approvals(self.store.conn, self.run.id, spec.id)
                 if m[2] == "manual" and m[1] in (None, item.idx)]
        if marks:
            _, _, _, by, at, note = marks[-1]
            self.finish(spec, item, {"done_by": by, "done_at": at, "note": note})
            return "done"
        if self.run.dry_run:
            self.finish(spec, item, {"dry_run": True, "would_wait": title,
                                     "checklist": checklist})
            self.say(f"  would wait for: {title}")
            return "done"
        if self.options.ask is not None:
            note = self.options.ask(title if item.name == spec.id else
                                    f"{title} [{item.name}]", checklist)
            if note is not None:
                with self.store.write() as w:
                    sql.add_approval(w, self.run.id, spec.id, item.idx, "manual", self.actor,
                                     note)
                    audit.append(w, action="manual-done", phase="read", outcome="done",
                                 detail={"run": self.run.id, "step": spec.id,
                                         "item": item.name, "note": note})
                    sql.end_item(w, self.run.id, spec.id, item.idx, "done",
                                 {"done_by": self.actor, "note": note})
                return "done"
        with self.store.write() as w:
            sql.end_item(w, self.run.id, spec.id, item.idx, "waiting",
                         {"title": title, "checklist": checklist})
        return "waiting"


@contextmanager
def _deadline(seconds: float | None, label: str) -> Iterator[None]:
    """A step's `timeout`: SIGALRM interrupts it (only in the main thread; elsewhere the
    step's own network timeouts, bounded by ctx.deadline, are what holds)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise StepTimeout(f"{label}: timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _brief(out: Any) -> str:
    if isinstance(out, Mapping):
        for key in ("summary", "outcome", "status", "detail"):
            if isinstance(out.get(key), str):
                return str(out[key])
        return ", ".join(f"{k}={v}" for k, v in out.items()
                         if isinstance(v, (str, int, bool)) and len(str(v)) < 60)[:160]
    return str(out)[:160]


def approve(store: Store, run_id: int, step_id: str, *, note: str | None,
            item: str | None = None) -> str:
    """Approve a waiting write step, or mark a waiting manual task done. Returns what was
    recorded, as a sentence."""
    run, book = load(store, run_id)
    try:
        spec = book.step(step_id)
    except KeyError:
        raise UsageError(f"run {run_id} has no step '{step_id}'; its steps: "
                         f"{', '.join(s.id for s in book.steps)}") from None
    actor = audit.actor()
    state = sql.steps(store.conn, run_id).get(step_id)
    if run.status != "waiting" or run.position != step_id or state is None \
            or state.status != "waiting":
        raise UsageError(f"run {run_id} is not waiting at step '{step_id}' (it is "
                         f"{run.status}{' at ' + run.position if run.position else ''})")
    if STEPS[spec.uses].by_person:
        waiting = [i for i in sql.items(store.conn, run_id, step_id) if i.status == "waiting"]
        if item is not None:
            waiting = [i for i in waiting if i.name == item]
            if not waiting:
                raise UsageError(f"step '{step_id}' has no open task '{item}'")
        with store.write() as w:
            for i in waiting:
                sql.add_approval(w, run_id, step_id, i.idx, "manual", actor, note)
                audit.append(w, action="manual-done", phase="read", outcome="done",
                             detail={"run": run_id, "step": step_id, "item": i.name,
                                     "note": note})
        return f"{len(waiting)} task{'s' if len(waiting) != 1 else ''} of step '{step_id}' " \
               f"marked done by {actor}"
    if spec.approval is None:
        raise UsageError(f"step '{step_id}' needs no approval")
    if spec.approval.approvers and actor not in spec.approval.approvers:
        raise UsageError(f"{actor} may not approve step '{step_id}'; its approvers: "
                         f"{', '.join(spec.approval.approvers)}")
    if spec.approval.four_eyes and actor == run.started_by:
        raise UsageError(f"step '{step_id}' needs four eyes: {actor} started run {run_id} "
                         "and cannot approve its own write; another approver must")
    with store.write() as w:
        sql.add_approval(w, run_id, step_id, None, "approval", actor, note)
        audit.append(w, action="approve", phase="read", outcome="approved",
                     detail={"run": run_id, "step": step_id, "note": note,
                             "started_by": run.started_by})
    return f"step '{step_id}' of run {run_id} approved by {actor}"
