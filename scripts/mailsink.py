"""A mail and webhook sink on 127.0.0.1 for the tests, the demo and the benchmarks (as
MailHog is): a real SMTP server (aiosmtpd) that keeps what it receives, and an HTTP server
for webhooks, a platform's admin endpoint and a Message-ID lookup.

    with MailSink(webhook_secret="s") as sink:
        sink.smtp_host, sink.smtp_port, sink.url, sink.messages, sink.posts, sink.stats()
        sink.fail_smtp(2, code=451); sink.fail_http(3, status=503)   # faults for tests

HTTP:
    GET  /messages/lookup?message_id=ID  {"found": bool}
    GET  /_stats                         counts (see MailSink.stats)
    POST /hooks/<name>                   X-Incident-Signature checked when a secret is set
                                         (401 if bad); {"ok": true, "duplicate": bool} by
                                         X-Incident-Delivery
    GET  /hooks/<name>                   what that hook received
    POST /admin/<path>                   recorded with its Idempotency-Key; same answer
    GET  /admin/<path>                   the records for that path
    GET  /admin/<path>?idempotency_key=K 200 if a POST with that key landed there, else 404

    python scripts/mailsink.py [--outdir D] [--smtp-port P] [--http-port P]
                               [--webhook-secret-env NAME]

prints `mailsink smtp=127.0.0.1:PORT http=http://127.0.0.1:PORT` and serves until SIGTERM
or SIGINT. Nothing is logged about a message or a body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

try:
    from incident.notify import verify_signature
except ImportError:  # run as `python scripts/mailsink.py` without incident installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from incident.notify import verify_signature

HOST = "127.0.0.1"
MAX_BODY = 8 << 20


@dataclass(frozen=True)
class Received:
    message_id: str
    to: tuple[str, ...]  # envelope recipients
    mail_from: str
    raw: bytes  # as received (CRLF line ends)
    message: EmailMessage


@dataclass(frozen=True)
class Posted:
    path: str
    key: str | None  # X-Incident-Delivery for a hook, Idempotency-Key for admin
    event: str | None
    body: Any  # the JSON document, or the text if the body was not JSON
    duplicate: bool


class _Handler:
    """aiosmtpd's handler: keeps each message; answers faults set by fail_smtp()."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return self.sink._received(envelope)


class _Controller(Controller):
    """Controller on port 0: the real port is read from the listening socket before the
    start-up check connects to it."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            server = cast(asyncio.Server, self.server)
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailSink:
    def __init__(self, *, webhook_secret: str | None = None,
                 outdir: Path | None = None, smtp_port: int = 0, http_port: int = 0) -> None:
        self.webhook_secret = webhook_secret
        self.outdir = outdir
        self.messages: list[Received] = []
        self.posts: list[Posted] = []
        self.bad_signatures = 0
        self.requests: Counter[str] = Counter()
        self._faults: list[int] = []
        self._http_faults: list[int] = []
        self._lock = threading.Lock()
        self._controller: _Controller | None = None
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.smtp_host = HOST
        self.smtp_port = smtp_port  # 0: a free one, known once started
        self._http_port = http_port
        self.url = ""

    # --- life ------------------------------------------------------------------------------

    def start(self) -> MailSink:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's, per command
        if self.outdir is not None:
            self.outdir.mkdir(parents=True, exist_ok=True)
        self._controller = _Controller(_Handler(self), hostname=HOST, port=self.smtp_port,
                                       ready_timeout=5.0,  # a name, so no DNS look-up:
                                       server_hostname="mailsink.localhost")
        self._controller.start()
        self.smtp_port = self._controller.port
        self._http = ThreadingHTTPServer((HOST, self._http_port), _make_http_handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,),
                                        name="mailsink-http", daemon=True)
        self._thread.start()
        self.url = f"http://{HOST}:{self._http.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- faults and state ------------------------------------------------------------------

    def fail_smtp(self, count: int, code: int = 451) -> None:
        """The next `count` DATA commands are answered `code` (and nothing is kept)."""
        with self._lock:
            self._faults.extend([code] * count)

    def fail_http(self, count: int, status: int = 503) -> None:
        """The next `count` POSTs (to a hook or an admin path) are answered `status`."""
        with self._lock:
            self._http_faults.extend([status] * count)

    def _http_fault(self) -> int | None:
        with self._lock:
            return self._http_faults.pop(0) if self._http_faults else None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            hooks = [p for p in self.posts if p.path.startswith("/hooks/")]
            by_recipient: Counter[str] = Counter(to for m in self.messages for to in m.to)
            return {
                "messages": len(self.messages),
                "unique_message_ids": len({m.message_id for m in self.messages}),
                "by_recipient": dict(sorted(by_recipient.items())),
                "webhooks": len(hooks),
                "unique_deliveries": len({p.key for p in hooks if p.key}),
                "bad_signatures": self.bad_signatures,
                "requests": dict(sorted(self.requests.items())),
            }

    def found(self, message_id: str) -> bool:
        with self._lock:
            return any(m.message_id == message_id for m in self.messages)

    def _received(self, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        with self._lock:
            if self._faults:
                return f"{self._faults.pop(0)} sink: fault injected"
            message = message_from_bytes(raw, policy=default_policy)
            received = Received(message_id=str(message.get("Message-ID", "")),
                                to=tuple(envelope.rcpt_tos),
                                mail_from=str(envelope.mail_from), raw=raw, message=message)
            self.messages.append(received)
            number = len(self.messages)
        if self.outdir is not None:
            path = self.outdir / f"{number:04d}.eml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
        return "250 OK"

    def _posted(self, path: str, key: str | None, event: str | None, body: Any) -> bool:
        """Record a POST; a duplicate repeats a delivery id (any hook) or an
        Idempotency-Key (the same admin path)."""
        hook = path.startswith("/hooks/")

        def same(p: Posted) -> bool:
            return p.key == key and (p.path.startswith("/hooks/") if hook else p.path == path)

        with self._lock:
            duplicate = key is not None and any(same(p) for p in self.posts)
            self.posts.append(Posted(path, key, event, body, duplicate))
            return duplicate


def _make_http_handler(sink: MailSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, document: Any) -> None:
            body = json.dumps(document, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _count(self) -> str:
            path = urlsplit(self.path).path
            with sink._lock:
                sink.requests[path] += 1
            return path

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            path = self._count()
            if path == "/messages/lookup":
                ids = parse_qs(urlsplit(self.path).query).get("message_id", [])
                if len(ids) != 1:
                    return self._answer(400, {"error": "one message_id expected"})
                return self._answer(200, {"found": sink.found(ids[0])})
            if path == "/_stats":
                return self._answer(200, sink.stats())
            keys = parse_qs(urlsplit(self.path).query).get("idempotency_key", [])
            if path.startswith("/admin/") and keys:  # a platform's "did this call land?"
                with sink._lock:
                    seen = any(p.path == path and p.key == keys[0] for p in sink.posts)
                return self._answer(200 if seen else 404, {"found": seen})
            if path.startswith(("/admin/", "/hooks/")):
                with sink._lock:
                    records = [{"key": p.key, "event": p.event, "body": p.body,
                                "duplicate": p.duplicate} for p in sink.posts
                               if p.path == path]
                return self._answer(200, records)
            self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            path = self._count()
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self.close_connection = True
                return self._answer(413, {"error": "too large"})
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            fault = sink._http_fault()
            if fault is not None:
                return self._answer(fault, {"ok": False, "error": "fault injected"})
            if path.startswith("/hooks/") and len(path) > len("/hooks/"):
                if sink.webhook_secret is not None and not verify_signature(
                        sink.webhook_secret, self.headers.get("X-Incident-Signature", ""),
                        raw):
                    with sink._lock:
                        sink.bad_signatures += 1
                    return self._answer(401, {"ok": False, "error": "bad signature"})
                duplicate = sink._posted(path, self.headers.get("X-Incident-Delivery"),
                                         self.headers.get("X-Incident-Event"), body)
                return self._answer(200, {"ok": True, "duplicate": duplicate})
            if path.startswith("/admin/") and len(path) > len("/admin/"):
                duplicate = sink._posted(path, self.headers.get("Idempotency-Key"), None, body)
                return self._answer(200, {"ok": True, "duplicate": duplicate})
            self._answer(404, {"error": "not found"})

        def log_message(self, format: str, *args: Any) -> None:  # quiet: bodies, tokens
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--outdir", type=Path, help="also write each message to D/NNNN.eml")
    parser.add_argument("--smtp-port", type=int, default=0, help="default: a free one")
    parser.add_argument("--http-port", type=int, default=0, help="default: a free one")
    parser.add_argument("--webhook-secret-env", metavar="NAME",
                        help="check webhook signatures with the secret in $NAME")
    args = parser.parse_args(argv)
    secret = None
    if args.webhook_secret_env:
        secret = os.environ.get(args.webhook_secret_env)
        if not secret:
            parser.error(f"${args.webhook_secret_env} is not set")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with MailSink(webhook_secret=secret, outdir=args.outdir, smtp_port=args.smtp_port,
                  http_port=args.http_port) as sink:
        print(f"mailsink smtp={sink.smtp_host}:{sink.smtp_port} http={sink.url}", flush=True)
        while not stop.wait(3600):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
