"""The typed results of generation, shared by every backend (local mlx-lm, mlx-vlm, HTTP servers).

A backend turns a :class:`~playground.prepare.PreparedChat` into a stream of :class:`GenerationEvent`:
text deltas as they are produced, then one final event with ``finish_reason`` set and the statistics.
With token probabilities requested, each event also carries one :class:`TokenInfo` per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenAlternative:
    """One candidate token at a step: its text, id and log-probability."""

    text: str
    id: int
    logprob: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "id": self.id, "logprob": round(self.logprob, 6)}


@dataclass(frozen=True)
class TokenInfo:
    """One generated token and the distribution it was drawn from.

    The log-probabilities are those of the logits after the logits processors (repetition, presence and
    frequency penalties), normalised, before the sampler's temperature / top-p / top-k / min-p filtering.
    ``eos_logprob`` is the log of the total probability of the request's EOS tokens at that step: how much
    the model wanted to stop there.

    Under a constraint or a thinking budget (:mod:`playground.constraints`) the processors include the mask, so
    the probabilities are over the allowed tokens (P(EOS) is 0 where the grammar may not end). ``allowed`` is how
    many tokens the step allowed (None: a free step), ``forced`` says why the token was the only choice
    (``"constraint"`` or ``"thinking budget"``), and ``wanted`` is the model's own top token that the mask
    removed, with its log-probability before the mask.
    """

    text: str
    id: int
    logprob: float
    top: tuple[TokenAlternative, ...] = ()
    eos_logprob: float | None = None
    special: bool = False
    allowed: int | None = None
    forced: str | None = None
    wanted: TokenAlternative | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "text": self.text,
            "id": self.id,
            "logprob": round(self.logprob, 6),
            "top": [t.to_dict() for t in self.top],
            "eos_logprob": None if self.eos_logprob is None else round(self.eos_logprob, 6),
        }
        if self.allowed is not None:
            out.update(allowed=self.allowed, forced=self.forced, wanted=self.wanted.to_dict() if self.wanted else None)
        return out


@dataclass(frozen=True)
class GenerationEvent:
    """One step of a reply; the last one has ``finish_reason`` set: ``stop`` (an EOS token or a stop string,
    named in ``stop_token``), ``length`` (the token limit) or ``cancelled`` (Stop, or the caller went away).

    ``batch_size`` is the largest batch the request decoded in so far. ``status`` tells where it is:
    ``queued`` (waiting for a free batch slot, at ``queue_position``), ``prefill`` (its prompt is being
    processed), ``generating``, or ``done``.
    """

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
    tokens: tuple[TokenInfo, ...] = ()
    status: str = "generating"
    queue_position: int | None = None
    seed: int | None = None
    batch_size: int = 1
    error: str | None = None
    source: str = "local"
    steering: dict[str, Any] | None = None  # on the final event: what the constraint / thinking budget did

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
            "seed": self.seed,
            "batch_size": self.batch_size,
            "source": self.source,
            **({"steering": self.steering} if self.steering is not None else {}),
        }
