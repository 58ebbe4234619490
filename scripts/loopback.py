"""Real servers on 127.0.0.1 for the demo, the tests and the benchmarks: fixed pages (the
paste site: the machine has no internet, and outside sites are never called), and
`incident serve` as a child process."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Pages = dict[str, tuple[str, bytes]]  # URL path -> (content type, body)


@contextlib.contextmanager
def serve_pages(pages: Pages, seen: list[str] | None = None) -> Iterator[str]:
    """Serve `pages` (404 for any other path; the query string is ignored) for the
    length of the block; yields the base URL. Each path asked for is appended to `seen`.
    The server is shut down on the way out."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            if seen is not None:
                seen.append(self.path)
            kind, body = pages.get(self.path.split("?", 1)[0], ("text/plain", b""))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body or b"not found")))
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:  # quiet: a URL may carry a token
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def incident_serve(args: list[str], env: Mapping[str, str], log: Path, timeout: float = 60
                   ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`incident serve --port 0 ARGS` (its output into `log`) for the length of the block:
    yields its base URL (read from its 'serving on' line) and the process, which is
    stopped (SIGTERM, then SIGKILL) on the way out. RuntimeError if it does not start."""
    with _child("serve", "serving on", args, env, log, timeout) as started:
        yield started


@contextlib.contextmanager
def sim_exchange(args: list[str], env: Mapping[str, str], log: Path, timeout: float = 60
                 ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`incident sim-exchange --port 0 ARGS`, as `incident_serve` (its 'sim-exchange on'
    line names the URL)."""
    with _child("sim-exchange", "sim-exchange on", args, env, log, timeout) as started:
        yield started


@contextlib.contextmanager
def _child(command: str, says: str, args: list[str], env: Mapping[str, str], log: Path,
           timeout: float) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "incident", command, "--port", "0",
                                 *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(env), cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout
        while not (found := re.search(rf"{says} (http://\S+?)/ ", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"incident {command} did not start: {log.read_text()}")
            time.sleep(0.05)
        yield found.group(1), proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def marked_processes(marker: str) -> list[str]:
    """Live processes whose environment holds MARKER (an environment variable's name given
    to a run, and inherited by everything it starts, whatever session it moves to): "PID:
    command line" of each. What is left of a run that should have stopped everything."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(f"{proc.name}: " + (proc / "cmdline").read_bytes()
                             .replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone, or not ours
            continue
    return found
