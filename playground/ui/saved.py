"""Saved settings: named sets of system prompt + sampling settings kept in the browser, applied in one click;
and the current settings exported as JSON and as the ``mlx-playground generate`` command that reproduces
the last run (messages, template and tools passed exactly, in quoted heredocs)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..options import command_args, options
from ..prepare import AUTO, PreparedChat
from ..templates import CUSTOM_CHOICE, DEFAULT_SYSTEM_STRATEGY, MODEL_CHOICE
from . import views
from .core import Core
from .inputs import ChatInputs

#: The components a saved setting holds, in the order of the apply outputs: the template settings, every option
#: of the options table, the seed and the stop strings.
SAVED_FIELDS = (
    "system",
    "template",
    "system_strategy",
    "template_kwargs",
    "tools",
    "enable_thinking",
    "reasoning_effort",
    *(option.name for option in options()),
    "seed",
    "stop",
)
MAX_SAVED = 50


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
        """The current settings as JSON, and the commands reproducing the last run (or, before any, the next)."""
        state = self.core.session(request)
        snapshot = self._snapshot(values)
        run = state.last_run
        try:
            inputs = ChatInputs.from_values(values)
            seed = run.seed if run is not None else inputs.settings().seed
            prepared = (
                run.prepared
                if run is not None
                else self.core.prepare_chat(
                    state, inputs, state.conversation or [{"role": "user", "content": "Hello!"}]
                )
            )
        except PlaygroundError as exc:
            return json.dumps(snapshot, ensure_ascii=False, indent=2), f"# {exc.message}"
        model = state.model or self.core.default_model
        return json.dumps(snapshot, ensure_ascii=False, indent=2), generate_command(prepared, model, seed)


def _heredoc(text: str, tag: str) -> tuple[str, str]:
    """A quoted heredoc delimiter that does not occur in ``text`` (so the text is passed exactly)."""
    while tag in text:
        tag += "_"
    return f"<<'{tag}'", f"{text}\n{tag}"


def generate_command(prepared: PreparedChat, model: str, seed: int | None) -> str:
    """Shell commands that rerun ``prepared`` with ``mlx-playground generate``: the same messages, template,
    keywords, tools, settings (as resolved), seed, EOS wiring and backend (the API key is never written:
    the command reads it from the environment)."""
    request = prepared.request
    before: list[str] = []
    args = ["mlx-playground", "generate", "--model", model]
    stdin = None
    messages = list(request.messages)
    simple = all(isinstance(m.get("content"), str) and set(m) <= {"role", "content"} for m in messages)
    roles = [m["role"] for m in messages]
    if simple and roles in (["user"], ["system", "user"]):
        if roles[0] == "system":
            args += ["--system", messages[0]["content"]]
        args += ["--prompt", messages[-1]["content"]]
    else:
        args += ["--messages", "-"]
        stdin = _heredoc(json.dumps(messages, ensure_ascii=False, indent=2), "MESSAGES")
    if request.template == CUSTOM_CHOICE and request.custom_template:
        start, body = _heredoc(request.custom_template, "TEMPLATE")
        before.append(f"cat > custom.jinja {start}\n{body}")
        args += ["--template", "custom.jinja"]
    elif request.template not in (AUTO, "", None, MODEL_CHOICE, CUSTOM_CHOICE):
        args += ["--preset", request.template]
    if request.tools:
        start, body = _heredoc(json.dumps(list(request.tools), ensure_ascii=False, indent=2), "TOOLS")
        before.append(f"cat > tools.json {start}\n{body}")
        args += ["--tools", "tools.json"]
    if request.template_kwargs:
        args += ["--template-kwargs", json.dumps(dict(request.template_kwargs), ensure_ascii=False)]
    if request.system_strategy != DEFAULT_SYSTEM_STRATEGY:
        args += ["--system-strategy", request.system_strategy]
    if request.continue_final:
        args.append("--continue-final")
    settings = prepared.settings
    args += command_args(settings.to_dict())  # every option, as resolved: the command needs no defaults
    if seed is not None:
        args += ["--seed", str(seed)]
    if settings.stop:
        args += ["--stop", *settings.stop]  # one --stop with every string (a repeated --stop keeps only the last)
    if not request.wire_eos:
        args.append("--no-eos-wiring")
    backend = request.backend
    if backend is not None and backend.remote:
        args += ["--backend", backend.kind, "--base-url", backend.base_url or ""]
        if backend.served_model:
            args += ["--served-model", backend.served_model]
        if backend.api_key:
            before.append("# the server's API key: export MLX_PLAYGROUND_API_KEY=... first")
    command = shlex.join(args)
    if stdin is not None:
        command += f" {stdin[0]}\n{stdin[1]}"
    return "\n".join([*before, command])
