"""Where output goes: machine output (--json) on stdout, everything human on stderr.

Colour and progress bars only when stderr is a terminal (rich checks, and honours NO_COLOR).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                           TransferSpeedColumn)

from incident.errors import OutputClosed
from incident.settings import Settings
from incident.store import Store


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    debug: bool = False


def ctx_of(ctx: typer.Context) -> Context:
    return ctx.find_root().obj  # type: ignore[no-any-return]


def open_store(ctx: typer.Context) -> Store:
    return Store.open(ctx_of(ctx).settings)


def err_console() -> Console:
    """stderr. Lines are not wrapped (soft_wrap) so an error stays one greppable line; when
    stderr is not a terminal, tables get room instead of rich's 80-column default."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console


def say(message: str) -> None:
    err_console().print(message, markup=False, highlight=False)


@contextmanager
def _stdout() -> Iterator[Any]:
    """stdout, with a reader that stopped early (`| head`) turned into OutputClosed."""
    try:
        yield sys.stdout
        sys.stdout.flush()
    except BrokenPipeError:
        # Point the descriptor at /dev/null so the interpreter's last flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise OutputClosed("standard output was closed") from None


def emit_json(value: Any) -> None:
    with _stdout() as out:
        out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def emit_json_list(items: Iterable[dict[str, Any]]) -> None:
    """A JSON array written item by item, so a million rows need no list in memory."""
    with _stdout() as out:
        first = True
        for item in items:
            out.write(("[\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False))
            first = False
        out.write("[]\n" if first else "\n]\n")


@contextmanager
def byte_progress(label: str, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over bytes with a row count, or None when stderr is no terminal."""
    console = err_console()
    if not console.is_terminal:
        yield None
        return
    # The label (a file name) goes in as data, never as a format string or markup.
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[rows]:,} rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total or None, rows=0)

        def update(done: int, rows: int) -> None:
            bar.update(task, completed=done, rows=rows)

        yield update
