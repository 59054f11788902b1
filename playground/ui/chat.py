"""The Chat tab: send, stream (with reasoning and tool calls), stop, clear, regenerate, edit, continue, branches.

Every action that runs the model has two steps: a quick one that validates everything, records the
request in the session (the conversation, a cancel flag, the prepared request) and clears the Message
box once; then the streaming step, which never touches the Message box, so text typed while a reply
streams stays. Stop sets the session's cancel flags, so it works while a request waits in a queue, while
its prompt is processed and while it streams. Clear (or an import, or an edit) bumps the session's epoch:
a reply of an older epoch stops and writes nothing more.
"""

from __future__ import annotations

import json
import time
from typing import Any

import gradio as gr

from ..errors import MessagesError, PlaygroundError
from ..events import GenerationEvent, TokenInfo
from ..messages import parse_messages
from ..prepare import PreparedChat
from . import views
from .core import UPDATE_INTERVAL_S, Core, error_view
from .inputs import ChatInputs
from .state import MAX_BRANCHES, Branches, LastRun, SessionState

EMPTY_INPUT = {"text": "", "files": []}
BUSY = "A reply is still being generated: wait for it or press Stop. Your message is kept in the box."
NEXT_PROMPT = "The prompt Send will send"
LAST_PROMPT = "The prompt of the last request"


def _skip(n: int) -> tuple:
    return tuple(gr.skip() for _ in range(n))


def _refused(message: str | PlaygroundError, before: int, after: int) -> tuple:
    """Outputs that leave everything as it is but the error box (at position ``before``)."""
    shown = error_view(message) if isinstance(message, PlaygroundError) else views.error_html(message)
    return (*_skip(before), shown, *_skip(after))


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
        if state.branches is None or len(state.branches.tails) < 2:
            return gr.update(visible=False), ""
        return gr.update(visible=True), f"Alternative **{state.branches.label()}**"

    # ------------------------------------------------------------------ preview

    def preview(self, request: gr.Request, **values: Any) -> str:
        """The prompt panel: while the user types, the prompt Send will send; otherwise the last request's."""
        state = self.core.session(request)
        try:
            inputs = ChatInputs.from_values(values)
            if inputs.text.strip() or inputs.files:
                message = self._user_message(inputs)
                prepared = self.core.prepare_chat(state, inputs, [*state.conversation, message])
                return views.prompt_html(prepared, NEXT_PROMPT)
            if state.busy and state.current is not None:
                return views.prompt_html(state.current, "The prompt of the request being answered")
            if state.last_run is not None:
                return views.prompt_html(state.last_run.prepared, LAST_PROMPT)
            return views.notice_html("Type a message to see the exact prompt Send will send.", NEXT_PROMPT)
        except PlaygroundError as exc:
            return error_view(exc)

    # ------------------------------------------------------------------ accepting a request

    @staticmethod
    def _user_message(inputs: ChatInputs) -> dict:
        files = inputs.files
        if not files:
            return {"role": "user", "content": inputs.text}
        blocks: list[dict] = [{"type": "image", "image": path} for path in files]
        if inputs.text:
            blocks.append({"type": "text", "text": inputs.text})
        return {"role": "user", "content": blocks}

    def _accept(self, state: SessionState, prepared: PreparedChat, conversation: list[dict], kind: str) -> None:
        """Record an accepted request: the conversation it answers, a fresh cancel flag, the prepared request."""
        state.conversation = conversation
        state.pending = prepared
        state.current = prepared
        state.pending_kind = kind
        state.pending_cancel = state.new_cancel()
        state.busy = True

    def submit(self, request: gr.Request, **values: Any) -> tuple:
        """Send, step 1: validate and accept the message (outputs: chat, input, error, prompt, stats)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        if not inputs.text.strip() and not inputs.files:
            return _refused("Type a message first.", 2, 2)
        with state.lock:
            if state.busy:
                return _refused(BUSY, 2, 2)
            message = self._user_message(inputs)
            try:
                conversation = [*state.conversation, message]
                prepared = self.core.prepare_chat(state, inputs, conversation)
            except PlaygroundError as exc:
                return _refused(exc, 2, 2)
            self._accept(state, prepared, conversation, "new")
            return (
                self._chat(state),
                EMPTY_INPUT,
                "",
                views.prompt_html(prepared, "The prompt of this request"),
                "_waiting for the model…_",
            )

    def regenerate(self, request: gr.Request, **values: Any) -> tuple:
        """Regenerate the last reply; the old one is kept as an alternative (outputs: chat, error, prompt, stats)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            if state.busy:
                return _refused(BUSY, 1, 2)
            start = _reply_start(state.conversation)
            if start is None:
                return _refused("There is no reply to regenerate yet.", 1, 2)
            try:
                prepared = self.core.prepare_chat(state, inputs, state.conversation[:start])
            except PlaygroundError as exc:
                return _refused(exc, 1, 2)
            _remember_tail(state, start)
            self._accept(state, prepared, state.conversation[:start], "regenerate")
            return self._chat(state), "", views.prompt_html(prepared, "The prompt of this request"), "_waiting…_"

    def continue_reply(self, request: gr.Request, **values: Any) -> tuple:
        """Continue the final assistant message (e.g. one cut off by the token limit)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            if state.busy:
                return _refused(BUSY, 1, 2)
            if not state.conversation or state.conversation[-1].get("role") != "assistant":
                return _refused("The last message is not a reply to continue.", 1, 2)
            try:
                prepared = self.core.prepare_chat(state, inputs, list(state.conversation), continue_final=True)
            except PlaygroundError as exc:
                return _refused(exc, 1, 2)
            self._accept(state, prepared, list(state.conversation), "continue")
            prompt = views.prompt_html(prepared, "The prompt of this request (the reply's turn is left open)")
            return self._chat(state), "", prompt, "_waiting…_"

    def add_tool_result(self, request: gr.Request, result: str, **values: Any) -> tuple:
        """Answer the last tool call with ``result`` and let the model continue (outputs: chat, result, error,
        prompt, stats)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            if state.busy:
                return _refused(BUSY, 2, 2)
            call = _last_tool_call(state.conversation)
            if call is None:
                return _refused("The last reply has no tool call to answer.", 2, 2)
            if not (result or "").strip():
                return _refused("Type the tool's result first.", 2, 2)
            function = call.get("function", call)
            message = {"role": "tool", "content": result, "name": function.get("name")}
            if call.get("id"):
                message["tool_call_id"] = call["id"]
            try:
                conversation = [*state.conversation, message]
                prepared = self.core.prepare_chat(state, inputs, conversation)
            except PlaygroundError as exc:
                return _refused(exc, 2, 2)
            self._accept(state, prepared, conversation, "new")
            return self._chat(state), "", "", views.prompt_html(prepared, "The prompt of this request"), "_waiting…_"

    def edit(self, data: gr.EditData, request: gr.Request, **values: Any) -> tuple:
        """An edited user message: the conversation continues from it (the old continuation is kept as an
        alternative). Outputs: chat, error, prompt, stats."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        with state.lock:
            owners = self._owners(state)
            index = data.index if isinstance(data.index, int) else data.index[0]
            if state.busy or index >= len(owners):
                problem = BUSY if state.busy else "That message no longer exists."
                return self._chat(state), views.error_html(problem), gr.skip(), gr.skip()
            at = owners[index]
            original = state.conversation[at]
            if original.get("role") != "user":
                return self._chat(state), views.error_html("Only your own messages can be edited."), *_skip(2)
            edited = {**original, "content": _edited_content(original.get("content"), str(data.value))}
            conversation = [*state.conversation[:at], edited]
            try:
                prepared = self.core.prepare_chat(state, inputs, conversation)
            except PlaygroundError as exc:
                return self._chat(state), error_view(exc), *_skip(2)
            _remember_tail(state, at)
            state.epoch += 1
            self._accept(state, prepared, conversation, "edit")
            return self._chat(state), "", views.prompt_html(prepared, "The prompt of this request"), "_waiting…_"

    def undo(self, data: gr.UndoData, request: gr.Request) -> tuple:
        """Remove the last user message and what followed; its text goes back into the Message box."""
        state = self.core.session(request)
        with state.lock:
            if state.busy:
                return gr.skip(), gr.skip(), views.error_html(BUSY)
            users = [i for i, m in enumerate(state.conversation) if m.get("role") == "user"]
            if not users:
                return self._chat(state), gr.skip(), ""
            at = users[-1]
            text = views._content_text(state.conversation[at].get("content"))
            state.conversation = state.conversation[:at]
            state.branches = None
            state.epoch += 1
            return self._chat(state), {"text": text, "files": []}, ""

    # ------------------------------------------------------------------ streaming

    def stream(self, request: gr.Request) -> Any:
        """Send, step 2: stream the accepted request (outputs: chat, stats, token view, branch row, branch label)."""
        state = self.core.session(request)
        with state.lock:
            prepared, kind, cancel, epoch = state.pending, state.pending_kind, state.pending_cancel, state.epoch
            state.pending = None
        if prepared is None:
            yield _skip(5)
            return
        try:
            yield from self._run(state, prepared, kind, cancel, epoch)
        finally:
            with state.lock:
                if state.epoch == epoch:
                    state.busy = False
                    state.current = None

    def _run(self, state: SessionState, prepared: PreparedChat, kind: str, cancel, epoch: int):
        parser = prepared.parser()
        with state.lock:
            if state.epoch != epoch:
                return
            if kind == "continue":
                index = len(state.conversation) - 1
                base = dict(state.conversation[index])
            else:
                state.conversation.append({"role": "assistant", "content": ""})
                index = len(state.conversation) - 1
                base = {"role": "assistant", "content": ""}
        prefix = views._content_text(base.get("content")) if kind == "continue" else ""
        tokens: list[TokenInfo] = []
        last_push = 0.0
        final: GenerationEvent | None = None
        error: PlaygroundError | None = None
        if cancel.is_set():  # stopped while it waited: nothing was generated
            events = iter(())
        else:
            events = self.core.engine.stream(prepared, cancel=cancel, cache=state.cache)
        try:
            for event in events:
                parser.feed(event.text)
                tokens.extend(event.tokens)
                final = event if event.done else final
                with state.lock:
                    if state.epoch != epoch:  # cleared or replaced: stop, write nothing
                        cancel.set()
                        return
                    state.conversation[index] = _reply_message(base, prefix, parser.result())
                now = time.monotonic()
                if event.done or now - last_push >= UPDATE_INTERVAL_S:
                    last_push = now
                    if not event.done:
                        yield self._chat(state, streaming=True), views.progress_line(event), *_skip(3)
        except PlaygroundError as exc:
            error = exc
        parser.finish()
        with state.lock:
            if state.epoch != epoch:
                return
            message = _reply_message(base, prefix, parser.result())
            if error is not None and not views._content_text(message.get("content")) and not message.get("tool_calls"):
                del state.conversation[index]  # nothing came back: do not leave an empty reply
            else:
                state.conversation[index] = message
            if kind in ("regenerate", "edit"):
                _add_alternative(state)
            stats = views.stats_line(final) if final is not None else "_stopped before it started_"
            notes = [w for w in (final.warnings if final else ()) if w not in prepared.warnings]
            if final is None and error is None:
                stats = "**cancelled** before it started · 0 tokens"
            state.last_run = LastRun(
                prepared, time.time(), tuple(tokens), stats, seed=final.seed if final else None, final=final
            )
            view = views.token_probs_html(tokens, note=_token_note(prepared, final))
            if error is not None:
                stats = views.error_html(error.message, error.hint)
            elif notes:
                stats += "\n\n" + "\n".join(f"⚠ {n}" for n in notes)
        yield self._chat(state), stats, view, *self._branch_row(state)

    # ------------------------------------------------------------------ stop, clear, branches, import/export

    def stop(self, request: gr.Request) -> None:
        """Stop this session's requests, wherever they are (queued, processing the prompt, streaming)."""
        self.core.session(request).stop()

    def clear(self, request: gr.Request) -> tuple:
        """Clear the conversation; a reply still streaming stops and writes nothing (outputs: chat, stats,
        token view, error, prompt, branch label)."""
        state = self.core.session(request)
        state.reset_conversation()
        state.last_run = None
        notice = views.notice_html("Type a message to see the exact prompt Send will send.", NEXT_PROMPT)
        return [], "", views.token_probs_html(()), "", notice, *self._branch_row(state)

    def switch_branch(self, step: int, request: gr.Request) -> tuple:
        """Show the previous / next alternative (outputs: chat, branch row, branch label, error)."""
        state = self.core.session(request)
        with state.lock:
            branches = state.branches
            if state.busy:
                return *_skip(3), views.error_html(BUSY)
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
        messages = ([{"role": "system", "content": system}] if system and system.strip() else []) + state.conversation
        return json.dumps(messages, ensure_ascii=False, indent=2)

    def import_conversation(self, text: str, request: gr.Request) -> tuple:
        """Replace the conversation (outputs: chat, system prompt, error, branch row, branch label)."""
        state = self.core.session(request)
        try:
            messages = parse_messages(text or "", "the conversation JSON")
        except MessagesError as exc:
            return gr.skip(), gr.skip(), error_view(exc), *_skip(2)
        system = ""
        if messages and messages[0]["role"] == "system" and isinstance(messages[0].get("content"), str):
            system = messages[0]["content"]
            messages = messages[1:]
        state.reset_conversation(messages)
        state.last_run = None
        return self._chat(state), system, "", *self._branch_row(state)

    def snippet(self, request: gr.Request, **values: Any) -> str:
        """Copy as code: a standalone mlx-lm script reproducing the chat's next generation."""
        from ..snippet import mlx_lm_snippet

        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        try:
            conversation = list(state.conversation)
            if inputs.text.strip():
                conversation.append({"role": "user", "content": inputs.text})
            if not conversation:
                conversation = [{"role": "user", "content": "Hello!"}]
            prepared = self.core.prepare_chat(state, inputs, conversation)
        except PlaygroundError as exc:
            return f"# {exc.message}\n# hint: {exc.hint or ''}\n"
        return mlx_lm_snippet(prepared)


# ---------------------------------------------------------------------------------------------- helpers


def _reply_message(base: dict, prefix: str, parsed: Any) -> dict:
    """The assistant message a (partial) parsed reply becomes, as the next turn's template will see it."""
    message = {k: v for k, v in base.items() if k not in ("content", "reasoning_content", "tool_calls")}
    message["role"] = "assistant"
    message["content"] = prefix + parsed.content
    reasoning = parsed.reasoning
    if base.get("reasoning_content") and prefix:
        reasoning = base["reasoning_content"] + (reasoning or "")
    if reasoning:
        message["reasoning_content"] = reasoning
    calls = [*(base.get("tool_calls") or [])] if prefix else []
    calls += [c.to_message_dict() for c in parsed.tool_calls]
    if calls:
        message["tool_calls"] = calls
    return message


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
    state.branches.current = len(state.branches.tails)  # the new alternative comes next


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
        return "Token probabilities are off (tick 'Token probabilities' to see them)."
    if final is None:
        return ""
    return f"{final.generation_tokens} tokens; finish: {final.finish_reason}" + (
        f" on {final.stop_token}" if final.stop_token else ""
    )
