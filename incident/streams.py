"""Bounded streaming helpers.

- `batched`: fixed-size lists from any iterable; `rebatched`: larger lists from lists.
- `child_stream`: run a producer in a child process and iterate what it sends, so parsing
  and hashing use the second core while this process writes to SQLite (threads cannot:
  binding parameters holds the GIL). A thread here drains each pipe into a queue of
  `depth` messages a child, so producers run up to that far ahead (a pipe's own 64 KiB
  buffer is smaller than one batch, and would make the two take turns). `child_streams`
  runs several producers at once. Send only fingerprints and counts, never plaintext.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from incident.errors import IncidentError, safe_traceback

T = TypeVar("T")
Send = Callable[[Any], None]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def rebatched(chunks: Iterable[list[T]], size: int) -> Iterator[list[T]]:
    """Lists of about `size` items (at least size, less one chunk) from smaller lists."""
    batch: list[T] = []
    for chunk in chunks:
        batch.extend(chunk)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class WorkerCrash(IncidentError):
    """A child process failed unexpectedly; its traceback (code lines, no values) is kept
    for --debug."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Raise:
    error: IncidentError


@dataclass(frozen=True)
class _Crash:
    kind: str
    traceback: str


def _child_main(target: Callable[..., None], send: Any, args: tuple[Any, ...]) -> None:
    # A forked child inherits the parent's Python signal handlers: one that raises (as
    # sys.exit does) would be caught below and block on a full pipe nobody reads, and the
    # parent's terminate() would then wait for ever. SIGTERM ends a worker, always.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        target(send.send, *args)
        send.send(_End())
    except IncidentError as e:
        send.send(_Raise(e))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        send.send(_Crash(type(e).__name__, safe_traceback(e)))
    finally:
        send.close()


def child_stream(target: Callable[..., None], *args: Any,
                 depth: int = 4) -> Generator[Any, None, None]:
    """Run `target(send, *args)` in a child process; yield each object it sends."""
    return child_streams(target, [args], depth)


def child_streams(target: Callable[..., None], arg_sets: Sequence[tuple[Any, ...]],
                  depth: int = 4) -> Generator[Any, None, None]:
    """Run `target(send, *args)` in one child process per argument set; yield what they
    send, as it arrives (each child's own messages in order), until all have ended. An
    IncidentError in a child is raised here as it was; anything else as WorkerCrash.
    Leaving the iteration early stops every child."""
    methods = mp.get_all_start_methods()
    ctx: Any = mp.get_context("fork" if "fork" in methods else "spawn")
    inbox: queue.Queue[Any] = queue.Queue(maxsize=depth * len(arg_sets))
    stop = threading.Event()
    children: list[tuple[Any, threading.Thread, Any]] = []
    try:
        for args in arg_sets:  # every fork before any thread starts here
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child_main, args=(target, send, args), daemon=True)
            drainer = threading.Thread(target=_drain, args=(receive, inbox, stop),
                                       name="child-stream", daemon=True)
            children.append((proc, drainer, receive))
            proc.start()
            send.close()
        for _, drainer, _ in children:
            drainer.start()
        running = len(children)
        while running:
            message = inbox.get()
            if message is None:
                raise WorkerCrash("a worker process died")
            if isinstance(message, _End):
                running -= 1
                continue
            if isinstance(message, _Raise):
                raise message.error
            if isinstance(message, _Crash):
                raise WorkerCrash(f"unexpected error in a worker process ({message.kind})",
                                  message.traceback)
            yield message
    finally:
        stop.set()
        for proc, _, _ in children:  # stop them all before waiting on any
            if proc.is_alive():
                proc.terminate()
        for proc, drainer, receive in children:
            if proc.pid is not None:  # started
                proc.join()
            if drainer.ident is not None:
                drainer.join()
            receive.close()
            if proc.pid is not None:
                proc.close()


def _drain(receive: Any, inbox: queue.Queue[Any], stop: threading.Event) -> None:
    """Move one child's messages from its pipe to the shared queue until it ends."""
    while not stop.is_set():
        try:
            message = receive.recv()
        except (EOFError, OSError):
            message = None  # the child is gone without saying it ended
        except BaseException as e:  # noqa: BLE001 - never leave the consumer waiting
            message = _Crash(type(e).__name__, safe_traceback(e))
        while not stop.is_set():
            try:
                inbox.put(message, timeout=0.1)
                break
            except queue.Full:
                continue
        if message is None or isinstance(message, (_End, _Raise, _Crash)):
            return
