"""Reliability of a playbook run killed at random moments (`platform-bulk-response`).

The shipped playbook, unchanged, over --keys exposed sub-account keys (default 200; every
10th user owns two, so 180 users) on `incident sim-exchange`, a real SMTP server and a
webhook/admin receiver on loopback (scripts/mailsink.py):

1. Baseline: a second simulator, no kill and no injected delay: `incident playbook run`
   (it stops, exit 1, for the revoke step's four-eyes approval), `approve` as another
   user, `resume`. The honest throughput: keys/s, and the master key's request rate
   against the simulator's limit (--limit weight per --window seconds per key).
2. Killed: the same on a fresh simulator, but every runner process (`run`, then `resume`)
   is killed with SIGKILL after a random time (seeded, --seed) until --kills kills, then
   the last resume runs to the end. Each wait is uniform(--kill-min, X): X is a process's
   start-up time plus twice the run's work left (reckoned from the items done and the
   baseline's seconds per item) over the kills left plus one, at most --kill-max, so the
   kills spread over the whole run. --delay D makes each DELETE wait D seconds at the
   exchange (the simulator's fault injection; default none). After each kill
   `incident playbook status RUN --json` says where the run was (its position), and
   whether that process had moved the run at all before it died.

Checks (exit 1 if any fails), for both: every key revoked exactly once (the simulator's
count), every user mailed exactly once (the SMTP server's count: messages, Message-IDs,
recipients), one POST per key to the platform's admin endpoint and no repeated
Idempotency-Key, one webhook delivery, `incident audit verify` passes, and the run's
status is done with every step done and the revoke step's items all done.

    .venv/bin/python benchmarks/playbooks.py [--keys N] [--kills K] [--seed S]
        [--limit W] [--window S] [--delay D] [--kill-min A] [--kill-max B] [--deadline S]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Self

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import loopback, platform_scenario
from scripts.mailsink import MailSink

PLAYBOOK = "platform-bulk-response"
MASTER = "binance-platform-master"
DELETE = "/sapi/v1/sub-account/subAccountApi"
DISABLE = "/admin/keys/disable"
SECRET = "whsec-bench-0123456789"
STARTER, APPROVER = "first-responder", "second-responder"


class Overdue(Exception):
    pass


class World:
    """A simulator, a mail sink, the platform's files and a fresh INCIDENT_HOME."""

    def __init__(self, folder: Path, keys: int, limit: int, window: int) -> None:
        self.folder, self.keys, self.limit, self.window = folder, keys, limit, window
        self.startup: list[float] = []  # seconds of each `playbook status` process

    def __enter__(self) -> Self:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.home = self.folder / "home"
        accounts = self.folder / "sim-accounts.json"
        self._sim = loopback.sim_exchange(
            ["--accounts-file", str(accounts), "--subaccounts", str(self.keys), "--victims",
             "2", "--busy-trades", "0", "--no-access-log", "--rate-limit", str(self.limit),
             "--rate-window", str(self.window)], os.environ, self.folder / "sim.log")
        self.url, _ = self._sim.__enter__()
        self.sink = MailSink(webhook_secret=SECRET).__enter__()
        # A runner killed mid-conversation resets its connection to the sink's HTTP server,
        # which would print a traceback each time: count them instead.
        self.resets = 0

        def reset(request: object, client: object) -> None:
            self.resets += 1

        assert self.sink._http is not None
        self.sink._http.handle_error = reset  # type: ignore[method-assign,assignment]
        self.p = platform_scenario.build(accounts, self.folder / "platform", count=self.keys,
                                         shared=10)
        env = {**os.environ, "INCIDENT_HOME": str(self.home), "USER": STARTER,
               "INCIDENT_SMTP_HOST": self.sink.smtp_host,
               "INCIDENT_SMTP_PORT": str(self.sink.smtp_port),
               "INCIDENT_SMTP_FROM": "security@botly.invalid",
               "INCIDENT_SMTP_LOOKUP_URL": self.sink.url + "/messages/lookup",
               "INCIDENT_WEBHOOK_SECRET": SECRET,
               "INCIDENT_MASTER_API_KEY": self.p.master["api_key"],
               "INCIDENT_MASTER_API_SECRET": self.p.master["api_secret"]}
        env.pop("LOGNAME", None)
        self.env = env
        self.log = open(self.folder / "runner.log", "ab")
        m = self.p.master
        self.incident("keys", "add", "--exchange", "binance", "--label", m["label"],
                      "--stdin", input=f"{m['api_key']}\n{m['api_secret']}\n\n")
        self.incident("keys", "import", str(self.p.fingerprints))
        requests.post(self.url + "/_sim/reset-stats", timeout=10).raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.close()
        self.sink.__exit__(None, None, None)
        self._sim.__exit__(None, None, None)

    def incident(self, *args: str, input: str | None = None, user: str = STARTER,
                 ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "USER": user}
        r = subprocess.run([sys.executable, "-m", "incident", *args], env=env, text=True,
                           input=input, capture_output=True, cwd=ROOT, timeout=120,
                           check=False)
        if r.returncode not in ok:
            sys.exit(f"failed ({r.returncode}): incident {' '.join(args)}\n{r.stderr}")
        return r

    def inputs(self) -> list[str]:
        p = self.p
        pairs = {"dump": p.dump, "accounts": p.accounts, "master": p.master["label"],
                 "credentials": p.credentials, "base_url": self.url,
                 "disable_url": self.sink.url + DISABLE,
                 "webhook": self.sink.url + "/hooks/security", "platform": "Botly"}
        return [a for k, v in pairs.items() for a in ("--input", f"{k}={v}")]

    def sim_stats(self) -> dict[str, Any]:
        return requests.get(self.url + "/_sim/stats", timeout=10).json()  # type: ignore[no-any-return]

    def run_id(self) -> int | None:
        start = time.perf_counter()
        runs = json.loads(self.incident("playbook", "status", "--json").stdout)
        self.startup.append(time.perf_counter() - start)
        return max((r["id"] for r in runs), default=None)

    def status(self, run_id: int) -> dict[str, Any]:
        # its exit code is the run's (1 waiting, 4 failed...): the JSON is what counts
        start = time.perf_counter()
        r = self.incident("playbook", "status", str(run_id), "--json", ok=tuple(range(256)))
        self.startup.append(time.perf_counter() - start)
        return json.loads(r.stdout)  # type: ignore[no-any-return]


def progress(report: dict[str, Any]) -> dict[str, Any]:
    return {s["id"]: (s["status"], tuple(sorted(s["items"].items()))) for s in report["steps"]}


# Seconds an item costs, by step, when no baseline ran (measured on this 2-core VM).
PER_ITEM = {"disable": 0.008, "revoke": 0.033, "verify": 0.01, "notify": 0.06}


def left_to_do(report: dict[str, Any] | None, per_item: dict[str, float],
               totals: dict[str, int]) -> float:
    """Seconds of work the run has left (its for_each steps), by the per-item costs."""
    done = {s["id"]: s["items"].get("done", 0) for s in report["steps"]} if report else {}
    return float(sum(cost * max(totals[step] - done.get(step, 0), 0)
                     for step, cost in per_item.items()))


def drive(w: World, kills: int, rng: random.Random, lo: float, hi: float,
          deadline: float, per_item: dict[str, float] | None = None) -> dict[str, Any]:
    """Run the playbook to its end: approve when it waits for approval, kill each runner
    process after a random time until `kills` kills, then let the last resume finish.

    The run's length is not known in advance, so the bound adapts: each kill waits
    uniform(lo, X) s, X = startup + 2 * (work left / (kills left + 1)) (at most hi), the
    startup being the median time of an `incident playbook status` process and the work
    left reckoned from the items done by the per-item costs, corrected by how fast the
    killed processes actually went (the machine's speed varies): the kills spread over
    the whole run, and each step gets its share. Returns what happened."""
    per_item = per_item or PER_ITEM
    totals = {"disable": w.keys, "revoke": w.keys, "verify": w.keys, "notify": w.p.users}
    lifetimes: list[float] = []
    landed: list[dict[str, Any]] = []
    run_id: int | None = None
    before: dict[str, Any] = {}
    approved_at: float | None = None
    report: dict[str, Any] | None = None
    reckoned = worked = 0.0  # work the killed processes did (by the costs), their time
    w.run_id()  # one timed process start before the first kill
    t0 = time.perf_counter()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Overdue("the run did not finish before the deadline")
        command = (["playbook", "resume", str(run_id), "--yes"] if run_id is not None else
                   ["playbook", "run", PLAYBOOK, *w.inputs(), "--yes"])
        if len(landed) < kills:
            startup = sorted(w.startup)[len(w.startup) // 2]
            speed = min(max(reckoned / worked, 0.25), 4.0) if worked > 3 else 1.0
            share = (left_to_do(report, per_item, totals) / speed
                     / (kills - len(landed) + 1))
            bound = max(lo + 0.1, min(hi, startup + 2 * share))
            wait = rng.uniform(lo, bound)
        else:
            wait, bound, speed = left, left, 1.0
        previous = report
        start = time.perf_counter()
        w.log.write(f"\n=== {' '.join(command[:3])}\n".encode())
        w.log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "incident", *command], env=w.env,
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=w.log,
                                stderr=w.log)
        try:
            code: int | None = proc.wait(timeout=min(wait, left))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            code = None
        lifetimes.append(time.perf_counter() - start)
        if code is None and len(landed) >= kills:
            raise Overdue("the last resume did not finish before the deadline")
        if run_id is None:
            run_id = w.run_id()
        report = w.status(run_id) if run_id is not None else None
        if code is None:
            now = progress(report) if report else {}
            reckoned += (left_to_do(previous, per_item, totals)
                         - left_to_do(report, per_item, totals))
            worked += max(lifetimes[-1] - startup, 0.0)
            landed.append({"at_s": round(time.perf_counter() - t0, 2),
                           "after_s": round(lifetimes[-1], 2), "bound_s": round(bound, 2),
                           "speed": round(speed, 2),
                           "position": report["run"]["position"] if report else "(no run yet)",
                           "moved": now != before})
            before = now
            continue
        assert report is not None
        before = progress(report)
        if code == 1 and report["run"]["status"] == "waiting" \
                and report["run"]["position"] == "revoke" and approved_at is None:
            w.incident("playbook", "approve", str(run_id), "revoke", "--note",
                       "benchmark: list checked", user=APPROVER)
            approved_at = time.perf_counter() - t0
            continue
        if code != 0:
            sys.exit(f"the runner exited {code}: see {w.folder / 'runner.log'}\n"
                     + json.dumps(report["run"]))
        break
    return {"run_id": run_id, "wall_s": time.perf_counter() - t0, "lifetimes": lifetimes,
            "kills": landed, "approved_at_s": approved_at}


def when(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def step_spans(home: Path, run_id: int) -> dict[str, tuple[float, float]]:
    """Each for_each step's first item start and last item end (epoch seconds)."""
    conn = sqlite3.connect(f"file:{home / 'incident.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT step, MIN(started_at), MAX(ended_at) FROM run_items "
                            "WHERE run_id = ? AND started_at IS NOT NULL GROUP BY step",
                            (run_id,)).fetchall()
    finally:
        conn.close()
    return {s: (when(a), when(b)) for s, a, b in rows if a and b}


def measure(w: World, run: dict[str, Any], limit: int, window: int) -> dict[str, Any]:
    """The counts, the checks and the rates of a finished run."""
    failures: list[str] = []
    stats = w.sim_stats()
    counted = stats["revocations"]
    per_key = Counter(counted.get(s["label"], 0) for s in w.p.subs)
    if per_key != Counter({1: w.keys}):
        failures.append(f"revocations per key: {dict(per_key)} (want {{1: {w.keys}}})")
    extra = set(counted) - {s["label"] for s in w.p.subs}
    if extra:
        failures.append(f"revoked keys that were not exposed: {sorted(extra)}")

    mail = w.sink.stats()
    with open(w.p.accounts, newline="") as f:
        expected = {row["email"] for row in csv.DictReader(f)}
    if not mail["messages"] == mail["unique_message_ids"] == w.p.users:
        failures.append(f"mails {mail['messages']}, Message-IDs {mail['unique_message_ids']},"
                        f" users {w.p.users}")
    if set(mail["by_recipient"]) != expected or set(mail["by_recipient"].values()) != {1}:
        failures.append(f"recipients: {Counter(mail['by_recipient'].values())} over "
                        f"{len(mail['by_recipient'])} addresses (want {w.p.users} once each)")
    posts = [p for p in w.sink.posts if p.path == DISABLE]
    by_label = Counter(p.body.get("label") if isinstance(p.body, dict) else None for p in posts)
    duplicates = sum(p.duplicate for p in posts)
    if by_label != Counter({s["label"]: 1 for s in w.p.subs}) or duplicates:
        failures.append(f"admin POSTs {len(posts)} for {len(by_label)} keys, "
                        f"{duplicates} repeated Idempotency-Key(s)")
    if not (mail["webhooks"] == mail["unique_deliveries"] == 1 and mail["bad_signatures"] == 0):
        failures.append(f"webhooks {mail['webhooks']} (deliveries "
                        f"{mail['unique_deliveries']}, bad signatures {mail['bad_signatures']})")

    audit = w.incident("audit", "verify", ok=(0, 1, 2, 3, 4, 5))
    if audit.returncode != 0:
        failures.append(f"audit verify exited {audit.returncode}: {audit.stderr.strip()[:300]}")
    report = w.status(run["run_id"])
    steps = {s["id"]: s["status"] for s in report["steps"]}
    revoke_items = next(s["items"] for s in report["steps"] if s["id"] == "revoke")
    if report["run"]["status"] != "done" or set(steps.values()) != {"done"} \
            or revoke_items != {"done": w.keys}:
        failures.append(f"run {report['run']['status']}, steps {steps}, revoke {revoke_items}")

    master = stats["by_label"].get(MASTER, {"requests": 0, "weight": 0, "rejected": 0})
    spans = step_spans(w.home, run["run_id"])
    r0, r1 = spans.get("revoke", (0.0, 0.0))
    revoke_s = max(r1 - r0, 1e-9)
    windows = int(r1 // window) - int(r0 // window) + 1
    allowed = limit / window
    lifetimes = run["lifetimes"]
    return {
        "keys": w.keys, "users": w.p.users,
        "wall_s": round(run["wall_s"], 2),
        "runner_processes": len(lifetimes),
        "runner_lifetimes_s": round(sum(lifetimes), 2),
        "keys_per_s_wall": round(w.keys / run["wall_s"], 2),
        "keys_per_s_runner": round(w.keys / sum(lifetimes), 2),
        "revoke_phase_s": round(revoke_s, 2),
        "keys_per_s_revoke_phase": round(w.keys / revoke_s, 2),
        "step_spans_s": {k: round(b - a, 2) for k, (a, b) in sorted(spans.items(),
                                                                   key=lambda kv: kv[1])},
        "master_requests": master["requests"], "master_weight": master["weight"],
        "master_rejected": master["rejected"],
        # the master's refusals are its 429s and the -2008s (no such key) of the checks a
        # resume makes before it repeats a delete
        "master_429": master["rejected"] - stats["errors"].get("binance:-2008", 0),
        "master_requests_per_s": round(master["requests"] / revoke_s, 2),
        "allowed_weight_per_s": allowed,
        "share_of_allowed": round(master["weight"] / revoke_s / allowed, 3),
        "share_of_capacity": round(master["weight"] / (windows * limit), 3),
        "rate_limited_429": stats["rate_limited"], "simulator_requests": stats["requests"],
        "simulator_errors": stats["errors"], "simulator_by_status": stats["by_status"],
        "sink_connections_reset": w.resets,
        "revocations": {"keys": len(counted), "total": sum(counted.values()),
                        "per_key": {str(k): v for k, v in sorted(per_key.items())}},
        "mail": {"messages": mail["messages"], "unique_message_ids": mail["unique_message_ids"],
                 "recipients": len(mail["by_recipient"]),
                 "per_recipient": {str(k): v for k, v in
                                   sorted(Counter(mail["by_recipient"].values()).items())}},
        "admin_posts": len(posts), "admin_keys": len(by_label),
        "admin_duplicates": duplicates,
        "webhooks": mail["webhooks"], "webhook_deliveries": mail["unique_deliveries"],
        "audit_verify_exit": audit.returncode,
        "run_status": report["run"]["status"], "revoke_items": revoke_items,
        "failures": failures,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--limit", type=int, default=30, help="weight per window per key")
    ap.add_argument("--window", type=int, default=1, help="seconds (whole)")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds each DELETE waits at the exchange in the killed run")
    ap.add_argument("--kill-min", type=float, default=0.3, help="seconds, the least")
    ap.add_argument("--kill-max", type=float, default=10.0, help="seconds, the most")
    ap.add_argument("--deadline", type=float, default=900, help="seconds for it all")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    deadline = time.monotonic() + args.deadline
    out = ROOT / "benchmarks" / "out"
    work = out / "playbooks"
    report: dict[str, Any] = {"config": vars(args)}
    per_item = dict(PER_ITEM)
    try:
        if not args.skip_baseline:
            with World(work / "baseline", args.keys, args.limit, args.window) as w:
                run = drive(w, 0, random.Random(args.seed), 0, 0, deadline)
                report["baseline"] = measure(w, run, args.limit, args.window)
                totals = {"disable": w.keys, "revoke": w.keys, "verify": w.keys,
                          "notify": w.p.users}
                spans = report["baseline"]["step_spans_s"]
                per_item = {k: spans.get(k, per_item[k] * n) / n for k, n in totals.items()}
            print(json.dumps({"baseline": report["baseline"]}), flush=True)
        with World(work / "killed", args.keys, args.limit, args.window) as w:
            if args.delay:
                requests.post(w.url + "/_sim/faults", json={
                    "method": "DELETE", "path": DELETE, "status": 0, "delay": args.delay,
                    "count": 100_000}, timeout=10).raise_for_status()
            per_item["revoke"] += args.delay
            report["per_item_s"] = {k: round(v, 4) for k, v in per_item.items()}
            run = drive(w, args.kills, random.Random(args.seed), args.kill_min,
                        args.kill_max, deadline, per_item)
            killed = measure(w, run, args.limit, args.window)
            kills = run["kills"]
            killed["kills"] = len(kills)
            killed["kills_by_position"] = dict(Counter(k["position"] for k in kills)
                                               .most_common())
            killed["kills_that_moved_the_run"] = sum(k["moved"] for k in kills)
            killed["kills_by_position_moved"] = dict(
                Counter(k["position"] for k in kills if k["moved"]).most_common())
            killed["kill_log"] = kills
            killed["approved_at_s"] = run["approved_at_s"]
            if len(kills) < args.kills:
                killed["failures"].append(f"only {len(kills)} kills before the run ended")
            for step in ("revoke", "notify"):
                if not killed["kills_by_position_moved"].get(step):
                    killed["failures"].append(f"no kill landed in {step} after progress")
            report["killed"] = killed
    except Overdue as e:
        report["failures"] = [f"over the {args.deadline:.0f} s deadline: {e}"]
    out.mkdir(exist_ok=True)
    (out / "playbooks.json").write_text(json.dumps(report, indent=2) + "\n")
    failures = report.get("failures", []) + [f"{part}: {f}" for part in ("baseline", "killed")
                                             for f in report.get(part, {}).get("failures", [])]
    summary(report)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


def summary(report: dict[str, Any]) -> None:
    rows: list[tuple[str, ...]] = [("keys / users", "keys", "users"), ("wall clock s", "wall_s"),
            ("runner processes", "runner_processes"),
            ("runner lifetimes s (sum)", "runner_lifetimes_s"),
            ("keys/s (wall clock)", "keys_per_s_wall"),
            ("keys/s (revoke phase)", "keys_per_s_revoke_phase"),
            ("revoke phase s", "revoke_phase_s"),
            ("master requests / weight", "master_requests", "master_weight"),
            ("master requests/s (revoke)", "master_requests_per_s"),
            ("allowed weight/s", "allowed_weight_per_s"),
            ("share of allowed / capacity", "share_of_allowed", "share_of_capacity"),
            ("429 refused (all / master)", "rate_limited_429", "master_429"),
            ("revoked keys / revocations",), ("mails / Message-IDs",),
            ("admin POSTs / duplicates", "admin_posts", "admin_duplicates"),
            ("webhooks", "webhooks"), ("audit verify exit", "audit_verify_exit"),
            ("run status", "run_status")]
    parts = [p for p in ("baseline", "killed") if p in report]
    print(f"\n{'':30}" + "".join(f"{p:>16}" for p in parts))
    for label, *keys in rows:
        cells = []
        for p in parts:
            r = report[p]
            if label.startswith("revoked"):
                cells.append(f"{r['revocations']['keys']} / {r['revocations']['total']}")
            elif label.startswith("mails"):
                cells.append(f"{r['mail']['messages']} / {r['mail']['unique_message_ids']}")
            else:
                cells.append(" / ".join(str(r[k]) for k in keys))
        print(f"{label:30}" + "".join(f"{c:>16}" for c in cells))
    if "killed" in report:
        k = report["killed"]
        print(f"\nkills: {k['kills']} (delay per DELETE {report['config']['delay']} s); "
              f"by position {k['kills_by_position']}; {k['kills_that_moved_the_run']} "
              f"after the process moved the run: {k['kills_by_position_moved']}")


if __name__ == "__main__":
    main()
