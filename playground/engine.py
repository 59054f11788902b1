"""The engine's small interface: load a model, prepare a request, stream its reply.

The CLI, the UI and the bench call only this (plus the typed results it returns): ``load`` a model,
``prepare`` a :class:`~playground.prepare.ChatRequest` into a :class:`~playground.prepare.PreparedChat`
(the exact prompt, its tokens, resolved settings, warnings), then ``reply`` to it on a backend.
Generation happens in layers, like mlx-lm's: the token generator (mlx-lm's ``BatchGenerator`` on the
scheduler's thread, or a server), the typed event stream (``stream``), the reply as it grows, parsed into
reasoning, answer and tool calls (``reply``: what every edge draws), and the whole reply (``generate``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .backends.base import Backend, make_backend
from .backends.local.prompt_cache import (
    DEFAULT_PROMPT_CACHE_BYTES,
    PromptCache,
    SharedPromptCache,
)
from .backends.local.scheduler import DEFAULT_MAX_BATCH, Scheduler
from .backends.spec import BackendSpec
from .errors import BackendError, PlaygroundError
from .events import GenerationEvent
from .loaded import LoadedModel
from .models import DEFAULT_MAX_MODELS, ModelCache, resolve_model
from .prepare import AUTO, ChatRequest, PreparedChat, prepare
from .reply import ReplyState, run_reply
from .templates import DEFAULT_SYSTEM_STRATEGY

#: Backends (server connections) kept; the least recently used is closed beyond this.
MAX_BACKENDS = 8


@dataclass(frozen=True)
class ChatSetup:
    """How a model's chats are rendered: the template (``auto``: its own or the detected preset; ``model``; a preset;
    ``custom`` with its text), the system strategy and EOS wiring. The page's Chat tab sets it for the model it
    renders (:meth:`Engine.set_chat_setup`), so API requests for that model get the prompt the page shows."""

    template: str = AUTO
    custom_template: str | None = None
    system_strategy: str = DEFAULT_SYSTEM_STRATEGY
    wire_eos: bool = True
    source: str = "default"  # "default", or who set it ("the page")

    def changes(self) -> tuple[str, ...]:
        """What this setup renders differently from the model's default (its own template or detected preset)."""
        default = ChatSetup()
        shown = []
        if (self.template, self.custom_template) != (default.template, default.custom_template):
            shown.append(f"template {self.template!r}")
        if self.system_strategy != default.system_strategy:
            shown.append(f"system prompt {self.system_strategy!r}")
        if self.wire_eos != default.wire_eos:
            shown.append("EOS wiring " + ("on" if self.wire_eos else "off"))
        return tuple(shown)

    def apply(self, request: ChatRequest) -> ChatRequest:
        """``request`` rendered this way."""
        return request.replace(
            template=self.template,
            custom_template=self.custom_template,
            system_strategy=self.system_strategy,
            wire_eos=self.wire_eos,
        )


class Engine:
    """Holds the model cache, the scheduler and the backends; everything else is passed in, so sessions
    never share state by accident."""

    def __init__(
        self,
        max_models: int = DEFAULT_MAX_MODELS,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        memory_limit_gb: float | None = None,
        batching: bool = True,
        backend: BackendSpec | None = None,
        prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES,
    ):
        self.models = ModelCache(max_models)
        #: KV caches of finished requests, shared by every session, Compare column and API request (local backend).
        self.prompt_cache = SharedPromptCache(prompt_cache_bytes)
        self._chat_setups: dict[str, ChatSetup] = {}
        self.scheduler = Scheduler(max_batch=max_batch, memory_limit_gb=memory_limit_gb, batching=batching)
        self.default_backend = backend or BackendSpec()
        self._backends: OrderedDict[BackendSpec, Backend] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, model: str | Path, *, weights: bool | None = None) -> LoadedModel:
        """Load (or reuse) a model. ``weights`` defaults to whether the default backend is local: a model
        served elsewhere needs only its metadata and tokenizer here. Loading runs on the scheduler's thread."""
        if weights is None:
            weights = not self.default_backend.remote
        cached = self.models.peek(model, weights=weights)
        if cached is not None:
            return cached
        # A download (a Hub id not yet cached) happens here, on the caller's thread, so running replies do
        # not wait for it; reading the weights and the warm-up run on the scheduler's thread.
        resolve_model(model, weights=weights)
        return self.scheduler.call(lambda: self.models.get(model, weights=weights))

    def set_chat_setup(self, loaded: LoadedModel, setup: ChatSetup) -> None:
        """Render ``loaded``'s chats with ``setup`` from now on (the page's choice, used by API requests too)."""
        with self._lock:
            self._chat_setups[str(loaded.path)] = setup

    def chat_setup(self, loaded: LoadedModel) -> ChatSetup:
        """How ``loaded``'s chats are rendered: the last setup set for it, else its own template or detected preset."""
        with self._lock:
            return self._chat_setups.get(str(loaded.path), ChatSetup())

    def prepare(self, model: LoadedModel | str | Path, request: ChatRequest) -> PreparedChat:
        """The exact prompt, tokens, settings and warnings of ``request`` (see :func:`playground.prepare.prepare`)."""
        loaded = model if isinstance(model, LoadedModel) else self.load(model)
        if request.backend is None:  # the prepared request says where its tokens will come from
            request = request.replace(backend=self.default_backend)
        return prepare(loaded, request)

    def backend(self, spec: BackendSpec | None = None) -> Backend:
        """The backend for ``spec`` (default: the engine's), created once per spec."""
        spec = spec or self.default_backend
        with self._lock:
            if spec in self._backends:
                self._backends.move_to_end(spec)
                return self._backends[spec]
            backend = self._backends[spec] = make_backend(spec, scheduler=self.scheduler)
            while len(self._backends) > MAX_BACKENDS:  # every server URL typed in the page makes one
                _, old = self._backends.popitem(last=False)
                old.close()
            return backend

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,
    ) -> Iterator[GenerationEvent]:
        """Layer 2: the typed events of the reply, from the request's backend."""
        spec = prepared.request.backend or self.default_backend
        if spec.remote and getattr(prepared, "vision", None) is not None:
            raise BackendError(
                "images need the local backend: a server would get the prompt text without the images",
                hint="choose 'local' under Generation backend (or drop --backend), or remove the images",
            )
        return self.backend(spec).stream(prepared, cancel=cancel, cache=cache)

    def reply(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,
        continues: dict | None = None,
    ) -> Iterator[ReplyState]:
        """The reply as it grows (see :mod:`playground.reply`): one :class:`ReplyState`, yielded after every event
        and once more with ``done`` set. Failures end it with ``error`` set; they are never raised.
        ``continues``: the assistant message a Continue extends."""
        try:
            events = self.stream(prepared, cancel=cancel, cache=cache)
        except PlaygroundError as exc:
            events = _failing(exc)
        return run_reply(prepared, events, continues=continues)

    def generate(self, prepared: PreparedChat, **kwargs) -> ReplyState:
        """The whole reply (the last :class:`ReplyState`).

        Raises:
            PlaygroundError: what ended the reply, if it failed.
        """
        *_, state = self.reply(prepared, **kwargs)
        if state.error is not None:
            raise state.error
        return state


def _failing(error: PlaygroundError) -> Iterator[GenerationEvent]:
    raise error
    yield  # pragma: no cover - makes this a generator
