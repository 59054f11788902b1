"""gpt-oss "harmony" replies: a sequence of messages, each a header and a body.

    <|channel|>analysis<|message|>thinking...<|end|>
    <|start|>assistant<|channel|>final<|message|>the answer<|return|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"P"}<|call|>
    <|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city":"P"}<|call|>

The generation prompt ends with ``<|start|>assistant``, so the reply starts with the first message's header. The
``analysis`` channel is reasoning; ``final`` and ``commentary`` without a recipient (a preamble shown to the user) are
answer text; a message with a recipient (``to=functions.NAME``, or a built-in such as ``to=browser.search`` or
``to=python``) is a tool call whose body is the arguments (JSON for functions). ``<|end|>``, ``<|return|>`` and
``<|call|>`` end a message; the engine usually stops on ``<|return|>`` / ``<|call|>``, so the last one may be
missing. Leniency: a reply that does not start with a header is answer text; a ``<|start|>`` or ``<|channel|>``
inside a body ends that message.

Reasoning messages are stripped of surrounding newlines and joined by a blank line; answer messages are kept exact
and joined by a blank line too. Tool-call names drop the ``functions.`` prefix; built-ins keep the full recipient.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ._scan import WHITESPACE, find_first, partial_tag_len
from .types import Segments, ToolCall

START, CHANNEL, MESSAGE, CONSTRAIN = "<|start|>", "<|channel|>", "<|message|>", "<|constrain|>"
END, RETURN, CALL = "<|end|>", "<|return|>", "<|call|>"
_HEADER_STARTS = (CHANNEL, CONSTRAIN, MESSAGE, "to=")
_BODY_ENDS = (END, RETURN, CALL, START, CHANNEL)

_CHANNEL_RE = re.compile(r"<\|channel\|>\s*([^\s<]+)")
_RECIPIENT_RE = re.compile(r"\bto=([^\s<]+)")
_JSON_TYPE_RE = re.compile(r"<\|constrain\|>\s*json|<\|channel\|>\s*\S+\s+json\b")


@dataclass(frozen=True)
class Header:
    channel: str | None
    recipient: str | None
    json: bool

    @classmethod
    def parse(cls, text: str) -> Header:
        channel = _CHANNEL_RE.search(text)
        recipient = _RECIPIENT_RE.search(text)
        to = recipient.group(1) if recipient else None
        return cls(
            channel.group(1) if channel else None,
            None if to == "assistant" else to,
            bool(_JSON_TYPE_RE.search(text)),
        )


@dataclass(frozen=True)
class PromptState:
    """Where the prompt leaves the harmony stream: in a header (`header` holds its text so far) or in a body."""

    header: str = ""
    fresh: bool = True  # nothing of the next header is fixed yet (the reply may still turn out to be plain text)
    in_body: bool = False
    channel: str | None = None
    recipient: str | None = None


def prompt_state(prompt: str) -> PromptState:
    i = prompt.rfind(START)
    if i < 0:
        return PromptState()
    tail = prompt[i + len(START):]
    if any(tag in tail for tag in (END, RETURN, CALL)):
        return PromptState()
    if MESSAGE in tail:
        header = Header.parse(tail[: tail.index(MESSAGE)])
        return PromptState(in_body=True, channel=header.channel, recipient=header.recipient)
    return PromptState(header=tail, fresh=CHANNEL not in tail)


class HarmonyParser:
    """Incremental harmony parser; events like the other parsers: ("reasoning" | "content", text),
    ("tool_call", ToolCall), ("error", message)."""

    def __init__(self, prompt: str = "") -> None:
        self.reasoning = Segments(strip_newlines=True)
        self.content = Segments(strip_newlines=False)
        self.calls = 0
        self._buf = ""
        self._events: list = []
        self._search_from = 0  # where to resume looking for the end of a tool-call body
        state = prompt_state(prompt)
        self._header_text = state.header  # header text carried over from the prompt
        self._header_raw = ""
        self._fresh = state.fresh
        self._in_body = False
        self._header = Header(None, None, False)
        if state.in_body:
            self._begin_body(Header(state.channel, state.recipient, False), "")

    def feed(self, text: str) -> list:
        self._buf += text
        self._run(final=False)
        return self._take()

    def finish(self) -> list:
        self._run(final=True)
        return self._take()

    def _take(self) -> list:
        events, self._events = self._events, []
        return events

    def _run(self, final: bool) -> None:
        while True:
            if self._in_body:
                if not self._body(final):
                    return
                continue
            if self._fresh:
                i = 0
                while i < len(self._buf) and self._buf[i] in WHITESPACE:
                    i += 1
                rest = self._buf[i:]
                if not rest:
                    if final:
                        self._buf = ""
                    return
                if rest.startswith(START):
                    self._buf = rest[len(START):]
                    self._fresh = False
                    self._header_text, self._header_raw = "", START
                    continue
                if rest.startswith(_HEADER_STARTS):
                    self._fresh = False  # the header text keeps its spaces (" to=...")
                    continue
                if not final and any(tag.startswith(rest) for tag in (*_HEADER_STARTS, START)):
                    return
                self._fresh = False  # plain text: a message without a header
                self._begin_body(Header("final", None, False), "")
                continue
            j = self._buf.find(MESSAGE)
            if j < 0:
                if final:
                    unfinished = self._header_raw + self._buf
                    if unfinished.strip(WHITESPACE):
                        self._events.append(("error", f"harmony header was not finished: {unfinished!r}"))
                    self._buf = ""
                return
            header = self._header_text + self._buf[:j]
            raw = self._header_raw + self._buf[: j + len(MESSAGE)]
            self._buf = self._buf[j + len(MESSAGE):]
            self._begin_body(Header.parse(header), raw)

    def _begin_body(self, header: Header, raw: str) -> None:
        self._in_body = True
        self._header = header
        self._header_raw = raw
        self._header_text = ""
        if header.recipient:
            return
        if header.channel == "analysis":
            self.reasoning.begin()
            self._events.append(("reasoning", ""))
        else:
            self.content.begin()

    def _end_body(self, tag: str) -> None:
        """End the current message at `tag` (which is still at the start of the buffer)."""
        self._in_body = False
        self.reasoning.end()
        self.content.end()
        if tag in (START, CHANNEL):
            self._fresh = tag == START
            self._header_text, self._header_raw = "", ""
        else:
            self._buf = self._buf[len(tag):]
            self._fresh = True

    def _body(self, final: bool) -> bool:
        i, tag = find_first(self._buf, _BODY_ENDS, self._search_from if self._header.recipient else 0)
        if self._header.recipient:
            if i < 0 and not final:
                self._search_from = max(0, len(self._buf) - max(map(len, _BODY_ENDS)) + 1)
                return False
            self._search_from = 0
            text = self._buf if i < 0 else self._buf[:i]
            end = "" if tag in ("", START, CHANNEL) else tag
            self._tool_call(text, self._header_raw + text + end)
            self._buf = self._buf[len(text):]
            if i < 0:
                self._in_body = False
                self._fresh = True
                return True
            self._end_body(tag)
            return True
        if i < 0:
            keep = 0 if final else partial_tag_len(self._buf, _BODY_ENDS)
            self._text(self._buf[: len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep:]
            if final:
                if self._header.channel == "analysis":
                    self._events.append(("error", "reasoning was not closed (no <|end|>)"))
                self._in_body = False
                self.reasoning.end()
                self.content.end()
            return False
        self._text(self._buf[:i])
        self._buf = self._buf[i:]
        self._end_body(tag)
        return True

    def _text(self, text: str) -> None:
        if not text:
            return
        if self._header.channel == "analysis":
            out = self.reasoning.add(text)
            if out:
                self._events.append(("reasoning", out))
        else:
            out = self.content.add(text)
            if out:
                self._events.append(("content", out))

    def _tool_call(self, body: str, raw: str) -> None:
        recipient = self._header.recipient or ""
        name = recipient.removeprefix("functions.")
        number = self.calls + 1
        try:
            value = json.loads(body)
        except ValueError as exc:
            value, error = body, f"is not valid JSON: {exc}"
        else:
            error = None if isinstance(value, dict) else "has arguments that are not a JSON object"
            if not isinstance(value, dict):
                value = body
        if error and (recipient.startswith("functions.") or self._header.json):
            self._events.append(("error", f"tool call {number} {error}"))
        self._events.append(("tool_call", ToolCall(name=name, arguments=value, raw=raw)))
        self.calls += 1
