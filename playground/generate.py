"""Generation in three layers, like mlx-lm's:

1. :func:`token_stream`: mlx-lm's ``stream_generate`` with our sampler and logits processors;
2. :func:`stream_events`: typed :class:`GenerationEvent` s (text delta, token, timing, memory), stop
   strings, cancellation and a final event with the finish reason and the exact stop token;
3. :func:`generate`: the whole reply as one :class:`GenerationResult`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .blas import ensure_fast_blas
from .errors import SettingsError
from .settings import GenerationSettings, make_logits_processors, make_sampler

FINISH_REASONS = ("stop", "length", "cancelled")


@dataclass(frozen=True)
class GenerationEvent:
    """One step of a reply; the last one has ``finish_reason`` set."""

    text: str
    token: int | None
    prompt_tokens: int
    generation_tokens: int
    ttft_s: float
    prompt_tps: float
    generation_tps: float
    peak_memory_gb: float
    finish_reason: str | None = None
    stop_token: str | None = None
    reused_tokens: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def stats(self) -> dict[str, Any]:
        """Timing and counts, JSON-friendly."""
        return {
            "finish_reason": self.finish_reason,
            "stop_token": self.stop_token,
            "prompt_tokens": self.prompt_tokens,
            "generation_tokens": self.generation_tokens,
            "reused_tokens": self.reused_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "prompt_tps": round(self.prompt_tps, 2),
            "generation_tps": round(self.generation_tps, 2),
            "peak_memory_gb": round(self.peak_memory_gb, 4),
        }


@dataclass(frozen=True)
class GenerationResult:
    """A whole reply and the final event's statistics."""

    text: str
    final: GenerationEvent
    events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Tokenize a rendered prompt the way mlx-lm does (no second BOS when the prompt has one)."""
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not prompt.startswith(bos)
    return list(tokenizer.encode(prompt, add_special_tokens=add_special))


def check_context(prompt_tokens: int, max_tokens: int, context_length: int) -> tuple[int, list[str]]:
    """Refuse prompts that do not fit; shorten max_tokens that would overflow (with a warning)."""
    if prompt_tokens >= context_length:
        raise SettingsError(
            f"the prompt is {prompt_tokens:,} tokens; the model's context is {context_length:,} tokens",
            hint="shorten the conversation (clear older turns) or the system prompt",
        )
    room = context_length - prompt_tokens
    if max_tokens > room:
        return room, [f"max tokens lowered from {max_tokens} to {room} to fit the {context_length}-token context"]
    return max_tokens, []


def token_stream(
    model: Any,
    tokenizer: Any,
    prompt: list[int],
    settings: GenerationSettings,
    prompt_cache: list[Any] | None = None,
) -> Iterator[Any]:
    """Layer 1: mlx-lm's ``stream_generate`` with the sampler and logits processors for ``settings``."""
    ensure_fast_blas()
    import mlx.core as mx
    from mlx_lm import stream_generate

    if settings.seed is not None:
        mx.random.seed(settings.seed)
    kwargs: dict[str, Any] = {
        "sampler": make_sampler(settings),
        "logits_processors": make_logits_processors(settings),
    }
    if prompt_cache is not None:
        kwargs["prompt_cache"] = prompt_cache
    yield from stream_generate(model, tokenizer, mx.array(prompt), max_tokens=settings.max_tokens, **kwargs)


def stream_events(
    model: Any,
    tokenizer: Any,
    prompt: str | list[int],
    settings: GenerationSettings,
    *,
    cancel: threading.Event | None = None,
    context_length: int | None = None,
    prompt_cache: list[Any] | None = None,
    reused_tokens: int = 0,
    total_prompt_tokens: int | None = None,
    record: list[int] | None = None,
) -> Iterator[GenerationEvent]:
    """Layer 2: typed events. ``settings`` must be resolved (see ``GenerationSettings.resolve``).

    With ``prompt_cache``, ``prompt`` holds only the tokens not already in the cache (``reused_tokens``
    of them are); ``total_prompt_tokens`` is then the full prompt length, for context checks and stats.
    ``record`` receives every token id mlx-lm produced (for the prompt cache's bookkeeping).
    """
    tokens = encode_prompt(tokenizer, prompt) if isinstance(prompt, str) else list(prompt)
    total = total_prompt_tokens if total_prompt_tokens is not None else len(tokens)
    warnings: list[str] = []
    if context_length:
        max_tokens, warnings = check_context(total, settings.max_tokens, context_length)
        if max_tokens != settings.max_tokens:
            settings = dataclasses.replace(settings, max_tokens=max_tokens)
    stops = settings.stop
    hold = max((len(s) for s in stops), default=1) - 1
    full = ""
    emitted = 0
    started = time.perf_counter()
    ttft = 0.0
    last = None
    finish: str | None = None
    stop_token: str | None = None
    stopped_by_string = False

    def event(text: str, response: Any, **extra: Any) -> GenerationEvent:
        return GenerationEvent(
            text=text,
            token=int(response.token) if response is not None else None,
            prompt_tokens=total,
            generation_tokens=response.generation_tokens if response is not None else 0,
            ttft_s=ttft,
            prompt_tps=response.prompt_tps if response is not None else 0.0,
            generation_tps=response.generation_tps if response is not None else 0.0,
            peak_memory_gb=response.peak_memory if response is not None else 0.0,
            reused_tokens=reused_tokens,
            **extra,
        )

    stream = token_stream(model, tokenizer, tokens, settings, prompt_cache)
    try:
        for response in stream:
            if last is None:
                ttft = time.perf_counter() - started
            last = response
            if record is not None:
                record.append(int(response.token))
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
            full += response.text
            if stops:
                window = max(0, emitted - hold)
                hits = [(full.find(s, window), s) for s in stops]
                hits = [(i, s) for i, s in hits if i >= 0]
                if hits:
                    index, stop_token = min(hits)
                    finish, stopped_by_string = "stop", True
                    if index > emitted:
                        yield event(full[emitted:index], response)
                    emitted = index
                    break
            if response.finish_reason is not None:
                finish = response.finish_reason
                if finish == "stop":
                    stop_token = tokenizer.convert_ids_to_tokens(int(response.token))
                break
            safe = len(full) - hold if stops else len(full)
            if safe > emitted:
                yield event(full[emitted:safe], response)
                emitted = safe
    finally:
        stream.close()
    if finish is None:  # the stream ended without a final response (max_tokens reached inside mlx-lm)
        finish = "length"
    tail = "" if finish == "cancelled" or stopped_by_string else full[emitted:]
    yield event(tail, last, finish_reason=finish, stop_token=stop_token, warnings=tuple(warnings))


def generate(
    model: Any, tokenizer: Any, prompt: str | list[int], settings: GenerationSettings, **kwargs: Any
) -> GenerationResult:
    """Layer 3: the whole reply."""
    parts = []
    count = 0
    final = None
    for ev in stream_events(model, tokenizer, prompt, settings, **kwargs):
        parts.append(ev.text)
        count += 1
        final = ev
    assert final is not None
    return GenerationResult(text="".join(parts), final=final, events=count)
