"""The Chat tab: send, stream (with reasoning and tool calls), stop, clear, regenerate, edit, continue, branches.

Every action that runs the model has two steps: a quick one that validates everything, records the
request in the session as a :class:`~playground.ui.state.Turn` (the conversation it answers, a cancel flag,
the prepared request) and clears the Message box once; then the streaming step, which never touches the
Message box, so text typed while a reply streams stays. A Send while a reply runs is refused with a message
(the typed text stays in the box). Stop works in every state: before the streaming step starts, while the
request waits in the engine's queue, while its prompt is processed and while it streams. Clear (or an
import, an edit, a branch switch) bumps the session's epoch: a reply of an older epoch stops and writes
nothing more. Errors show in one place, the box under the chat, and the next good action clears it.

Handlers return ``{name: value}`` (see :mod:`playground.ui.wiring`). The side views (prompt panel, stats line,
token view, alternatives row) always describe the reply on screen or the request Send will make: every action
that changes the conversation writes them all (:meth:`ChatHandlers._views`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import gradio as gr

from ..errors import MessagesError, PlaygroundError
from ..events import GenerationEvent
from ..messages import parse_messages
from ..prepare import PreparedChat
from ..reply import ReplyState
from . import views
from .core import Core, error_view, update_interval
from .inputs import ChatInputs
from .state import MAX_BRANCHES, Branches, LastRun, SessionState, Turn

log = logging.getLogger(__name__)

EMPTY_INPUT = {"text": "", "files": []}
BUSY = "A reply is still being generated: wait for it or press Stop. Your message is kept in the box."
NEXT_PROMPT = "The prompt Send will send"
LAST_PROMPT = "The prompt of the last request"
THIS_PROMPT = "The prompt of this request"
ANSWERING_PROMPT = "The prompt of the request being answered"
PENDING_PROMPT = "The prompt Regenerate will send (the last message has no reply yet)"
TYPED_WHILE_BUSY = "your message is sent after this reply: the prompt it makes appears when the reply ends"
CANCELLED_BEFORE_START = "**cancelled** before it started · 0 tokens"
TYPE_TO_SEE = "Type a message to see the exact prompt Send will send."
UNANSWERED = (
    "The conversation ends with a message that has no reply yet: press Regenerate to answer it, or type a message."
)
GIVEN_BACK = "Nothing came back, so your message is back in the box: fix the problem above and send it again."
EVICTED = (
    "This page was idle while many other sessions started: the server released its conversation (it keeps "
    "{limit} sessions). The chat starts again from an empty conversation."
)


def _error(message: str | PlaygroundError) -> str:
    return error_view(message) if isinstance(message, PlaygroundError) else views.error_html(message)


def _notice(state: SessionState, shown: str) -> str:
    """An error shown while a reply streams stays until the reply ends: the stream's updates show it again."""
    with state.lock:  # re-entrant: most callers hold it already
        if state.busy:
            state.notice = shown
    return shown


def _refused(state: SessionState, message: str | PlaygroundError) -> dict[str, Any]:
    """Everything stays as it is but the error box."""
    return {"chat_error": _notice(state, _error(message))}


def _pending(conversation: list[dict]) -> bool:
    """The conversation ends with a message that has no reply (an import, a stopped or failed request)."""
    return bool(conversation) and conversation[-1].get("role") in ("user", "tool")


class ChatHandlers:
    """Handlers of the Chat tab (plain methods: tested without a browser)."""

    def __init__(self, core: Core):
        self.core = core

    # ------------------------------------------------------------------ views

    def _session(self, request: Any) -> SessionState:
        return self.core.session(request)

    def _chat(self, state: SessionState, streaming: bool = False) -> list[dict]:
        return views.chat_view(state.conversation, streaming=streaming, verbatim=state.verbatim)[0]

    def _owners(self, state: SessionState) -> list[int]:
        return views.chat_view(state.conversation)[1]

    @staticmethod
    def _branch_label(state: SessionState) -> str:
        if state.branches is None or len(state.branches.tails) < 2:
            return ""
        return f"Alternative **{state.branches.label()}**"

    @staticmethod
    def _token_view(run: LastRun | None) -> str:
        if run is None:
            return views.token_probs_html(())
        return views.token_probs_html(run.tokens, note=run.note)

    def _views(self, state: SessionState, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every view of the conversation on screen: the chat, the stats and token view of the reply shown, the
        alternatives row, the prompt panel (with ``values``: the page's inputs), an empty error box."""
        run = state.last_run
        label = self._branch_label(state)
        out = {
            "chat": self._chat(state),
            "stats": run.stats if run is not None else "",
            "tokens": self._token_view(run),
            "branch_row": gr.update(visible=bool(label)),
            "branch_label": label,
            "chat_error": "",
        }
        if values is not None:
            out["prompt"] = self._prompt(state, values)
        return out

    def show_verbatim(self, request: gr.Request, verbatim: bool = False) -> dict[str, Any]:
        """Replies as Markdown, or as their exact text (escaped, whitespace kept)."""
        state = self._session(request)
        with state.lock:
            state.verbatim = bool(verbatim)
            return {"chat": self._chat(state, streaming=state.busy)}

    # ------------------------------------------------------------------ preview

    def _prompt(self, state: SessionState, values: dict[str, Any]) -> str:
        """The prompt panel: the request being answered; else the one Send (with text typed) or Regenerate (the
        last message has no reply) will send; else the last request's. A setting that cannot be used shows its
        error above the last prompt shown (marked as such)."""
        try:
            inputs = ChatInputs.from_values(values)
            typed = bool(inputs.text.strip() or inputs.files)
            with state.lock:
                current, conversation, run = state.current, list(state.conversation), state.last_run
            if current is not None:  # never a prompt built from a reply still streaming
                label = ANSWERING_PROMPT + (f" ({TYPED_WHILE_BUSY})" if typed else "")
                return self.core.prompt_view(current, label)
            if typed:
                prepared = self.core.prepare_chat(state, inputs, [*conversation, self._user_message(inputs)])
                shown = self.core.prompt_view(prepared, NEXT_PROMPT)
            elif _pending(conversation):
                shown = self.core.prompt_view(self.core.prepare_chat(state, inputs, conversation), PENDING_PROMPT)
            elif run is not None:
                shown = self.core.prompt_view(run.prepared, LAST_PROMPT)
            else:
                shown = views.notice_html(TYPE_TO_SEE, NEXT_PROMPT)
        except PlaygroundError as exc:
            return error_view(exc) + views.stale_html(state.shown_prompt)
        except Exception as exc:  # shown where the prompt would be, never as an overlay
            log.exception("prompt preview failed")
            problem = views.error_html(f"the prompt could not be prepared: {type(exc).__name__}: {exc}")
            return problem + views.stale_html(state.shown_prompt)
        state.shown_prompt = shown
        return shown

    def preview(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """The prompt panel (see :meth:`_prompt`)."""
        return {"prompt": self._prompt(self._session(request), values)}

    def after_reply(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """When a reply ends: the prompt panel shows its prompt (or, if the user is typing, the next one); the
        alternatives row appears if there is more than one; a request that produced nothing gives its message
        back to the Message box (before anything typed since). A step of its own: a layout update in every
        streamed update would cost a component rebuild each."""
        state = self._session(request)
        with state.lock:
            label = self._branch_label(state)
            returned, state.give_back = state.give_back, None
        out = {"prompt": self._prompt(state, values), "branch_row": gr.update(visible=bool(label))}
        if returned is not None:
            out["message"] = _merged(returned, values.get("message"))
        return out

    # ------------------------------------------------------------------ accepting a request

    @staticmethod
    def _user_message(inputs: ChatInputs, state: SessionState | None = None) -> dict:
        """The user message the Message box holds; with ``state``, its images are the session's checked copies
        (see :mod:`playground.ui.images`), as everything the conversation keeps must be."""
        files = inputs.files
        if not files:
            return {"role": "user", "content": inputs.text}
        if state is not None:
            files = [state.images.localize(path) for path in files]
        blocks: list[dict] = [{"type": "image", "image": path} for path in files]
        if inputs.text:
            blocks.append({"type": "text", "text": inputs.text})
        return {"role": "user", "content": blocks}

    def _evicted(self, state: SessionState) -> dict[str, Any] | None:
        """A page whose state was released by the session limit: say so once, with the (empty) conversation."""
        if not state.evicted:
            return None
        state.evicted = False
        from .state import MAX_SESSIONS

        return {**self._views(state), "chat_error": views.error_html(EVICTED.format(limit=MAX_SESSIONS))}

    def submit(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Send, step 1: validate and accept the message."""
        state = self._session(request)
        evicted = self._evicted(state)
        if evicted is not None:
            return {k: v for k, v in evicted.items() if k in ("chat", "chat_error", "stats")}
        inputs = ChatInputs.from_values(values)
        if not inputs.text.strip() and not inputs.files:
            with state.lock:
                pending = _pending(state.conversation)
            return _refused(state, UNANSWERED if pending else "Type a message first.")
        state.wait_if_stopping()  # a Send right after Stop: let the stopped reply end first
        with state.lock:
            if state.busy:
                return _refused(state, BUSY)
            try:
                conversation = [*state.conversation, self._user_message(inputs, state)]
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:  # the typed text and the attached images stay in the box
                return _refused(state, exc)
            state.conversation = conversation
            state.begin(prepared, "new", returned=values.get("message"))
            state.shown_prompt = self.core.prompt_view(prepared, THIS_PROMPT)
            return {
                "chat": self._chat(state),
                "message": EMPTY_INPUT,
                "chat_error": "",
                "prompt": state.shown_prompt,
                "stats": "_waiting for the model…_",
            }

    def _rerun(self, state: SessionState, prepared: PreparedChat, kind: str, label: str = THIS_PROMPT) -> dict:
        state.begin(prepared, kind)
        state.shown_prompt = self.core.prompt_view(prepared, label)
        pending = views.pending_tokens_html(bool(prepared.request.logprobs))
        return {"chat": self._chat(state), "chat_error": "", "prompt": state.shown_prompt, "stats": "_waiting…_",
                "tokens": pending}  # fmt: skip

    def regenerate(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Regenerate the last reply, keeping the old one as an alternative; or, when the conversation ends with a
        message that has no reply yet (a stopped request, an import), generate its reply."""
        state = self._session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY)
            conversation = state.conversation
            if _pending(conversation):
                start, kind = len(conversation), "new"
            else:
                start, kind = _reply_start(conversation), "regenerate"
            if start is None:
                return _refused(state, "There is no reply to regenerate yet: send a message first.")
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation[:start])
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc)
            if kind == "regenerate":
                _remember_tail(state, start)
            state.conversation = conversation[:start]
            return self._rerun(state, prepared, kind)

    def continue_reply(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Continue the final assistant message (e.g. one cut off by the token limit)."""
        state = self._session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY)
            if not state.conversation or state.conversation[-1].get("role") != "assistant":
                return _refused(state, "The last message is not a reply to continue.")
            try:
                prepared = self.core.prepare_chat(state, inputs, list(state.conversation), continue_final=True)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc)
            return self._rerun(state, prepared, "continue", f"{THIS_PROMPT} (the reply's turn is left open)")

    def add_tool_result(self, request: gr.Request, result: str, **values: Any) -> dict[str, Any]:
        """Answer the last tool call with ``result`` and let the model continue."""
        state = self._session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY)
            call = _last_tool_call(state.conversation)
            if call is None:
                return _refused(state, "The last reply has no tool call to answer.")
            if not (result or "").strip():
                return _refused(state, "Type the tool's result first.")
            function = call.get("function", call)
            message = {"role": "tool", "content": result, "name": function.get("name")}
            if call.get("id"):
                message["tool_call_id"] = call["id"]
            conversation = [*state.conversation, message]
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc)
            state.conversation = conversation
            return {**self._rerun(state, prepared, "new"), "tool_result": ""}

    def edit(self, data: gr.EditData, request: gr.Request, **values: Any) -> dict[str, Any]:
        """An edited user message: the conversation continues from it (the old continuation is kept as an
        alternative)."""
        state = self._session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            owners = self._owners(state)
            index = data.index if isinstance(data.index, int) else data.index[0]
            if state.busy or not 0 <= index < len(owners):
                problem = BUSY.replace("Your message is kept in the box.", "Edit it again then.")
                problem = problem if state.busy else "That message no longer exists."
                return {"chat": self._chat(state), "chat_error": _notice(state, views.error_html(
                    problem, f"your edit: {data.value}"))}  # fmt: skip
            at = owners[index]
            original = state.conversation[at]
            if original.get("role") != "user":
                problem = (
                    "Only your own messages can be edited here; change a tool result or a system message in the "
                    "Conversation JSON and import it."
                )
                return {"chat": self._chat(state), "chat_error": views.error_html(problem)}
            edited = {**original, "content": _edited_content(original.get("content"), str(data.value))}
            conversation = [*state.conversation[:at], edited]
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return {"chat": self._chat(state), "chat_error": error_view(exc)}
            _remember_tail(state, at)
            state.epoch += 1
            state.conversation = conversation
            return self._rerun(state, prepared, "edit")

    def undo(self, data: gr.UndoData, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Remove the last user message and what followed; its text goes back into the Message box (before
        anything typed since, which is kept). The side views follow: the stats and token view of the reply now
        last (none when it has none), no alternatives, the prompt Send will send."""
        state = self._session(request)
        with state.lock:
            if state.busy:
                return {"chat_error": _notice(state, views.error_html(BUSY))}
            users = [i for i, m in enumerate(state.conversation) if m.get("role") == "user"]
            if not users:
                return self._views(state, values)
            at = users[-1]
            content = state.conversation[at].get("content")
            state.conversation = state.conversation[:at]
            state.branches = None
            state.last_run = None  # the reply it described is gone
            state.epoch += 1
        message = _merged({"text": views._content_text(content), "files": views._images(content)},
                          values.get("message"))  # fmt: skip
        return {**self._views(state, {**values, "message": message}), "message": message}

    # ------------------------------------------------------------------ streaming

    def stream(self, request: gr.Request) -> Any:
        """Send, step 2: stream the accepted request (outputs: chat, stats, token view, branch label, error).

        While the reply streams, every update carries plain values (an unchanged output is sent again as the
        same value, which Gradio's diffs make free): a gr.skip() costs Gradio a component rebuild per update."""
        state = self._session(request)
        with state.lock:
            turn = state.turn
            if turn is None or turn.started or turn.epoch != state.epoch:
                outputs = {}  # nothing accepted for this step (cleared, or already streamed)
            elif turn.finished:  # stopped before it started
                outputs = {"chat": self._chat(state), "stats": CANCELLED_BEFORE_START,
                           "branch_label": self._branch_label(state), "chat_error": ""}  # fmt: skip
            else:
                outputs = None
                turn.started = True
        if outputs is not None:
            yield outputs
            return
        try:
            yield from self._run(state, turn)
        finally:
            state.finish(turn)

    def _open_reply(self, state: SessionState, turn: Turn) -> tuple[int, dict | None] | None:
        """Where the reply goes in the conversation (and the message it continues); None if cleared meanwhile."""
        with state.lock:
            if state.epoch != turn.epoch:
                return None
            if turn.kind == "continue":
                index = len(state.conversation) - 1
                return index, dict(state.conversation[index])
            state.conversation.append({"role": "assistant", "content": ""})
            return len(state.conversation) - 1, None

    def _run(self, state: SessionState, turn: Turn):
        opened = self._open_reply(state, turn)
        if opened is None:  # cleared before it started
            yield self._current(state)
            return
        index, base = opened
        prepared, cancel, epoch = turn.prepared, turn.cancel, turn.epoch
        pending = views.pending_tokens_html(bool(prepared.request.logprobs))
        last_push, stale = 0.0, False
        reply: ReplyState | None = None
        replies = (
            iter(())
            if cancel.is_set()
            else self.core.engine.reply(prepared, cancel=cancel, cache=state.cache, continues=base)
        )
        for reply in self.core.streams.counted(replies):
            with state.lock:
                stale = state.epoch != epoch
                if not stale:
                    state.conversation[index] = reply.message()
            if stale:  # cleared or replaced: stop, write nothing more
                cancel.set()
                replies.close()
                break
            now = time.monotonic()
            if not reply.done and now - last_push >= update_interval(len(reply.text), self.core.streams.count):
                last_push = now
                with state.lock:
                    out = {"chat": self._chat(state, streaming=True), "branch_label": self._branch_label(state),
                           "chat_error": state.notice}  # fmt: skip
                yield {**out, "stats": views.progress_line(reply.event) if reply.event else "", "tokens": pending}
        with state.lock:
            stale = stale or state.epoch != epoch
        if stale:
            # An update sent before the Clear (or import, edit) may reach the page after it: the last word is the
            # conversation as it is now.
            yield self._current(state)
            return
        yield self._settle(state, turn, index, reply)

    def _settle(self, state: SessionState, turn: Turn, index: int, reply: ReplyState | None) -> dict[str, Any]:
        """The reply ended: keep it in the conversation (or drop a reply that never started), record the run and
        show its stats, token view and error. A new message whose request produced nothing (stopped before its
        first token, or failed) is taken out again and given back to the Message box, so no turn is left
        unanswered."""
        prepared, kind = turn.prepared, turn.kind
        with state.lock:
            nothing = reply is None or (
                kind != "continue" and not reply.produced and (reply.error is not None or reply.cancelled_early)
            )
            if nothing:  # nothing came back: no empty reply is left in the conversation
                del state.conversation[index]
            else:
                state.conversation[index] = reply.message()
            failed = reply is not None and reply.error is not None
            if nothing and failed and turn.returned is not None and _pending(state.conversation):
                state.conversation.pop()  # the unanswered message goes back into the box
                state.give_back = turn.returned
            _settle_branches(state, kind, produced=not nothing)
            state.last_run = _last_run(prepared, reply)
            if state.branches is not None and not nothing:
                state.branches.keep_run(state.branches.current, state.last_run)
            shown_error = error_view(reply.error) if failed else ""
            if state.give_back is not None:
                shown_error += f'<div class="pg-meta">{views.esc(GIVEN_BACK)}</div>'
            out = self._views(state)
        return {k: out[k] for k in ("chat", "stats", "tokens", "branch_label")} | {"chat_error": shown_error}

    def _current(self, state: SessionState) -> dict[str, Any]:
        """Stream outputs showing the conversation as it is now (stats, token view and error left alone)."""
        with state.lock:
            return {"chat": self._chat(state), "branch_label": self._branch_label(state)}

    # ------------------------------------------------------------------ stop, clear, branches, import/export

    def stop(self, request: gr.Request) -> dict[str, Any]:
        """Stop this session's request, wherever it is (accepted, queued, processing the prompt, streaming).
        Writes the stats line only when the request had not started yet (a running one reports itself)."""
        state = self._session(request)
        with state.lock:
            turn = state.turn
            pending = turn is not None and not turn.finished and not turn.started
            state.stop()
            if not pending:
                return {}
            _settle_branches(state, turn.kind, produced=False)
            state.last_run = LastRun(turn.prepared, (), CANCELLED_BEFORE_START)
        return {"stats": CANCELLED_BEFORE_START}

    def clear(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Clear the conversation; a reply still streaming stops and writes nothing. The prompt panel shows the
        prompt of what is typed in the box (if anything)."""
        state = self._session(request)
        state.reset_conversation()
        state.shown_prompt = ""
        return self._views(state, values)

    def switch_branch(self, step: int, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Show the previous / next alternative, with its own stats, token view and prompt."""
        state = self._session(request)
        with state.lock:
            branches = state.branches
            if state.busy:
                return {"chat_error": _notice(state, views.error_html(BUSY))}
            if branches is None or len(branches.tails) < 2:
                return {"chat_error": ""}
            branches.tails[branches.current] = state.conversation[branches.index :]
            branches.keep_run(branches.current, state.last_run)
            branches.current = (branches.current + step) % len(branches.tails)
            chosen = [dict(m) for m in branches.tails[branches.current]]
            state.conversation = state.conversation[: branches.index] + chosen
            state.last_run = branches.run(branches.current)
            state.epoch += 1
            return self._views(state, values)

    def export_conversation(self, request: gr.Request, system: str = "") -> dict[str, Any]:
        """The conversation as a JSON messages file (every role, reasoning, tool calls and results)."""
        state = self._session(request)
        with state.lock:
            conversation = list(state.conversation)
        messages = ([{"role": "system", "content": system}] if system and system.strip() else []) + conversation
        return {"conversation_json": json.dumps(messages, ensure_ascii=False, indent=2)}

    def import_conversation(self, text: str, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Replace the conversation. A first system message goes into the System prompt box; every other message
        is shown. A conversation that ends with a message without reply: the prompt panel shows what Regenerate
        will send, and says so (as Send does, with nothing typed)."""
        state = self._session(request)
        try:
            messages = parse_messages(text or "", "the conversation JSON")
            # images are checked and copied into the session's folder: the page shows only those copies
            messages = state.images.localize_messages(messages, server_files=not self.core.exposed)
        except MessagesError as exc:
            return {"chat_error": error_view(exc)}
        system = values.get("system") or ""
        if messages and messages[0]["role"] == "system" and isinstance(messages[0].get("content"), str):
            system = messages[0]["content"]
            messages = messages[1:]
        state.reset_conversation(messages)
        return {**self._views(state, {**values, "system": system}), "system": system}

    def _next_request(self, state: SessionState, inputs: ChatInputs) -> tuple[PreparedChat, str]:
        """The next generation with the current settings: the message typed (Send), else the conversation's
        last reply again (Regenerate), else a first "Hello!"."""
        with state.lock:
            conversation = list(state.conversation)
        if inputs.text.strip() or inputs.files:
            return self.core.prepare_chat(state, inputs, [*conversation, self._user_message(inputs)]), "Send"
        start = len(conversation) if _pending(conversation) else _reply_start(conversation)
        if start is not None:
            return self.core.prepare_chat(state, inputs, conversation[:start]), "Regenerate"
        return self.core.prepare_chat(state, inputs, [{"role": "user", "content": "Hello!"}]), "a first Hello!"

    def snippet(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Copy as code: a standalone mlx-lm script for the next generation with the current settings (the one
        Send makes while a message is typed, else the one Regenerate makes; before any, a first "Hello!")."""
        from ..snippet import mlx_lm_snippet

        state = self._session(request)
        try:
            prepared, what = self._next_request(state, ChatInputs.from_values(values))
        except PlaygroundError as exc:
            return {"snippet": f"# {exc.message}\n# hint: {exc.hint or ''}\n"}
        return {"snippet": f"# The request {what} makes, with the settings shown.\n{mlx_lm_snippet(prepared)}"}


# ---------------------------------------------------------------------------------------------- helpers


def _merged(returned: Any, typed: Any) -> dict[str, Any]:
    """A message given back to the Message box, before what was typed there since."""
    back, now = ChatInputs(message=returned), ChatInputs(message=typed)
    text = back.text
    if now.text.strip():
        text = f"{text}\n\n{now.text}" if text else now.text
    return {"text": text, "files": [*back.files, *now.files]}


def _last_run(prepared: PreparedChat, reply: ReplyState | None) -> LastRun:
    """What the side views show of a reply that ended: its stats, tokens and token-view note."""
    if reply is None:
        return LastRun(prepared, (), CANCELLED_BEFORE_START)
    final = reply.final
    stats = views.reply_stats(reply)
    notes = [w for w in (final.warnings if final else ()) if w not in prepared.warnings]
    if notes:
        stats += "\n\n" + "\n".join(f"⚠ {views.md_text(n)}" for n in notes)
    seed = final.seed if final else None
    return LastRun(prepared, tuple(reply.tokens), stats, seed=seed, final=final, note=_token_note(prepared, final))


def _reply_start(conversation: list[dict]) -> int | None:
    """Where the last reply starts: the messages after the last user (or tool) message."""
    for index in range(len(conversation) - 1, -1, -1):
        if conversation[index].get("role") in ("user", "tool"):
            return index + 1 if index + 1 < len(conversation) else None
    return None


def _remember_tail(state: SessionState, index: int) -> None:
    """Keep the conversation from ``index`` on (and the run that made it) as an alternative before it is replaced."""
    tail = [dict(m) for m in state.conversation[index:]]
    branches = state.branches
    if branches is None or branches.index != index:
        state.branches = Branches(index=index, tails=[tail], current=0)
    else:
        branches.tails[branches.current] = tail
    state.branches.keep_run(state.branches.current, state.last_run)
    state.branches.previous = state.branches.current
    state.branches.current = len(state.branches.tails)  # the new alternative comes next


def _restore_alternative(state: SessionState) -> None:
    """A regenerate that produced nothing: show the reply it was to replace again (with its stats)."""
    branches = state.branches
    if branches is None or not branches.tails:
        return
    branches.current = min(branches.previous, len(branches.tails) - 1)
    state.conversation = state.conversation[: branches.index] + [dict(m) for m in branches.tails[branches.current]]
    if len(branches.tails) < 2:
        state.branches = None


def _settle_branches(state: SessionState, kind: str, produced: bool) -> None:
    """After a regenerate or an edit: the new alternative is kept; a regenerate that produced nothing shows the
    reply it was to replace again."""
    if kind == "regenerate" and not produced:
        _restore_alternative(state)
    elif kind in ("regenerate", "edit"):
        _add_alternative(state)


def _add_alternative(state: SessionState) -> None:
    branches = state.branches
    if branches is None:
        return
    tail = [dict(m) for m in state.conversation[branches.index :]]
    branches.tails.append(tail)
    branches.runs = [*branches.runs, *[None] * len(branches.tails)][: len(branches.tails) - 1] + [None]
    branches.tails = branches.tails[-MAX_BRANCHES:]
    branches.runs = branches.runs[-MAX_BRANCHES:]
    branches.current = len(branches.tails) - 1


def _last_tool_call(conversation: list[dict]) -> dict | None:
    if not conversation or conversation[-1].get("role") != "assistant":
        return None
    calls = conversation[-1].get("tool_calls") or []
    return calls[-1] if calls else None


def _edited_content(content: Any, text: str) -> Any:
    if isinstance(content, list):
        images = [b for b in content if isinstance(b, dict) and b.get("type") == "image"]
        return [*images, {"type": "text", "text": text}]
    return text


def _token_note(prepared: PreparedChat, final: GenerationEvent | None) -> str:
    if not prepared.request.logprobs:
        return views.TOKENS_OFF_NOTE
    if final is None:
        return ""
    return f"{final.generation_tokens} tokens; finish: {final.finish_reason}" + (
        f" on {final.stop_token}" if final.stop_token else ""
    )
