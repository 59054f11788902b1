"""The Compare tab: one conversation, two or three columns, each with its own template, settings and backend.

The columns are prepared first (so a bad column is refused before anything runs), then submitted to the
engine together: on the local backend they decode in one batch, so three columns cost little more than
one. Every column gets the same seed (empty box: one random seed for all, shown in each column's stats).
A column's tokens come from this process ("local") or from the server named in the model panel
("server"); the prompt is rendered and tokenized here either way, so a local model and the model on a
server can be compared on the same exact prompt. An optional image goes to every column (vision models).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..backends.spec import BackendSpec
from ..errors import PlaygroundError
from ..options import options
from ..prepare import PreparedChat
from ..reply import ReplyState
from ..settings import new_seed
from . import views
from .core import AUTO, Core, error_view, update_interval
from .inputs import ChatInputs, _number
from .layout import COLUMNS, column_key

TAB = "compare"
#: A column's own structured output (see playground.ui.structured).
CONSTRAINT_FIELDS = ("constraint_kind", "json_schema", "constraint_regex", "constraint_grammar", "constraint_tool")
#: A column's own fields: its template, thinking, backend, structured output, and the options the table marks
#: ``compare`` (temperature, repetition penalty, thinking budget).
COLUMN_FIELDS = ("template", *(o.name for o in options() if o.compare), "enable_thinking", "backend",
                 *CONSTRAINT_FIELDS)  # fmt: skip
#: The model panel's fields a column uses (its backend when the column says "server", the EOS wiring).
PANEL_FIELDS = ("wire_eos", "backend", "base_url", "api_key", "served_model")


@dataclass
class _Column:
    """A column's reply as far as it has come (drawn like a chat reply: thinking, answer, tool calls)."""

    prepared: PreparedChat
    reply: ReplyState | None = None
    message: dict | None = None  # the reply's message when it was last drawn (made on the thread that runs it)
    chars: int = 0
    stats: str = "_waiting…_"

    def chat(self, streaming: bool) -> list[dict]:
        if self.message is None:
            return []
        return views.chat_view([self.message], streaming=streaming and not self.reply.done)[0]


class CompareHandlers:
    def __init__(self, core: Core):
        self.core = core

    def choices(self, request: gr.Request, **templates: Any) -> dict[str, Any]:
        """Every column's template choices for the session's model (a choice the model no longer offers goes
        back to auto). Inputs and outputs: template_1 ... template_3."""
        state = self.core.session(request)
        try:
            loaded = self.core.loaded(state)
        except PlaygroundError:
            return {}
        choices = self.core.template_choices(loaded, state.custom_template)
        offered = {value for _, value in choices}
        out = {}
        for index in range(1, COLUMNS + 1):
            key = column_key("template", index)
            current = templates.get(key)
            out[key] = gr.update(choices=choices, value=current if current in offered else AUTO)
        return out

    def stop(self, request: gr.Request) -> None:
        """Stop this session's Compare run(s): every column."""
        self.core.session(request).stop_runs(TAB)

    def _prepare(self, request: gr.Request, values: dict[str, Any]) -> tuple[list[PreparedChat], int]:
        """Every column's request: the message (and image), the column's own template and settings, Compare's
        max tokens and seed; every other setting is the model's default (the sidebar's settings are the Chat's
        and the Notebook's: no stop strings apply here)."""
        state = self.core.session(request)
        message = (values.get("compare_message", "") or "").strip()
        image = values.get("compare_image")
        if not message:
            raise PlaygroundError("Type a message to compare.", hint="the same message goes to every column")
        content: Any = message
        if image:
            path = image.get("path") if isinstance(image, dict) else image
            content = [{"type": "image", "image": state.images.localize(str(path))}, {"type": "text", "text": message}]
        seed_text = values.get("seed")
        seed = _number("seed", seed_text, int) if seed_text not in (None, "") else new_seed()
        shared = {name: values.get(name) for name in PANEL_FIELDS if name in values}
        shared.update(system=values.get("system") or "", max_tokens=values.get("max_tokens"), seed=seed,
                      logprobs=bool(values.get("logprobs", True)))  # fmt: skip
        prepared = []
        for index in range(1, (3 if values.get("third") else 2) + 1):
            column = {f: values[column_key(f, index)] for f in COLUMN_FIELDS if column_key(f, index) in values}
            remote = column.pop("backend") == "server"
            inputs = ChatInputs.from_values(
                {**shared, **column, "backend": shared.get("backend") if remote else "local"}
            )
            try:
                if remote and self.core.spec(inputs) == BackendSpec():
                    raise PlaygroundError(
                        "it asks for the server, but the model panel's backend is local",
                        hint="choose openai or ollama and a server URL under 'Generation backend'",
                    )
                column_request = self.core.prepare_chat(state, inputs, [{"role": "user", "content": content}])
                self.core.check_sendable(column_request)
                prepared.append(column_request)
            except PlaygroundError as exc:
                raise PlaygroundError(f"column {index}: {exc.message}", hint=exc.hint) from None
        return prepared, seed

    def run(self, request: gr.Request, compare_image: Any = None, **values: Any):
        """Prepare every column, then stream them together (``compare_image``: an image file for every column, or
        None). Outputs: per column its prompt, reply, stats and token view; the diff and the error box."""
        try:
            plans, _ = self._prepare(request, {**values, "compare_image": compare_image})
        except PlaygroundError as exc:
            yield {"compare_error": error_view(exc)}
            return
        columns = [_Column(p) for p in plans]
        special = plans[0].loaded.special_tokens()
        pieces = [views.split_pieces(p.text, special) for p in plans]
        diff = views.diff_html(pieces[0], pieces[1], "column 1", "column 2", special)
        if len(plans) > 2:
            diff += views.diff_html(pieces[0], pieces[2], "column 1", "column 3", special)
        prompts = [self.core.prompt_view(p, f"Column {i + 1}: the exact prompt") for i, p in enumerate(plans)]
        mixed = len({(p.request.backend or self.core.engine.default_backend).remote for p in plans}) > 1
        state = self.core.session(request)
        cancel = state.start_run(TAB)

        # While the columns stream, each update carries values only (a gr.skip() costs Gradio a component rebuild
        # per update); the unchanged ones cost nothing on the wire (generator outputs are sent as diffs).
        pending = [views.pending_tokens_html(bool(p.request.logprobs)) for p in plans]

        def pack(final: bool = False) -> dict[str, Any]:
            out: dict[str, Any] = {"compare_diff": diff, "compare_error": ""}
            for index in range(COLUMNS):
                shown: tuple = ("", [], "", "")
                if index < len(columns):
                    c = columns[index]
                    tokens = c.reply.tokens if c.reply is not None else []
                    view = views.token_probs_html(tokens, note="") if final else pending[index]
                    shown = (prompts[index], c.chat(streaming=not final), c.stats, view)
                for name, value in zip(("compare_prompt", "compare_chat", "compare_stats", "compare_tokens"), shown):
                    out[column_key(name, index + 1)] = value
            return out

        yield pack()
        updates: queue.Queue = queue.Queue()

        def consume(index: int, prepared: PreparedChat) -> None:
            # A reply changes as it runs: what is drawn (its message, its progress) is taken here, on its thread.
            engine = self.core.engine  # columns with a common prompt start share its KV cache (the engine's pool)
            for reply in engine.reply(prepared, cancel=cancel, cache=engine.prompt_cache):  # failures never raise
                updates.put((index, reply, reply.message(), reply.done, reply.event, len(reply.text)))

        for index, prepared in enumerate(plans):
            threading.Thread(target=consume, args=(index, prepared), daemon=True).start()
        remaining, last_push = len(plans), 0.0
        try:
            with self.core.streams.streaming():
                while remaining:
                    index, reply, message, done, event, chars = updates.get()
                    column = columns[index]
                    column.reply, column.message, column.chars = reply, message, chars
                    if done:
                        remaining -= 1
                        column.stats = _column_stats(reply, mixed)
                    elif event is not None:
                        column.stats = views.progress_line(event)
                    now = time.monotonic()
                    chars = sum(c.chars for c in columns)
                    if remaining and now - last_push >= update_interval(chars, self.core.streams.count):
                        last_push = now
                        yield pack()
        finally:
            if remaining:  # the page went away mid-run: stop the columns
                cancel.set()
            state.end_run(TAB, cancel)
        yield pack(final=True)


def _column_stats(reply: ReplyState, mixed: bool) -> str:
    """A finished column's stats line, with its error (a partial reply is kept and called so)."""
    stats = views.reply_stats(reply, show_local=mixed)
    if reply.error is not None:
        stats += "\n\n" + error_view(reply.error)
    return stats
