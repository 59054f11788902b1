"""The Chat tab: send, stream (with reasoning and tool calls), stop, clear, regenerate, edit, continue, branches.

Every action that runs the model has two steps: a quick one that validates everything, records the
request in the session as a :class:`~playground.ui.state.Turn` (the conversation it answers, a cancel flag,
the prepared request) and clears the Message box once; then the streaming step, which never touches the
Message box, so text typed while a reply streams stays. A Send while a reply runs is refused with a message
(the typed text stays in the box). Stop works in every state: before the streaming step starts, while the
request waits in the engine's queue, while its prompt is processed and while it streams. Clear (or an
import, an edit, a branch switch) bumps the session's epoch: a reply of an older epoch stops and writes
nothing more. Errors show in one place, the box under the chat, and the next good action clears it.
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
CANCELLED_BEFORE_START = "**cancelled** before it started · 0 tokens"
TYPE_TO_SEE = "Type a message to see the exact prompt Send will send."
#: Outputs of the streaming step: chat, stats, token view, branch label, error (the branch row follows it).
STREAM_OUTPUTS = 5


def _skip(n: int) -> tuple:
    return tuple(gr.skip() for _ in range(n))


def _refused(state: SessionState, message: str | PlaygroundError, before: int, after: int) -> tuple:
    """Outputs that leave everything as it is but the error box (at position ``before``)."""
    shown = error_view(message) if isinstance(message, PlaygroundError) else views.error_html(message)
    return (*_skip(before), _notice(state, shown), *_skip(after))


def _notice(state: SessionState, shown: str) -> str:
    """An error shown while a reply streams stays until the reply ends: the stream's updates show it again."""
    with state.lock:  # re-entrant: most callers hold it already
        if state.busy:
            state.notice = shown
    return shown


class ChatHandlers:
    """Handlers of the Chat tab (plain methods: tested without a browser)."""

    def __init__(self, core: Core):
        self.core = core

    # ------------------------------------------------------------------ views

    def _chat(self, state: SessionState, streaming: bool = False) -> list[dict]:
        items, _ = views.chat_view(state.conversation, streaming=streaming)
        return items

    def _owners(self, state: SessionState) -> list[int]:
        return views.chat_view(state.conversation)[1]

    @staticmethod
    def _branch_row(state: SessionState) -> tuple[Any, str]:
        """The alternatives navigator: shown only when there is more than one alternative."""
        label = ChatHandlers._branch_label(state)
        return gr.update(visible=bool(label)), label

    @staticmethod
    def _branch_label(state: SessionState) -> str:
        if state.branches is None or len(state.branches.tails) < 2:
            return ""
        return f"Alternative **{state.branches.label()}**"

    def show_branches(self, request: gr.Request) -> Any:
        """After a reply streamed: show the alternatives navigator if there is more than one alternative (a
        step of its own: a layout update in every streamed update would cost a component rebuild each)."""
        return self._branch_row(self.core.session(request))[0]

    # ------------------------------------------------------------------ preview

    def preview(self, request: gr.Request, **values: Any) -> str:
        """The prompt panel: while the user types, the prompt Send will send; otherwise the last request's."""
        state = self.core.session(request)
        try:
            inputs = ChatInputs.from_values(values)
            if inputs.text.strip() or inputs.files:
                message = self._user_message(inputs)
                prepared = self.core.prepare_chat(state, inputs, [*state.conversation, message])
                return self.core.prompt_view(prepared, NEXT_PROMPT)
            current = state.current
            if current is not None:
                return self.core.prompt_view(current, ANSWERING_PROMPT)
            if state.last_run is not None:
                return self.core.prompt_view(state.last_run.prepared, LAST_PROMPT)
            return views.notice_html(TYPE_TO_SEE, NEXT_PROMPT)
        except PlaygroundError as exc:
            return error_view(exc)
        except Exception as exc:  # shown where the prompt would be, never as an overlay
            log.exception("prompt preview failed")
            return views.error_html(f"the prompt could not be prepared: {type(exc).__name__}: {exc}")

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

    def submit(self, request: gr.Request, **values: Any) -> tuple:
        """Send, step 1: validate and accept the message (outputs: chat, input, error, prompt, stats)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        if not inputs.text.strip() and not inputs.files:
            return _refused(state, "Type a message first.", 2, 2)
        state.wait_if_stopping()  # a Send right after Stop: let the stopped reply end first
        with state.lock:
            if state.busy:
                return _refused(state, BUSY, 2, 2)
            try:
                conversation = [*state.conversation, self._user_message(inputs, state)]
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:  # the typed text and the attached images stay in the box
                return _refused(state, exc, 2, 2)
            state.conversation = conversation
            state.begin(prepared, "new")
            return (
                self._chat(state),
                EMPTY_INPUT,
                "",
                self.core.prompt_view(prepared, THIS_PROMPT),
                "_waiting for the model…_",
            )

    def regenerate(self, request: gr.Request, **values: Any) -> tuple:
        """Regenerate the last reply, keeping the old one as an alternative; or, when the conversation ends with a
        message that has no reply yet (a stopped request, an import), generate its reply. Outputs: chat, error,
        prompt, stats."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY, 1, 2)
            conversation = state.conversation
            if conversation and conversation[-1].get("role") in ("user", "tool"):
                start, kind = len(conversation), "new"
            else:
                start, kind = _reply_start(conversation), "regenerate"
            if start is None:
                return _refused(state, "There is no reply to regenerate yet: send a message first.", 1, 2)
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation[:start])
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc, 1, 2)
            if kind == "regenerate":
                _remember_tail(state, start)
            state.conversation = conversation[:start]
            state.begin(prepared, kind)
            return self._chat(state), "", self.core.prompt_view(prepared, THIS_PROMPT), "_waiting…_"

    def continue_reply(self, request: gr.Request, **values: Any) -> tuple:
        """Continue the final assistant message (e.g. one cut off by the token limit)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY, 1, 2)
            if not state.conversation or state.conversation[-1].get("role") != "assistant":
                return _refused(state, "The last message is not a reply to continue.", 1, 2)
            try:
                prepared = self.core.prepare_chat(state, inputs, list(state.conversation), continue_final=True)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc, 1, 2)
            state.begin(prepared, "continue")
            prompt = self.core.prompt_view(prepared, f"{THIS_PROMPT} (the reply's turn is left open)")
            return self._chat(state), "", prompt, "_waiting…_"

    def add_tool_result(self, request: gr.Request, result: str, **values: Any) -> tuple:
        """Answer the last tool call with ``result`` and let the model continue (outputs: chat, result, error,
        prompt, stats)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        state.wait_if_stopping()
        with state.lock:
            if state.busy:
                return _refused(state, BUSY, 2, 2)
            call = _last_tool_call(state.conversation)
            if call is None:
                return _refused(state, "The last reply has no tool call to answer.", 2, 2)
            if not (result or "").strip():
                return _refused(state, "Type the tool's result first.", 2, 2)
            function = call.get("function", call)
            message = {"role": "tool", "content": result, "name": function.get("name")}
            if call.get("id"):
                message["tool_call_id"] = call["id"]
            conversation = [*state.conversation, message]
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return _refused(state, exc, 2, 2)
            state.conversation = conversation
            state.begin(prepared, "new")
            return self._chat(state), "", "", self.core.prompt_view(prepared, THIS_PROMPT), "_waiting…_"

    def edit(self, data: gr.EditData, request: gr.Request, **values: Any) -> tuple:
        """An edited user message: the conversation continues from it (the old continuation is kept as an
        alternative). Outputs: chat, error, prompt, stats."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            owners = self._owners(state)
            index = data.index if isinstance(data.index, int) else data.index[0]
            if state.busy or not 0 <= index < len(owners):
                problem = BUSY.replace("Your message is kept in the box.", "Edit it again then.")
                problem = problem if state.busy else "That message no longer exists."
                shown = _notice(state, views.error_html(problem, f"your edit: {data.value}"))
                return self._chat(state), shown, *_skip(2)
            at = owners[index]
            original = state.conversation[at]
            if original.get("role") != "user":
                problem = (
                    "Only your own messages can be edited here; change a tool result or a system message in the "
                    "Conversation JSON and import it."
                )
                return self._chat(state), views.error_html(problem), *_skip(2)
            edited = {**original, "content": _edited_content(original.get("content"), str(data.value))}
            conversation = [*state.conversation[:at], edited]
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation)
                self.core.check_sendable(prepared)
            except PlaygroundError as exc:
                return self._chat(state), error_view(exc), *_skip(2)
            _remember_tail(state, at)
            state.epoch += 1
            state.conversation = conversation
            state.begin(prepared, "edit")
            return self._chat(state), "", self.core.prompt_view(prepared, THIS_PROMPT), "_waiting…_"

    def undo(self, data: gr.UndoData, request: gr.Request, message: Any = None) -> tuple:
        """Remove the last user message and what followed; its text goes back into the Message box (before
        anything typed there since, which is kept). Outputs: chat, input, error."""
        state = self.core.session(request)
        with state.lock:
            if state.busy:
                return gr.skip(), gr.skip(), _notice(state, views.error_html(BUSY))
            users = [i for i, m in enumerate(state.conversation) if m.get("role") == "user"]
            if not users:
                return self._chat(state), gr.skip(), ""
            at = users[-1]
            content = state.conversation[at].get("content")
            state.conversation = state.conversation[:at]
            state.branches = None
            state.epoch += 1
        typed = ChatInputs(message=message)
        text = views._content_text(content)
        if typed.text.strip():
            text = f"{text}\n\n{typed.text}" if text else typed.text
        files = [*views._images(content), *typed.files]
        return self._chat(state), {"text": text, "files": files}, ""

    # ------------------------------------------------------------------ streaming

    def stream(self, request: gr.Request) -> Any:
        """Send, step 2: stream the accepted request (outputs: chat, stats, token view, branch label, error).

        While the reply streams, every update carries plain values (an unchanged output is sent again as the
        same value, which Gradio's diffs make free): a gr.skip() costs Gradio a component rebuild per update."""
        state = self.core.session(request)
        with state.lock:
            turn = state.turn
            if turn is None or turn.started or turn.epoch != state.epoch:
                outputs = _skip(STREAM_OUTPUTS)  # nothing accepted for this step (cleared, or already streamed)
            elif turn.finished:  # stopped before it started
                outputs = (self._chat(state), CANCELLED_BEFORE_START, gr.skip(), self._branch_label(state), "")
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

    def _run(self, state: SessionState, turn: Turn):
        prepared, kind, cancel, epoch = turn.prepared, turn.kind, turn.cancel, turn.epoch
        with state.lock:
            current = self._current(state) if state.epoch != epoch else None
            if current is None and kind == "continue":
                index = len(state.conversation) - 1
                base = dict(state.conversation[index])
            elif current is None:
                state.conversation.append({"role": "assistant", "content": ""})
                index = len(state.conversation) - 1
                base = None
        if current is not None:  # cleared before it started
            yield current
            return
        pending = views.pending_tokens_html(bool(prepared.request.logprobs))
        last_push, stale = 0.0, False
        reply: ReplyState | None = None
        replies = iter(()) if cancel.is_set() else self.core.engine.reply(
            prepared, cancel=cancel, cache=state.cache, continues=base
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
                    chat, label = self._chat(state, streaming=True), self._branch_label(state)
                    notice = state.notice
                yield chat, views.progress_line(reply.event) if reply.event else "", pending, label, notice
        with state.lock:
            stale = stale or state.epoch != epoch
            current = self._current(state) if stale else None
        if stale:
            # An update sent before the Clear (or import, edit) may reach the page after it: the last word is the
            # conversation as it is now.
            yield current
            return
        yield self._settle(state, turn, index, reply)

    def _settle(self, state: SessionState, turn: Turn, index: int, reply: ReplyState | None) -> tuple:
        """The reply ended: keep it in the conversation (or drop a reply that never started), record the run and
        show its stats, token view and error."""
        prepared, kind = turn.prepared, turn.kind
        with state.lock:
            nothing = reply is None or (
                kind != "continue" and not reply.produced and (reply.error is not None or reply.cancelled_early)
            )
            if nothing:  # nothing came back: no empty reply is left in the conversation
                del state.conversation[index]
            else:
                state.conversation[index] = reply.message()
            _settle_branches(state, kind, produced=not nothing)
            final = reply.final if reply is not None else None
            tokens = tuple(reply.tokens) if reply is not None else ()
            stats = views.reply_stats(reply) if reply is not None else CANCELLED_BEFORE_START
            notes = [w for w in (final.warnings if final else ()) if w not in prepared.warnings]
            if notes:
                stats += "\n\n" + "\n".join(f"⚠ {views.md_text(n)}" for n in notes)
            state.last_run = LastRun(prepared, tokens, stats, seed=final.seed if final else None, final=final)
            view = views.token_probs_html(tokens, note=_token_note(prepared, final))
            shown_error = error_view(reply.error) if reply is not None and reply.error is not None else ""
        return self._chat(state), stats, view, self._branch_label(state), shown_error

    def _current(self, state: SessionState) -> tuple:
        """Stream outputs showing the conversation as it is now (stats, token view and error left alone)."""
        return self._chat(state), gr.skip(), gr.skip(), self._branch_label(state), gr.skip()

    # ------------------------------------------------------------------ stop, clear, branches, import/export

    def stop(self, request: gr.Request) -> Any:
        """Stop this session's request, wherever it is (accepted, queued, processing the prompt, streaming).
        Output: the stats line (only when the request had not started yet; a running one reports itself)."""
        state = self.core.session(request)
        with state.lock:
            turn = state.turn
            pending = turn is not None and not turn.finished and not turn.started
            state.stop()
            if not pending:
                return gr.skip()
            _settle_branches(state, turn.kind, produced=False)
            state.last_run = LastRun(turn.prepared, (), CANCELLED_BEFORE_START)
        return CANCELLED_BEFORE_START

    def clear(self, request: gr.Request) -> tuple:
        """Clear the conversation; a reply still streaming stops and writes nothing (outputs: chat, stats,
        token view, error, prompt, branch row, branch label)."""
        state = self.core.session(request)
        state.reset_conversation()
        state.last_run = None
        notice = views.notice_html(TYPE_TO_SEE, NEXT_PROMPT)
        return [], "", views.token_probs_html(()), "", notice, *self._branch_row(state)

    def switch_branch(self, step: int, request: gr.Request) -> tuple:
        """Show the previous / next alternative (outputs: chat, branch row, branch label, error)."""
        state = self.core.session(request)
        with state.lock:
            branches = state.branches
            if state.busy:
                return *_skip(3), _notice(state, views.error_html(BUSY))
            if branches is None or len(branches.tails) < 2:
                return *_skip(3), ""
            branches.tails[branches.current] = state.conversation[branches.index :]
            branches.current = (branches.current + step) % len(branches.tails)
            chosen = [dict(m) for m in branches.tails[branches.current]]
            state.conversation = state.conversation[: branches.index] + chosen
            state.epoch += 1
            return self._chat(state), *self._branch_row(state), ""

    def export_conversation(self, request: gr.Request, system: str = "") -> str:
        """The conversation as a JSON messages file (every role, reasoning, tool calls and results)."""
        state = self.core.session(request)
        with state.lock:
            conversation = list(state.conversation)
        messages = ([{"role": "system", "content": system}] if system and system.strip() else []) + conversation
        return json.dumps(messages, ensure_ascii=False, indent=2)

    def import_conversation(self, text: str, request: gr.Request) -> tuple:
        """Replace the conversation (outputs: chat, system prompt, error, branch row, branch label, stats, token
        view). A first system message goes into the System prompt box; every other message is shown."""
        state = self.core.session(request)
        try:
            messages = parse_messages(text or "", "the conversation JSON")
            # images are checked and copied into the session's folder: the page shows only those copies
            messages = state.images.localize_messages(messages, server_files=not self.core.exposed)
        except MessagesError as exc:
            return gr.skip(), gr.skip(), error_view(exc), *_skip(4)
        system = ""
        if messages and messages[0]["role"] == "system" and isinstance(messages[0].get("content"), str):
            system = messages[0]["content"]
            messages = messages[1:]
        state.reset_conversation(messages)
        state.last_run = None
        return self._chat(state), system, "", *self._branch_row(state), "", views.token_probs_html(())

    def snippet(self, request: gr.Request, **values: Any) -> str:
        """Copy as code: a standalone mlx-lm script reproducing the request the prompt panel shows (the one Send
        will send while the user types, else the last one; before any, a first "Hello!")."""
        from ..snippet import mlx_lm_snippet

        state = self.core.session(request)
        try:
            inputs = ChatInputs.from_values(values)
            if inputs.text.strip() or inputs.files:
                prepared = self.core.prepare_chat(
                    state, inputs, [*state.conversation, self._user_message(inputs, state)]
                )
            elif state.current is not None or state.last_run is not None:
                prepared = state.current or state.last_run.prepared
            else:
                prepared = self.core.prepare_chat(state, inputs, [{"role": "user", "content": "Hello!"}])
        except PlaygroundError as exc:
            return f"# {exc.message}\n# hint: {exc.hint or ''}\n"
        return mlx_lm_snippet(prepared)


# ---------------------------------------------------------------------------------------------- helpers


def _reply_start(conversation: list[dict]) -> int | None:
    """Where the last reply starts: the messages after the last user (or tool) message."""
    for index in range(len(conversation) - 1, -1, -1):
        if conversation[index].get("role") in ("user", "tool"):
            return index + 1 if index + 1 < len(conversation) else None
    return None


def _remember_tail(state: SessionState, index: int) -> None:
    """Keep the conversation from ``index`` on as an alternative before it is replaced."""
    tail = [dict(m) for m in state.conversation[index:]]
    branches = state.branches
    if branches is None or branches.index != index:
        state.branches = Branches(index=index, tails=[tail], current=0)
    else:
        branches.tails[branches.current] = tail
    state.branches.previous = state.branches.current
    state.branches.current = len(state.branches.tails)  # the new alternative comes next


def _restore_alternative(state: SessionState) -> None:
    """A regenerate that produced nothing: show the reply it was to replace again."""
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
    branches.tails = branches.tails[-MAX_BRANCHES:]
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
