"""Split a streamed reply into reasoning and answer text, per model-family reasoning format.

Formats (`REASONING_FORMATS`):

- ``none``: everything is answer text.
- ``think``: ``<think>...</think>`` (Qwen3, QwQ, DeepSeek-R1 and distills, DeepSeek-V3.1 thinking, GLM-4.5/4.6,
  SmolLM3, Phi-4-mini-reasoning, Kimi K2 thinking).
- ``granite``: Granite 3.x thinking, ``<think>...</think><response>...</response>``; the ``<response>`` tags are
  dropped from the answer (and may be missing).
- ``mistral``: ``[THINK]...[/THINK]`` (Magistral, Ministral 3 reasoning).
- ``harmony``: gpt-oss channels; handled by `playground.parsing.harmony` (it also carries the tool calls).
- ``gemma4``: Gemma 4's thought channel, ``<|channel>thought\\n...<channel|>``; with thinking off its generation
  prompt pre-fills an empty one (``<|channel>thought\\n<channel|>``), which leaves the block closed.
- ``seed``: Seed-OSS, ``<seed:think>...</seed:think>`` (budget reflections ``<seed:cot_budget_reflect>`` inside stay
  reasoning text).
- ``command-r7b``: Command R7B, ``<|START_THINKING|>plan<|END_THINKING|>`` then ``<|START_RESPONSE|>answer
  <|END_RESPONSE|>`` (the response tags are dropped) or a tool action.
- ``apertus``: Apertus deliberation, ``<|inner_prefix|>...<|inner_suffix|>``.
- ``solar-open``: Solar Open writes reasoning as its own message: ``<|think|>...<|end|>`` then
  ``<|begin|>assistant<|content|>answer`` (or ``<|begin|>assistant<|tool_calls|>...``). ``<|end|>`` also ends the
  answer message, so outside a block it is dropped like the message headers, never read as a bare closing tag.

Rules shared by the tag formats:

- The block may already be open when the reply starts: the prompt ended inside it (`reasoning_open`), e.g.
  DeepSeek-R1's generation prompt ``<｜Assistant｜><think>\\n``. The reply is then streamed as reasoning, and an
  opening tag the model repeats at the very start is dropped.
- Text before an opening tag is answer text (a preamble); a preamble made only of whitespace is dropped (GLM writes
  ``\\n<think>``).
- A bare closing tag while no block was ever opened (DeepSeek-R1-style replies whose prompt did not open the block)
  means everything before it was reasoning. The splitter cannot know this in advance, so it streams that text as
  answer text and, on seeing the closing tag, emits a ``("replace", reasoning)`` event: the receiver discards the
  answer text (and the tool calls) it has received so far and takes `reasoning` as the whole reasoning so far.
  A closing tag after a block was closed is dropped with an error note.
- Reasoning is stripped of its surrounding newlines (``.strip('\\n')``) and the answer right after a closing tag of
  its leading newlines (``.lstrip('\\n')``), as the families' templates do; everything else is kept byte-exact.
  Several blocks are joined with a blank line.
- A block still open at the end keeps all its text as reasoning, with the error "reasoning was not closed".

Events are tuples: ``("reasoning", text)`` (text "" marks that a block opened), ``("answer", text)``,
``("replace", reasoning)`` and ``("error", message)``.
"""

from __future__ import annotations

from ._scan import WHITESPACE, find_first, partial_tag_len
from .types import Segments

REASONING_FORMATS: tuple[str, ...] = (
    "none", "think", "granite", "mistral", "harmony", "gemma4", "seed", "command-r7b", "apertus", "solar-open",
)

# format -> (opening tags, closing tags, tags dropped from the answer)
REASONING_TAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "think": (("<think>",), ("</think>",), ()),
    "granite": (("<think>",), ("</think>",), ("<response>", "</response>")),
    "mistral": (("[THINK]",), ("[/THINK]",), ()),
    "gemma4": (("<|channel>thought",), ("<channel|>",), ()),
    "seed": (("<seed:think>",), ("</seed:think>",), ()),
    "command-r7b": (("<|START_THINKING|>",), ("<|END_THINKING|>",), ("<|START_RESPONSE|>", "<|END_RESPONSE|>")),
    "apertus": (("<|inner_prefix|>",), ("<|inner_suffix|>",), ()),
    "solar-open": (("<|think|>",), ("<|end|>",), ("<|begin|>assistant", "<|content|>", "<|flush|>")),
}
#: Formats whose closing tag also ends other messages: outside a block it is dropped (no reclassification, no error).
CLOSE_ENDS_MESSAGES = frozenset({"solar-open"})

Event = tuple[str, str]


def check_reasoning_format(reasoning: str) -> None:
    if reasoning not in REASONING_FORMATS:
        raise ValueError(f"unknown reasoning format {reasoning!r}; valid: {', '.join(REASONING_FORMATS)}")


def tags_open(prompt: str, reasoning: str) -> bool:
    """For the tag formats: True when the last opening tag of `prompt` comes after its last closing tag
    (``<think>\\n`` at the end of DeepSeek-R1 / QwQ / Qwen3-Thinking-2507 prompts; not Qwen3's
    ``<think>\\n\\n</think>\\n\\n``). See `playground.parsing.reply.reasoning_open` for every format."""
    check_reasoning_format(reasoning)
    if reasoning == "none" or not prompt:
        return False
    if reasoning == "harmony":
        raise ValueError("the harmony format is told by playground.parsing.harmony.prompt_state")
    opens, closes, _ = REASONING_TAGS[reasoning]
    last_open = max(prompt.rfind(tag) for tag in opens)
    last_close = max(prompt.rfind(tag) for tag in closes)
    return last_open > last_close


class PlainSplitter:
    """The ``none`` format: everything is answer text."""

    def __init__(self) -> None:
        self.reasoning = Segments(strip_newlines=True)  # never begun: value stays None

    def feed(self, text: str) -> list[Event]:
        return [("answer", text)] if text else []

    def finish(self) -> list[Event]:
        return []


class TagSplitter:
    """Reasoning delimited by tags (``think``, ``granite``, ``mistral``, ...); see the module docstring."""

    def __init__(self, reasoning: str, *, inside: bool = False) -> None:
        self.opens, self.closes, self.drops = REASONING_TAGS[reasoning]
        self._out_tags = self.opens + self.closes + self.drops
        self._close_ends_messages = reasoning in CLOSE_ENDS_MESSAGES
        self.reasoning = Segments(strip_newlines=True)
        self._buf = ""
        self._events: list[Event] = []
        self._inside = False
        self._blocks = 0
        self._may_reopen = False  # at the start of a block: a repeated opening tag is dropped
        self._lstrip_answer = False  # right after a closing tag
        self._leading = True  # nothing but whitespace seen before any block
        self._lead = ""  # that whitespace, held back
        self._before: list[str] = []  # answer text emitted while no block was seen (for reclassification)
        if inside:
            self._open_block()

    def feed(self, text: str) -> list[Event]:
        self._buf += text
        self._run(final=False)
        return self._take()

    def finish(self) -> list[Event]:
        self._run(final=True)
        if self._inside:
            self._events.append(("error", f"reasoning was not closed (no {self.closes[0]})"))
            self._inside = False
        self.reasoning.end()
        return self._take()

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _run(self, final: bool) -> None:
        while True:
            if self._inside:
                if self._may_reopen:
                    self._buf = self._buf.lstrip("\n")
                    tag = next((t for t in self.opens if self._buf.startswith(t)), None)
                    if tag:
                        self._buf = self._buf[len(tag):]
                        continue
                    if not final and any(t.startswith(self._buf) for t in self.opens):
                        return
                    self._may_reopen = False
                i, tag = find_first(self._buf, self.closes)
                if i >= 0:
                    self._reason(self._buf[:i])
                    self._buf = self._buf[i + len(tag):]
                    self._inside = False
                    self.reasoning.end()
                    self._lstrip_answer = True
                    continue
                keep = 0 if final else partial_tag_len(self._buf, self.closes)
                self._reason(self._buf[: len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep:]
                return
            i, tag = find_first(self._buf, self._out_tags)
            if i < 0:
                keep = 0 if final else partial_tag_len(self._buf, self._out_tags)
                self._answer(self._buf[: len(self._buf) - keep], final=final)
                self._buf = self._buf[len(self._buf) - keep:]
                return
            before, self._buf = self._buf[:i], self._buf[i + len(tag):]
            if tag in self.closes:
                if self._close_ends_messages:
                    self._answer(before)
                elif self._blocks == 0:
                    self._reclassify(before)
                else:
                    self._answer(before)
                    self._events.append(("error", f"stray {tag} ignored"))
            elif tag in self.opens:
                if self._leading and not (self._lead + before).strip(WHITESPACE):
                    self._lead, before = "", ""  # whitespace-only preamble
                self._answer(before, final=True)
                self._open_block()
            else:  # a dropped tag (granite <response>)
                self._answer(before)

    def _open_block(self) -> None:
        self._inside = True
        self._blocks += 1
        self._may_reopen = True
        self._leading = False
        self._lead = ""
        self._before = []
        self.reasoning.begin()
        self._events.append(("reasoning", ""))

    def _reclassify(self, before: str) -> None:
        text = "".join(self._before) + self._lead + before
        self._before, self._lead, self._leading = [], "", False
        self._blocks = 1
        self.reasoning.begin()
        self.reasoning.add(text)
        self.reasoning.end()
        self._lstrip_answer = True
        self._events.append(("replace", self.reasoning.value or ""))

    def _reason(self, text: str) -> None:
        if text:
            out = self.reasoning.add(text)
            if out:
                self._events.append(("reasoning", out))

    def _answer(self, text: str, *, final: bool = False) -> None:
        if self._lstrip_answer:
            text = text.lstrip("\n")
            if text:
                self._lstrip_answer = False
        if self._leading:
            text = self._lead + text
            self._lead = ""
            if not text.strip(WHITESPACE) and not final:
                self._lead = text
                return
            if text:
                self._leading = False
        if text:
            if self._blocks == 0:
                self._before.append(text)
            self._events.append(("answer", text))


def make_splitter(reasoning: str, *, inside: bool = False) -> PlainSplitter | TagSplitter:
    check_reasoning_format(reasoning)
    if reasoning == "none":
        return PlainSplitter()
    if reasoning == "harmony":
        raise ValueError("the harmony format is parsed by playground.parsing.harmony.HarmonyParser")
    return TagSplitter(reasoning, inside=inside)
