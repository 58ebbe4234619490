"""`incident serve`: the exposure service (FastAPI + uvicorn).

HasMySecretLeaked's wire protocol, so that ggshield queries it unmodified:
- `POST /v1/prefixes {"prefixes": [...]}` -> `{"matches": [{"hint", "payload"}]}`, the
  hmsl buckets of the prefixes, padded;
- `POST /v1/hashes {"hashes": [...]}` -> `{"secrets": [{"hash", "count", "location"}]}`,
  for the full hmsl fingerprints that leaked (the client gives up its anonymity here);
- `GET /healthz`.
And for the web page: `GET /v1/range/{prefix}`, the sha256 bucket of a prefix, and the
page itself at `/`.

Every /v1 answer carries RateLimit-Limit, -Remaining and -Reset (ggshield reads them),
and past the limit a 429. Bad input is a 4xx with a JSON `detail` that names the field
and index, never the value. The access log shows routes and counts, never a prefix or a
hash: beside the client's address, a prefix says which bucket someone cared about.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from incident.errors import safe_traceback
from incident.exposure.corpus import PREFIX_HEX, Corpus, prefix_of
from incident.fingerprint import HEX64

log = logging.getLogger("incident.exposure")
access = logging.getLogger("incident.exposure.access")

MAX_BODY = 64 * 1024
MAX_ITEMS = 100
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_CSP = ("default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
ASSET_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
               ".ico": "image/x-icon", ".png": "image/png"}


@dataclass(frozen=True)
class Limits:
    """A client (by address) may spend `rate` units per `window` seconds: a request to
    /v1/range is one unit, one to /v1/prefixes or /v1/hashes one per item (at least 1,
    charged before the body is read)."""

    rate: int = 600
    window: float = 60.0


class RateLimiter:
    """Fixed windows per client address. One event loop calls it: no lock needed."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.window_start = clock()
        self.spent: dict[str, int] = {}

    def take(self, client: str, units: int) -> tuple[bool, dict[str, str]]:
        now = self.clock()
        if now - self.window_start >= self.limits.window:
            self.window_start = now - (now - self.window_start) % self.limits.window
            self.spent.clear()
        spent = self.spent.get(client, 0)
        allowed = spent + units <= self.limits.rate
        if allowed:
            spent += units
            self.spent[client] = spent
        reset = max(0, int(self.window_start + self.limits.window - now + 0.999))
        headers = {"RateLimit-Limit": str(self.limits.rate),
                   "RateLimit-Remaining": str(max(0, self.limits.rate - spent)),
                   "RateLimit-Reset": str(reset)}
        if not allowed:
            headers["Retry-After"] = str(max(1, reset))
        return allowed, headers


class Problem(Exception):
    """A client error: status and a message that names the place, not the content."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class CorpusHolder:
    """The corpus being served; a thread loads a new one when dumps change, and swaps it."""

    def __init__(self, corpus: Corpus, refresh: float) -> None:
        self.corpus = corpus
        self.refresh = refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.refresh > 0:
            self._thread = threading.Thread(target=self._watch, name="corpus", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                if self.corpus.stale():
                    fresh = Corpus.load(self.corpus.path, key=self.corpus.key)
                    self.corpus = fresh
                    log.warning("corpus reloaded: %d dumps, %d values (sha256), %d (hmsl)",
                                fresh.dumps, fresh.indexes["sha256"].values,
                                fresh.indexes["hmsl"].values)
            except Exception as e:  # noqa: BLE001 - keep serving the last good corpus
                log.warning("corpus reload failed (%s); still serving the previous one",
                            type(e).__name__)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`content` as JSON; a str is JSON text already."""
    body = content if isinstance(content, str) else json.dumps(content, separators=(",", ":"))
    return Response(body.encode(), status, {**SECURITY_HEADERS, **(headers or {})},
                    media_type="application/json")


def _client(request: Request, proxies: frozenset[str]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last
    address the proxy added to X-Forwarded-For (those before it are the client's to
    forge). An IPv6 address counts as its /64: one host often has a whole /64, and would
    otherwise be a new client at every address."""
    host = request.client.host if request.client else "-"
    if host in proxies:
        forwarded = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        with contextlib.suppress(ValueError):
            host = str(ipaddress.ip_address(forwarded))
    if ":" in host:
        with contextlib.suppress(ValueError):
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
    return host


async def _body_items(request: Request, field: str, check: Callable[[str], bool],
                      what: str) -> list[str]:
    """The list under `field` of a JSON body, each item checked; Problem otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise Problem(413, f"request body larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, f"request body larger than {MAX_BODY} bytes")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem(400, "request body is not JSON (or nested too deep)") from None
    if not isinstance(document, dict) or not isinstance(document.get(field), list):
        raise Problem(422, f"{field}: expected a JSON object with a list '{field}'")
    items: list[str] = document[field]
    if len(items) > MAX_ITEMS:
        raise Problem(422, f"{field}: at most {MAX_ITEMS} per request (got {len(items)})")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not check(item):
            raise Problem(422, f"{field}[{i}]: must be {what}")
    return items


def _is_hash(text: str) -> bool:
    return HEX64.fullmatch(text) is not None  # lowercase only, as HMSL sends them


Handler = Callable[[], Awaitable[tuple[Any, dict[str, str], str]]]


def create_app(holder: CorpusHolder, limits: Limits = Limits(),
               proxies: frozenset[str] = frozenset()) -> FastAPI:
    """The app; `proxies`: addresses of reverse proxies whose X-Forwarded-For is believed
    (for the rate limit and the log)."""
    app = FastAPI(title="incident exposure service", docs_url=None, redoc_url=None,
                  openapi_url=None)
    limiter = RateLimiter(limits)
    assets = _assets()

    def spend(request: Request, units: int) -> dict[str, str]:
        """The rate-limit headers; a 429 Problem (carrying them) past the limit."""
        allowed, headers = limiter.take(_client(request, proxies), units)
        if not allowed:
            raise Problem(429, "rate limit reached; retry after the number of seconds in "
                               "Retry-After", headers)
        return headers

    async def respond(request: Request, route: str, handler: Handler) -> Response:
        """Run a /v1 handler; log the route (no prefix, no hash), status and time."""
        started = time.perf_counter()
        note = ""
        try:
            content, headers, note = await handler()
            response = _json(content, 200, headers)
        except Problem as p:
            response = _json({"detail": p.detail}, p.status, p.headers)
        except Exception as e:  # noqa: BLE001 - a bug: frames and type only, never values
            log.error("internal error on %s %s\n%s", request.method, route, safe_traceback(e))
            response = _json({"detail": "internal error"}, 500)
        if access.isEnabledFor(logging.INFO):
            access.info("%s %s %s %d %.1fms%s", _client(request, proxies), request.method,
                        route,
                        response.status_code, (time.perf_counter() - started) * 1000, note)
        return response

    @app.post("/v1/prefixes")
    async def prefixes(request: Request) -> Response:
        async def handle() -> tuple[Any, dict[str, str], str]:
            spend(request, 1)  # before the body is read: a bad request costs too
            items = await _body_items(request, "prefixes", lambda p: prefix_of(p) is not None,
                                      f"{PREFIX_HEX} lowercase hex characters")
            headers = spend(request, max(0, len(items) - 1))
            matches = holder.corpus.matches_json("hmsl", (int(p, 16) for p in
                                                            dict.fromkeys(items)))
            return f'{{"matches":[{matches}]}}', headers, f" prefixes={len(items)}"
        return await respond(request, "/v1/prefixes", handle)

    @app.post("/v1/hashes")
    async def hashes(request: Request) -> Response:
        async def handle() -> tuple[Any, dict[str, str], str]:
            spend(request, 1)  # before the body is read: a bad request costs too
            items = await _body_items(request, "hashes", _is_hash,
                                      "64 lowercase hex characters")
            headers = spend(request, max(0, len(items) - 1))
            corpus = holder.corpus
            index = corpus.indexes["hmsl"]
            secrets = []
            for h in dict.fromkeys(items):
                run = index.find(bytes.fromhex(h))
                if run is not None:
                    document = corpus.document("hmsl", run)
                    secrets.append({"hash": h, "count": document["c"],
                                    "location": document["l"]})
            return {"secrets": secrets}, headers, f" hashes={len(items)}"
        return await respond(request, "/v1/hashes", handle)

    @app.get("/v1/range/{prefix}")
    async def bucket(request: Request, prefix: str) -> Response:
        number = prefix_of(prefix)

        async def handle() -> tuple[Any, dict[str, str], str]:
            if number is None:
                raise Problem(422, f"prefix: must be {PREFIX_HEX} lowercase hex characters")
            headers = spend(request, 1)
            matches = holder.corpus.matches_json("sha256", (number,))
            return (f'{{"prefix":"{prefix}","scheme":"sha256","matches":[{matches}]}}',
                    headers, "")
        return await respond(request, "/v1/range", handle)  # the prefix is not logged

    @app.get("/healthz")
    async def healthz() -> Response:
        corpus = holder.corpus
        return _json({"status": "ok", "dumps": corpus.dumps,
                      "values": {s: i.values for s, i in corpus.indexes.items()}})

    @app.get("/manifest.json")
    async def manifest() -> Response:
        return _json(holder.corpus.manifest(every_prefix=True))

    @app.get("/")
    async def index() -> Response:
        return _asset(assets, "index.html")

    @app.get("/{name}")
    async def asset(name: str) -> Response:
        return _asset(assets, name)

    return app


def _assets() -> dict[str, bytes]:
    """The page's files (incident/exposure/static), read once."""
    folder = resources.files("incident.exposure") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir()
            if f.is_file() and "." + f.name.rsplit(".", 1)[-1] in ASSET_TYPES}


def _asset(assets: dict[str, bytes], name: str) -> Response:
    body = assets.get(name)
    if body is None:
        return _json({"detail": "not found"}, 404)
    kind = ASSET_TYPES["." + name.rsplit(".", 1)[-1]]
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = PAGE_CSP
    return Response(body, 200, headers, media_type=kind)


def serve(corpus: Corpus, host: str, port: int, limits: Limits, refresh: float = 10.0,
          access_log: bool = True, ready: Callable[[str], None] | None = None,
          workers: int = 1, proxies: frozenset[str] = frozenset()) -> None:
    """Serve until SIGINT or SIGTERM. The socket is bound here, before uvicorn starts, so
    a port in use is a clear error and port 0 picks a free one; `ready` gets the base URL
    once the socket listens.

    workers > 1: the process forks after loading the corpus (the children share its pages)
    and every process accepts on the one socket. Each keeps its own rate-limit counts and
    reloads the corpus on its own; the children end with the parent."""
    from incident.listen import listen, url_of

    _log_to_stderr(access_log)
    sock = listen(host, port)
    children = [pid for pid in (_fork_worker(corpus, sock, limits, refresh, proxies)
                                for _ in range(workers - 1)) if pid]
    if ready:
        ready(url_of(sock))
    try:
        _run(corpus, sock, limits, refresh, proxies)
    finally:
        sock.close()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _run(corpus: Corpus, sock: Any, limits: Limits, refresh: float,
         proxies: frozenset[str]) -> None:
    """One process's server: its event loop, its corpus watcher, until a signal."""
    import uvicorn

    holder = CorpusHolder(corpus, refresh)
    config = uvicorn.Config(create_app(holder, limits, proxies), log_level="warning",
                            access_log=False,
                            server_header=False, proxy_headers=False, lifespan="off",
                            loop="uvloop", http="httptools", backlog=2048)
    holder.start()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        holder.stop()


def _fork_worker(corpus: Corpus, sock: Any, limits: Limits, refresh: float,
                 proxies: frozenset[str]) -> int:
    """Fork a worker that serves on `sock`: its pid in the parent, 0 never returned in the
    child (it exits when its server stops)."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        with contextlib.suppress(OSError, AttributeError):  # Linux: end with the parent
            import ctypes
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        _run(corpus, sock, limits, refresh, proxies)
    except BaseException as e:  # noqa: BLE001 - a child must never return into the parent's
        code = 1  # code
        with contextlib.suppress(Exception):
            log.error("worker %d stopped: %s", os.getpid(), safe_traceback(e))
    finally:
        os._exit(code)


def _log_to_stderr(access_log: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.WARNING)
    access.setLevel(logging.INFO if access_log else logging.WARNING)
