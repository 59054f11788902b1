"""KV-cache reuse: across a conversation's turns, and across requests and sessions by longest common token prefix.

A conversation's next rendered prompt usually extends the previous one (earlier turns, the reply, the
new user turn). :class:`PromptCacheState` keeps one conversation's KV cache and the tokens it holds; for the
next prompt only the part after the longest common token prefix is prefilled. A template change or an edited
message shortens the common prefix, and the cache is trimmed back to it (or rebuilt).

:class:`SharedPromptCache` is the engine's pool of KV caches of finished requests, shared by every request and
session: mlx-lm's ``LRUPromptCache`` (the multi-prompt cache of ``mlx_lm.server``), which finds the entry with the
longest common token prefix, hands out a copy (MLX copies lazily: the copy shares the buffers until it is written)
trimmed to that prefix, and evicts the oldest entries beyond its byte bound. So an agent that sends the same long
system prompt and tool list prefills it once, and a Compare column or another session with the same start reuses it.
A conversation's own cache (``PromptCacheState(shared=pool)``) also lends its entries to the pool and takes the
pool's when those reach further.

Caches are lent to one request at a time (``take``) and given back when the reply ends (``give_back``), whether it
finished, stopped or was cancelled. They belong to one model load (its serial), never to a model object's ``id``,
which Python may reuse.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

#: Bytes of KV cache the shared pool keeps by default (``--prompt-cache-bytes``).
DEFAULT_PROMPT_CACHE_BYTES = 2 * 1024**3
#: Entries the shared pool keeps at most (each a finished request's prompt and reply).
DEFAULT_PROMPT_CACHE_ENTRIES = 64


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _holds(cache: list[Any] | None, tokens: list[int]) -> bool:
    """Whether ``cache`` visibly holds exactly ``tokens`` (its offset says so)."""
    offset = getattr(cache[0], "offset", None) if cache else None
    return isinstance(offset, int) and offset == len(tokens)


class SharedPromptCache:
    """The engine's KV caches of finished requests, found by longest common token prefix (thread-safe).

    ``max_bytes`` bounds what it keeps (0 keeps nothing); beyond it the oldest entries go first.
    """

    def __init__(self, max_bytes: int = DEFAULT_PROMPT_CACHE_BYTES, max_entries: int = DEFAULT_PROMPT_CACHE_ENTRIES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be at least 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._pool: Any = None  # mlx-lm's LRUPromptCache, made on first use (it imports MLX)
        self._lock = threading.Lock()

    @property
    def _lru(self) -> Any:
        if self._pool is None:
            from mlx_lm.models.cache import LRUPromptCache

            self._pool = LRUPromptCache(max_size=self.max_entries, max_bytes=self.max_bytes)
        return self._pool

    @property
    def nbytes(self) -> int:
        return self._pool.nbytes if self._pool is not None else 0

    def __len__(self) -> int:
        return len(self._pool) if self._pool is not None else 0

    def take(self, serial: int, tokens: list[int]) -> tuple[list[Any] | None, list[int], int]:
        """A copy of the cache sharing the longest prefix with ``tokens`` on model load ``serial``, trimmed to it.

        Returns the cache (None: start a fresh one), the tokens still to prefill (at least one, so the model
        produces the next-token logits) and how many prompt tokens are reused. The pool keeps its entry.
        """
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        if self.max_bytes == 0 or not tokens:
            return None, list(tokens), 0
        with self._lock:
            cache, rest = self._lru.fetch_nearest_cache(serial, list(tokens))
        if cache is None:
            return None, list(tokens), 0
        reused = len(tokens) - len(rest)
        if reused >= len(tokens):  # the whole prompt is cached: feed its last token again
            if not can_trim_prompt_cache(cache):
                return None, list(tokens), 0
            trim_prompt_cache(cache, 1)
            reused = len(tokens) - 1
        if reused <= 0:
            return None, list(tokens), 0
        return cache, list(tokens[reused:]), reused

    def give_back(self, serial: int, cache: list[Any] | None, tokens: list[int]) -> None:
        """Keep ``cache`` (holding exactly ``tokens``) for later requests; an entry it extends is dropped."""
        if self.max_bytes == 0 or not _holds(cache, tokens) or not all(hasattr(c, "nbytes") for c in cache):
            return  # unknown contents, or a cache that cannot say its size (the byte bound needs it)
        with self._lock:
            self._lru.insert_cache(serial, list(tokens), cache)

    def reset(self) -> None:
        """Forget every entry."""
        with self._lock:
            if self._pool is not None:
                self._pool.trim_to(n_sequences=0)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self), "bytes": self.nbytes, "max_bytes": self.max_bytes}


class PromptCacheState:
    """One conversation's KV cache, lent to its requests without copying. With ``shared`` (the engine's pool), what
    it gives back is also offered to the pool, and a request takes the pool's cache when that shares a longer
    prefix with its prompt (another session's, an API request's, a Compare column's)."""

    def __init__(self, enabled: bool = True, shared: SharedPromptCache | None = None):
        self.enabled = enabled
        self.shared = shared
        self.tokens: list[int] = []
        self._cache: list[Any] | None = None
        self._serial: int | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget this conversation's cache (e.g. when it is cleared); the shared pool keeps its entries."""
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
        keep = min(common_prefix_len(held, tokens), len(tokens) - 1) if usable else 0
        if self.enabled and self.shared is not None:
            pooled = self.shared.take(serial, tokens)
            if pooled[2] > keep:
                return pooled
        if keep < len(held) and keep > 0:
            if not can_trim_prompt_cache(cache):
                return None, list(tokens), 0
            trim_prompt_cache(cache, len(held) - keep)
        if keep == 0:
            return None, list(tokens), 0
        return cache, list(tokens[keep:]), keep

    def give_back(self, serial: int, cache: list[Any] | None, tokens: list[int]) -> None:
        """Keep ``cache`` (holding exactly ``tokens``) for the next turn (and a lazy copy in the shared pool)."""
        if not self.enabled or not _holds(cache, tokens):
            return  # cannot tell what the cache holds: do not risk reusing it
        if self.shared is not None:
            self.shared.give_back(serial, copy.deepcopy(cache), tokens)
        with self._lock:
            self.tokens, self._cache, self._serial = list(tokens), cache, serial


#: What the scheduler lends KV caches from: one conversation's, or the engine's shared pool.
PromptCache = PromptCacheState | SharedPromptCache
