"""Where a reply's thinking ends, per reasoning format: what a constraint waits for and what a budget forces.

A constraint applies to the answer, so for reasoning families the steering processor lets the thinking run free
and watches for its end marker; a thinking budget forces that marker after N thinking tokens. How the reply starts
comes from the prompt (:func:`playground.parsing.reasoning_open`): inside an open block (``thinking``), free to open
one (``undecided``: the tag formats, when the model writes its own ``<think>``), or in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..parsing import reasoning_open
from ..parsing.harmony import prompt_state
from ..parsing.reasoning import REASONING_TAGS

#: gpt-oss: the answer is the ``final`` channel's message; from inside an analysis message the model must close
#: it and open a final one, from an unfinished header only name the channel.
HARMONY_FINAL = "<|channel|>final<|message|>"
HARMONY_SWITCH = "<|end|><|start|>assistant" + HARMONY_FINAL
HARMONY_BODY = "<|message|>"


@dataclass(frozen=True)
class ThinkingPlan:
    """How one reply's thinking starts and ends (token ids of this tokenizer)."""

    start: str  # thinking | undecided | answer
    end_text: str  # seeing this text ends the thinking
    force_ids: tuple[int, ...]  # forced when the budget runs out inside a message body
    force_ids_before_body: tuple[int, ...]  # ... and before one started (harmony's header)
    body_text: str = ""  # harmony: the text that starts a message body
    open_ids: tuple[int, ...] = ()  # undecided: the token that opens a block
    starts_in_body: bool = False  # harmony: the prompt ends inside a message body

    def forced(self, in_body: bool) -> tuple[int, ...]:
        return self.force_ids if in_body or not self.body_text else self.force_ids_before_body

    def summary(self) -> dict[str, Any]:
        return {"starts": self.start, "end_marker": self.end_text}


def thinking_plan(reasoning: str, prompt: str, tokenizer: Any) -> ThinkingPlan | None:
    """The plan for a reply to ``prompt`` in the ``reasoning`` format (None: the format has no thinking)."""
    if reasoning == "none":
        return None

    def encode(text: str) -> tuple[int, ...]:
        return tuple(tokenizer.encode(text, add_special_tokens=False))

    if reasoning == "harmony":
        state = prompt_state(prompt)
        in_final = state.in_body and state.channel == "final" and not state.recipient
        return ThinkingPlan(
            start="answer" if in_final else "thinking",
            end_text=HARMONY_FINAL,
            force_ids=encode(HARMONY_SWITCH),
            force_ids_before_body=encode(HARMONY_FINAL),
            body_text=HARMONY_BODY,
            starts_in_body=state.in_body,
        )
    opens, closes, _ = REASONING_TAGS[reasoning]
    inside = reasoning_open(prompt, reasoning)
    closed = prompt.rstrip().endswith(closes[0])  # e.g. Qwen3's enable_thinking=false: <think>\n\n</think>\n\n
    vocab = tokenizer.get_vocab()
    open_ids = tuple(vocab[tag] for tag in opens if tag in vocab)
    closing = encode(closes[0])
    return ThinkingPlan(
        start="thinking" if inside else ("answer" if closed else "undecided"),
        end_text=closes[0],
        force_ids=closing,
        force_ids_before_body=closing,
        open_ids=open_ids,
    )
