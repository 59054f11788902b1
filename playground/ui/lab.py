"""The Template lab: edit a template, see it render live (with tools and keywords), lint it, use it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..families import registry
from ..messages import parse_messages
from ..prepare import ChatRequest, template_choice
from ..templates import CUSTOM_CHOICE, MODEL_CHOICE, compile_template, lint_template
from . import views
from .core import AUTO, Core
from .inputs import ChatInputs


def _error(exc: PlaygroundError) -> str:
    """A template error, always with its line number when there is one."""
    lineno = getattr(exc, "lineno", None)
    message = exc.message
    if lineno and f"line {lineno}" not in message:
        message = f"line {lineno}: {message}"
    return views.error_html(message, exc.hint)


class LabHandlers:
    def __init__(self, core: Core):
        self.core = core

    def choices(self, request: gr.Request) -> Any:
        """What the lab can start from: the model's own template, auto, presets, the session's custom one."""
        state = self.core.session(request)
        try:
            loaded = self.core.loaded(state)
        except PlaygroundError:
            return gr.skip()
        return gr.update(choices=self.core.template_choices(loaded, state.custom_template), value=AUTO)

    def source(self, which: str, request: gr.Request) -> str:
        """The text of the model's own template, a preset, or the session's custom template."""
        state = self.core.session(request)
        if which == CUSTOM_CHOICE:
            return state.custom_template
        if which not in (AUTO, "", None, MODEL_CHOICE):
            return registry().get(which).template
        try:
            loaded = self.core.loaded(state)
        except PlaygroundError as exc:
            return f"{{# {exc.message} #}}"
        if which == MODEL_CHOICE:
            return loaded.metadata.own_template or ""
        return template_choice(loaded).template

    def render(self, request: gr.Request, source: str, sample: str, **values: Any) -> tuple[str, str, str, str]:
        """Live render of an edited template: output, errors (with line numbers), lint report, token view."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        try:
            loaded = self.core.loaded(state)
            messages = parse_messages(sample or "", "the sample conversation")
            prepared = self.core.engine.prepare(
                loaded,
                ChatRequest(
                    messages=tuple(messages),
                    template=CUSTOM_CHOICE,
                    custom_template=source,
                    system_strategy=inputs.system_strategy,
                    template_kwargs=inputs.kwargs(),
                    tools=inputs.tool_list(),
                ),
            )
            choice = prepared.template
            report = lint_template(source, prepared.eos.tokens, choice.bos_token, choice.eos_token)
        except PlaygroundError as exc:
            return "", _error(exc), "", ""
        ids = list(prepared.token_ids)
        pieces = [loaded.tokenizer.decode([i]) for i in ids]
        return (
            views.rendered_html(prepared.rendered, loaded.special_tokens(), len(ids)),
            '<div class="pg-meta">OK: renders without errors</div>',
            report.to_markdown(),
            views.tokens_html(ids, pieces, loaded.special_ids()),
        )

    def use(self, source: str, request: gr.Request) -> tuple[Any, str]:
        """Make the edited template the chat's template (outputs: the chat's template choice, lab errors)."""
        if not source or not source.strip():
            return gr.skip(), views.error_html("The template is empty.")
        try:
            compile_template(source)
        except PlaygroundError as exc:
            return gr.skip(), _error(exc)
        state = self.core.session(request)
        state.custom_template = source
        try:
            loaded = self.core.loaded(state)
            choices = self.core.template_choices(loaded, source)
        except PlaygroundError:
            choices = [(CUSTOM_CHOICE, CUSTOM_CHOICE)]
        note = '<div class="pg-meta">The chat now uses your custom template (template: custom).</div>'
        return gr.update(choices=choices, value=CUSTOM_CHOICE), note
