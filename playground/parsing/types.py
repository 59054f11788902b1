"""The values the reply parsers produce: tool calls, streamed pieces (Deltas) and the parsed reply."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

DeltaKind = Literal["reasoning", "content", "tool_call"]


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for.

    `arguments` is a dict when the arguments parse as a JSON object, else the raw text the model wrote
    (the parse error is then in `ParsedReply.errors`). `raw` is the exact text the call was parsed from.
    """

    name: str
    arguments: dict | str
    id: str | None = None
    raw: str = ""

    def arguments_json(self) -> str:
        """The arguments as a JSON string (raw text arguments are returned unchanged)."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)

    def to_message_dict(self, *, json_arguments: bool = False) -> dict:
        """The OpenAI / transformers shape: {"type": "function", "id"?: ..., "function": {"name", "arguments"}}.

        Arguments stay a dict unless `json_arguments` is set (some templates, e.g. DeepSeek R1 / V3.1, paste
        `arguments` into the prompt as a string and need JSON text there).
        """
        arguments = self.arguments_json() if json_arguments else self.arguments
        out: dict = {"type": "function"}
        if self.id is not None:
            out["id"] = self.id
        out["function"] = {"name": self.name, "arguments": arguments}
        return out


@dataclass(frozen=True)
class Delta:
    """One streamed piece of a reply.

    kind "content": answer text; "reasoning": thinking text; "tool_call": one complete call (`tool_call` is set,
    `text` is the raw call text, which a UI may show but never as answer text).

    An empty reasoning Delta (text "") marks that a reasoning block has opened.

    `replace` (only on reasoning Deltas): the reply turned out to have been reasoning from its very start (the `think`
    family, when the prompt did not open a `<think>` block and the reply contains a bare `</think>`, like
    DeepSeek-R1 replies). Everything streamed before as content or tool calls was in fact reasoning: discard it, and
    take `text` as the whole reasoning so far. `join_deltas` applies this rule.
    """

    kind: DeltaKind
    text: str = ""
    tool_call: ToolCall | None = None
    replace: bool = False


@dataclass(frozen=True)
class ParsedReply:
    """A reply split into answer text, reasoning and tool calls."""

    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    raw: str
    errors: tuple[str, ...] = ()

    def to_message(self, *, json_arguments: bool = False) -> dict:
        """An assistant message: {"role": "assistant", "content", "reasoning_content"?, "tool_calls"?}.

        `content` is always a string ("" when the reply was only tool calls or only reasoning);
        `reasoning_content` is present when the reply had a reasoning part (even an empty one).
        """
        message: dict = {"role": "assistant", "content": self.content}
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [call.to_message_dict(json_arguments=json_arguments) for call in self.tool_calls]
        return message


def join_deltas(deltas: Iterable[Delta]) -> tuple[str, str | None, tuple[ToolCall, ...]]:
    """Rebuild (content, reasoning, tool_calls) from a stream of Deltas, the way a UI showing them would.

    Equals (parsed.content, parsed.reasoning, parsed.tool_calls) of the same reply.
    """
    content: list[str] = []
    reasoning: list[str] | None = None
    calls: list[ToolCall] = []
    for delta in deltas:
        if delta.kind == "content":
            content.append(delta.text)
        elif delta.kind == "reasoning":
            if delta.replace:
                content, calls, reasoning = [], [], []
            if reasoning is None:
                reasoning = []
            reasoning.append(delta.text)
        elif delta.tool_call is not None:
            calls.append(delta.tool_call)
    return "".join(content), None if reasoning is None else "".join(reasoning), tuple(calls)


class Segments:
    """Text made of segments (reasoning blocks, harmony messages), accumulated as it streams.

    `value` is None until the first segment begins. With `strip_newlines`, each segment loses its leading and
    trailing newlines (trailing ones are held back until more text follows). Non-empty segments are joined by `sep`.
    """

    def __init__(self, *, strip_newlines: bool, sep: str = "\n\n") -> None:
        self.strip_newlines = strip_newlines
        self.sep = sep
        self.value: str | None = None
        self._held = ""
        self._fresh = False

    def begin(self) -> None:
        if self.value is None:
            self.value = ""
        self._fresh = True
        self._held = ""

    def add(self, text: str) -> str:
        """Add text to the current segment; returns the text to emit now."""
        if self.strip_newlines:
            if self._fresh:
                text = text.lstrip("\n")
            combined = self._held + text
            body = combined.rstrip("\n")
            self._held = combined[len(body):]
        else:
            body = text
        if not body:
            return ""
        if self._fresh:
            if self.value:
                body = self.sep + body
            self._fresh = False
        self.value = (self.value or "") + body
        return body

    def end(self) -> None:
        self._held = ""
        self._fresh = False
