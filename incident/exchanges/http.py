"""Signed REST calls for what ccxt lacks (key permissions, revocation), with the same
discipline for every exchange:

- each attempt is signed afresh (signatures carry a timestamp);
- timeouts, connection errors and 5xx are retried with exponential backoff (and jitter),
  then raise ExchangeError (exit 4); nothing is recorded of a call that did not answer;
- 429 (and Binance's 418) wait for Retry-After and try again, up to `max_wait` in all;
- an authentication error is never retried;
- every answer is kept as a RawResponse (body, SHA-256, endpoint, time) in `recorder`;
- a `Pacer` keeps each key under the exchange's request weight, so a bulk run goes as fast
  as the exchange allows and is not refused for it.

The endpoint recorded is the path and query with signatures, timestamps and any key value
removed: the evidence shows what was asked, never with what.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from incident import __version__
from incident.exchanges.interface import ExchangeError, RateLimited, RawResponse
from incident.store.db import utc_now

# urllib3 logs every URL at DEBUG, query strings (a sub-account's key) included
logging.getLogger("urllib3").setLevel(logging.WARNING)

# Query and body fields that never go into an endpoint we record.
REDACT = frozenset({
    "signature", "sign", "timestamp", "recvwindow", "apikey", "api_key", "key", "secret",
    "passphrase", "nonce", "token", "access_key", "subaccountapikey", "otp",
})
USER_AGENT = f"incident/{__version__}"


def redacted_endpoint(method: str, url: str, secrets: Iterable[str] = ()) -> str:
    """`METHOD /path?query` without the origin, signatures, timestamps or key values."""
    parts = urlsplit(url)
    hidden = {s for s in secrets if s}
    kept = [(k, "*" if (k.lower() in REDACT or v in hidden) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in kept if k.lower() not in ("signature", "sign", "timestamp")]
    path = parts.path
    for s in hidden:
        path = path.replace(s, "*")
    return f"{method.upper()} {path}" + (f"?{urlencode(kept, safe='*,')}" if kept else "")


class Recorder:
    """Collects every response of one command, from our calls and from ccxt's session."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """`secrets`: values (keys, secrets, passphrases) never to keep, in an endpoint or a
        body."""
        self.responses: list[RawResponse] = []
        self._secrets = {s for s in secrets if s}
        self._lock = threading.Lock()

    def hide(self, *values: str) -> None:
        self._secrets.update(v for v in values if v)

    def record(self, method: str, url: str, status: int, body: bytes,
               content_type: str = "", fetched_at: str | None = None) -> RawResponse:
        redacted = False
        for value in self._secrets:  # an exchange may echo a key (Bybit's query-api does)
            if len(value) < 8:  # a short passphrase would match ordinary text
                continue
            needle = value.encode()
            if needle in body:
                body, redacted = body.replace(needle, b"*"), True
        raw = RawResponse(self.endpoint(method, url),
                          fetched_at or utc_now(), status, body, content_type, redacted)
        with self._lock:
            self.responses.append(raw)
        return raw

    def endpoint(self, method: str, url: str) -> str:
        """`METHOD /path?query` as recorded: no signature, timestamp or key value."""
        return redacted_endpoint(method, url, self._secrets)

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests response hook (ccxt's session)."""
        request = response.request
        self.record(request.method or "GET", request.url or "", response.status_code,
                    response.content, response.headers.get("Content-Type", ""))

    def take(self) -> tuple[RawResponse, ...]:
        with self._lock:
            taken, self.responses = tuple(self.responses), []
        return taken


@dataclass
class Window:
    used: int = 0
    ends: float = 0.0


class Pacer:
    """Keeps one bucket (a key, or an address for public calls) under `limit` weight per
    fixed `window` of seconds aligned to the epoch, as Binance and the simulator count.
    The exchange's own count, when it sends one (`observe`), overrides ours. Until it is
    configured (the connector learns the limit from the exchange) it never waits.

    One Pacer may be shared by every connector of a bulk run on one exchange: it is what
    keeps a master key that revokes a thousand sub-account keys under its limit."""

    def __init__(self, limit: int | None = None, window: float = 60.0, *,
                 margin: float = 0.02, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = limit
        self.window = window
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, Window] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    @property
    def configured(self) -> bool:
        return self.limit is not None

    def configure(self, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = limit, window

    def _current(self, bucket: str, now: float) -> Window:
        w = self._buckets.setdefault(bucket, Window())
        if now >= w.ends:
            w.used, w.ends = 0, (now // self.window + 1) * self.window
        return w

    def acquire(self, bucket: str, weight: int) -> None:
        while True:
            with self._lock:
                now = self._clock()
                w = self._current(bucket, now)
                if self.limit is None or w.used + weight <= self.limit:
                    w.used += weight
                    return
                wait = w.ends - now + self.margin
            self.waited += wait
            self._sleep(wait)

    def observe(self, bucket: str, used: int, limit: int | None = None,
                ends: float | None = None) -> None:
        """The exchange's own count for the bucket's current window (and, when it says, its
        limit and when the window ends)."""
        with self._lock:
            w = self._current(bucket, self._clock())
            w.used = max(w.used, used)
            if limit is not None:
                self.limit = limit
            if ends is not None:
                w.ends = ends


@dataclass(frozen=True)
class Prepared:
    """One signed request, ready to send. Its repr shows the method only: the path, the
    headers and the body may hold a key."""

    method: str
    path: str = field(repr=False)  # with any query string
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    raw: RawResponse

    def json(self) -> Any:
        try:
            return json.loads(self.raw.body)
        except ValueError:
            return None


# (status, decoded body, headers) -> an error to raise, or None when the answer is good
Classify = Callable[[int, Any, Mapping[str, str]], ExchangeError | None]
# headers -> (used weight, limit or None, window end (epoch s) or None), or None
Observe = Callable[[Mapping[str, str]], "tuple[int, int | None, float | None] | None"]


class Http:
    def __init__(self, exchange: str, base_url: str, *, recorder: Recorder | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0,
                 attempts: int = 4, backoff: float = 0.5, max_wait: float = 120.0,
                 pacer: Pacer | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`pacer`: shared by every Http of a bulk run on one exchange (a new one if
        None)."""
        self.exchange = exchange
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder or Recorder()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.pacer = pacer if pacer is not None else Pacer(sleep=sleep)
        self._sleep = sleep
        self.requests_sent = 0

    def call(self, prepare: Callable[[], Prepared], classify: Classify, *, weight: int = 1,
             bucket: str = "public",
             observe: Observe | None = None) -> Reply:
        """Send `prepare()` (called again for every attempt) until it gets an answer
        `classify` accepts. Raises what `classify` returns (auth errors at once), or
        ExchangeError after the last attempt, or RateLimited past `max_wait`."""
        failures = 0
        waited = 0.0
        while True:
            self.pacer.acquire(bucket, weight)
            request = prepare()
            url = self.base_url + request.path

            def where() -> str:  # for an error message: the path, no query
                return self.recorder.endpoint(request.method, url).split("?")[0]

            try:
                response = self.session.request(request.method, url, data=request.body,
                                                headers=dict(request.headers),
                                                timeout=self.timeout, allow_redirects=False)
                self.requests_sent += 1
            except (requests.ConnectionError, requests.Timeout) as e:
                failures += 1
                if failures >= self.attempts:
                    kind = "timed out" if isinstance(e, requests.Timeout) else "unreachable"
                    raise ExchangeError(f"{kind} after {failures} attempts",
                                        exchange=self.exchange,
                                        endpoint=where()) from None
                self._sleep(self._delay(failures))
                continue
            if observe is not None:
                seen = observe(response.headers)
                if seen is not None:
                    self.pacer.observe(bucket, *seen)
            if response.status_code in (418, 429):
                # at least a moment: a Retry-After of 0 must not become a busy loop
                wait = max(0.2, retry_after(response.headers, self._delay(failures + 1)))
                waited += wait
                if waited > self.max_wait:
                    raise RateLimited(f"rate limited for more than {self.max_wait:.0f} s "
                                      f"(HTTP {response.status_code})",
                                      exchange=self.exchange, endpoint=where(),
                                      code=str(response.status_code))
                self._sleep(wait)
                continue
            if response.status_code >= 500:
                failures += 1
                if failures >= self.attempts:
                    raise ExchangeError(f"HTTP {response.status_code} after {failures} "
                                        "attempts", exchange=self.exchange,
                                        endpoint=where(),
                                        code=str(response.status_code))
                self._sleep(self._delay(failures))
                continue
            raw = self.recorder.record(request.method, url, response.status_code,
                                       response.content,
                                       response.headers.get("Content-Type", ""))
            reply = Reply(response.status_code, response.headers, raw)
            error = classify(response.status_code, reply.json(), response.headers)
            if isinstance(error, RateLimited) and waited <= self.max_wait:
                # a limit said in the body (Bybit's 10006 comes with HTTP 200)
                wait = max(0.2, retry_after(response.headers, self._delay(failures + 1)))
                waited += wait
                self._sleep(wait)
                continue
            if error is not None:
                raise type(error)(error.detail, exchange=error.exchange or self.exchange,
                                  endpoint=error.endpoint or raw.endpoint.split("?")[0],
                                  code=error.code)
            return reply

    def _delay(self, failures: int) -> float:
        return float(self.backoff * 2 ** (failures - 1) * (0.75 + random.random() / 2))


def retry_after(headers: Mapping[str, str], default: float) -> float:
    """Retry-After in seconds (a number, or an HTTP date), else `default`."""
    value = headers.get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return default
