"""KV-cache reuse across chat turns.

A conversation's next rendered prompt usually extends the previous one (earlier turns, the reply, the
new user turn). :class:`PromptCacheState` keeps the model's KV cache and the tokens it holds; for the next
prompt only the part after the longest common token prefix is prefilled. A template change or an edited
message shortens the common prefix, and the cache is trimmed back to it (or rebuilt).

The cache is lent to one request at a time (:meth:`PromptCacheState.take`) and given back when the reply
ends (:meth:`PromptCacheState.give_back`), whether it finished, stopped or was cancelled. It belongs to
one model load (its serial), never to a model object's ``id``, which Python may reuse.
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
        self._serial: int | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget everything (e.g. when the conversation is cleared)."""
        with self._lock:
            self.tokens, self._cache, self._serial = [], None, None

    def take(self, serial: int, tokens: list[int]) -> tuple[list[Any] | None, list[int], int]:
        """Borrow the cache for a prompt of ``tokens`` on model load ``serial``.

        Returns the cache to extend (None: start a fresh one), the tokens still to prefill (at least one,
        so the model produces the next-token logits), and how many prompt tokens are reused.
        """
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        with self._lock:
            cache, held = self._cache, self.tokens
            usable = self.enabled and cache is not None and self._serial == serial
            self.tokens, self._cache, self._serial = [], None, None  # lent out until give_back
        if not usable:
            return None, list(tokens), 0
        keep = min(common_prefix_len(held, tokens), len(tokens) - 1)
        if keep < len(held):
            if not can_trim_prompt_cache(cache):
                return None, list(tokens), 0
            trim_prompt_cache(cache, len(held) - keep)
        if keep == 0:
            return None, list(tokens), 0
        return cache, list(tokens[keep:]), keep

    def give_back(self, serial: int, cache: list[Any] | None, tokens: list[int]) -> None:
        """Keep ``cache`` (holding exactly ``tokens``) for the next turn."""
        if not self.enabled or cache is None:
            return
        offset = getattr(cache[0], "offset", None) if cache else None
        if not isinstance(offset, int) or offset != len(tokens):
            return  # cannot tell what the cache holds: do not risk reusing it
        with self._lock:
            self.tokens, self._cache, self._serial = list(tokens), cache, serial
