"""What one browser session owns on the server: its conversation, model, requests and caches.

The conversation lives here, as the engine's plain messages (every role, reasoning, tool calls, tool
results, images); the Chatbot component only shows it. Handlers change it under the session's lock, so a
streamed reply, Stop, Clear, an edit or an import never race each other into an inconsistent chat.

A request of the Chat tab is a :class:`Turn`: accepted (validated, recorded, the Message box cleared),
then started by the streaming step, then finished. Stop cancels it in every state: a turn not started yet
is finished at once (its stream step, if it ever comes, only reports that), a started one stops at the
engine's next step (queued, processing its prompt, or streaming).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..backends.local.prompt_cache import PromptCacheState, SharedPromptCache
from ..events import GenerationEvent, TokenInfo
from ..messages import Message
from ..prepare import PreparedChat
from .images import SessionImages

MAX_SESSIONS = 512  # browser sessions remembered (least recently used are released, and told so)
EVICTED_REMEMBERED = 4096  # released sessions remembered by key only, to tell their page why it starts empty
MAX_CACHED_CONVERSATIONS = 4  # sessions whose KV cache is kept between turns
MAX_BRANCHES = 8  # alternatives kept per branch point
STOPPING_WAIT_S = 5.0  # a Send right after Stop waits this long for the stopped reply to end


@dataclass
class LastRun:
    """The last request of a chat, for the prompt panel ("the prompt of the last request") and the token view."""

    prepared: PreparedChat
    tokens: tuple[TokenInfo, ...] = ()
    stats: str = ""
    seed: int | None = None
    final: GenerationEvent | None = None
    note: str = ""  # the token view's note (finish reason, or why there are no probabilities)


@dataclass
class Branches:
    """Alternative continuations of the conversation from message ``index`` on (regenerated replies, edits)."""

    index: int
    tails: list[list[Message]]
    current: int
    previous: int = 0  # the alternative shown before the one being generated
    runs: list[LastRun | None] = field(default_factory=list)  # each alternative's request, stats and token view

    def run(self, index: int) -> LastRun | None:
        return self.runs[index] if 0 <= index < len(self.runs) else None

    def keep_run(self, index: int, run: LastRun | None) -> None:
        while len(self.runs) <= index:
            self.runs.append(None)
        self.runs[index] = run

    def label(self) -> str:
        return f"{self.current + 1} / {len(self.tails)}"


@dataclass(eq=False)
class Turn:
    """One accepted request of the Chat tab: accepted → started (streaming) → finished."""

    prepared: PreparedChat
    kind: str  # new | regenerate | edit | continue
    cancel: threading.Event
    epoch: int
    started: bool = False
    finished: bool = False
    returned: Any = None  # the Message box's content, given back if the request produces nothing


@dataclass
class SessionState:
    """One browser session's server-side state."""

    model: str | None = None
    conversation: list[Message] = field(default_factory=list)
    branches: Branches | None = None
    custom_template: str = ""
    cache: PromptCacheState = field(default_factory=PromptCacheState)
    last_run: LastRun | None = None
    turn: Turn | None = None  # the chat's current (or last) request
    epoch: int = 0  # bumped by Clear / Import / edits / branch switches: older turns write nothing more
    runs: dict[str, set[threading.Event]] = field(default_factory=dict)  # Compare / Notebook runs by tab
    notebook_last: str = ""  # the Notebook's last continuation (for "Append")
    notice: str = ""  # the chat's error box while a reply streams (a refused action): the stream shows it again
    images: SessionImages = field(default_factory=SessionImages)  # the session's copies of its images
    verbatim: bool = False  # the chat shows replies as their exact text, not as Markdown
    give_back: Any = None  # a message whose request produced nothing: it goes back into the Message box
    shown_prompt: str = ""  # the prompt panel's last good view (kept under an error)
    evicted: bool = False  # this page's earlier state was released (too many sessions): say so once
    lock: threading.RLock = field(default_factory=threading.RLock)
    changed: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    @property
    def busy(self) -> bool:
        """A request is accepted and not finished (waiting for its stream step, queued, or streaming)."""
        return self.turn is not None and not self.turn.finished

    @property
    def current(self) -> PreparedChat | None:
        """The request being answered, if any."""
        return self.turn.prepared if self.busy else None

    def begin(self, prepared: PreparedChat, kind: str, returned: Any = None) -> Turn:
        """Record an accepted request (call with the lock held); ``returned``: the Message box's content, given
        back if the request produces nothing."""
        self.turn = Turn(prepared, kind, threading.Event(), self.epoch, returned=returned)
        self.give_back = None
        return self.turn

    def finish(self, turn: Turn) -> None:
        """Mark ``turn`` finished and wake anyone waiting for the session to be free."""
        with self.lock:
            turn.finished = True
            self.notice = ""  # the reply's end writes the error box: the notice goes with the reply
            self.changed.notify_all()

    def stop(self) -> bool:
        """Stop the chat's request wherever it is. A request not started yet is finished at once.
        Returns whether there was one."""
        with self.lock:
            turn = self.turn
            if turn is None or turn.finished:
                return False
            turn.cancel.set()
            if not turn.started:
                self.finish(turn)
            return True

    def wait_if_stopping(self, timeout: float = STOPPING_WAIT_S) -> None:
        """If the current request was stopped but has not ended yet, wait (a little) for it to end."""
        with self.lock:
            deadline = time.monotonic() + timeout
            while self.busy and self.turn.cancel.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.changed.wait(left)

    def start_run(self, tab: str) -> threading.Event:
        """A cancel flag for a Compare or Notebook run (that tab's Stop sets it)."""
        event = threading.Event()
        with self.lock:
            self.runs.setdefault(tab, set()).add(event)
        return event

    def end_run(self, tab: str, event: threading.Event) -> None:
        with self.lock:
            self.runs.get(tab, set()).discard(event)

    def stop_runs(self, tab: str) -> int:
        """Stop every running run of ``tab``; returns how many."""
        with self.lock:
            running = list(self.runs.get(tab, ()))
        for event in running:
            event.set()
        return len(running)

    def reset_conversation(self, messages: list[Message] | None = None) -> None:
        """Clear (or replace) the conversation; any reply still streaming stops and writes nothing."""
        with self.lock:
            self.stop()
            if self.turn is not None:
                self.finish(self.turn)
            self.epoch += 1
            self.conversation = list(messages or [])
            self.branches = None
            self.last_run = None
            self.give_back = None
            self.cache.reset()

    def forget(self) -> None:
        """The session is gone: stop its request, drop its conversation and remove its image copies."""
        self.reset_conversation()
        self.images.cleanup()


class Sessions:
    """Session states by Gradio session hash, least recently used forgotten first."""

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        max_cached: int = MAX_CACHED_CONVERSATIONS,
        shared_cache: SharedPromptCache | None = None,
    ):
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._evicted: OrderedDict[str, None] = OrderedDict()  # sessions released by the limit (not closed)
        self.shared_cache = shared_cache  # the engine's pool: sessions reuse each other's KV caches
        self._lock = threading.Lock()
        self.max_sessions = max_sessions
        self.max_cached = max_cached

    @staticmethod
    def key(request: Any) -> str | None:
        """The page's session hash; None for a request without one (it gets a state of its own, never shared)."""
        return getattr(request, "session_hash", None) or None

    def get(self, request: Any, default_model: str | None = None) -> SessionState:
        key = self.key(request)
        if key is None:
            return SessionState(model=default_model, cache=PromptCacheState(shared=self.shared_cache))
        with self._lock:
            state = self._states.get(key)
            if state is None:
                cache = PromptCacheState(shared=self.shared_cache)
                state = self._states[key] = SessionState(model=default_model, cache=cache)
                state.evicted = self._evicted.pop(key, "") is None
            self._states.move_to_end(key)
            while len(self._states) > self.max_sessions:
                old_key, old = self._states.popitem(last=False)
                old.forget()
                self._evicted[old_key] = None
                while len(self._evicted) > EVICTED_REMEMBERED:
                    self._evicted.popitem(last=False)
            for old in list(self._states.values())[: -self.max_cached]:
                if old.cache.tokens:
                    old.cache.reset()
            return state

    def release(self, request: Any) -> None:
        """The page closed: stop its requests and release its state (its conversation, caches and images)."""
        key = self.key(request)
        with self._lock:
            state = self._states.pop(key, None) if key is not None else None
        if state is not None:
            state.forget()

    def __len__(self) -> int:
        return len(self._states)
