"""The local backend: mlx-lm in this process, all requests of a model decoded together."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ...events import GenerationEvent
from ...prepare import PreparedChat
from ..spec import BackendSpec
from .prompt_cache import PromptCache


class LocalBackend:
    """Generation on this machine through the engine's scheduler (one worker thread, batched decoding)."""

    def __init__(self, spec: BackendSpec, scheduler: Any):
        self.spec = spec
        self.scheduler = scheduler

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,
    ) -> Iterator[GenerationEvent]:
        return self.scheduler.submit(prepared, cancel=cancel, cache=cache)

    def close(self) -> None:
        """Nothing to close: the scheduler belongs to the engine."""

    def check(self) -> dict[str, Any]:
        from .blas import ensure_fast_blas

        blas = ensure_fast_blas()  # before mlx.core is imported: the BLAS it loads is what MLX then uses
        import mlx.core as mx

        return {
            "backend": "local",
            "mlx": getattr(mx, "__version__", "?"),
            "device": str(mx.default_device()),
            "blas": blas.describe(),
            "max_batch": self.scheduler.max_batch,
        }
