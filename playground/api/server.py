"""``mlx-playground serve --api-only``: the API without the page, on uvicorn (Gradio's own server underneath)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from ..ports import port_unavailable
from .routes import api_routes
from .service import ApiService


def api_app(service: ApiService) -> Any:
    """A bare ASGI app serving only the API's routes."""
    from starlette.applications import Starlette

    return Starlette(routes=api_routes(service))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is one clear error (uvicorn would exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise port_unavailable(host, port) from None
    return sock


def start_api_server(service: ApiService, *, host: str = "127.0.0.1", port: int = 8080) -> tuple[Any, threading.Thread]:
    """Serve the API on a thread; returns the uvicorn server (set ``should_exit`` to stop it) and the thread."""
    import uvicorn

    sock = _bind(host, port)
    config = uvicorn.Config(api_app(service), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="api-server", daemon=True)
    thread.start()
    return server, thread


def serve_api(service: ApiService, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the API until interrupted (Ctrl+C)."""
    server, thread = start_api_server(service, host=host, port=port)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(10)
