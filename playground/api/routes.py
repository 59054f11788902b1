"""The OpenAI-compatible HTTP routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``.

:func:`api_routes` returns Starlette routes for a :class:`~.service.ApiService`; ``mlx-playground serve`` puts them
first in Gradio's own FastAPI app (same port as the page), ``serve --api-only`` in a bare one. Every failure is an
OpenAI-style JSON error (400, 401, 404, 405, 422, 429), never a traceback. Streams are server-sent events ending with
``data: [DONE]``; a client that disconnects cancels its generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import PlaygroundError
from .answers import Answer
from .errors import ApiError, from_playground
from .schema import CHAT, COMPLETION, client_name, parse
from .service import ApiService

log = logging.getLogger(__name__)
#: Seconds between two checks whether a client waiting for a whole (non-streamed) reply is still there.
DISCONNECT_POLL_S = 0.25
NO_CACHE = {"Cache-Control": "no-cache"}
ENDPOINTS = {"/v1/models": "GET", "/v1/chat/completions": "POST", "/v1/completions": "POST"}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _on_a_thread(work: Callable[[Callable[[str, Any], None]], None]) -> asyncio.Queue:
    """Run ``work(emit)`` on a thread of its own; the returned queue gets what it emits, in order, then
    ``("end", None)``. (Waiting on the queue with a timeout loses nothing; an async generator would be closed.)"""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop is gone (shutting down)
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def target() -> None:
        try:
            work(emit)
        except BaseException as exc:  # handed to the HTTP side, never lost
            emit("error", exc)
        finally:
            emit("end", None)

    threading.Thread(target=target, name="api-request", daemon=True).start()
    return queue


class _Handler:
    """The routes' bodies for one service."""

    def __init__(self, service: ApiService):
        self.service = service

    async def models(self, request: Request) -> Response:
        try:
            self.service.check_token(request.headers.get("authorization"))
            return JSONResponse(await anyio.to_thread.run_sync(self.service.models))
        except ApiError as exc:
            return error_response(exc)

    async def model(self, request: Request) -> Response:
        try:
            self.service.check_token(request.headers.get("authorization"))
            name = request.path_params["model"]
            models = await anyio.to_thread.run_sync(self.service.models)
            found = next((m for m in models["data"] if m["id"] == name), None)
            if found is None:
                known = ", ".join(m["id"] for m in models["data"])
                raise ApiError(404, f"the model {name!r} does not exist on this server", code="model_not_found",
                               param="model", hint=f"use one of: {known}")  # fmt: skip
            return JSONResponse(found)
        except ApiError as exc:
            return error_response(exc)

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, CHAT)

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, COMPLETION)

    async def unknown(self, request: Request) -> Response:
        path = request.url.path
        if path in ENDPOINTS:
            error = ApiError(405, f"{path} takes {ENDPOINTS[path]}, not {request.method}", code="method_not_allowed")
        else:
            error = ApiError(
                404, f"no such endpoint: {request.method} {path}", code="not_found", hint=f"use {', '.join(ENDPOINTS)}"
            )
        return error_response(error)

    async def _complete(self, request: Request, endpoint: str) -> Response:
        service = self.service
        try:
            service.check_token(request.headers.get("authorization"))
        except ApiError as exc:
            return error_response(exc)
        record = None
        try:
            body = _json(await request.body())
            client = _client_name(request, body)
            record = service.log.open(endpoint, client, body)
            named = body.get("model") if isinstance(body, dict) else None
            record.model = named if isinstance(named, str) else ""
            call = parse(endpoint, body)
            with service.slot() as release:
                prepared = await anyio.to_thread.run_sync(service.prepare, call, record)
                answer = Answer(call, prepared.model_name)
                if call.stream:
                    chunks = self._stream(prepared, answer, record, release)
                    return StreamingResponse(  # the background task frees the slot even if the stream never started
                        chunks, media_type="text/event-stream", headers=NO_CACHE, background=BackgroundTask(release)
                    )
                try:
                    return await self._whole(request, prepared, answer, record)
                finally:
                    release()
        except (ApiError, PlaygroundError) as exc:
            error = exc if isinstance(exc, ApiError) else from_playground(exc)
        except Exception as exc:  # a bug: a JSON error with its type, the traceback only in the server's log
            log.exception("API request failed")
            error = ApiError(500, f"internal error: {type(exc).__name__}", kind="server_error", code="internal_error")
        if record is not None and record.status == "running":
            service.log.close(record, None, error.message, http_status=error.status)
        return error_response(error)

    def _work(self, prepared, answer, record, cancel: threading.Event, stream: bool):
        return lambda emit: self.service.generate(prepared, answer, record, cancel=cancel, emit=emit, stream=stream)

    async def _whole(self, request: Request, prepared, answer: Answer, record) -> Response:
        cancel = threading.Event()
        queue = _on_a_thread(self._work(prepared, answer, record, cancel, False))
        state = None
        try:
            while True:
                try:
                    kind, value = await asyncio.wait_for(queue.get(), DISCONNECT_POLL_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        cancel.set()  # nobody will read the reply: stop generating it
                    continue
                if kind == "error":
                    raise value
                if kind == "done":
                    state = value
                if kind == "end":
                    break
        except BaseException:
            cancel.set()
            raise
        if state.error is not None:
            raise from_playground(state.error)
        return JSONResponse(answer.whole(state))

    async def _stream(self, prepared, answer: Answer, record, release: Callable[[], None]) -> AsyncIterator[str]:
        cancel = threading.Event()
        queue = _on_a_thread(self._work(prepared, answer, record, cancel, True))
        try:
            opening = "".join(_sse(chunk) for chunk in answer.opening())
            if opening:
                yield opening
            ended = False
            while not ended:
                items = [await queue.get()]
                while not queue.empty():  # what arrived meanwhile goes out in one write
                    items.append(queue.get_nowait())
                out = []
                for kind, value in items:
                    ended = ended or kind == "end"
                    out += self._events(kind, value, answer)
                if out:
                    yield "".join(out)
            yield "data: [DONE]\n\n"
        finally:
            cancel.set()  # the client went away (or the stream ended): a running generation stops at its next step
            release()

    @staticmethod
    def _events(kind: str, value: Any, answer: Answer) -> list[str]:
        """The server-sent events of one item from the generating thread."""
        if kind == "chunk":
            return [_sse(value)]
        if kind == "done":
            if value.error is not None:
                return [_sse(from_playground(value.error).body())]
            return [_sse(chunk) for chunk in answer.closing(value)]
        if kind == "error":
            log.error("API stream failed: %s: %s", type(value).__name__, value)
            return [_sse(ApiError(500, f"internal error: {type(value).__name__}", kind="server_error").body())]
        return []


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None


def _client_name(request: Request, body: Any) -> str:
    """Who sent it: the client's own name for itself (``prompt_cache_key``, ``user``), else its address and agent."""
    named = client_name(body)
    if named:
        return named
    host = request.client.host if request.client is not None else "?"
    agent = request.headers.get("user-agent", "")[:60]
    return f"{host} {agent}".strip()


def api_routes(service: ApiService) -> list[Route]:
    """The API's routes (the catch-all under ``/v1`` answers unknown paths and methods with JSON errors)."""
    handler = _Handler(service)
    every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route("/v1/models", handler.models, methods=["GET"]),
        Route("/v1/models/{model:path}", handler.model, methods=["GET"]),
        Route("/v1/chat/completions", handler.chat, methods=["POST"]),
        Route("/v1/completions", handler.completions, methods=["POST"]),
        Route("/v1/{path:path}", handler.unknown, methods=every),
        Route("/v1", handler.unknown, methods=every),
    ]
