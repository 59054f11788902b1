"""The API's server side, free of HTTP: models, the token check, admission, and running one request like a Send.

An API request becomes a :class:`~playground.prepare.ChatRequest` (:mod:`.schema`), gets the model's chat setup (the
template the page chose for that model, else its own or the detected preset: :meth:`Engine.chat_setup
<playground.engine.Engine.chat_setup>`), goes through ``Engine.prepare`` and ``Engine.reply`` exactly as the Chat
tab's Send does, with the engine's shared KV-cache pool, and is logged (:mod:`.log`). Generation runs on a thread of
its own that hands finished JSON pieces to the HTTP side, so a slow client never holds the model, and a client that
goes away sets the request's cancel flag: the scheduler stops it at its next step.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..engine import Engine
from ..errors import PlaygroundError
from ..loaded import LoadedModel
from ..messages import shape_tool_arguments
from ..prepare import ChatRequest, PreparedChat, choice_family, template_choice
from ..reply import ReplyState
from .answers import Answer
from .errors import ApiError, from_playground
from .log import RequestLog, RequestRecord
from .schema import ApiCall

#: API requests admitted at once (generating or waiting for the model); more get 429 (``--queue-size``).
DEFAULT_MAX_PENDING = 64
OWNER = "mlx-playground"


class ApiService:
    """Everything the routes need: the engine, the request log, the token and the admission count."""

    def __init__(
        self,
        engine: Engine,
        *,
        default_model: str,
        api_token: str | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        log: RequestLog | None = None,
    ):
        self.engine = engine
        self.default_model = default_model
        self._token = api_token or None
        self.max_pending = max_pending
        secrets = (api_token, engine.default_backend.api_key)
        self.log = log or RequestLog(secrets=tuple(s for s in secrets if s))
        self._pending = 0
        self._durations: list[float] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ access

    @property
    def token_required(self) -> bool:
        """Whether clients must send ``Authorization: Bearer TOKEN`` (the token itself is never handed out)."""
        return self._token is not None

    def check_token(self, authorization: str | None) -> None:
        """Raises a 401 unless the request carries ``Authorization: Bearer TOKEN`` (when a token is set)."""
        if self._token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            raise ApiError(
                401,
                "missing or wrong API token" if authorization else "this server needs an API token",
                kind="authentication_error",
                code="invalid_api_key",
                hint="send the header 'Authorization: Bearer TOKEN' with the --api-token the server was started with",
            )

    @contextlib.contextmanager
    def slot(self) -> Iterator[Callable[[], None]]:
        """Admit one request (a 429 with Retry-After when ``max_pending`` are already in); yields its release."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise ApiError(
                    429,
                    f"the server is busy: {self._pending} requests are already generating or waiting",
                    kind="rate_limit_error",
                    code="queue_full",
                    hint="retry after the time in the Retry-After header",
                    headers={"Retry-After": str(self.retry_after())},
                )
            self._pending += 1
        started, released = time.monotonic(), False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self._pending -= 1
                    self._durations = [*self._durations[-19:], time.monotonic() - started]

        try:
            yield release
        except BaseException:
            release()
            raise

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the median duration of the last requests (at least 1)."""
        return max(1, math.ceil(statistics.median(self._durations))) if self._durations else 1

    # ------------------------------------------------------------------ models

    def _loaded_models(self) -> list[LoadedModel]:
        found = []
        for path in self.engine.models.loaded():
            loaded = self.engine.models.peek(path, weights=False)
            if loaded is not None and loaded not in found:
                found.append(loaded)
        return found

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``: the default model and every model loaded now."""
        names = [m.name for m in self._loaded_models()]
        with contextlib.suppress(PlaygroundError):
            names.insert(0, self.engine.load(self.default_model).name)
        created = int(time.time())
        data = [{"id": n, "object": "model", "created": created, "owned_by": OWNER} for n in dict.fromkeys(names)]
        return {"object": "list", "data": data}

    def model(self, name: str | None) -> LoadedModel:
        """The model a request names: the default one (also when none is named), or one loaded now (by its name or
        folder). Anything else is a 404: the API never loads or downloads a model a client names."""
        if not name or name == self.default_model:
            return self.engine.load(self.default_model)
        default = self.engine.load(self.default_model)
        for loaded in [default, *self._loaded_models()]:
            if name in (loaded.name, str(loaded.path)):
                return loaded
        known = ", ".join(m["id"] for m in self.models()["data"])
        raise ApiError(
            404,
            f"the model {name!r} does not exist on this server",
            code="model_not_found",
            param="model",
            hint=f"use one of: {known} (GET /v1/models lists them; load others in the page)",
        )

    # ------------------------------------------------------------------ one request

    def prepare(self, call: ApiCall, record: RequestRecord) -> PreparedChat:
        """The exact prompt of ``call``, rendered as the page renders this model's chats (logged on ``record``)."""
        loaded = self.model(call.model)
        setup = self.engine.chat_setup(loaded)
        request = setup.apply(call.request)
        notes, changes = call.notes, setup.changes()
        if changes and call.request.raw_prompt is None:
            notes = (*notes, f"rendered as chosen in {setup.source}: {', '.join(changes)}")
        try:
            if request.raw_prompt is None:
                request = _shaped(loaded, request)
            prepared = self.engine.prepare(loaded, request)
        except PlaygroundError as exc:
            raise from_playground(exc) from None
        self.log.prepared(record, prepared, notes)
        return prepared

    def generate(
        self,
        prepared: PreparedChat,
        answer: Answer,
        record: RequestRecord,
        *,
        cancel: threading.Event,
        emit: Callable[[str, Any], None],
        stream: bool,
    ) -> None:
        """Run the reply (on the caller's thread): stream chunks through ``emit("chunk", ...)`` when ``stream``; end
        with ``emit("done", state)`` (a finished :class:`ReplyState`, no longer changed)."""
        state: ReplyState | None = None
        try:
            for state in self.engine.reply(prepared, cancel=cancel, cache=self.engine.prompt_cache):
                if stream and state.error is None:
                    for chunk in answer.step(state):
                        emit("chunk", chunk)
        finally:
            error = state.error if state is not None else None
            self.log.close(record, state, error, http_status=400 if error is not None and not stream else 200)
        emit("done", state)


def _shaped(loaded: LoadedModel, request: ChatRequest) -> ChatRequest:
    """The request with its tool calls' arguments in the shape its template needs (OpenAI clients send JSON strings;
    GLM iterates an object, DeepSeek pastes a string), as the page shapes its conversations."""
    family = choice_family(template_choice(loaded, request.template, request.custom_template))
    if family is None:
        return request
    messages = shape_tool_arguments(list(request.messages), family.tool_arguments, f"the {family.name} template")
    return request.replace(messages=tuple(messages))
