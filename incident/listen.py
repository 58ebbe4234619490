"""A listening socket for our servers (the exposure service, the simulated exchange),
bound before the server starts so that a taken port is a clear usage error."""

from __future__ import annotations

import socket

from incident.errors import UsageError


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; UsageError (exit 2) if the address is taken or unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The http URL a listening socket answers on."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
