"""A real HTTP server on 127.0.0.1 serving fixed pages: the paste site of the demo and of
the tests (the machine has no internet, and outside sites are never called)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Pages = dict[str, tuple[str, bytes]]  # URL path -> (content type, body)


@contextlib.contextmanager
def serve_pages(pages: Pages) -> Iterator[str]:
    """Serve `pages` (404 for any other path; the query string is ignored) for the
    length of the block; yields the base URL. The server is shut down on the way out."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
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
