"""The model panel: which model, which backend, which EOS tokens, which settings the next request uses.

The panel always describes the session's model (the one the next request will use), never merely the
one picked in the dropdown: a picked model is used after Load succeeds. A failed Load leaves the session
on its previous model, puts that name back in the picker and says what went wrong in the panel.

The header says it in one line (model, family, template, stops, backend); the details are a click away.
Each setting's slider starts at the value in use (the model's generation_config.json, the family's, or
ours), says where that value comes from and has a reset to it. Load moves a slider to the new model's
value only when it was left at the old model's: a value the user chose stays.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from ..errors import PlaygroundError
from ..prepare import resolve_settings
from ..settings import DEFAULTABLE_FIELDS
from . import views
from .core import AUTO, Core
from .inputs import MARKED_FIELDS, ChatInputs, bad_field
from .layout import EFFORT_DEFAULT, sliders

#: The settings with a slider (a value in use by default), in the options table's order.
SETTING_BOXES = tuple(o.name for o in sliders())
log = logging.getLogger(__name__)
_SOURCE = {"model": "the model's generation_config.json", "family": "the family preset", "default": "default"}
#: The settings line under the sliders says where a value comes from in a word ("yours" when nothing is said).
_SHORTER = ((" (the model's generation_config.json)", " (model)"), (" (the family preset)", " (family)"),
            (" (default)", ""), (", ", " · "))  # fmt: skip
_FROM = {"model": "generation_config.json", "family": "the family preset", "default": "the playground's"}


def _problem(exc: PlaygroundError) -> str:
    return views.md_text(exc.message + (f" ({exc.hint})" if exc.hint else ""))


def _same(value: Any, default: Any) -> bool:
    try:
        return value is not None and default is not None and float(value) == float(default)
    except (TypeError, ValueError):
        return False


class PanelHandlers:
    def __init__(self, core: Core):
        self.core = core

    # ------------------------------------------------------------------ description

    def _prepared(self, state, inputs: ChatInputs, values: dict[str, Any]):
        """The request a first (or the next) message makes, and the field that could not be used (its error).
        A bad setting is described as the model's default, so the rest of the panel still shows."""
        conversation = list(state.conversation) or [{"role": "user", "content": "Hello!"}]
        try:
            return self.core.prepare_chat(state, inputs, conversation), None, None
        except PlaygroundError as exc:
            field = bad_field(exc)
            if field is None or field not in values:
                return None, None, exc
            cleared = ChatInputs.from_values({**values, field: None if field in SETTING_BOXES else ""})
            try:
                return self.core.prepare_chat(state, cleared, conversation), field, exc
            except PlaygroundError:
                return None, field, exc

    def _describe(self, state, values: dict[str, Any]) -> dict[str, Any]:
        """The status lines, the one-line summary, the settings line, the template family (for the thinking /
        effort controls) and the field to mark as invalid."""
        inputs = ChatInputs.from_values(values)
        try:
            backend = self.core.spec(inputs)
            loaded = self.core.loaded(state, backend)
        except PlaygroundError as exc:
            problem = f"**Model:** `{state.model}` · ⚠ {self.core.scrub(_problem(exc))}"
            return {"status": problem, "summary": problem, "family": None, "settings": "", "field": bad_field(exc)}
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
        prepared, field, error = self._prepared(state, inputs, values)
        head = f"`{loaded.name}` · **{summary['family']}**"
        if prepared is None:
            lines.append(f"⚠ {_problem(error)}")
            return {"status": "\n\n".join(lines), "summary": f"{head} · ⚠ {_problem(error)}",
                    "family": None, "settings": "", "field": field}  # fmt: skip
        rendered, family = prepared.rendered, prepared.family
        lines.append(f"**Template:** {views.md_text(rendered.template_name)} ({rendered.source})")
        wiring = "wired: the family's EOS tokens are added" if prepared.eos.wired else "wiring off: the tokenizer's own"
        stops = " ".join(f"`{t}`" for t in prepared.eos.tokens) or "(nothing)"
        lines.append(f"**Stops on:** {stops} ({wiring})")
        settings = self._settings_line(state, loaded, prepared)
        lines.append("**Settings:** " + settings)
        if prepared.template_kwargs:
            kwargs = ", ".join(f"`{k}={v!r}`" for k, v in prepared.template_kwargs.items())
            lines.append(f"**Template keywords:** {kwargs}")
        if prepared.reasoning != "none" or prepared.tool_calls != "none":
            lines.append(f"**Reply formats:** reasoning `{prepared.reasoning}`, tool calls `{prepared.tool_calls}`")
        if error is not None:
            lines.append(f"⚠ {_problem(error)}")
        lines += [f"⚠ {views.md_text(n)}" for n in prepared.notes()]
        where = "local" if not backend.remote else views.md_text(self.core.scrub(f"{backend.kind} {backend.base_url}"))
        line = f"{head} · {views.md_text(rendered.template_name)} template · stops on {stops} · {where}"
        if vision:
            line += " · images (mlx-vlm)" if loaded.vision is not None else " · text only (mlx-vlm not installed)"
        if error is not None:
            line += f" · ⚠ {_problem(error)}"
        return {"status": "\n\n".join(lines), "summary": line, "family": family, "settings": settings, "field": field}

    @staticmethod
    def _settings_line(state, loaded: Any, prepared: Any) -> str:
        """Every setting the next request uses, and where its value comes from."""
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
        return ", ".join(shown)

    @staticmethod
    def _controls(family: Any) -> dict[str, Any]:
        """Show the thinking toggle / effort choice only when the template's family declares them."""
        thinking = family.control("thinking") if family is not None else None
        effort = family.control("effort") if family is not None else None
        return {
            "enable_thinking": gr.update(
                visible=thinking is not None,
                label=f"Enable thinking ({thinking.name})" if thinking is not None else "Enable thinking",
                info=thinking.description if thinking is not None else None,
            ),
            "reasoning_effort": gr.update(
                visible=effort is not None,
                choices=[(EFFORT_DEFAULT, ""), *[(c, c) for c in (effort.choices if effort is not None else ())]],
                label=f"Reasoning effort ({effort.name})" if effort is not None else "Reasoning effort",
            ),
        }

    def _described(self, state, values: dict[str, Any]) -> dict[str, Any]:
        try:
            described = self._describe(state, values)
        except Exception as exc:  # described inline, never an overlay
            log.exception("describing the model failed")
            problem = f"⚠ {views.md_text(f'{type(exc).__name__}: {exc}')}"
            described = {"status": problem, "summary": problem, "family": None, "settings": "", "field": None}
        marks = {name: gr.update(elem_classes=["pg-invalid"] if name == described["field"] else [])
                 for name in MARKED_FIELDS}  # fmt: skip
        settings = described["settings"]
        for long, short in _SHORTER:
            settings = settings.replace(long, short)
        settings = f"**In use:** {settings}" if settings else ""
        return {"summary": described["summary"], "status": described["status"], "settings_line": settings,
                **self._controls(described["family"]), "marks": marks}  # fmt: skip

    def describe(self, request: gr.Request, model: str | None = None, **values: Any) -> dict[str, Any]:
        """Re-describe after any panel or setting change (a bad setting is marked and named)."""
        state = self.core.session(request)
        out = self._described(state, values)
        out.update(out.pop("marks"))
        picked = (model or "").strip()
        if picked and picked != state.model:
            notice = f"**{views.md_text(picked)}** is picked but not loaded: requests still use `{state.model}`. "
            out["status"] = notice + "Click Load.\n\n" + out["status"]
            out["summary"] = notice + "Click Load."
        return out

    # ------------------------------------------------------------------ loading

    def _defaults(self, state, inputs: ChatInputs) -> tuple[dict[str, Any], dict[str, str]]:
        """The session model's settings when none is chosen, and where each comes from."""
        try:
            loaded = self.core.loaded(state, self.core.spec(inputs))
        except PlaygroundError:
            return {}, {}
        defaults, sources = resolve_settings(loaded, None)
        return defaults.to_dict(), sources

    def _sliders(self, state, values: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        """Each slider's value in use and where it comes from; a slider is moved only if it was at the previous
        model's value (``before``; None: a new page, every slider moves)."""
        defaults, sources = self._defaults(state, ChatInputs.from_values(values))
        out = {}
        for name in SETTING_BOXES:
            if name not in defaults:
                out[name] = gr.skip()
                continue
            source = sources.get(name, "default")
            info = f"default {defaults[name]} ({_FROM.get(source, source)})"
            update: dict[str, Any] = {"info": info}
            value = values.get(name)
            if before is None or value in (None, "") or _same(value, before.get(name)):
                update["value"] = defaults[name]
            out[name] = gr.update(**update)
        return out

    def reset(self, name: str, request: gr.Request, **values: Any) -> dict[str, Any]:
        """One setting back to the value the model uses by default."""
        defaults, _ = self._defaults(self.core.session(request), ChatInputs.from_values(values))
        return {name: defaults[name]} if name in defaults else {}

    def load(self, request: gr.Request, model: str, **values: Any) -> dict[str, Any]:
        """Load ``model`` for this session: the picker, the header, the template choices, the sliders (moved to
        the new model's values where they were at the old one's), the thinking and effort controls, the error box.

        A failed Load leaves the session on its model, puts that name back in the picker and says why in the
        error box, which only the next Load changes (the status below it keeps describing what is used)."""
        return self._load(request, model, values, fresh=False)

    def _load(self, request: gr.Request, model: str, values: dict[str, Any], fresh: bool) -> dict[str, Any]:
        state = self.core.session(request)
        inputs = ChatInputs.from_values(values)
        wanted = (model or "").strip() or self.core.default_model
        try:
            backend = self.core.spec(inputs)
            self.core.engine.load(wanted, weights=not backend.remote)
        except PlaygroundError as exc:
            described = self._described(state, values)
            described.pop("marks")
            failed = views.error_html(
                self.core.scrub(f"Could not load {wanted}: {exc.message}"),
                self.core.scrub((f"{exc.hint} · " if exc.hint else "") + f"still using {state.model}"),
            )
            return {**described, "model": gr.update(value=state.model), "model_error": failed}
        before = None if fresh else self._defaults(state, inputs)[0]
        state.model = wanted
        loaded = self.core.loaded(state, backend)
        template = inputs.template if inputs.template not in ("model",) or loaded.metadata.own_template else AUTO
        sliders = self._sliders(state, values, before)
        moved = {name: u["value"] for name, u in sliders.items() if isinstance(u, dict) and "value" in u}
        described = self._described(state, {**values, **moved, "template": template})
        described.pop("marks")
        known = self.core.model_choices()
        return {
            **described,
            **sliders,
            "model": gr.update(value=wanted, choices=known + ([wanted] if wanted not in known else [])),
            "template": gr.update(choices=self.core.template_choices(loaded, state.custom_template), value=template),
            "model_error": "",
        }

    def page_load(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """The first view of a session: its model loaded and described, every slider at the value in use."""
        state = self.core.session(request)
        return self._load(request, state.model or self.core.default_model, values, fresh=True)

    def test_connection(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        """Ask the chosen backend what it reports about itself: which server, its version, its models, how the
        playground adapts to it. Problems (unreachable, refused key, unknown model) are one inline message;
        no secret is ever shown."""
        spec = None
        try:
            spec = self.core.spec(ChatInputs.from_values(values))
            self.core.forget_unreachable(spec)
            report = self.core.engine.backend(spec).check()
        except PlaygroundError as exc:
            shown = views.error_html(self.core.scrub(exc.message, spec), self.core.scrub(exc.hint or "", spec) or None)
            return {"backend_report": shown}
        except Exception as exc:  # inline, never an overlay
            log.exception("test connection failed")
            shown = views.error_html(self.core.scrub(f"the connection test failed: {type(exc).__name__}: {exc}", spec))
            return {"backend_report": shown}
        return {"backend_report": self.core.scrub(views.connection_html(report), spec)}


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
