"""The backend protocol and the factory that makes a backend for a :class:`~playground.backends.spec.BackendSpec`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol

from ..errors import BackendError
from ..events import GenerationEvent
from ..prepare import PreparedChat
from .local.prompt_cache import PromptCache
from .spec import BACKEND_KINDS, BackendSpec


class Backend(Protocol):
    """A source of tokens for prepared requests."""

    spec: BackendSpec

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,
    ) -> Iterator[GenerationEvent]:
        """Generate a reply to ``prepared.text``; the last event has ``finish_reason`` set."""
        ...

    def check(self) -> dict[str, Any]:
        """What the backend reports about itself (for "test connection"); raises BackendError if unreachable."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def make_backend(spec: BackendSpec, *, scheduler: Any) -> Backend:
    """The backend for ``spec`` (``scheduler`` runs local generation)."""
    if spec.kind == "local":
        from .local.backend import LocalBackend

        return LocalBackend(spec, scheduler)
    if spec.kind == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.kind == "ollama":
        from .ollama import OllamaBackend

        return OllamaBackend(spec)
    raise BackendError(f"unknown backend {spec.kind!r}", hint=f"use one of: {', '.join(BACKEND_KINDS)}")
