"""KV-cache reuse across chat turns.

A conversation's next rendered prompt usually extends the previous one (earlier turns, the reply, the
new user turn). :class:`PromptCacheState` keeps the model's KV cache and the tokens it holds; for the next
prompt only the part after the longest common token prefix is prefilled. A template change or an edited
message shortens the common prefix, and the cache is trimmed back to it (or rebuilt).
"""

from __future__ import annotations

import threading
from typing import Any


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PromptCacheState:
    """One conversation's KV cache. Not shared between sessions."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.tokens: list[int] = []
        self._cache: list[Any] | None = None
        self._model_id: int | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget everything (e.g. when the conversation is cleared)."""
        with self._lock:
            self.tokens, self._cache, self._model_id = [], None, None

    def prepare(self, model: Any, tokens: list[int]) -> tuple[list[Any], list[int], int]:
        """The cache to generate with, the tokens still to prefill, and how many were reused."""
        from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache

        with self._lock:
            fresh = (
                not self.enabled
                or self._cache is None
                or self._model_id != id(model)
                or not can_trim_prompt_cache(self._cache)
            )
            if fresh:
                self._cache, self._model_id, self.tokens = make_prompt_cache(model), id(model), []
            # Keep at least one prompt token to feed, so the model produces the next-token logits.
            keep = min(common_prefix_len(self.tokens, tokens), len(tokens) - 1)
            if keep < len(self.tokens):
                trim_prompt_cache(self._cache, len(self.tokens) - keep)
                self.tokens = self.tokens[:keep]
            return self._cache, tokens[keep:], keep

    def finish(self, prompt: list[int], generated: list[int]) -> None:
        """Record what the cache now holds: the prompt, then the generated tokens fed back into the model."""
        from mlx_lm.models.cache import trim_prompt_cache

        with self._lock:
            if self._cache is None:
                return
            sequence = prompt + generated
            offset = getattr(self._cache[0], "offset", None)
            if not isinstance(offset, int):
                self.tokens, self._cache = [], None
                return
            if offset > len(sequence):
                trim_prompt_cache(self._cache, offset - len(sequence))
                offset = len(sequence)
            self.tokens = sequence[:offset]
