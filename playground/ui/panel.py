"""The model panel: which model, which backend, which EOS tokens, which settings the next request uses.

The panel always describes the session's model (the one the next request will use), never merely the
one picked in the dropdown: a picked model is used after Load succeeds. A failed Load leaves the session
on its previous model, puts that name back in the picker and says what went wrong in the panel.
Empty number boxes mean "the model's default", shown as the box's placeholder; Load never overwrites a
value the user typed.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..options import options
from ..prepare import resolve_settings
from ..settings import DEFAULTABLE_FIELDS
from . import views
from .core import AUTO, Core
from .inputs import ChatInputs

#: The setting boxes whose placeholders show the model's defaults, in the order of the load outputs.
SETTING_BOXES = tuple(o.name for o in options())
log = logging.getLogger(__name__)
EFFORT_DEFAULT = "(the template's default)"
_SOURCE = {"model": "the model's generation_config.json", "family": "the family preset", "default": "default"}


def _problem(exc: PlaygroundError) -> str:
    return views.md_text(exc.message + (f" ({exc.hint})" if exc.hint else ""))


class PanelHandlers:
    def __init__(self, core: Core):
        self.core = core

    # ------------------------------------------------------------------ description

    def _describe(self, state, inputs: ChatInputs) -> tuple[str, Any]:
        """Status Markdown and the template family (for the thinking / effort controls)."""
        try:
            backend = self.core.spec(inputs)
            loaded = self.core.loaded(state, backend)
        except PlaygroundError as exc:
            return f"**Model:** `{state.model}` · ⚠ {self.core.scrub(_problem(exc))}", None
        family = self.core.template_family(state, inputs.template, backend)
        summary = loaded.summary(bool(inputs.wire_eos))
        params = f"{loaded.num_parameters / 1e6:,.1f}M parameters · " if loaded.num_parameters else ""
        source = views.md_text(self.core.scrub(backend.describe(), backend))
        lines = [
            f"**Model:** `{loaded.name}` · {params}context {loaded.context_length:,} tokens · tokens from: {source}",
            f"**Family:** {summary['family']} (preset `{summary['preset']}`): {views.md_text(summary['reason'])}",
        ]
        vision = _vision_line(loaded)
        if vision:
            lines.append(vision)
        conversation = list(state.conversation) or [{"role": "user", "content": "Hello!"}]
        try:
            prepared = self.core.prepare_chat(state, inputs, conversation)
        except PlaygroundError as exc:
            lines.append(f"⚠ {_problem(exc)}")
            return "\n\n".join(lines), family
        rendered = prepared.rendered
        lines.append(f"**Template:** {views.md_text(rendered.template_name)} ({rendered.source})")
        wiring = "wired: the family's EOS tokens are added" if prepared.eos.wired else "wiring off: the tokenizer's own"
        lines.append(f"**Stops on:** {' '.join(f'`{t}`' for t in prepared.eos.tokens) or '(nothing)'} ({wiring})")
        settings, _ = resolve_settings(loaded, prepared.request.settings)
        shown = []
        for name in sorted(DEFAULTABLE_FIELDS):
            source = prepared.setting_sources.get(name, "default")
            tag = "" if source == "you" else f" ({_SOURCE.get(source, source)})"
            value = getattr(settings, name)
            if name == "max_tokens" and prepared.settings.max_tokens < value:
                room = "this conversation" if state.conversation else "a first message"
                tag += f" (at most {prepared.settings.max_tokens} for {room}, to fit the context)"
            shown.append(f"{name} {value}{tag}")
        lines.append("**Settings:** " + ", ".join(shown))
        if prepared.template_kwargs:
            kwargs = ", ".join(f"`{k}={v!r}`" for k, v in prepared.template_kwargs.items())
            lines.append(f"**Template keywords:** {kwargs}")
        if prepared.reasoning != "none" or prepared.tool_calls != "none":
            lines.append(f"**Reply formats:** reasoning `{prepared.reasoning}`, tool calls `{prepared.tool_calls}`")
        notes = [*loaded.detection.warnings, *loaded.notes, *prepared.warnings]
        lines += [f"⚠ {views.md_text(n)}" for n in dict.fromkeys(notes)]
        return "\n\n".join(lines), family

    @staticmethod
    def _controls(family: Any) -> tuple[Any, Any]:
        """Show the thinking toggle / effort choice only when the template's family declares them."""
        thinking = family.control("thinking") if family is not None else None
        effort = family.control("effort") if family is not None else None
        thinking_update = gr.update(
            visible=thinking is not None,
            label=f"Enable thinking ({thinking.name})" if thinking is not None else "Enable thinking",
            info=thinking.description if thinking is not None else None,
        )
        effort_update = gr.update(
            visible=effort is not None,
            choices=[(EFFORT_DEFAULT, ""), *[(c, c) for c in (effort.choices if effort is not None else ())]],
            label=f"Reasoning effort ({effort.name})" if effort is not None else "Reasoning effort",
        )
        return thinking_update, effort_update

    def describe(self, request: gr.Request, model: str | None = None, **values: Any) -> tuple:
        """Re-describe after any panel change (outputs: status, thinking toggle, effort choice)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        try:
            status, family = self._describe(state, inputs)
        except Exception as exc:  # described inline, never an overlay
            log.exception("describing the model failed")
            status, family = f"⚠ {views.md_text(f'{type(exc).__name__}: {exc}')}", None
        notice = ""
        picked = (model or "").strip()
        if picked and picked != state.model:
            notice = (
                f"**{views.md_text(picked)}** is picked but not loaded: requests still use `{state.model}`. "
                "Click Load.\n\n"
            )
        return notice + status, *self._controls(family)

    # ------------------------------------------------------------------ loading

    def _placeholders(self, state, inputs: ChatInputs) -> list[Any]:
        try:
            loaded = self.core.loaded(state, self.core.spec(inputs))
        except PlaygroundError:
            return [gr.skip() for _ in SETTING_BOXES]
        defaults, sources = resolve_settings(loaded, None)
        out = []
        for name in SETTING_BOXES:
            source = {"model": "the model's", "family": "the family's"}.get(sources.get(name), "")
            out.append(gr.update(placeholder=f"{getattr(defaults, name)} ({source + ' ' if source else ''}default)"))
        return out

    def load(self, request: gr.Request, model: str, **values: Any) -> tuple:
        """Load ``model`` for this session. Outputs: picker, status, template choices, the setting boxes'
        placeholders, thinking toggle, effort choice, the panel's error box.

        A failed Load leaves the session on its model, puts that name back in the picker and says why in the
        error box, which only the next Load changes (the status below it keeps describing what is used)."""
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        wanted = (model or "").strip() or self.core.default_model
        try:
            backend = self.core.spec(inputs)
            self.core.engine.load(wanted, weights=not backend.remote)
        except PlaygroundError as exc:
            status, family = self._describe(state, inputs)
            failed = views.error_html(
                self.core.scrub(f"Could not load {wanted}: {exc.message}"),
                self.core.scrub((f"{exc.hint} · " if exc.hint else "") + f"still using {state.model}"),
            )
            return (
                gr.update(value=state.model),
                status,
                gr.skip(),
                *[gr.skip() for _ in SETTING_BOXES],
                *self._controls(family),
                failed,
            )
        state.model = wanted
        loaded = self.core.loaded(state, backend)
        template = inputs.template if inputs.template not in ("model",) or loaded.metadata.own_template else AUTO
        choices = self.core.template_choices(loaded, state.custom_template)
        status, family = self._describe(state, ChatInputs.from_values({**values, "template": template}))
        known = self.core.model_choices()
        return (
            gr.update(value=wanted, choices=known + ([wanted] if wanted not in known else [])),
            status,
            gr.update(choices=choices, value=template),
            *self._placeholders(state, inputs),
            *self._controls(family),
            "",
        )

    def page_load(self, request: gr.Request, **values: Any) -> tuple:
        """The first view of a session: its model loaded and described."""
        state = self.core.session(request)
        return self.load(request, state.model or self.core.default_model, **values)

    def test_connection(self, request: gr.Request, **values: Any) -> str:
        """Ask the chosen backend what it reports about itself: which server, its version, its models, how the
        playground adapts to it. Problems (unreachable, refused key, unknown model) are one inline message;
        no secret is ever shown."""
        spec = None
        try:
            spec = self.core.spec(ChatInputs.from_values(values))
            self.core.forget_unreachable(spec)
            report = self.core.engine.backend(spec).check()
        except PlaygroundError as exc:
            return views.error_html(self.core.scrub(exc.message, spec), self.core.scrub(exc.hint or "", spec) or None)
        except Exception as exc:  # inline, never an overlay
            log.exception("test connection failed")
            return views.error_html(self.core.scrub(f"the connection test failed: {type(exc).__name__}: {exc}", spec))
        return self.core.scrub(views.connection_html(report), spec)


def _vision_line(loaded: Any) -> str:
    """The status line of a vision-language model (what images become, or how to get image support)."""
    runtime = loaded.vision
    if runtime is not None:
        token = f"`{runtime.image_token}` tokens" if runtime.image_token else "image tokens"
        kind = f" ({runtime.model_type})" if runtime.model_type else ""
        return (
            f"**Vision:** a vision-language model{kind}, run with mlx-vlm: attach images in the chat (or in "
            f"Compare); each image becomes {token} in the prompt"
        )
    if loaded.detection.vision:
        from ..vision.runtime import install_command

        return (
            "**Vision:** a vision-language model, but mlx-vlm (the 'vision' extra) is not installed: text only. "
            f"Install it with: `{install_command()}`"
        )
    return ""
