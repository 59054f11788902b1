"""Saved settings: named sets of system prompt + sampling settings kept in the browser, applied in one click;
and the current settings exported as JSON and as the ``mlx-playground generate`` command that reproduces
the last run."""

from __future__ import annotations

import json
import shlex
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from . import views
from .core import Core
from .inputs import ChatInputs

#: The components a saved setting holds, in the order of the apply outputs.
SAVED_FIELDS = (
    "system",
    "template",
    "system_strategy",
    "template_kwargs",
    "tools",
    "enable_thinking",
    "reasoning_effort",
    "temperature",
    "top_p",
    "min_p",
    "top_k",
    "repetition_penalty",
    "repetition_context_size",
    "max_tokens",
    "seed",
    "stop",
)
MAX_SAVED = 50
_FLAGS = {
    "temperature": "--temp",
    "top_p": "--top-p",
    "min_p": "--min-p",
    "top_k": "--top-k",
    "repetition_penalty": "--repetition-penalty",
    "repetition_context_size": "--repetition-context-size",
    "max_tokens": "--max-tokens",
}


class SavedHandlers:
    def __init__(self, core: Core):
        self.core = core

    @staticmethod
    def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
        return {k: values.get(k) for k in SAVED_FIELDS}

    def save(self, name: str, saved: dict | None, **values: Any) -> tuple:
        """Outputs: saved store, dropdown, message."""
        name = (name or "").strip()
        saved = dict(saved or {})
        if not name:
            return gr.skip(), gr.skip(), views.error_html("Give the settings a name first.")
        try:
            ChatInputs.from_values(values).settings()  # refuse invalid settings before saving them
        except PlaygroundError as exc:
            return gr.skip(), gr.skip(), views.error_html(exc.message, exc.hint)
        if name not in saved and len(saved) >= MAX_SAVED:
            return gr.skip(), gr.skip(), views.error_html(f"At most {MAX_SAVED} saved settings: delete one first.")
        saved[name] = self._snapshot(values)
        message = f'<div class="pg-meta">Saved "{views.esc(name)}" in this browser.</div>'
        return saved, gr.update(choices=sorted(saved), value=name), message

    def apply(self, name: str, saved: dict | None) -> tuple:
        """Outputs: every saved field's component, then the message."""
        entry = (saved or {}).get(name or "")
        if entry is None:
            return (*[gr.skip() for _ in SAVED_FIELDS], views.error_html("Pick saved settings to apply."))
        updates = [entry.get(k, gr.skip()) if k in entry else gr.skip() for k in SAVED_FIELDS]
        return (*updates, f'<div class="pg-meta">Applied "{views.esc(name)}".</div>')

    def delete(self, name: str, saved: dict | None) -> tuple:
        saved = dict(saved or {})
        if saved.pop(name or "", None) is None:
            return gr.skip(), gr.skip(), views.error_html("Pick saved settings to delete.")
        message = f'<div class="pg-meta">Deleted "{views.esc(name)}".</div>'
        return saved, gr.update(choices=sorted(saved), value=None), message

    def choices(self, saved: dict | None) -> Any:
        return gr.update(choices=sorted(saved or {}))

    def export(self, request: gr.Request, **values: Any) -> tuple[str, str]:
        """The current settings as JSON, and the generate command reproducing the last run (or the next)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        snapshot = self._snapshot(values)
        run = state.last_run
        seed = run.seed if run is not None else inputs.settings().seed
        try:
            prepared = run.prepared if run is not None else self.core.prepare_chat(
                state, inputs, state.conversation or [{"role": "user", "content": "Hello!"}]
            )
        except PlaygroundError as exc:
            return json.dumps(snapshot, ensure_ascii=False, indent=2), f"# {exc.message}"
        request_ = prepared.request
        args = ["mlx-playground", "generate", "--model", state.model or self.core.default_model]
        messages = [m for m in request_.messages]
        if len(messages) == 1 or (len(messages) == 2 and messages[0]["role"] == "system"):
            if messages[0]["role"] == "system":
                args += ["--system", str(messages[0]["content"])]
            args += ["--prompt", str(messages[-1].get("content"))]
            note = ""
        else:
            args += ["--messages", "conversation.json"]
            note = "# save the conversation first: Conversation JSON > Export, as conversation.json\n"
        if request_.template not in ("auto", "", None):
            args += ["--template", "custom.jinja"] if request_.template == "custom" else ["--preset", request_.template]
        for name, flag in _FLAGS.items():
            args += [flag, str(getattr(prepared.settings, name))]
        if seed is not None:
            args += ["--seed", str(seed)]
        for stop in prepared.settings.stop:
            args += ["--stop", stop]
        if request_.template_kwargs:
            args += ["--template-kwargs", json.dumps(dict(request_.template_kwargs), ensure_ascii=False)]
        if request_.tools:
            args += ["--tools", "tools.json"]
            note += "# save the Tools box as tools.json\n"
        if not request_.wire_eos:
            args.append("--no-eos-wiring")
        if request_.system_strategy != "merge":
            args += ["--system-strategy", request_.system_strategy]
        return json.dumps(snapshot, ensure_ascii=False, indent=2), note + shlex.join(args)
