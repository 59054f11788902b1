"""The reply as it grows: the one loop over a generation's events, parsed into what every edge draws.

:meth:`Engine.reply <playground.engine.Engine.reply>` turns a :class:`~playground.prepare.PreparedChat` into a
stream of :class:`ReplyState`: the raw text, the reasoning, the answer and the tool calls (split by the family's
parsers as the text streams), the tokens with their probabilities, the progress (queued, prefill, generating)
and, at the end, the statistics and the finish reason. A failure never escapes as an exception: it ends the
reply with ``error`` set (a :class:`~playground.errors.PlaygroundError` with a hint) and whatever was generated
before it kept, called partial. Chat, every Compare column, the Notebook, the CLI, the bench and the API only
draw these states; :meth:`ReplyState.message` is the one builder of the assistant message a reply becomes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationError, PlaygroundError
from .events import GenerationEvent, TokenInfo
from .parsing import Delta, ParsedReply, ReplyParser, ToolCall
from .prepare import PreparedChat

log = logging.getLogger(__name__)

#: Finish reason of a reply that ended with an error (the events' own reasons: stop, length, cancelled).
ERROR = "error"


def _text_of(content: Any) -> str:
    """The text of a message's content (a string, or the text blocks of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


@dataclass
class ReplyState:
    """One reply, as far as it has come. Mutated in place by :meth:`Engine.reply`, which yields it after every event.

    ``continues`` is the assistant message a Continue extends (its text is in the prompt): the reply is parsed
    together with it, so a reasoning block or a tool call the earlier part opened is recognised, and
    :meth:`message` returns the whole message.
    """

    prepared: PreparedChat
    continues: dict | None = None
    text: str = ""
    tokens: list[TokenInfo] = field(default_factory=list)
    event: GenerationEvent | None = None
    final: GenerationEvent | None = None
    error: PlaygroundError | None = None
    done: bool = False
    events: int = 0  # how many events the stream sent (a streamed reply sends one per token or chunk)
    #: What the last step added: raw text, parsed pieces (reasoning, content, tool calls) and tokens.
    new_text: str = ""
    deltas: list[Delta] = field(default_factory=list)
    new_tokens: tuple[TokenInfo, ...] = ()
    _parser: ReplyParser | None = field(default=None, repr=False)
    _prefix: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        prepared = self.prepared
        if prepared.raw:
            return
        base = self.continues
        prefix = _text_of(base.get("content")) if base else ""
        if prefix and prepared.text.endswith(prefix):  # parse the reply together with the text it continues
            before = prepared.text[: len(prepared.text) - len(prefix)]
            self._parser = prepared.parser(prompt=before)
            self._parser.feed(prefix)
        else:
            self._parser = prepared.parser()
            self._prefix = prefix

    # ------------------------------------------------------------------ the engine's side

    def add(self, event: GenerationEvent) -> None:
        """One event of the stream (the parser finishes with the final one)."""
        self.event = event
        self.events += 1
        self.new_text = event.text
        self.new_tokens = event.tokens
        self.text += event.text
        self.tokens.extend(event.tokens)
        self.deltas = self._parser.feed(event.text) if self._parser is not None and event.text else []
        if event.done:
            self.final = event
            self.finish()

    def fail(self, error: PlaygroundError) -> None:
        self.error = error
        self.new_text, self.new_tokens, self.deltas = "", (), []

    def finish(self) -> None:
        """The stream ended: flush what the parser held back."""
        if self.done:
            return
        self.done = True
        if self._parser is not None:
            self.deltas = [*self.deltas, *self._parser.finish()]

    # ------------------------------------------------------------------ what edges draw

    @property
    def parsed(self) -> ParsedReply:
        """Reasoning, answer and tool calls so far (raw mode: all text is answer)."""
        if self._parser is None:
            return ParsedReply(content=self.text, reasoning=None, tool_calls=(), raw=self.text)
        return self._parser.result()

    @property
    def content(self) -> str:
        return self._prefix + self.parsed.content

    @property
    def reasoning(self) -> str | None:
        return self.parsed.reasoning

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.parsed.tool_calls

    @property
    def generated_tokens(self) -> int:
        """Tokens generated so far (from the backend's count, so it holds without token probabilities too)."""
        return self.event.generation_tokens if self.event is not None else 0

    @property
    def finish_reason(self) -> str | None:
        """``stop``, ``length``, ``cancelled`` (from the backend) or ``error``; None while it runs."""
        if self.error is not None:
            return ERROR
        return self.final.finish_reason if self.final is not None else None

    @property
    def partial(self) -> bool:
        """It ended with an error after producing something: what came is kept, but it is not the whole reply."""
        return self.error is not None and bool(self.text or self.generated_tokens)

    @property
    def produced(self) -> bool:
        """Anything to keep: answer text, reasoning or a tool call."""
        parsed = self.parsed
        return bool(parsed.content or parsed.reasoning or parsed.tool_calls)

    @property
    def cancelled_early(self) -> bool:
        """Never finished normally, or stopped before its first token: nothing of it is worth showing."""
        final = self.final
        return final is None or (final.finish_reason == "cancelled" and not final.generation_tokens)

    def message(self) -> dict[str, Any]:
        """The assistant message this reply becomes in the conversation, shaped as the template wants it:
        ``reasoning_content`` when the reply reasoned, ``tool_calls`` with arguments as an object or, for
        templates that paste them as text (the preset's ``tool_arguments``), a JSON string. A continued
        message keeps its other keys, reasoning and tool calls."""
        parsed = self.parsed
        base = self.continues or {}
        message = {k: v for k, v in base.items() if k not in ("content", "reasoning_content", "tool_calls")}
        message["role"] = "assistant"
        message["content"] = self._prefix + parsed.content
        reasoning = parsed.reasoning
        if base.get("reasoning_content"):
            reasoning = base["reasoning_content"] + (reasoning or "")
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        calls = list(base.get("tool_calls") or [])
        json_arguments = self.prepared.json_tool_arguments
        calls += [call.to_message_dict(json_arguments=json_arguments) for call in parsed.tool_calls]
        if calls:
            message["tool_calls"] = calls
        return message

    def stats(self) -> dict[str, Any]:
        """The final statistics (JSON-friendly), with the finish reason and the error if any."""
        data = self.final.stats() if self.final is not None else {"generation_tokens": self.generated_tokens}
        data["finish_reason"] = self.finish_reason
        if self.error is not None:
            data["error"] = self.error.message
            data["partial"] = self.partial
        return data


def run_reply(
    prepared: PreparedChat, events: Iterator[GenerationEvent], *, continues: dict | None = None
) -> Iterator[ReplyState]:
    """Drive ``events`` into one :class:`ReplyState`, yielded after every event and once more, ``done``, at the end.

    Closing this generator (a consumer that stops reading) closes ``events``, which cancels the generation.
    """
    state = ReplyState(prepared, continues=continues)
    try:
        for event in events:  # read to its end: closing a stream before its end cancels the request
            state.add(event)
            if not state.done:
                yield state
    except PlaygroundError as exc:
        state.fail(exc)
    except Exception as exc:  # never raised into a server or a page: the reply ends with the error
        log.exception("generation failed")
        state.fail(
            GenerationError(
                f"generation failed: {type(exc).__name__}: {exc}", hint="try again; if it persists, reload the model"
            )
        )
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    state.finish()
    yield state
