"""What a playbook step is, what it is given, and what it may raise.

A step is a class with a stable `name` (what a playbook's `uses:` names), a declared
`side_effect`, and a table of the arguments it takes (`params`). The runner calls

    run(ctx, args)    -> output      the step's work for one item
    plan(ctx, args)   -> output      a write step under --dry-run: what it would do
    check(ctx, args)  -> output|None after a run was killed between a write's start and
                                     its recorded end: has the effect happened? None: no

Outputs are JSON values (they are stored with the run) and never hold key material.

    PlaybookError (InputError, 3)   a playbook that does not validate, with every path
    StepFailed (ServiceError, 4)    a step's own failure (a key still live, a 4xx)
    Waiting                         not an error: a person must act (approval, manual)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from incident.errors import InputError, ServiceError
from incident.settings import Settings
from incident.store import Store

SIDE_EFFECTS = ("none", "read", "write")
JSON = Any  # a JSON value: dict, list, str, int, bool or None


class PlaybookError(InputError):
    """A playbook that does not validate: every problem, each with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        self.source = source
        n = len(problems)
        super().__init__(f"{source}: the playbook does not validate ({n} problem"
                         f"{'s' if n != 1 else ''}):\n  " + "\n  ".join(problems))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.problems))


class StepFailed(ServiceError):
    """A step's work failed in a way retrying may mend (a server) or may not (a key that
    still works after revocation); `on_error` decides what the run does next."""


@dataclass(frozen=True)
class Param:
    """One argument of a step: its type, whether it is required, its default."""

    kind: str  # str | int | number | bool | list | dict | path | label | exchange | any
    required: bool = False
    default: JSON = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class Context:
    """What a step is given: the store, settings, and where it is in its run."""

    store: Store
    settings: Settings
    run_id: int
    step_id: str
    item: str | None  # the for_each item's name, or None
    dry_run: bool
    actor: str
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    deadline: float | None = None  # time.monotonic() by which the step should be done
    say: Callable[[str], None] = lambda _: None

    def timeout(self, default: float) -> float:
        """A network timeout that ends by the step's deadline."""
        if self.deadline is None:
            return default
        return max(1.0, min(default, self.deadline - time.monotonic()))

    def key(self) -> str:
        """Stable across resumes: names this item of this step of this run (a Message-ID,
        an Idempotency-Key, a webhook delivery id)."""
        return f"incident-run-{self.run_id}.{self.step_id}.{self.item or '-'}"

    def path(self, value: str) -> Path:
        return Path(value).expanduser()


class Step:
    """The base of every step; subclasses set name, side_effect, params and run()."""

    name: ClassVar[str]
    side_effect: ClassVar[str] = "read"
    params: ClassVar[Mapping[str, Param]] = {}
    summary: ClassVar[str] = ""
    # A read that only makes sense after the writes before it (verify_revoked) is planned,
    # not run, in a dry run.
    in_dry_run: ClassVar[bool] = True
    # A person does the work (a checklist marked done): the runner waits for them and
    # never calls run().
    by_person: ClassVar[bool] = False

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        raise NotImplementedError

    def plan(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        """A write step under --dry-run: what it would do, changing nothing."""
        target = args.get("label") or args.get("to") or args.get("url") or ""
        return {"would": self.name, "with": describe(args),
                "summary": f"would {self.name.replace('_', ' ')} {target}".rstrip()}

    def check(self, ctx: Context, args: Mapping[str, Any]) -> JSON | None:
        """After an interrupted write: its output if the effect is there, else None (the
        runner then does the write again). The default cannot tell, so it says no."""
        return None


def describe(args: Mapping[str, Any]) -> dict[str, JSON]:
    """Arguments as shown in a plan: paths and URLs as given, nothing else hidden (a
    step's arguments never hold key material: credentials come from files, the
    environment or the keyring, never from a playbook)."""
    return {k: v for k, v in args.items() if v is not None}
