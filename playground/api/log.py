"""The request log: every API request kept (the last :data:`MAX_RECORDS`) with what it became.

A :class:`RequestRecord` holds the raw request JSON (secrets scrubbed), the :class:`~playground.prepare.PreparedChat`
(the exact prompt, its tokens, template and settings), the parsed reply (thinking, answer, tool calls), its tokens
with probabilities when asked for, the statistics (model, prompt and reply tokens, time to first token, tokens/s,
finish, prompt tokens reused from the KV cache) and :class:`Difference`: where this prompt first differs from the
same client's previous prompt and reply, the usual cause of a cache miss (past reasoning stripped from the history,
a date in the system prompt). The Requests tab draws it; the API never logs a token or key.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from ..events import TokenInfo
from ..prepare import PreparedChat
from ..reply import ReplyState

#: Requests kept in the log (the oldest are dropped first).
MAX_RECORDS = 200
#: Clients whose previous prompt is remembered (for the first difference).
MAX_CLIENTS = 256
#: Characters shown on each side of a difference.
CONTEXT_CHARS = 40
#: Request keys whose values are never kept (case-insensitive).
SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "api_token", "access_token", "password", "secret"})
MASK = "***"


def scrub(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """``value`` (JSON data) without secrets: values of secret-named keys masked, and every known secret masked
    wherever it appears in a string."""
    if isinstance(value, dict):
        return {k: MASK if str(k).lower() in SECRET_KEYS else scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
    return value


def _common_chars(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # binary search on prefix equality: fast on long prompts
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class Difference:
    """Where a prompt first differs from its client's previous prompt followed by that request's reply (what the
    KV cache holds after it)."""

    char: int  # first differing character of this prompt
    previous_prompt_chars: int
    previous_chars: int  # previous prompt + reply
    where: str  # "message 3 (assistant)", "the template's text", "the end of this prompt"
    before: str  # the previous text around the point
    now: str  # this prompt around the point
    cause: str

    @property
    def in_previous_reply(self) -> bool:
        return self.char >= self.previous_prompt_chars

    def to_dict(self) -> dict[str, Any]:
        return {
            "char": self.char,
            "previous_chars": self.previous_chars,
            "in_previous_reply": self.in_previous_reply,
            "where": self.where,
            "before": self.before,
            "now": self.now,
            "cause": self.cause,
        }


@dataclass(frozen=True)
class _Previous:
    prompt: str
    reply: str
    reasoning: str | None


def _where(prepared: PreparedChat, char: int) -> tuple[str, str | None]:
    if char >= len(prepared.text):
        return "the end of this prompt", None
    for segment in prepared.rendered.segments if prepared.rendered is not None else ():
        if segment.start <= char < segment.end:
            if segment.kind == "message" and segment.message is not None:
                return f"message {segment.message + 1} ({segment.role})", segment.role
            return "the template's text", None
    return "the prompt", None


def difference(previous: _Previous, prepared: PreparedChat) -> Difference:
    """Where ``prepared``'s prompt leaves ``previous`` (prompt + reply)."""
    held = previous.prompt + previous.reply
    text = prepared.text
    char = _common_chars(held, text)
    where, role = _where(prepared, char)
    before = held[max(0, char - CONTEXT_CHARS) : char + CONTEXT_CHARS]
    now = text[max(0, char - CONTEXT_CHARS) : char + CONTEXT_CHARS]
    if char >= len(held):
        cause = "none: this prompt extends the previous prompt and its reply, all of which the cache can reuse"
    elif char >= len(previous.prompt):
        if previous.reasoning and previous.reasoning.strip() and previous.reasoning.strip() not in text:
            cause = (
                "the previous reply's reasoning is not in this prompt (the client or the template dropped it): "
                "the cache of that reply cannot be reused past this point"
            )
        else:
            cause = "the previous reply is written back differently (reformatted text or tool-call arguments)"
    elif role == "system" and re.search(r"\d", text[max(0, char - 8) : char + 8]):
        cause = "the system prompt changed here, at a number (a date or time in it?)"
    elif role is not None:
        cause = f"{where} changed"
    else:
        cause = "the template's own text changed (another template, keyword or tool list?)"
    return Difference(char, len(previous.prompt), len(held), where, before, now, cause)


@dataclass
class RequestRecord:
    """One API request and what became of it."""

    number: int
    endpoint: str  # chat | completion
    client: str
    request_json: dict[str, Any]
    started: float = field(default_factory=time.time)
    model: str = ""
    status: str = "running"  # running | done | error
    http_status: int = 200
    prepared: PreparedChat | None = None
    reply: dict[str, Any] | None = None  # the assistant message (chat) or {"text": ...}
    raw_text: str = ""
    tokens: tuple[TokenInfo, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    difference: Difference | None = None
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"req-{self.number}"

    def row(self) -> dict[str, Any]:
        """The list's row: time, model, prompt and reply tokens, TTFT, tokens/s, finish, cached tokens."""
        stats = self.stats
        return {
            "id": self.id,
            "time": time.strftime("%H:%M:%S", time.localtime(self.started)),
            "endpoint": self.endpoint,
            "client": self.client,
            "model": self.model,
            "prompt_tokens": stats.get("prompt_tokens", self.prepared.prompt_tokens if self.prepared else None),
            "reply_tokens": stats.get("generation_tokens"),
            "cached_tokens": stats.get("reused_tokens"),
            "ttft_s": stats.get("ttft_s"),
            "tokens_per_s": stats.get("generation_tps"),
            "finish": self.error and "error" or stats.get("finish_reason") or self.status,
        }


class RequestLog:
    """The last :data:`MAX_RECORDS` API requests (thread-safe); ``version`` changes whenever one does."""

    def __init__(self, max_records: int = MAX_RECORDS, secrets: tuple[str, ...] = ()):
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._previous: OrderedDict[tuple[str, str], _Previous] = OrderedDict()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.secrets = tuple(s for s in secrets if s)
        self.version = 0

    def _changed(self) -> None:
        self.version += 1

    def open(self, endpoint: str, client: str, body: Any) -> RequestRecord:
        """Record a request as it arrives (its JSON with secrets scrubbed)."""
        data = body if isinstance(body, dict) else {"body": body}
        with self._lock:
            record = RequestRecord(next(self._numbers), endpoint, client, scrub(data, self.secrets))
            self._records.append(record)
            self._changed()
            return record

    def prepared(self, record: RequestRecord, prepared: PreparedChat, notes: tuple[str, ...] = ()) -> None:
        """The request's exact prompt, and where it leaves the client's previous one."""
        key = (record.client, str(prepared.loaded.path))
        with self._lock:
            previous = self._previous.get(key)
            record.prepared, record.model, record.notes = prepared, prepared.model_name, notes
            self._changed()
        if previous is not None:
            record.difference = difference(previous, prepared)

    def close(self, record: RequestRecord, state: ReplyState | None, error: Any = None, http_status: int = 200) -> None:
        """The request ended: its reply and statistics, or its error (a message, never a traceback)."""
        with self._lock:
            record.http_status = http_status
            if state is not None:
                record.raw_text = state.text
                record.tokens = tuple(state.tokens)
                record.stats = state.stats()
                if record.endpoint == "chat" and not state.prepared.raw:
                    record.reply = state.message()
                else:
                    record.reply = {"text": state.text}
            if error is not None:
                record.error = scrub(str(getattr(error, "message", error)), self.secrets)
            record.status = "error" if record.error else "done"
            prepared = record.prepared
            if prepared is not None and state is not None:
                key = (record.client, str(prepared.loaded.path))
                self._previous[key] = _Previous(prepared.text, state.text, state.reasoning)
                self._previous.move_to_end(key)
                while len(self._previous) > MAX_CLIENTS:
                    self._previous.popitem(last=False)
            self._changed()

    def records(self) -> list[RequestRecord]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._records))

    def get(self, record_id: str) -> RequestRecord | None:
        with self._lock:
            return next((r for r in self._records if r.id == record_id), None)

    def __len__(self) -> int:
        return len(self._records)
