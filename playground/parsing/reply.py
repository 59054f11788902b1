"""`ReplyParser`: reasoning splitter + tool-call extractor over a streamed reply; `parse_reply` for a whole one."""

from __future__ import annotations

from .harmony import HarmonyParser, prompt_state
from .reasoning import check_reasoning_format, make_splitter, tags_open
from .stages import make_tool_stage
from .tools import check_tool_call_format
from .types import Delta, ParsedReply, ToolCall


def reasoning_open(prompt: str, reasoning: str) -> bool:
    """True when `prompt` ends inside an unclosed reasoning block of this format, so the reply starts as reasoning.

    For the tag formats: the last opening tag comes after the last closing tag (``<think>\\n`` at the end of
    DeepSeek-R1 / QwQ / Qwen3-Thinking-2507 prompts; not Qwen3's ``<think>\\n\\n</think>\\n\\n``). For harmony: the
    prompt ends inside an ``analysis`` message body.
    """
    check_reasoning_format(reasoning)
    if reasoning == "harmony":
        state = prompt_state(prompt)
        return state.in_body and state.channel == "analysis" and not state.recipient
    return tags_open(prompt, reasoning)


class ReplyParser:
    """Incremental: feed text deltas as they stream (chunks split anywhere, even inside a tag), get Deltas back.

    `reasoning` is one of `REASONING_FORMATS`, `tool_calls` one of `TOOL_CALL_FORMATS`. `prompt` is the rendered
    prompt the reply continues; its end tells whether the reply starts inside an open reasoning block (e.g. the
    prompt ends with ``<think>\\n``) or, for harmony, inside which message header. `tools` are the request's declared
    function schemas: the formats parsed by mlx-lm type argument values by them.

    If either format is ``harmony``, the harmony parser handles the whole reply (reasoning and tool calls come from
    the same channel structure: ``analysis`` messages are reasoning and messages with a recipient are tool calls even
    when the other format is ``none``), and the other format must be ``harmony`` or ``none``.

    Streaming rules:

    - Content is emitted as soon as it cannot be the start of markup: only a possible partial tag at the end of the
      text so far is held back (with a tool-call format, also trailing whitespace, which may belong to a call's
      markup; for formats whose call is the whole reply, llama3 / glm4 / pythonic, the start of the reply until it
      is clear whether it is a call).
    - Reasoning streams live; a Delta("reasoning", "") marks that a block has opened. A reply whose prompt did not
      open a ``<think>`` block but that contains a bare ``</think>`` streams as content until the ``</think>``, then
      a Delta("reasoning", text, replace=True) says that all of it was reasoning (see `Delta`; `join_deltas`).
    - A tool call is emitted as one Delta("tool_call", raw text, tool_call) when it is complete.

    `result()` after `finish()` equals `parse_reply` of the whole text, however the text was split.
    """

    def __init__(
        self, reasoning: str = "none", tool_calls: str = "none", *, prompt: str = "", tools: list | tuple | None = None
    ) -> None:
        check_reasoning_format(reasoning)
        check_tool_call_format(tool_calls)
        self.tool_call_format = tool_calls
        self._declared_tools = tools
        self._raw: list[str] = []
        self._content: list[str] = []
        self._calls: list[ToolCall] = []
        self._errors: list[tuple[str, str]] = []
        self._finished = False
        self._harmony: HarmonyParser | None = None
        if "harmony" in (reasoning, tool_calls):
            other = tool_calls if reasoning == "harmony" else reasoning
            if other not in ("harmony", "none"):
                raise ValueError(f"the harmony format cannot be combined with {other!r}; use 'harmony' or 'none'")
            self._harmony = HarmonyParser(prompt)
        else:
            self._splitter = make_splitter(reasoning, inside=reasoning_open(prompt, reasoning))
            self._tools = make_tool_stage(tool_calls, tools)

    def feed(self, text: str) -> list[Delta]:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._raw.append(text)
        if self._harmony is not None:
            return self._merge(self._tool_events(self._harmony.feed(text)))
        return self._merge(self._splitter_events(self._splitter.feed(text)))

    def finish(self) -> list[Delta]:
        """Flush the text held back at the end of the stream. Calling it again returns []."""
        if self._finished:
            return []
        self._finished = True
        if self._harmony is not None:
            return self._merge(self._tool_events(self._harmony.finish()))
        deltas = self._splitter_events(self._splitter.finish())
        deltas += self._tool_events(self._tools.finish())
        return self._merge(deltas)

    def result(self) -> ParsedReply:
        """Everything parsed so far (the whole reply after `finish()`)."""
        if self._harmony is not None:
            content = self._harmony.content.value or ""
            reasoning = self._harmony.reasoning.value
        else:
            content = "".join(self._content)
            reasoning = self._splitter.reasoning.value
        return ParsedReply(
            content=content,
            reasoning=reasoning,
            tool_calls=tuple(self._calls),
            raw="".join(self._raw),
            errors=tuple(message for _, message in self._errors),
        )

    def _splitter_events(self, events: list) -> list[Delta]:
        deltas: list[Delta] = []
        for kind, value in events:
            if kind == "reasoning":
                deltas.append(Delta("reasoning", value))
            elif kind == "answer":
                deltas += self._tool_events(self._tools.feed(value))
            elif kind == "replace":
                self._tools = make_tool_stage(self.tool_call_format, self._declared_tools)
                self._content.clear()
                self._calls.clear()
                self._errors = [e for e in self._errors if e[0] != "tools"]
                deltas.append(Delta("reasoning", value, replace=True))
            else:
                self._errors.append(("reasoning", value))
        return deltas

    def _tool_events(self, events: list) -> list[Delta]:
        deltas: list[Delta] = []
        for kind, value in events:
            if kind == "content":
                self._content.append(value)
                deltas.append(Delta("content", value))
            elif kind == "reasoning":
                deltas.append(Delta("reasoning", value))
            elif kind == "tool_call":
                self._calls.append(value)
                deltas.append(Delta("tool_call", value.raw, value))
            else:
                self._errors.append(("tools", value))
        return deltas

    @staticmethod
    def _merge(deltas: list[Delta]) -> list[Delta]:
        """Join neighbouring text Deltas of the same kind (an empty reasoning Delta stays: it marks a block)."""
        merged: list[Delta] = []
        for delta in deltas:
            last = merged[-1] if merged else None
            if (
                last is not None
                and delta.kind == last.kind
                and delta.kind in ("content", "reasoning")
                and not delta.replace
                and delta.text
                and (last.text or delta.kind == "content")
            ):
                merged[-1] = Delta(last.kind, last.text + delta.text, replace=last.replace)
            else:
                merged.append(delta)
        return merged


def parse_reply(
    text: str, reasoning: str = "none", tool_calls: str = "none", *, prompt: str = "", tools: list | tuple | None = None
) -> ParsedReply:
    """Parse a whole reply; equal to feeding it to a `ReplyParser` in any chunks, then `finish()`."""
    parser = ReplyParser(reasoning, tool_calls, prompt=prompt, tools=tools)
    parser.feed(text)
    parser.finish()
    return parser.result()
