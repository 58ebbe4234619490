"""The signed-REST discipline shared by every connector, against a real loopback server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from incident.exchanges.http import Http, Pacer, Prepared, Recorder, redacted_endpoint
from incident.exchanges.interface import ExchangeAuthError, ExchangeError, RateLimited

SECRET = "FAKEsecretvalue0123456789abcdef"
KEY = "FAKEkeyvalue9876543210zyxwvuts"


@contextlib.contextmanager
def scripted(answers: list[tuple[int, dict[str, str], bytes, float]]) -> Iterator[
        tuple[str, list[str]]]:
    """A server answering each request with the next (status, headers, body, delay); the
    last answer repeats. Yields its URL and the paths it was asked for."""
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            with lock:
                seen.append(self.path)
                status, headers, body, delay = answers[min(len(seen), len(answers)) - 1]
            time.sleep(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except BrokenPipeError:
                pass

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def ok_or_auth(status: int, body: Any, headers: Any) -> ExchangeError | None:
    if isinstance(body, dict) and body.get("code") == -1022:
        return ExchangeAuthError("signature refused", code="-1022")
    return None if status < 400 else ExchangeError(f"HTTP {status}")


def http(url: str, **kw: Any) -> tuple[Http, list[float]]:
    sleeps: list[float] = []
    h = Http("binance", url, recorder=Recorder([KEY, SECRET]), sleep=sleeps.append,
             backoff=0.01, **kw)
    return h, sleeps


def get(path: str = "/api/v3/account?symbol=SYSBTC") -> Prepared:
    return Prepared("GET", f"{path}&timestamp=1&signature=abc", {"X-MBX-APIKEY": KEY})


def test_5xx_is_retried_with_backoff_then_answers() -> None:
    with scripted([(503, {}, b"busy", 0), (502, {}, b"", 0), (200, {}, b'{"ok":1}', 0)]) as (
            url, seen):
        h, sleeps = http(url)
        reply = h.call(get, ok_or_auth)
    assert reply.json() == {"ok": 1} and len(seen) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential
    # only the answer that counted is kept as evidence
    assert [r.status for r in h.recorder.take()] == [200]


def test_5xx_every_time_is_a_service_error_naming_the_endpoint_only() -> None:
    with scripted([(500, {}, b"oops " + KEY.encode(), 0)]) as (url, seen):
        h, _ = http(url, attempts=3)
        with pytest.raises(ExchangeError) as e:
            h.call(get, ok_or_auth)
    assert len(seen) == 3
    assert str(e.value) == "binance GET /api/v3/account: HTTP 500 after 3 attempts"
    assert e.value.exit_code == 4 and h.recorder.take() == ()


def test_timeout_is_retried_then_fails() -> None:
    with scripted([(200, {}, b"{}", 1.0)]) as (url, seen):
        h, _ = http(url, attempts=2, timeout=0.2)
        with pytest.raises(ExchangeError, match="timed out after 2 attempts"):
            h.call(get, ok_or_auth)
    assert len(seen) == 2


def test_connection_refused_is_a_clear_error() -> None:
    with scripted([(200, {}, b"{}", 0)]) as (url, _):
        pass  # closed: nothing listens there now
    h, _ = http(url, attempts=2)
    with pytest.raises(ExchangeError, match="unreachable after 2 attempts"):
        h.call(get, ok_or_auth)


def test_auth_error_is_never_retried() -> None:
    body = json.dumps({"code": -1022, "msg": "Signature for this request is not valid."})
    with scripted([(400, {}, body.encode(), 0)]) as (url, seen):
        h, sleeps = http(url)
        with pytest.raises(ExchangeAuthError) as e:
            h.call(get, ok_or_auth)
    assert len(seen) == 1 and sleeps == [] and e.value.code == "-1022"
    assert e.value.endpoint == "GET /api/v3/account"


def test_429_waits_for_retry_after() -> None:
    with scripted([(429, {"Retry-After": "3"}, b"{}", 0), (200, {}, b"{}", 0)]) as (url, seen):
        h, sleeps = http(url)
        h.call(get, ok_or_auth)
    assert sleeps == [3.0] and len(seen) == 2


def test_429_past_max_wait_gives_up() -> None:
    with scripted([(429, {"Retry-After": "50"}, b"{}", 0)]) as (url, seen):
        h, sleeps = http(url, max_wait=120)
        with pytest.raises(RateLimited, match="more than 120 s"):
            h.call(get, ok_or_auth)
    assert sleeps == [50.0, 50.0] and len(seen) == 3


def test_prepare_is_called_for_every_attempt() -> None:
    made: list[int] = []

    def prepare() -> Prepared:
        made.append(1)
        return get()

    with scripted([(503, {}, b"", 0), (200, {}, b"{}", 0)]) as (url, _):
        h, _ = http(url)
        h.call(prepare, ok_or_auth)
    assert len(made) == 2  # a fresh timestamp and signature each time


@pytest.mark.parametrize("url, want", [
    ("https://x/api/v3/myTrades?symbol=SYSBTC&timestamp=1&recvWindow=5000&signature=ab",
     "GET /api/v3/myTrades?symbol=SYSBTC&recvWindow=*"),
    (f"https://x/sapi/v1/sub-account/subAccountApi?email=a%40b&subAccountApiKey={KEY}"
     "&timestamp=1&signature=ff", "GET /sapi/v1/sub-account/subAccountApi?email=a%40b"
     "&subAccountApiKey=*"),
    (f"https://x/api/v4/sub_accounts/7/keys/{KEY}", "GET /api/v4/sub_accounts/7/keys/*"),
    (f"https://x/p?note={SECRET}", "GET /p?note=*"),
])
def test_recorded_endpoints_hide_signatures_and_keys(url: str, want: str) -> None:
    assert redacted_endpoint("get", url, [KEY, SECRET]) == want


def test_recorder_redacts_echoed_keys_before_hashing() -> None:
    rec = Recorder([KEY])
    raw = rec.record("GET", "https://x/v5/user/query-api", 200,
                     json.dumps({"apiKey": KEY}).encode())
    assert KEY.encode() not in raw.body and raw.redacted
    assert raw.body == b'{"apiKey": "*"}'


def test_pacer_fills_each_window_and_waits_for_the_next() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    pacer = Pacer(10, 10.0, margin=0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(25):
        pacer.acquire("k", 1)
    assert waits == [10.0, 10.0]  # 10 in [100, 110), 10 in [110, 120), 5 in [120, 130)
    pacer.observe("k", 9)  # the exchange counted more (another client of the same key)
    pacer.acquire("k", 1)
    assert len(waits) == 2
    pacer.acquire("k", 1)
    assert len(waits) == 3 and now[0] == 130.0


def test_pacer_buckets_are_separate() -> None:
    pacer = Pacer(1, 60.0, clock=lambda: 0.0, sleep=lambda s: pytest.fail("waited"))
    pacer.acquire("a", 1)
    pacer.acquire("b", 1)
