"""The scheduler unit of a vision-language model: one request at a time, decoded by mlx-vlm's ``generate_step``.

It is the scheduler's solo unit with another start (:meth:`VisionUnit.add`): the scheduler turns its tokens into
the same typed events as for text models (stop reasons, stop strings, cancel, statistics, token probabilities).

KV-cache reuse across turns: the cache is given back tagged with the images whose tokens it holds. The
next turn reuses it only when the new part of the prompt has no image tokens and the images before it are
the same files; a Qwen-VL model then gets its multimodal positions computed from the whole prompt, as
mlx-vlm's own prompt cache does. Anything else prefills from scratch (and the stats say so).
"""

from __future__ import annotations

from typing import Any

from .units import SoloUnit


class _TaggedCache(list):
    """A KV cache (list of layer caches) that remembers which images' tokens it holds."""

    images: tuple[str, ...] = ()


class VisionUnit(SoloUnit):
    """One request on a vision-language model (mlx-vlm), a token a step: the scheduler's solo unit, started
    with mlx-vlm's ``generate_step`` (pixel values, multimodal positions) instead of mlx-lm's."""

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
        self._cache = cache
        self._prompt = full
        self.ticket = ticket
        self._steps = generate_step(
            mx.array([ids]),
            model,
            pixel_values,
            mask,
            max_tokens=ticket.max_tokens,
            sampler=ticket.sampler,
            logits_processors=ticket.processors,  # mlx-vlm gives them the generated tokens only
            prompt_cache=cache,
            **kwargs,
        )
