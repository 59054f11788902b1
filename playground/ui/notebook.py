"""The Notebook tab: raw text in, the model's continuation out, with no template at all."""

from __future__ import annotations

import threading
import time
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..events import TokenInfo
from ..prepare import ChatRequest
from . import views
from .core import UPDATE_INTERVAL_S, Core, error_view
from .inputs import TOKEN_VIEW_TOP, ChatInputs


def notebook_html(prompt: str, continuation: str) -> str:
    """The text as sent (subdued) followed by the model's continuation (marked)."""
    return (
        '<pre class="pg-prompt"><span class="pg-tpl">'
        + views.visible_whitespace(prompt)
        + '</span><mark class="pg-continuation">'
        + views.visible_whitespace(continuation)
        + "</mark></pre>"
    )


class NotebookHandlers:
    def __init__(self, core: Core):
        self.core = core
        self._cancels: dict[str, threading.Event] = {}
        self._last: dict[str, str] = {}

    def stop(self, request: gr.Request) -> None:
        event = self._cancels.get(getattr(request, "session_hash", None) or "anonymous")
        if event is not None:
            event.set()

    def run(self, request: gr.Request, text: str, **values: Any):
        """Continue ``text`` byte for byte. Outputs: output, stats, token view, error."""
        state = self.core.session(request)
        key = getattr(request, "session_hash", None) or "anonymous"
        inputs = ChatInputs.from_values(values)
        try:
            loaded = self.core.loaded(state, inputs.spec())
            prepared = self.core.engine.prepare(
                loaded,
                ChatRequest(
                    raw_prompt=text or "",
                    settings=inputs.settings(),
                    wire_eos=bool(inputs.wire_eos),
                    logprobs=TOKEN_VIEW_TOP if inputs.logprobs else 0,
                    backend=inputs.spec(),
                ),
            )
        except PlaygroundError as exc:
            yield gr.skip(), gr.skip(), gr.skip(), error_view(exc)
            return
        cancel = threading.Event()
        self._cancels[key] = cancel
        continuation, tokens, final, last_push = "", [], None, 0.0
        facts = f"{prepared.prompt_tokens} prompt tokens · " + " · ".join(prepared.warnings)
        yield notebook_html(text, ""), f"_{facts}_", gr.skip(), ""
        try:
            for event in self.core.engine.stream(prepared, cancel=cancel):
                continuation += event.text
                tokens.extend(event.tokens)
                final = event if event.done else final
                now = time.monotonic()
                if not event.done and now - last_push >= UPDATE_INTERVAL_S:
                    last_push = now
                    yield notebook_html(text, continuation), views.progress_line(event), gr.skip(), ""
        except PlaygroundError as exc:
            yield notebook_html(text, continuation), gr.skip(), gr.skip(), error_view(exc)
            return
        self._last[key] = continuation
        token_list: list[TokenInfo] = tokens
        yield (
            notebook_html(text, continuation),
            views.stats_line(final) if final else "",
            views.token_probs_html(token_list),
            "",
        )

    def append(self, request: gr.Request, text: str) -> str:
        """Append the last continuation to the text, to continue from there."""
        key = getattr(request, "session_hash", None) or "anonymous"
        return (text or "") + self._last.pop(key, "")
