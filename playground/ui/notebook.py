"""The Notebook tab: raw text in, the model's continuation out, with no template at all."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..prepare import ChatRequest
from . import views
from .core import Core, error_view, update_interval
from .inputs import TOKEN_VIEW_TOP, ChatInputs

TAB = "notebook"


def notebook_html(prompt: str, continuation: str, special=()) -> str:
    """The text as sent (subdued) followed by the model's continuation (marked); special tokens as chips."""
    return (
        '<pre class="pg-prompt"><span class="pg-tpl">'
        + views.with_chips(prompt, special)
        + '</span><mark class="pg-continuation">'
        + views.with_chips(continuation, special)
        + "</mark></pre>"
    )


class NotebookHandlers:
    def __init__(self, core: Core):
        self.core = core

    def stop(self, request: gr.Request) -> None:
        """Stop this session's Notebook run(s)."""
        self.core.session(request).stop_runs(TAB)

    def run(self, request: gr.Request, text: str, **values: Any):
        """Continue ``text`` byte for byte. Outputs: output, stats, token view, error."""
        state = self.core.session(request)
        try:
            inputs = ChatInputs.from_values(values)
            spec = self.core.spec(inputs)
            loaded = self.core.loaded(state, spec)
            prepared = self.core.engine.prepare(
                loaded,
                ChatRequest(
                    raw_prompt=text or "",
                    settings=inputs.settings(),
                    wire_eos=bool(inputs.wire_eos),
                    logprobs=TOKEN_VIEW_TOP if inputs.logprobs else 0,
                    backend=spec,
                ),
            )
        except PlaygroundError as exc:
            yield gr.skip(), gr.skip(), gr.skip(), error_view(exc)
            return
        cancel = state.start_run(TAB)
        special = prepared.loaded.special_tokens()
        notes = [*prepared.warnings, *self.core.backend_notes(prepared)]
        facts = f"{prepared.prompt_tokens} prompt tokens · " + " · ".join(views.md_text(w) for w in notes)
        # Streamed updates carry values only: a gr.skip() costs Gradio a component rebuild per update.
        pending = views.pending_tokens_html(bool(prepared.request.logprobs))
        yield notebook_html(text, "", special), f"_{facts}_", pending, ""
        reply, last_push = None, 0.0
        try:
            for reply in self.core.streams.counted(self.core.engine.reply(prepared, cancel=cancel)):
                now = time.monotonic()
                if not reply.done and now - last_push >= update_interval(len(reply.text), self.core.streams.count):
                    last_push = now
                    yield notebook_html(text, reply.text, special), views.progress_line(reply.event), pending, ""
        finally:
            state.end_run(TAB, cancel)
        state.notebook_last = reply.text
        yield (
            notebook_html(text, reply.text, special),
            views.reply_stats(reply),
            views.token_probs_html(reply.tokens),
            error_view(reply.error) if reply.error is not None else "",
        )

    def append(self, request: gr.Request, text: str) -> str:
        """Append the last continuation to the text, to continue from there."""
        state = self.core.session(request)
        with state.lock:
            continuation, state.notebook_last = state.notebook_last, ""
        return (text or "") + continuation
