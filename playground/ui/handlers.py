"""Event handlers of the playground UI, as plain methods (tested without a browser).

Each browser session has its own :class:`SessionState` (stop flag, KV cache, custom template), keyed by
Gradio's session hash. Conversations live in the browser's chat component, so sessions never share them.
Engine errors become ``gr.Error`` with a hint; the user's typed message stays in the input box.
"""

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..engine import Engine
from ..errors import MessagesError, PlaygroundError
from ..families import registry
from ..generate import check_context, encode_prompt
from ..lint import lint_template
from ..messages import parse_messages
from ..models import DEMO_MODEL_ALIAS, LoadedModel, list_cached_models
from ..prompt_cache import PromptCacheState
from ..prompting import CUSTOM_CHOICE, MODEL_CHOICE
from ..settings import GenerationSettings
from ..snippet import mlx_lm_snippet
from . import views
from .history import history_to_messages, messages_to_history

AUTO = "auto"
MAX_SESSIONS = 512  # browser sessions remembered (least recently used are forgotten)
MAX_CACHED_CONVERSATIONS = 4  # sessions whose KV cache is kept between turns
UPDATE_INTERVAL_S = 0.05  # streamed updates are coalesced to at most 20 per second


@dataclass
class SessionState:
    """What one browser session owns on the server."""

    cancel: threading.Event = field(default_factory=threading.Event)
    cache: PromptCacheState = field(default_factory=PromptCacheState)
    custom_template: str = ""


def to_gr_error(exc: PlaygroundError) -> gr.Error:
    """An engine error as a UI error with its hint."""
    return gr.Error(exc.message + (f". Hint: {exc.hint}" if exc.hint else ""), title="Playground")


def _number(value: Any, kind: type) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # GenerationSettings names the field and the bad value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def settings_from_inputs(
    temperature: Any,
    top_p: Any,
    min_p: Any,
    top_k: Any,
    repetition_penalty: Any,
    repetition_context_size: Any,
    max_tokens: Any,
    seed: Any,
    stop_text: Any,
) -> GenerationSettings:
    """UI values (sliders, number boxes, one stop string per line) -> validated settings."""
    stops = tuple(line for line in str(stop_text or "").splitlines() if line.strip())
    return GenerationSettings(
        temperature=_number(temperature, float),
        top_p=_number(top_p, float),
        min_p=_number(min_p, float),
        top_k=_number(top_k, int),
        repetition_penalty=_number(repetition_penalty, float),
        repetition_context_size=_number(repetition_context_size, int),
        max_tokens=_number(max_tokens, int),
        seed=_number(seed, int),
        stop=stops,
    )


class PlaygroundApp:
    """The UI's server side: one engine, many sessions."""

    def __init__(self, engine: Engine | None = None, default_model: str = DEMO_MODEL_ALIAS):
        self.engine = engine or Engine()
        self.default_model = default_model
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ sessions

    def session(self, request: Any) -> SessionState:
        """This browser session's state. Old sessions are forgotten, and only the most recently active
        conversations keep a KV cache, so memory stays bounded however many tabs are opened."""
        key = getattr(request, "session_hash", None) or "anonymous"
        with self._lock:
            state = self._sessions.get(key)
            if state is None:
                state = self._sessions[key] = SessionState()
            self._sessions.move_to_end(key)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)[1].cache.reset()
            for old in list(self._sessions.values())[:-MAX_CACHED_CONVERSATIONS]:
                if old.cache.tokens:
                    old.cache.reset()
            return state

    def _load(self, model: str, wire_eos: bool) -> LoadedModel:
        try:
            return self.engine.load(model or self.default_model, wire_eos=bool(wire_eos))
        except PlaygroundError as exc:
            raise to_gr_error(exc) from None

    # ------------------------------------------------------------------------------------------ model panel

    def model_choices(self) -> list[str]:
        return [DEMO_MODEL_ALIAS, *list_cached_models()]

    @staticmethod
    def template_choices(loaded: LoadedModel) -> list[tuple[str, str]]:
        detection = loaded.detection
        auto = (
            "model's own template" if detection.template_source == "model" else f"detected preset ({detection.preset})"
        )
        choices = [(f"auto: {auto}", AUTO)]
        if loaded.metadata.own_template is not None:
            choices.append(("model's own template", MODEL_CHOICE))
        choices += [(f"preset: {f.name}", f.name) for f in registry()]
        choices.append(("custom (from the template lab)", CUSTOM_CHOICE))
        return choices

    @staticmethod
    def status_markdown(loaded: LoadedModel) -> str:
        d = loaded.detection
        source = {
            "model": f"the model's own template ({d.template_origin})",
            "preset": f"the **{d.preset}** preset (the model has no chat template)",
            "generic": "the **generic** fallback (no family detected)",
        }[d.template_source]
        lines = [
            f"**{loaded.name}** · family **{d.family}** · {loaded.num_parameters / 1e6:.2f}M parameters · "
            f"context {loaded.context_length} · loaded in {loaded.load_seconds:.2f} s",
            f"**Rule:** {d.reason}",
            f"**Template:** {source}",
            f"**EOS tokens:** {', '.join(f'`{t}`' for t in loaded.eos_tokens)}"
            + ("" if loaded.eos_wired else " (wiring off)"),
        ]
        lines += [f"⚠ {w}" for w in (*d.warnings, *loaded.notes)]
        return "\n\n".join(lines)

    def load_model(self, model: str, wire_eos: bool) -> tuple:
        """Load a model: status, template choices, and the family's default settings for the sliders."""
        loaded = self._load(model, wire_eos)
        defaults = self.engine.resolve_settings(loaded, None)
        choices = self.template_choices(loaded)
        return (
            self.status_markdown(loaded),
            gr.update(choices=choices, value=AUTO),
            gr.update(value=defaults.temperature),
            gr.update(value=defaults.top_p),
            gr.update(value=defaults.min_p),
            gr.update(value=defaults.top_k),
            gr.update(value=defaults.repetition_penalty),
            gr.update(value=defaults.repetition_context_size),
            gr.update(value=min(defaults.max_tokens, loaded.context_length // 2), maximum=loaded.context_length),
            gr.update(choices=choices, value=AUTO),
            gr.update(choices=choices, value="llama2"),
            gr.update(choices=choices, value="generic"),
        )

    def on_page_load(self) -> tuple:
        """Initial model list and the default model loaded."""
        return (
            gr.update(choices=self.model_choices(), value=self.default_model),
            *self.load_model(self.default_model, True),
        )

    # ------------------------------------------------------------------------------------------ chat

    def _render(
        self, loaded: LoadedModel, messages: list, template: str, strategy: str, state: SessionState, **kw: Any
    ):
        return self.engine.render(
            loaded, messages, choice=template or AUTO, custom=state.custom_template, system_strategy=strategy, **kw
        )

    def preview(
        self,
        user_text: str,
        history: list,
        system: str,
        template: str,
        strategy: str,
        model: str,
        wire_eos: bool,
        request: gr.Request,
    ) -> str:
        """The exact prompt the next send would produce (updates live while typing)."""
        state = self.session(request)
        try:
            loaded = self._load(model, wire_eos)
            messages = history_to_messages(history, system)
            if user_text and user_text.strip():
                messages.append({"role": "user", "content": user_text})
            if not messages:
                return views.error_html("Type a message to see the prompt the model will receive.")
            rendered = self._render(loaded, messages, template, strategy, state)
            count = len(encode_prompt(loaded.tokenizer, rendered.text))
            return views.prompt_html(rendered, self.special_tokens(loaded), count)
        except PlaygroundError as exc:
            return views.error_html(exc.message, exc.hint)
        except gr.Error as exc:
            return views.error_html(str(exc.message))

    @staticmethod
    def special_tokens(loaded: LoadedModel) -> list[str]:
        tokenizer = loaded.tokenizer
        try:
            return [t for t in tokenizer.all_special_tokens] + [
                t.content for t in tokenizer.added_tokens_decoder.values() if getattr(t, "special", False)
            ]
        except Exception:
            return []

    def _prepare(
        self, user_text: str, history: list, system: str, model: str, wire_eos: bool, settings_values: tuple
    ) -> tuple[GenerationSettings, LoadedModel, list]:
        """Validated settings, the loaded model and the conversation (plus the typed message, if any)."""
        settings = settings_from_inputs(*settings_values)
        loaded = self._load(model, wire_eos)
        messages = history_to_messages(history, system)
        if user_text and user_text.strip():
            messages.append({"role": "user", "content": user_text})
        return settings, loaded, messages

    def send(
        self,
        user_text: str,
        history: list,
        system: str,
        template: str,
        strategy: str,
        model: str,
        wire_eos: bool,
        temperature: float,
        top_p: float,
        min_p: float,
        top_k: int,
        repetition_penalty: float,
        repetition_context_size: int,
        max_tokens: int,
        seed: Any,
        stop_text: str,
        request: gr.Request,
    ):
        """Stream a reply. Everything is validated before the input box is cleared."""
        history = list(history or [])
        if not user_text or not user_text.strip():
            raise gr.Error("Type a message first.", title="Playground")
        state = self.session(request)
        values = (temperature, top_p, min_p, top_k, repetition_penalty, repetition_context_size, max_tokens, seed)
        try:
            settings, loaded, messages = self._prepare(
                user_text, history, system, model, wire_eos, (*values, stop_text)
            )
            rendered = self._render(loaded, messages, template, strategy, state)
            resolved = self.engine.resolve_settings(loaded, settings)
            tokens = encode_prompt(loaded.tokenizer, rendered.text)
            check_context(len(tokens), resolved.max_tokens, loaded.context_length)
        except PlaygroundError as exc:
            raise to_gr_error(exc) from None
        prompt_view = views.prompt_html(rendered, self.special_tokens(loaded), len(tokens))
        state.cancel.clear()
        shown = [*history, {"role": "user", "content": user_text}, {"role": "assistant", "content": ""}]
        yield shown, "", prompt_view, "_generating…_"
        chat = self.engine.stream_chat(
            loaded, messages, settings, rendered=rendered, cancel=state.cancel, cache=state.cache
        )
        text, last_push, final = "", 0.0, None
        try:
            for event in chat.events:
                text += event.text
                final = event
                now = time.monotonic()
                if not event.done and now - last_push < UPDATE_INTERVAL_S:
                    continue
                last_push = now
                shown[-1] = {"role": "assistant", "content": text}
                if not event.done:
                    yield shown, "", prompt_view, "_generating…_"
        except PlaygroundError as exc:
            yield history, user_text, prompt_view, ""  # put the conversation and the typed message back
            raise to_gr_error(exc) from None
        line = views.stats_line(final)
        details = (
            f"prompt {final.prompt_tokens} tokens ({final.reused_tokens} reused from the KV cache) · "
            f"prompt {final.prompt_tps:.0f} tok/s · peak memory {final.peak_memory_gb:.3f} GB · "
            f"template {rendered.template_name} ({rendered.source})"
        )
        shown.append({"role": "assistant", "content": details, "metadata": {"title": f"Stats: {line}"}})
        for warning in final.warnings:
            gr.Warning(warning)
        yield shown, "", prompt_view, line

    def stop(self, request: gr.Request) -> None:
        """Ask this session's running generation to stop (ends within one decoding step)."""
        self.session(request).cancel.set()

    def clear(self, request: gr.Request) -> tuple:
        self.session(request).cache.reset()
        return [], "", ""

    @staticmethod
    def export_conversation(history: list, system: str) -> str:
        try:
            return json.dumps(history_to_messages(history, system), ensure_ascii=False, indent=2)
        except MessagesError as exc:
            raise to_gr_error(exc) from None

    def import_conversation(self, text: str, request: gr.Request) -> tuple:
        try:
            messages = parse_messages(text or "", "the conversation JSON")
        except MessagesError as exc:
            raise to_gr_error(exc) from None
        self.session(request).cache.reset()
        history, system = messages_to_history(messages)
        return history, system

    # ------------------------------------------------------------------------------------------ compare

    def compare(
        self,
        user_text: str,
        system: str,
        seed: Any,
        max_tokens: Any,
        strategy: str,
        model: str,
        wire_eos: bool,
        third: bool,
        template_1: str,
        temperature_1: float,
        penalty_1: float,
        template_2: str,
        temperature_2: float,
        penalty_2: float,
        template_3: str,
        temperature_3: float,
        penalty_3: float,
        request: gr.Request,
    ):
        """Render the same conversation with each column's template, then stream each with the same seed."""
        if not user_text or not user_text.strip():
            raise gr.Error("Type a message to compare.", title="Playground")
        state = self.session(request)
        columns = [(template_1, temperature_1, penalty_1), (template_2, temperature_2, penalty_2)]
        if third:
            columns.append((template_3, temperature_3, penalty_3))
        messages = history_to_messages([], system) + [{"role": "user", "content": user_text}]
        try:
            loaded = self._load(model, wire_eos)
            seed_value = _number(seed, int)
            seed_value = 0 if seed_value is None else seed_value
            plans = []
            for template, temperature, penalty in columns:
                settings = GenerationSettings(
                    temperature=_number(temperature, float),
                    repetition_penalty=_number(penalty, float),
                    max_tokens=_number(max_tokens, int),
                    seed=seed_value,
                )
                plans.append((self._render(loaded, messages, template, strategy, state), settings))
        except PlaygroundError as exc:
            raise to_gr_error(exc) from None
        special = self.special_tokens(loaded)
        prompts = [views.prompt_html(r, special, len(encode_prompt(loaded.tokenizer, r.text))) for r, _ in plans]
        outputs = [""] * len(plans)
        stats = ["_waiting…_"] * len(plans)
        diff = views.diff_html(plans[0][0].text, plans[1][0].text, "column 1", "column 2", special)
        if third:
            diff += views.diff_html(plans[0][0].text, plans[2][0].text, "column 1", "column 3", special)

        def pack():
            pad = 3 - len(plans)
            return (*prompts, *([""] * pad), *outputs, *([""] * pad), *stats, *([""] * pad), diff)

        yield pack()
        state.cancel.clear()
        for index, (rendered, settings) in enumerate(plans):
            stats[index] = "_generating…_"
            last_push = 0.0
            try:
                for event in self.engine.stream_prompt(loaded, rendered.text, settings, cancel=state.cancel):
                    outputs[index] += event.text
                    if event.done:
                        stats[index] = views.stats_line(event)
                    now = time.monotonic()
                    if event.done or now - last_push >= UPDATE_INTERVAL_S:
                        last_push = now
                        yield pack()
            except PlaygroundError as exc:
                stats[index] = f"error: {exc.message}"
                yield pack()

    # ------------------------------------------------------------------------------------------ template lab

    def lab_choices(self, model: str, wire_eos: bool) -> Any:
        """What the lab can start from: the model's own template, auto, presets, the session's custom one."""
        try:
            loaded = self.engine.load(model or self.default_model, wire_eos=bool(wire_eos))
        except PlaygroundError:
            return gr.update()
        return gr.update(choices=self.template_choices(loaded), value=AUTO)

    def lab_source(self, which: str, model: str, wire_eos: bool, request: gr.Request) -> str:
        """The text of the model's own template, a preset, or the session's custom template."""
        loaded = self._load(model, wire_eos)
        if which == MODEL_CHOICE:
            return loaded.metadata.own_template or ""
        if which == CUSTOM_CHOICE:
            return self.session(request).custom_template
        if which in (AUTO, "", None):
            return self.engine.template_choice(loaded).template
        return registry().get(which).template

    def lab_render(
        self, source: str, sample: str, strategy: str, model: str, wire_eos: bool
    ) -> tuple[str, str, str, str]:
        """Live render of an edited template: output, errors (with line numbers), lint report, token view."""
        loaded = self._load(model, wire_eos)
        try:
            messages = parse_messages(sample or "", "the sample conversation")
            choice = self.engine.template_choice(loaded, CUSTOM_CHOICE, source)
            rendered = choice.render(messages, system_strategy=strategy)
            report = lint_template(source, loaded.eos_tokens, choice.bos_token, choice.eos_token)
        except PlaygroundError as exc:
            where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            return "", f"**Error{where}:** `{exc.message}`" + (f"\n\n{exc.hint}" if exc.hint else ""), "", ""
        tokenizer = loaded.tokenizer
        ids = encode_prompt(tokenizer, rendered.text)
        pieces = [tokenizer.decode([i]) for i in ids]
        special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
        special_ids |= {i for i, t in tokenizer.added_tokens_decoder.items() if getattr(t, "special", False)}
        prompt = views.prompt_html(rendered, self.special_tokens(loaded), len(ids))
        return (
            prompt,
            "**OK:** renders without errors",
            report.to_markdown(),
            views.tokens_html(ids, pieces, special_ids),
        )

    def lab_use(self, source: str, request: gr.Request) -> Any:
        """Make the edited template the chat's template."""
        if not source or not source.strip():
            raise gr.Error("The template is empty.", title="Playground")
        try:
            from ..templates import compile_template

            compile_template(source)
        except PlaygroundError as exc:
            raise to_gr_error(exc) from None
        self.session(request).custom_template = source
        gr.Info("The chat now uses your custom template.")
        return gr.update(value=CUSTOM_CHOICE)

    def lab_snippet(
        self,
        history: list,
        system: str,
        user_text: str,
        template: str,
        strategy: str,
        model: str,
        wire_eos: bool,
        temperature: float,
        top_p: float,
        min_p: float,
        top_k: int,
        repetition_penalty: float,
        repetition_context_size: int,
        max_tokens: int,
        seed: Any,
        stop_text: str,
        request: gr.Request,
    ) -> str:
        """A standalone mlx-lm script reproducing the chat's next generation (template, settings, seed)."""
        state = self.session(request)
        values = (temperature, top_p, min_p, top_k, repetition_penalty, repetition_context_size, max_tokens, seed)
        try:
            settings, loaded, messages = self._prepare(
                user_text, history, system, model, wire_eos, (*values, stop_text)
            )
            if not messages:
                messages = [{"role": "user", "content": "Hello!"}]
            choice = self.engine.template_choice(loaded, template or AUTO, state.custom_template)
            rendered = choice.render(messages, system_strategy=strategy)
            resolved = self.engine.resolve_settings(loaded, settings)
        except PlaygroundError as exc:
            raise to_gr_error(exc) from None
        name = model or self.default_model
        model_ref = str(loaded.path) if name == DEMO_MODEL_ALIAS or not name else name
        return mlx_lm_snippet(model_ref, choice.template, rendered, resolved, loaded.eos_tokens)
