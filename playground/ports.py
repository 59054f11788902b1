"""A free TCP port on localhost, for the benchmark's servers and the tests'."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
