"""The exceptions the library raises, and the exit code each one maps to.

    IncidentError                 128  something unexpected; base of everything below
    ├── OutputClosed              141  whoever read our output stopped (`| head`)
    ├── UsageError                  2  the command was called wrongly
    ├── InputError                  3  bad input: a file, a record, a value, the data directory
    │   ├── InputErrors             3  several bad records of one input, each with its place
    │   ├── UnknownExchange         3
    │   ├── UnknownLabel            3
    │   ├── DuplicateKey            3
    │   └── SchemaTooNew            3
    └── ServiceError                4  something outside this command failed
        └── StoreBusy               4  another process held the database too long

Messages name the place (file, line, column), never the content: in a leak dump or a key
file, the offending line is a credential.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    EXPOSED = 1
    USAGE = 2
    BAD_INPUT = 3
    SERVICE = 4
    UNEXPECTED = 128
    OUTPUT_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a process a closed pipe ended


@dataclass(frozen=True, slots=True)
class Place:
    """Where in an input something is: `keys.csv:14: column 'api_key'`."""

    source: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        text = self.source
        if self.line is not None:
            text += f":{self.line}"
        if self.column is not None:
            text += f": column '{self.column}'"
        return text


class IncidentError(Exception):
    exit_code = ExitCode.UNEXPECTED


class OutputClosed(IncidentError):
    exit_code = ExitCode.OUTPUT_CLOSED


class UsageError(IncidentError):
    exit_code = ExitCode.USAGE


class InputError(IncidentError):
    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, place: Place | None = None) -> None:
        self.place = place
        self.message = message
        super().__init__(f"{place}: {message}" if place else message)

    def __reduce__(self) -> tuple[object, ...]:  # so it crosses a process boundary whole
        return (type(self), (self.message, self.place))


class InputErrors(InputError):
    """Every problem found in one input (up to a limit), so a user fixes them in one pass."""

    def __init__(self, source: str, problems: list[InputError], total: int) -> None:
        self.problems = problems
        self.total = total
        lines = [str(p) for p in problems]
        if total > len(problems):
            lines.append(f"... and {total - len(problems)} more")
        noun = "problem" if total == 1 else "problems"
        super().__init__(f"{total} {noun}, nothing was stored:\n  " + "\n  ".join(lines),
                         Place(source))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.place.source if self.place else "", self.problems,
                             self.total))


class UnknownExchange(InputError):
    pass


class UnknownLabel(InputError):
    pass


class DuplicateKey(InputError):
    pass


class SchemaTooNew(InputError):
    pass


class ServiceError(IncidentError):
    exit_code = ExitCode.SERVICE


class StoreBusy(ServiceError):
    pass


def _line_of(problem: InputError) -> int:
    return (problem.place.line or 0) if problem.place else 0


class Problems:
    """Collects the problems of one input, keeping the first `limit` for the message."""

    def __init__(self, source: str, limit: int = 20) -> None:
        self.source = source
        self.limit = limit
        self.kept: list[InputError] = []
        self.total = 0

    def add(self, message: str, line: int | None = None, column: str | None = None) -> None:
        self.total += 1
        # Keep the first lines of the file, whatever order problems arrive in (the reading
        # processes and the inserting one find theirs at different times). A wholly wrong
        # file has a problem on every line: past the limit, most cost only the count.
        if len(self.kept) == self.limit and (line or 0) >= _line_of(self.kept[-1]):
            return
        self.kept.append(InputError(message, Place(self.source, line, column)))
        self.kept.sort(key=_line_of)
        del self.kept[self.limit:]

    def __bool__(self) -> bool:
        return self.total > 0

    def merge(self, kept: list[tuple[str, int | None, str | None]], total: int) -> None:
        """Add problems found elsewhere (another process): the kept ones, and the count."""
        for message, line, column in kept:
            self.add(message, line, column)
        self.total += total - len(kept)

    def as_tuples(self) -> list[tuple[str, int | None, str | None]]:
        return [(p.message, p.place.line if p.place else None,
                 p.place.column if p.place else None) for p in self.kept]

    def raise_if_any(self) -> None:
        if self.total:
            raise InputErrors(self.source, self.kept, self.total)


def safe_traceback(error: BaseException) -> str:
    """A traceback that shows code, never values: the frames (file, line, source line) and
    each exception's type, for the whole chain. Messages are withheld, except our own
    (IncidentError's never quote input). A worker process's traceback, made the same way
    there (see streams.py), is put in front of it."""
    parts: list[str] = []
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        message = str(e) if isinstance(e, IncidentError) else "(message withheld)"
        parts.insert(0, "Traceback (most recent call last):\n"
                     + "".join(traceback.format_tb(e.__traceback__))
                     + f"{type(e).__module__}.{type(e).__qualname__}: {message}\n")
        remote = getattr(e, "remote_traceback", "")
        if remote:
            parts.insert(0, "In the worker process:\n" + remote)
        e = e.__cause__ or e.__context__
    return "\n".join(parts)
