"""A request's steering, decided while it is prepared: the compiled constraint and the thinking plan.

:func:`plan_steering` checks everything that can be wrong before a token is generated (the constraint compiles
for this tokenizer, the reply being continued fits it, the tools exist) and returns a :class:`SteeringPlan`; the
scheduler makes one :class:`~playground.constraints.processor.SteeringProcessor` from it per reply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConstraintError
from .grammar import answer_part, build_grammar, check_grammar, lltokenizer
from .spec import Constraint
from .thinking import ThinkingPlan, thinking_plan


@dataclass(frozen=True)
class SteeringPlan:
    """What steers one reply: a constraint on the answer (as an llguidance grammar) and/or a thinking budget."""

    constraint: Constraint | None
    grammar: str | None
    thinking: ThinkingPlan | None
    budget: int | None
    eos_ids: tuple[int, ...]
    resume_ids: tuple[int, ...] = ()  # continue: the reply so far, fed to the constraint first
    notes: tuple[str, ...] = ()
    tokenizer: Any = field(default=None, repr=False, compare=False)  # llguidance's, when there is a grammar

    @property
    def after_thinking(self) -> bool:
        return self.thinking is not None and self.thinking.start != "answer"

    def summary(self) -> dict[str, Any]:
        """JSON-friendly (``render --json``, ``generate --json``)."""
        return {
            "constraint": self.constraint.to_dict() if self.constraint is not None else None,
            "thinking_budget": self.budget,
            "applies": "after the thinking" if self.after_thinking else "from the start of the reply",
            "thinking": self.thinking.summary() if self.thinking is not None else None,
            "resumes_after_tokens": len(self.resume_ids),
        }


def plan_steering(
    loaded: Any,
    request: Any,
    *,
    budget: int | None,
    prompt: str,
    reasoning: str,
    tool_calls: str,
    eos_ids: tuple[int, ...],
) -> SteeringPlan | None:
    """The steering of ``request`` (a :class:`~playground.prepare.ChatRequest`) for ``loaded``; None when the
    request has neither a constraint nor a thinking budget.

    Raises:
        ConstraintError: the constraint does not compile for this tokenizer, the tools it names are missing, or
            the reply being continued does not fit it.
    """
    constraint = request.constraint
    if constraint is None and budget is None:
        return None
    notes: list[str] = []
    thinking = thinking_plan(reasoning, prompt, loaded.tokenizer)
    resume = _continued_text(request)
    if thinking is not None and thinking.start == "undecided" and resume:
        thinking = dataclasses.replace(thinking, start="answer")  # the answer has begun
    if budget is not None and (thinking is None or thinking.start == "answer"):
        why = "this template's family has no thinking format" if thinking is None else "the reply starts as answer"
        notes.append(f"the thinking budget has no effect: {why}")
        budget = None
    if thinking is not None and thinking.start == "undecided" and constraint is not None and not thinking.open_ids:
        notes.append(
            "the family's opening thinking tag is not one token in this vocabulary: under the constraint the reply "
            "cannot start with a thinking block"
        )
    if constraint is None:
        return SteeringPlan(None, None, thinking, budget, tuple(eos_ids), notes=tuple(notes))
    if not eos_ids:
        raise ConstraintError(
            "a constrained reply needs an EOS token to end on, and this request has none",
            hint="turn EOS wiring on",
        )
    ll = lltokenizer(loaded)
    vocab = loaded.tokenizer.get_vocab()
    part = answer_part(constraint, request.tools, tool_calls, (ll, vocab))
    grammar = build_grammar(part, leading_newlines=thinking is not None)
    check_grammar(grammar, ll, constraint)
    _check_start(grammar, ll, constraint)
    resume_ids = _resume(grammar, ll, resume) if resume and (thinking is None or thinking.start == "answer") else ()
    return SteeringPlan(constraint, grammar, thinking, budget, tuple(eos_ids), resume_ids, tuple(notes), ll)


def _check_start(grammar: str, ll: Any, constraint: Constraint) -> None:
    """Refuse a constraint no text can satisfy (its first step allows no token, e.g. the regex ``a[b&&c]``)."""
    import numpy as np
    from llguidance import LLMatcher

    matcher = LLMatcher(ll, grammar)
    allowed = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
    allowed[[i for i in ll.eos_tokens if i < allowed.shape[0]]] = 0
    if not allowed.any() and not matcher.is_accepting():
        raise ConstraintError(
            f"no text can satisfy the {constraint.describe()} constraint: it allows no first token",
            hint="check it for an impossible part (an empty character class, contradictory schema keywords)",
        )


def _continued_text(request: Any) -> str:
    """The text of the assistant message a ``continue`` request resumes ("" otherwise)."""
    if not request.continue_final or not request.messages or request.raw_prompt is not None:
        return ""
    last = request.messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return ""
    content = last.get("content") or ""
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return content if isinstance(content, str) else ""


def _resume(grammar: str, ll: Any, text: str) -> tuple[int, ...]:
    """The reply so far as tokens the constraint accepts; an error when it does not fit."""
    from llguidance import LLMatcher

    ids = ll.tokenize_str(text)
    matcher = LLMatcher(ll, grammar)
    taken = matcher.try_consume_tokens(ids)
    if taken < len(ids):
        good = ll.decode_str(ids[:taken])
        raise ConstraintError(
            f"the reply being continued does not fit the constraint after {len(good)} characters "
            f"({text[len(good) : len(good) + 20]!r} is not allowed there)",
            hint="edit the reply so far so that it fits the constraint, or remove the constraint",
        )
    return tuple(ids)
