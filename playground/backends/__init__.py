"""Where tokens come from: one protocol, several backends.

Every backend turns a :class:`~playground.prepare.PreparedChat` (our exact rendered prompt and its
settings) into the same typed :class:`~playground.events.GenerationEvent` stream. ``local`` decodes with
mlx-lm in this process (batched, see :mod:`playground.scheduler`); ``openai`` and ``ollama`` send the
rendered prompt as raw text to an inference server's completions endpoint, so the server applies no
template of its own. The UI and the CLI never know which one they talk to, except to show it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol

from ..errors import BackendError
from ..events import GenerationEvent
from ..prepare import BackendSpec, PreparedChat
from ..prompt_cache import PromptCacheState

#: Backend kinds, in the order the CLI and the UI offer them.
BACKEND_KINDS = ("local", "openai", "ollama")


class Backend(Protocol):
    """A source of tokens for prepared requests."""

    spec: BackendSpec

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCacheState | None = None,
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
        from .local import LocalBackend

        return LocalBackend(spec, scheduler)
    if spec.kind == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.kind == "ollama":
        from .ollama import OllamaBackend

        return OllamaBackend(spec)
    raise BackendError(f"unknown backend {spec.kind!r}", hint=f"use one of: {', '.join(BACKEND_KINDS)}")
