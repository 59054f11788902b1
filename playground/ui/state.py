"""What one browser session owns on the server: its conversation, model, requests and caches.

The conversation lives here, as the engine's plain messages (every role, reasoning, tool calls, tool
results, images); the Chatbot component only shows it. Handlers change it under the session's lock, so a
streamed reply, Stop, Clear, an edit or an import never race each other into an inconsistent chat.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..events import GenerationEvent, TokenInfo
from ..messages import Message
from ..prepare import PreparedChat
from ..prompt_cache import PromptCacheState

MAX_SESSIONS = 512  # browser sessions remembered (least recently used are forgotten)
MAX_CACHED_CONVERSATIONS = 4  # sessions whose KV cache is kept between turns
MAX_BRANCHES = 8  # alternatives kept per branch point


@dataclass
class Branches:
    """Alternative continuations of the conversation from message ``index`` on (regenerated replies, edits)."""

    index: int
    tails: list[list[Message]]
    current: int

    def label(self) -> str:
        return f"{self.current + 1} / {len(self.tails)}"


@dataclass
class LastRun:
    """The last request of a chat, for the prompt panel ("the prompt of the last request") and the token view."""

    prepared: PreparedChat
    finished_at: float
    tokens: tuple[TokenInfo, ...] = ()
    stats: str = ""
    seed: int | None = None
    final: GenerationEvent | None = None


@dataclass
class SessionState:
    """One browser session's server-side state."""

    model: str | None = None
    conversation: list[Message] = field(default_factory=list)
    branches: Branches | None = None
    custom_template: str = ""
    cache: PromptCacheState = field(default_factory=PromptCacheState)
    last_run: LastRun | None = None
    pending: PreparedChat | None = None  # accepted by Send, not yet streaming
    current: PreparedChat | None = None  # the request being answered (accepted or streaming)
    pending_kind: str = "new"  # new | regenerate | edit | continue
    pending_cancel: threading.Event = field(default_factory=threading.Event)
    cancels: list[threading.Event] = field(default_factory=list)
    epoch: int = 0  # bumped by Clear / Import / edits: streams of an older epoch stop writing
    busy: bool = False
    applied_defaults: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def new_cancel(self) -> threading.Event:
        """A cancel flag for a request about to be queued; Stop sets every flag of the session."""
        event = threading.Event()
        with self.lock:
            self.cancels = [c for c in self.cancels if not c.is_set()] + [event]
        return event

    def stop(self) -> None:
        with self.lock:
            for event in self.cancels:
                event.set()
            self.cancels = []

    def reset_conversation(self, messages: list[Message] | None = None) -> None:
        """Clear (or replace) the conversation; any reply still streaming stops and writes nothing."""
        with self.lock:
            self.stop()
            self.epoch += 1
            self.conversation = list(messages or [])
            self.branches = None
            self.pending = None
            self.busy = False
            self.cache.reset()


class Sessions:
    """Session states by Gradio session hash, least recently used forgotten first."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, max_cached: int = MAX_CACHED_CONVERSATIONS):
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()
        self.max_sessions = max_sessions
        self.max_cached = max_cached

    def get(self, request: Any, default_model: str | None = None) -> SessionState:
        key = getattr(request, "session_hash", None) or "anonymous"
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = SessionState(model=default_model)
            self._states.move_to_end(key)
            while len(self._states) > self.max_sessions:
                self._states.popitem(last=False)[1].reset_conversation()
            for old in list(self._states.values())[: -self.max_cached]:
                if old.cache.tokens:
                    old.cache.reset()
            return state
