"""A free TCP port on localhost, for the benchmark's servers and the tests', and the error of a port in use."""

from __future__ import annotations

import socket

from .errors import PlaygroundError


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_unavailable(host: str, port: int) -> PlaygroundError:
    """The error of a server that cannot listen on ``host:port``."""
    return PlaygroundError(
        f"cannot listen on {host}:{port}: the port is in use or not available",
        hint="stop the other server, or pick another port with --port N",
    )
