"""A reply (:class:`~playground.reply.ReplyState`) as the OpenAI API answers: a whole ``chat.completion`` /
``text_completion`` object, or the chunks of a stream.

Chat replies carry the answer in ``content``, the reasoning in ``reasoning_content`` and in ``reasoning`` (the name
mlx_lm.server uses), the parsed ``tool_calls`` (arguments as a JSON string, as OpenAI sends them), ``finish_reason``
(``tool_calls`` when the reply stopped on a call) and ``usage`` with ``prompt_tokens_details.cached_tokens`` (the
prompt tokens whose KV cache was reused). Log-probabilities are those of the generated tokens (the stop token left
out), each with its top alternatives.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..events import TokenInfo
from ..reply import ReplyState
from .schema import CHAT, ApiCall


def _token_entry(info: TokenInfo, top: int) -> dict[str, Any]:
    def one(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": round(logprob, 6), "bytes": list(text.encode("utf-8"))}

    entry = one(info.text, info.logprob)
    entry["top_logprobs"] = [one(t.text, t.logprob) for t in info.top[:top]]
    return entry


def finish_reason(state: ReplyState) -> str | None:
    """OpenAI's finish reason: ``tool_calls`` for a reply that ended on a call, ``stop`` or ``length``."""
    reason = state.finish_reason
    if reason is None:
        return None
    if reason in ("stop", "cancelled"):
        return "tool_calls" if state.tool_calls else "stop"
    return reason


def usage(state: ReplyState) -> dict[str, Any]:
    final = state.final
    prompt = final.prompt_tokens if final is not None else state.prepared.prompt_tokens
    generated = state.generated_tokens
    cached = final.reused_tokens if final is not None else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


class Answer:
    """Builds the answer objects of one request (its id, creation time and tool-call ids stay the same throughout)."""

    def __init__(self, call: ApiCall, model: str):
        self.call = call
        self.model = model
        self.chat = call.endpoint == CHAT
        self.id = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self._call_ids: list[str] = []
        self._streamed_calls = 0
        self._streamed_chars = 0  # text reported with log-probabilities so far (completions' text offsets)

    # ------------------------------------------------------------------ pieces

    def _tokens(self, state: ReplyState, tokens: tuple[TokenInfo, ...] | list[TokenInfo]) -> list[TokenInfo]:
        """The tokens to report: the stop token (an EOS that ended the reply) is not part of it."""
        tokens = list(tokens)
        eos = set(state.prepared.eos.ids)
        if state.done and tokens and state.finish_reason == "stop" and tokens[-1].id in eos and tokens[-1].special:
            tokens = tokens[:-1]
        return tokens

    def logprobs(self, tokens: list[TokenInfo], offset: int = 0) -> dict[str, Any] | None:
        """Chat: ``{"content": [...]}``; completions: tokens, their log-probabilities, top alternatives and text
        offsets (from ``offset``)."""
        top = self.call.top_logprobs
        if top is None:
            return None
        if self.chat:
            return {"content": [_token_entry(t, top) for t in tokens]}
        offsets, at = [], offset
        for info in tokens:
            offsets.append(at)
            at += len(info.text)
        return {
            "tokens": [t.text for t in tokens],
            "token_logprobs": [round(t.logprob, 6) for t in tokens],
            "top_logprobs": [{a.text: round(a.logprob, 6) for a in t.top[:top]} for t in tokens],
            "text_offset": offsets,
        }

    def call_id(self, index: int, given: str | None) -> str:
        while len(self._call_ids) <= index:
            self._call_ids.append("")
        if not self._call_ids[index]:
            self._call_ids[index] = given or f"call_{uuid.uuid4().hex[:24]}"
        return self._call_ids[index]

    def tool_call(self, index: int, call: Any) -> dict[str, Any]:
        return {
            "id": self.call_id(index, call.id),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }

    def message(self, state: ReplyState) -> dict[str, Any]:
        """The assistant message of a chat reply."""
        calls = [self.tool_call(i, c) for i, c in enumerate(state.tool_calls)]
        message: dict[str, Any] = {"role": "assistant", "content": state.content or (None if calls else "")}
        if state.reasoning is not None:
            message["reasoning_content"] = message["reasoning"] = state.reasoning
        if calls:
            message["tool_calls"] = calls
        return message

    # ------------------------------------------------------------------ whole answers

    def whole(self, state: ReplyState) -> dict[str, Any]:
        """The non-streamed answer."""
        logprobs = self.logprobs(self._tokens(state, state.tokens))
        if self.chat:
            choice = {"index": 0, "message": self.message(state), "logprobs": logprobs}
        else:
            choice = {"index": 0, "text": state.text, "logprobs": logprobs}
        choice["finish_reason"] = finish_reason(state)
        return {**self._head(""), "choices": [choice], "usage": usage(state)}

    def _head(self, suffix: str) -> dict[str, Any]:
        kind = ("chat.completion" if self.chat else "text_completion") + suffix
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    # ------------------------------------------------------------------ streams

    def _chunk(self, delta_or_text: Any, logprobs: Any = None, finish: str | None = None) -> dict[str, Any]:
        if self.chat:
            choice = {"index": 0, "delta": delta_or_text, "logprobs": logprobs, "finish_reason": finish}
            return {**self._head(".chunk"), "choices": [choice]}
        choice = {"index": 0, "text": delta_or_text, "logprobs": logprobs, "finish_reason": finish}
        return {**self._head(""), "choices": [choice]}

    def opening(self) -> list[dict[str, Any]]:
        """The first chunk of a chat stream (the role)."""
        return [self._chunk({"role": "assistant", "content": ""})] if self.chat else []

    def step(self, state: ReplyState) -> list[dict[str, Any]]:
        """The chunks of the last step of a streamed reply (its parsed pieces, with their tokens' probabilities)."""
        tokens = self._tokens(state, state.new_tokens)
        logprobs = self.logprobs(tokens, self._streamed_chars) if tokens else None
        self._streamed_chars += sum(len(t.text) for t in tokens)
        if not self.chat:
            return [self._chunk(state.new_text, logprobs)] if state.new_text or logprobs else []
        chunks = []
        for delta in state.deltas:
            if delta.kind == "tool_call" and delta.tool_call is not None:
                index, self._streamed_calls = self._streamed_calls, self._streamed_calls + 1
                body = {"tool_calls": [{"index": index, **self.tool_call(index, delta.tool_call)}]}
            elif delta.text and delta.kind == "reasoning":
                body = {"reasoning_content": delta.text, "reasoning": delta.text}
            elif delta.text and delta.kind == "content":
                body = {"content": delta.text}
            else:
                continue
            chunks.append(self._chunk(body))
        if logprobs is not None:
            if chunks:
                chunks[0]["choices"][0]["logprobs"] = logprobs
            else:
                chunks.append(self._chunk({}, logprobs))
        return chunks

    def closing(self, state: ReplyState) -> list[dict[str, Any]]:
        """The finishing chunk, and the usage chunk when the client asked for it (``stream_options``)."""
        chunks = [self._chunk({} if self.chat else "", None, finish_reason(state))]
        if self.call.include_usage:
            chunks.append({**self._head(".chunk" if self.chat else ""), "choices": [], "usage": usage(state)})
        return chunks
