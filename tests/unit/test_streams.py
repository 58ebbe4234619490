from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import pytest

from incident.errors import InputError, Place
from incident.streams import WorkerCrash, batched, child_stream, child_streams, rebatched


def test_batched_and_rebatched() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    assert list(rebatched([[1, 2], [3], [4, 5, 6], [7]], 3)) == [[1, 2, 3], [4, 5, 6], [7]]


def count(send: Any, n: int) -> None:
    for i in range(n):
        send(("item", i))


def bad_input(send: Any) -> None:
    send("first")
    raise InputError("3 columns, header has 4", Place("keys.csv", 14))


def crash(send: Any) -> None:
    raise ZeroDivisionError("value 1234")


def die(send: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def forever(send: Any) -> None:
    while True:
        send("x" * 1000)


def test_items_arrive_in_order_with_backpressure() -> None:
    assert [m[1] for m in child_stream(count, 500, depth=2)] == list(range(500))


def test_an_input_error_in_the_child_is_raised_here_whole() -> None:
    stream = child_stream(bad_input)
    assert next(stream) == "first"
    with pytest.raises(InputError) as e:
        next(stream)
    assert str(e.value) == "keys.csv:14: 3 columns, header has 4"
    assert e.value.place == Place("keys.csv", 14)


def test_an_unexpected_error_becomes_a_worker_crash_with_its_traceback() -> None:
    with pytest.raises(WorkerCrash) as e:
        list(child_stream(crash))
    assert "ZeroDivisionError" in str(e.value)
    assert "value 1234" not in str(e.value)  # the message may quote input: not in the error
    assert "in crash" in e.value.remote_traceback


def test_a_killed_child_is_a_worker_crash() -> None:
    with pytest.raises(WorkerCrash, match="died"):
        list(child_stream(die))


def test_leaving_early_stops_the_child() -> None:
    stream = child_stream(forever)
    next(stream)
    start = time.monotonic()
    stream.close()
    assert time.monotonic() - start < 5


def die_later(send: Any, n: int) -> None:
    if n == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    while True:
        send("x" * 1000)


def test_one_child_dying_ends_the_stream_promptly() -> None:
    start = time.monotonic()
    with pytest.raises(WorkerCrash, match="died"):
        list(child_streams(die_later, [(0,), (1,)], depth=1))
    assert time.monotonic() - start < 3


def test_a_parent_signal_handler_does_not_keep_a_worker_alive() -> None:
    """A SIGTERM handler that raises (sys.exit) in the parent is inherited by a forked
    worker; stopping the workers must not wait on it."""
    before = signal.signal(signal.SIGTERM, lambda n, _: sys.exit(128 + n))
    try:
        start = time.monotonic()
        with pytest.raises(WorkerCrash, match="died"):
            list(child_streams(die_later, [(0,), (1,)], depth=1))
        assert time.monotonic() - start < 3
    finally:
        signal.signal(signal.SIGTERM, before)


def _chained_crash(send: Any) -> None:
    value = "-".join(["must", "not", "show"])  # a value: the source lines do not spell it
    try:
        raise KeyError(value)
    except KeyError:
        raise ValueError(f"second\n{value}")  # chained to the KeyError


def test_a_worker_traceback_keeps_frames_and_withholds_every_message() -> None:
    with pytest.raises(WorkerCrash) as caught:
        list(child_stream(_chained_crash))
    remote = caught.value.remote_traceback
    assert "_chained_crash" in remote and "ValueError: (message withheld)" in remote
    assert "must-not-show" not in remote and "must-not-show" not in str(caught.value)
