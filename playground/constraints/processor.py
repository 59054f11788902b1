"""The per-reply logits processor: thinking runs free (a budget forces its end), the answer follows the grammar.

mlx-lm calls a logits processor as ``processor(tokens, logits)`` with every token of the sequence so far (prompt
included) and the next step's logits, once per step; in a ``BatchGenerator`` each sequence has its own processors,
so a constrained reply decodes in the same batch as free ones. The processor keys its state on how many tokens it
has seen: a step asked again for the same length (a request moving from ``generate_step`` into a batch replays the
step it threw away) gets the same mask, and tokens are fed to the grammar exactly once.

At each step it decides: free (the logits untouched), one token forced (the thinking budget's end marker), or a
set of allowed tokens (the grammar's mask; EOS only where the grammar may end). With ``explain`` it keeps, per
step, what the token view shows: how many tokens were allowed, whether the token was forced, and the model's top
token before the mask (:meth:`SteeringProcessor.take_note`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .plan import SteeringPlan

BUDGET = "thinking budget"
CONSTRAINT = "constraint"


@dataclass
class StepNote:
    """What steering did at one step (for the token view)."""

    allowed: int
    forced: str | None  # "constraint" (one token allowed) or "thinking budget"; None when not forced
    mask: np.ndarray  # bool per token id
    top: Any = None  # mx.array: the model's top token id before the mask
    top_logprob: Any = None  # mx.array: its log-probability before the mask

    def removed(self, token_id: int) -> bool:
        return token_id >= self.mask.shape[0] or not bool(self.mask[token_id])


@dataclass
class _Decision:
    allowed: np.ndarray  # bool per token id of the tokenizer (padded or cut to the logits' width when applied)
    count: int
    forced: str | None


class SteeringProcessor:
    """One reply's steering; see the module doc. ``tokenizer`` is the model's (for the thinking end marker)."""

    def __init__(self, plan: SteeringPlan, tokenizer: Any, prompt_tokens: int, *, explain: bool = False):
        self.plan = plan
        self.explain = explain
        self.seen = prompt_tokens
        thinking = plan.thinking
        self.phase = thinking.start if thinking is not None else "answer"
        self.in_body = thinking.starts_in_body if thinking is not None else False
        self.thought = 0
        self.forcing: list[int] = []
        self.forced_count = 0
        self.masked = 0
        self.mask_seconds = 0.0
        self.error: str | None = None
        self.error_at: int | None = None  # the sequence index of the first token the steering could not vouch for
        self.notes: dict[int, StepNote] = {}
        self._tokenizer = tokenizer
        self._tail = ""
        self._pieces: dict[int, str] = {}
        self._decision: tuple[int, _Decision | None] | None = None
        self._eos = set(plan.eos_ids)
        self.matcher = None
        if plan.grammar is not None:
            from llguidance import LLMatcher

            self.matcher = LLMatcher(plan.tokenizer, plan.grammar)
            if plan.resume_ids:
                self.matcher.consume_tokens(list(plan.resume_ids))
            self._all_eos = sorted(self._eos | set(plan.tokenizer.eos_tokens))

    # ------------------------------------------------------------------ mlx-lm's interface

    def __call__(self, tokens: Any, logits: Any) -> Any:
        if self.phase == "answer" and self.matcher is None:
            return logits  # a budget only, and the thinking is over
        length = int(tokens.shape[-1])
        if self._decision is None or self._decision[0] != length:
            if length > self.seen:
                import mlx.core as mx

                mx.async_eval(logits)  # the forward pass runs while the grammar computes the mask
                for token in tokens[self.seen : length].tolist():
                    self._advance(int(token))
                    self.seen += 1  # the index of the next token
            self._decision = (length, self._decide())
        decision = self._decision[1]
        if decision is None:
            return logits
        return self._apply(logits, decision, length)

    # ------------------------------------------------------------------ state

    def complete(self) -> bool:
        """Whether the constraint is satisfied by what was generated (always, without a constraint)."""
        return self.matcher is None or (self.phase == "answer" and self.matcher.is_accepting())

    def take_note(self, position: int) -> StepNote | None:
        """The note of the step that produced the token at ``position`` (removed once read)."""
        return self.notes.pop(position, None)

    def stats(self) -> dict[str, Any]:
        """What the final event reports about the steering."""
        plan = self.plan
        out: dict[str, Any] = {**plan.summary(), "masked_tokens": self.masked, "forced_tokens": self.forced_count}
        if plan.thinking is not None:
            out["thinking_tokens"] = self.thought
        if self.matcher is not None:
            out["complete"] = self.complete()
            out["mask_ms_per_token"] = round(1000 * self.mask_seconds / self.masked, 4) if self.masked else 0.0
        if self.error:
            out["error"] = self.error
        return out

    def _piece(self, token: int) -> str:
        if token not in self._pieces:
            self._pieces[token] = self._tokenizer.decode([token])
        return self._pieces[token]

    def _advance(self, token: int) -> None:
        if token in self._eos:
            return  # the reply ends here
        if self.phase == "answer":
            self._feed(token)
            return
        if self.phase == "undecided":
            if token in self.plan.thinking.open_ids:
                self.phase = "thinking"
                return
            self._feed(token)
            if self._piece(token).strip():  # whitespace may still come before a block (GLM writes "\n<think>")
                self.phase = "answer"
            return
        self._think(token)

    def _feed(self, token: int) -> None:
        if self.matcher is not None and not self.error and not self.matcher.consume_token(token):
            self.error = self.matcher.get_error() or f"the constraint rejected token {token}"
            self.error_at = self.seen

    def _think(self, token: int) -> None:
        thinking = self.plan.thinking
        if self.forcing and token == self.forcing[0]:
            self.forcing.pop(0)
        else:
            self.thought += 1
        self._tail = (self._tail + self._piece(token))[-4 * len(thinking.end_text) :]
        if thinking.body_text and self._tail.endswith(thinking.body_text):
            self.in_body = True
        if self._tail.endswith(thinking.end_text):
            self.phase = "answer"
            self.forcing = []

    # ------------------------------------------------------------------ masks

    def _decide(self) -> _Decision | None:
        if self.phase == "thinking":
            budget = self.plan.budget
            if budget is not None and not self.forcing and self.thought >= budget:
                self.forcing = list(self.plan.thinking.forced(self.in_body))
            if not self.forcing:
                return None
            allowed = np.zeros(self.forcing[0] + 1, dtype=bool)
            allowed[self.forcing[0]] = True
            self.forced_count += 1
            return _Decision(allowed, 1, BUDGET)
        if self.matcher is None or self.error:
            return None
        started = time.perf_counter()
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little").astype(bool)
        allowed[[i for i in self._all_eos if i < allowed.shape[0]]] = False
        if self.matcher.is_accepting():
            allowed[[i for i in self._eos if i < allowed.shape[0]]] = True
        if self.phase == "undecided":
            allowed[list(self.plan.thinking.open_ids)] = True
        self.mask_seconds += time.perf_counter() - started
        self.masked += 1
        count = int(allowed.sum())
        if count == 0:
            self.error = "the constraint allows no token here (and no EOS token)"
            self.error_at = self.seen
            return None
        self.forced_count += count == 1
        return _Decision(allowed, count, CONSTRAINT if count == 1 else None)

    def _apply(self, logits: Any, decision: _Decision, length: int) -> Any:
        import mlx.core as mx

        width = logits.shape[-1]
        mask = decision.allowed[:width]
        if mask.shape[0] < width:
            mask = np.concatenate([mask, np.zeros(width - mask.shape[0], dtype=bool)])
        if self.explain:
            top = mx.argmax(logits, axis=-1)
            top_logprob = mx.max(logits, axis=-1) - mx.logsumexp(logits, axis=-1)
            self.notes[length] = StepNote(decision.count, decision.forced, mask, top, top_logprob)
        return mx.where(mx.array(mask), logits, mx.array(-float("inf"), dtype=logits.dtype))
