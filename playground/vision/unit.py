"""The scheduler unit of a vision-language model: one request at a time, decoded by mlx-vlm's ``generate_step``.

It has the interface of the scheduler's solo unit (``add``, ``step``, ``remove``, ``__len__``, ``close``,
``batchable``, ``ticket``): the scheduler turns its tokens into the same typed events as for text models
(stop reasons, stop strings, cancel, statistics, token probabilities).

KV-cache reuse across turns: the cache is given back tagged with the images whose tokens it holds. The
next turn reuses it only when the new part of the prompt has no image tokens and the images before it are
the same files; a Qwen-VL model then gets its multimodal positions computed from the whole prompt, as
mlx-vlm's own prompt cache does. Anything else prefills from scratch (and the stats say so).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..settings import make_logits_processors, make_sampler


class _TaggedCache(list):
    """A KV cache (list of layer caches) that remembers which images' tokens it holds."""

    images: tuple[str, ...] = ()


class VisionUnit:
    """One request on a vision-language model (mlx-vlm), a token a step."""

    batchable = False

    def __init__(self, loaded: Any):
        self.loaded = loaded
        self.ticket: Any = None
        self._steps: Iterator | None = None
        self._cache: list | None = None
        self._prompt: list[int] = []

    # ------------------------------------------------------------------ reuse

    def _image_ids(self) -> set[int]:
        runtime = self.loaded.vision
        return {i for i in (runtime.image_token_id, runtime.video_token_id) if i is not None}

    def _reusable(self, cache: Any, vision: Any, suffix: list[int]) -> bool:
        if not isinstance(cache, _TaggedCache):
            return False
        if self._image_ids() & set(suffix):
            return False
        wanted = vision.fingerprints if vision is not None else ()
        return cache.images[: len(wanted)] == wanted

    def _positions(self, full: list[int], vision: Any) -> dict[str, Any]:
        """Multimodal positions of the whole prompt (Qwen-VL), for a prefill that starts after a cached prefix."""
        import mlx.core as mx

        language = self.loaded.model.language_model
        get_rope_index = getattr(language, "get_rope_index", None)
        if not callable(get_rope_index):
            return {}
        extra = vision.extra if vision is not None else {}
        position_ids, rope_deltas = get_rope_index(
            mx.array([full]), extra.get("image_grid_thw"), extra.get("video_grid_thw"), None
        )
        return {"position_ids": position_ids, "rope_deltas": rope_deltas}

    # ------------------------------------------------------------------ unit interface

    def add(self, ticket: Any, cache: list | None, suffix: list[int], prefix: list[int]) -> None:
        import mlx.core as mx
        from mlx_vlm.generate import generate_step
        from mlx_vlm.models.cache import make_prompt_cache

        prepared = ticket.prepared
        vision = prepared.vision
        full = prefix + suffix
        model = self.loaded.model
        kwargs: dict[str, Any] = {}
        pixel_values = mask = None
        if prefix and cache is not None and self._reusable(cache, vision, suffix):
            ids = suffix
            kwargs.update(self._positions(full, vision))
        else:
            cache = _TaggedCache(make_prompt_cache(model.language_model))
            ids = full
            ticket.reused = 0
            ticket.prefill_tokens = len(full)
            if vision is not None:
                pixel_values, mask = vision.pixel_values, vision.mask
                kwargs.update(vision.extra)
        cache.images = vision.fingerprints if vision is not None else ()
        settings = prepared.settings
        self._cache = cache
        self._prompt = full
        self.ticket = ticket
        self._steps = generate_step(
            mx.array([ids]),
            model,
            pixel_values,
            mask,
            max_tokens=ticket.max_tokens,
            sampler=make_sampler(settings, ticket.seed),
            logits_processors=make_logits_processors(settings),
            prompt_cache=cache,
            **kwargs,
        )

    def step(self) -> list[tuple[Any, str, Any]]:
        ticket = self.ticket
        if ticket is None or self._steps is None:
            return []
        try:
            token, logprobs = next(self._steps)
        except StopIteration:  # the token limit inside generate_step
            token, logprobs = None, None
        finish = None
        if token is None:
            finish = "length"
        elif token in ticket.prepared.eos.ids:
            finish = "stop"
        elif ticket.generated + 1 >= ticket.max_tokens:
            finish = "length"
        cache = tokens = None
        if finish is not None:
            cache, tokens = self._release(ticket.produced + ([int(token)] if token is not None else []))
        return [(ticket, "token", (token, logprobs, finish, cache, tokens))]

    def _release(self, produced: list[int]) -> tuple[list | None, list[int]]:
        """Close the generator and say what the cache holds (generate_step feeds each token it yields)."""
        from mlx_lm.models.cache import trim_prompt_cache

        if self._steps is not None:
            self._steps.close()
        self._steps = None
        self.ticket = None
        cache, sequence = self._cache, self._prompt + produced
        self._cache = None
        offset = getattr(cache[0], "offset", None) if cache else None
        if not isinstance(offset, int):
            return None, []
        if offset > len(sequence):
            trim_prompt_cache(cache, offset - len(sequence))
            offset = len(sequence)
        return cache, sequence[:offset]

    def remove(self, ticket: Any) -> tuple[list | None, list[int]]:
        if self.ticket is not ticket:
            return None, []
        return self._release(list(ticket.produced))

    def __len__(self) -> int:
        return 1 if self.ticket is not None else 0

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None
