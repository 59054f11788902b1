"""One prepared request: the only way from "what the user set" to "what the model gets".

:class:`ChatRequest` holds everything a user can set for one generation (messages, template choice,
template keywords, tools, settings, EOS wiring, raw mode, token probabilities, backend).
:func:`prepare` turns it, for one loaded model, into a :class:`PreparedChat`: the exact prompt text
with its segments, its token ids (tokenized once, here), the resolved settings and where each value
came from, the EOS tokens, the reply formats (reasoning, tool calls) and every warning. The prompt
preview, Send, Compare, the Template lab, copy-as-code, the CLI and the bench all use it, so what the
page shows is what the next request sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .constraints import Constraint, SteeringPlan, plan_steering
from .errors import ConstraintError, MessagesError, SettingsError, TemplateError
from .families import Family, get_family, registry
from .loaded import EosSet, LoadedModel
from .messages import Message, validate_messages
from .settings import DEFAULTABLE_FIELDS, GenerationSettings
from .templates import (
    CUSTOM_CHOICE,
    DEFAULT_SYSTEM_STRATEGY,
    MODEL_CHOICE,
    RenderCall,
    RenderedPrompt,
    TemplateChoice,
    check_template_kwargs,
    choose_template,
)
from .vision import request_has_images

if TYPE_CHECKING:  # a field's type only: the backends import prepare, not the other way
    from .backends.spec import BackendSpec

AUTO = "auto"
#: Top alternatives per token at most (the UI and the CLI ask for fewer).
MAX_LOGPROBS = 20


@dataclass(frozen=True)
class ChatRequest:
    """Everything a user sets for one generation. Build it once from the UI components or the CLI."""

    messages: tuple[Message, ...] = ()
    template: str = AUTO  # auto | model | a preset name | custom
    custom_template: str | None = None
    system_strategy: str = DEFAULT_SYSTEM_STRATEGY
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[dict, ...] | None = None
    add_generation_prompt: bool = True
    continue_final: bool = False
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    wire_eos: bool = True
    now: datetime | None = None
    raw_prompt: str | None = None  # notebook mode: these exact characters, no template
    thinking: bool | None = None  # on/off: the family's thinking keyword (enable_thinking, thinking, ...); None: as is
    effort: str | None = None  # low/medium/high: the family's reasoning-effort keyword; None: the template's default
    logprobs: int = 0  # top alternatives per generated token (0: off)
    images: tuple[str, ...] = ()  # image files added to the last user message (see playground.vision.prompt)
    backend: BackendSpec | None = None  # None: the engine's default (Engine.prepare fills it in)
    constraint: Constraint | None = None  # structured output: what the answer must match (playground.constraints)

    def replace(self, **changes: Any) -> ChatRequest:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PreparedChat:
    """A request made concrete for one model: exactly what will be sent, and why."""

    request: ChatRequest
    loaded: LoadedModel = field(repr=False, compare=False)
    text: str
    token_ids: tuple[int, ...]
    bos_added: bool
    settings: GenerationSettings
    setting_sources: Mapping[str, str]
    eos: EosSet
    rendered: RenderedPrompt | None = None  # None in raw mode
    template: TemplateChoice | None = None
    family: Family | None = None  # the family whose reply formats apply (the template's)
    reasoning: str = "none"
    tool_calls: str = "none"
    warnings: tuple[str, ...] = ()
    vision: Any = None  # playground.vision.prompt.VisionPrompt when the request has images
    mlx_lm_prompt: str | None = None  # the prompt plain mlx-lm would send, when it differs (see mlx_lm_variant)
    mlx_lm_note: str | None = None  # why it differs
    #: The template keywords the prompt was rendered with: the request's, plus thinking / effort mapped to the
    #: family's keywords (``controls`` says which became what, e.g. {"thinking": "enable_thinking=False"}).
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    controls: Mapping[str, str] = field(default_factory=dict)
    steering: SteeringPlan | None = None  # the constraint and thinking budget, compiled for this tokenizer

    @property
    def raw(self) -> bool:
        return self.rendered is None

    @property
    def image_tokens(self) -> int:
        """How many of the prompt's tokens are image tokens (0 without images)."""
        return self.vision.image_tokens if self.vision is not None else 0

    @property
    def prompt_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def model_name(self) -> str:
        return self.loaded.name

    def parser(self, prompt: str | None = None):
        """A fresh incremental parser that splits this request's reply into reasoning, answer and tool calls.

        ``prompt`` is the text the reply continues (default: this request's prompt); the request's declared tools
        go to the parser (mlx-lm's parsers type argument values by them)."""
        from .parsing import ReplyParser

        text = self.text if prompt is None else prompt
        return ReplyParser(self.reasoning, self.tool_calls, prompt=text, tools=self.request.tools)

    @property
    def json_tool_arguments(self) -> bool:
        """Whether this template wants tool-call arguments as a JSON string (its preset's ``tool_arguments``)."""
        return self.family is not None and self.family.tool_arguments == "string"

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (``--json`` output, the UI's status line)."""
        return {
            "model": self.loaded.name,
            "template": None if self.raw else self.rendered.template_name,
            "template_source": "raw" if self.raw else self.rendered.source,
            "family": self.loaded.detection.family,
            "prompt_tokens": self.prompt_tokens,
            "bos_added": self.bos_added,
            "eos_tokens": list(self.eos.tokens),
            "eos_wired": self.eos.wired,
            "reasoning": self.reasoning,
            "tool_calls": self.tool_calls,
            "settings": self.settings.to_dict(),
            "setting_sources": dict(self.setting_sources),
            "template_kwargs": dict(self.template_kwargs),
            "controls": dict(self.controls),
            "backend": self.request.backend.describe() if self.request.backend else "the engine's default backend",
            "warnings": list(self.warnings),
            "mlx_lm_prompt": self.mlx_lm_prompt,
            "mlx_lm_note": self.mlx_lm_note,
            **({"images": self.vision.summary()} if self.vision is not None else {}),
            **({"steering": self.steering.summary()} if self.steering is not None else {}),
        }


# ---------------------------------------------------------------------------------------------- pieces


def template_choice(loaded: LoadedModel, choice: str | None = None, custom: str | None = None) -> TemplateChoice:
    """``choice``: ``None``/``"auto"`` (own template or detected preset), ``"model"``, a preset, or ``"custom"``."""
    if choice == CUSTOM_CHOICE:
        if not custom or not custom.strip():
            raise TemplateError(
                "no custom template yet", hint="write one in the Template lab and click 'Use this template'"
            )
        return choose_template(loaded.metadata, loaded.detection, template=custom)
    if choice in (None, "", AUTO):
        return choose_template(loaded.metadata, loaded.detection)
    if choice == MODEL_CHOICE:
        return choose_template(loaded.metadata, loaded.detection, preset=MODEL_CHOICE)
    return choose_template(loaded.metadata, loaded.detection, preset=choice)


def resolve_settings(
    loaded: LoadedModel, settings: GenerationSettings | None
) -> tuple[GenerationSettings, dict[str, str]]:
    """User settings, then the model's generation_config.json, then its family's defaults, then ours.

    Returns the resolved settings and, per setting, where its value came from.
    """
    settings = settings or GenerationSettings()
    model_defaults = loaded.sampling_defaults()
    family_defaults = dict(get_family(loaded.detection.family).defaults)
    sources: dict[str, str] = {}
    for name in sorted(DEFAULTABLE_FIELDS):
        if getattr(settings, name) is not None:
            sources[name] = "you"
        elif name in model_defaults:
            sources[name] = "model"
        elif name in family_defaults:
            sources[name] = "family"
        else:
            sources[name] = "default"
    merged = {**family_defaults, **model_defaults}
    return settings.resolve(merged), sources


def check_tools(tools: Any) -> tuple[dict, ...] | None:
    """A JSON list of function schemas (OpenAI / transformers shape), or None."""
    if tools is None:
        return None
    hint = 'a JSON list like [{"type": "function", "function": {"name": "get_weather", "parameters": {...}}}]'
    if not isinstance(tools, (list, tuple)):
        raise MessagesError(f"tools must be a JSON list of function schemas, got {type(tools).__name__}", hint=hint)
    for index, tool in enumerate(tools, start=1):
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise MessagesError(f"tool {index} has no function name", hint=hint)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise MessagesError(
                f"tool {index} ({function['name']}): parameters must be a JSON schema object", hint=hint
            )
    return tuple(tools)


def encode_prompt(tokenizer: Any, prompt: str, *, raw: bool = False) -> tuple[list[int], bool]:
    """Tokenize a prompt once. Rendered prompts: like mlx-lm (BOS added unless the prompt starts with it).
    Raw prompts: exactly the text, nothing added. Returns the ids and whether a BOS was added."""
    if raw:
        return list(tokenizer.encode(prompt, add_special_tokens=False)), False
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not prompt.startswith(bos)
    ids = list(tokenizer.encode(prompt, add_special_tokens=add_special))
    bos_id = getattr(tokenizer, "bos_token_id", None)
    return ids, bool(add_special and bos_id is not None and ids[:1] == [bos_id])


def _check_context(
    loaded: LoadedModel, prompt_tokens: int, settings: GenerationSettings, chosen: bool = True
) -> tuple[int, list[str]]:
    """Refuse prompts that do not fit; lower a max_tokens that would overflow (saying so if the user chose it)."""
    context = loaded.context_length
    if prompt_tokens >= context:
        raise SettingsError(
            f"the prompt is {prompt_tokens:,} tokens; the model's context is {context:,} tokens",
            hint="shorten the conversation (clear older turns) or the system prompt",
        )
    room = context - prompt_tokens
    if settings.max_tokens > room:
        note = f"max tokens lowered from {settings.max_tokens} to {room} to fit the {context:,}-token context"
        return room, [note] if chosen else []
    return settings.max_tokens, []


def _kwarg_warnings(choice: TemplateChoice, family: Family | None, kwargs: Mapping[str, Any]) -> list[str]:
    """Check declared keywords' values; say when the template never reads a keyword."""
    notes = []
    read = choice.reads()
    for name, value in kwargs.items():
        declared = family.kwarg(name) if family is not None and choice.source != "custom" else None
        if declared is not None:
            try:
                declared.check(value)
            except ValueError as exc:
                raise TemplateError(f"template keyword {exc}", hint=declared.description or None) from None
        if name not in read:
            notes.append(f"the template never reads {name!r}: it has no effect")
    return notes


# ---------------------------------------------------------------------------------------------- prepare


def prepare(loaded: LoadedModel, request: ChatRequest) -> PreparedChat:
    """Render, tokenize and resolve ``request`` for ``loaded``.

    Raises:
        MessagesError, TemplateError, SettingsError: naming what is wrong, with a hint.
    """
    settings, sources = resolve_settings(loaded, request.settings)
    if not 0 <= request.logprobs <= MAX_LOGPROBS:
        raise SettingsError(
            f"logprobs must be an integer in [0, {MAX_LOGPROBS}], got {request.logprobs!r}",
            hint="ask for a few alternatives per token, e.g. 5",
        )
    eos = loaded.eos(request.wire_eos)
    prompt = _raw_prompt(loaded, request) if request.raw_prompt is not None else _chat_prompt(loaded, request)
    max_tokens, context_notes = _check_context(loaded, len(prompt.ids), settings, sources["max_tokens"] == "you")
    family = prompt.family
    reasoning = family.reasoning if family is not None else "none"
    tool_calls = family.tool_calls if family is not None else "none"
    steering = plan_steering(
        loaded,
        request,
        budget=settings.thinking_budget,
        prompt=prompt.text,
        reasoning=reasoning,
        tool_calls=tool_calls,
        eos_ids=eos.ids,
    )
    if steering is not None and prompt.vision is not None:
        raise ConstraintError(
            "structured output and the thinking budget are not available for requests with images yet",
            hint="remove the images, or the constraint and thinking budget",
        )
    return PreparedChat(
        request=request,
        loaded=loaded,
        text=prompt.text,
        token_ids=tuple(prompt.ids),
        bos_added=prompt.bos_added,
        settings=dataclasses.replace(settings, max_tokens=max_tokens),
        setting_sources=sources,
        eos=eos,
        rendered=prompt.rendered,
        template=prompt.template,
        family=family,
        reasoning=reasoning,
        tool_calls=tool_calls,
        warnings=tuple([*prompt.notes, *context_notes, *eos.notes, *(steering.notes if steering else ())]),
        vision=prompt.vision,
        mlx_lm_prompt=prompt.mlx_lm[0],
        mlx_lm_note=prompt.mlx_lm[1],
        template_kwargs=dict(prompt.template_kwargs),
        controls=dict(prompt.controls),
        steering=steering,
    )


@dataclass(frozen=True)
class _Prompt:
    """The prompt of a request, before settings and context checks."""

    text: str
    ids: list[int]
    bos_added: bool
    notes: list[str]
    rendered: RenderedPrompt | None = None
    template: TemplateChoice | None = None
    family: Family | None = None
    vision: Any = None
    mlx_lm: tuple[str | None, str | None] = (None, None)  # plain mlx-lm's prompt and why, when it differs
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    controls: Mapping[str, str] = field(default_factory=dict)


def _raw_prompt(loaded: LoadedModel, request: ChatRequest) -> _Prompt:
    """Notebook mode: exactly the characters given, no template, no BOS added."""
    if request_has_images(request):
        raise MessagesError(
            "raw mode sends text only: images need a chat template to place them",
            hint="turn raw mode off to send images",
        )
    if not request.raw_prompt:
        raise MessagesError("the raw prompt is empty", hint="type the text the model should continue")
    ids, _ = encode_prompt(loaded.tokenizer, request.raw_prompt, raw=True)
    if not ids:
        raise MessagesError("the raw prompt has no tokens", hint="type the text the model should continue")
    bos = getattr(loaded.tokenizer, "bos_token", None)
    note = "raw mode: the text is sent exactly as typed, with no template and no BOS token added"
    if bos and not request.raw_prompt.startswith(bos):
        note += f" (this tokenizer's BOS is {bos}: type it first if the model needs it)"
    return _Prompt(text=request.raw_prompt, ids=ids, bos_added=False, notes=[note])


def _chat_prompt(loaded: LoadedModel, request: ChatRequest) -> _Prompt:
    """The conversation rendered with the chosen template (images expanded by the model's processor)."""
    choice = template_choice(loaded, request.template, request.custom_template)
    kwargs, controls, control_notes = map_controls(request, choice_family(choice))
    request = request.replace(template_kwargs=kwargs)
    vision = None
    if request_has_images(request):  # the model's processor expands the image placeholders
        from .vision.prompt import prepare_vision

        rendered, vision = prepare_vision(loaded, choice, request, render_request)
        ids, bos_added = list(vision.token_ids), vision.bos_added
    else:
        rendered = render_request(choice, request)
        ids, bos_added = encode_prompt(loaded.tokenizer, rendered.text)
    notes = [*control_notes, *rendered.warnings]
    if bos_added:
        notes.append(f"the tokenizer adds {loaded.tokenizer.bos_token} before the prompt (mlx-lm does the same)")
    thinks = getattr(loaded.tokenizer, "has_thinking", None)
    if not isinstance(thinks, bool):  # not mlx-lm's TokenizerWrapper (vision processors): read the vocabulary
        thinks = vocabulary_has_thinking(loaded.metadata.token_ids)
    mlx_lm = (None, None) if vision is not None else mlx_lm_variant(choice, request, rendered.text, thinks)
    if mlx_lm[1]:
        notes.append(mlx_lm[1])
    return _Prompt(
        text=rendered.text,
        ids=ids,
        bos_added=bos_added,
        notes=notes,
        rendered=rendered,
        template=choice,
        family=choice_family(choice),
        vision=vision,
        mlx_lm=mlx_lm,
        template_kwargs=kwargs,
        controls=controls,
    )


#: The request fields that drive a declared template keyword, by the keyword's ``control``.
CONTROLS = {"thinking": "thinking", "effort": "effort"}


def map_controls(request: ChatRequest, family: Family | None) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The template keywords to render with: the request's own, plus ``thinking`` and ``effort`` mapped to the
    keyword the template's family declares for them (a keyword given explicitly wins). Returns the keywords,
    the mapping made (``{"thinking": "enable_thinking=False"}``) and notes for settings the template cannot take
    (thinking off, or an effort, for a template without such a keyword)."""
    kwargs = dict(request.template_kwargs)
    controls: dict[str, str] = {}
    notes: list[str] = []
    for control, attribute in CONTROLS.items():
        value = getattr(request, attribute)
        if value is None or value == "":
            continue
        declared = family.control(control) if family is not None else None
        if declared is None:  # "thinking on" is how every template without a switch behaves: nothing to say
            if control == "effort" or value is False:
                what = "thinking off" if control == "thinking" else f"reasoning effort {value!r}"
                notes.append(f"{what} has no effect: this template declares no {control} keyword")
            continue
        if control == "thinking":
            value = bool(value)
        elif declared.choices and value not in declared.choices:
            raise TemplateError(
                f"reasoning effort must be one of {', '.join(map(str, declared.choices))}, got {value!r}",
                hint=declared.description or None,
            )
        if declared.name in kwargs:
            controls[control] = f"{declared.name}={kwargs[declared.name]!r} (given as a template keyword)"
            continue
        kwargs[declared.name] = value
        controls[control] = f"{declared.name}={value!r}"
    return kwargs, controls, notes


def choice_family(choice: TemplateChoice) -> Family | None:
    """The family whose keywords and reply formats apply to a template choice (None: unknown format)."""
    return registry().get(choice.family) if choice.family and choice.family in registry() else None


def render_request(choice: TemplateChoice, request: ChatRequest) -> RenderedPrompt:
    """Render a request's conversation with ``choice``: the one rendering path of the CLI, UI and engine.

    Keyword problems (a declared keyword's bad value, a keyword the template never reads) become errors
    or warnings on the result.
    """
    messages = validate_messages(list(request.messages))
    tools = check_tools(request.tools)
    kwargs = check_template_kwargs(dict(request.template_kwargs))
    notes = _kwarg_warnings(choice, choice_family(choice), kwargs)
    return choice.render(messages, render_call(request, kwargs, tools), warnings=notes)


def render_call(request: ChatRequest, kwargs: dict[str, Any], tools: tuple[dict, ...] | None) -> RenderCall:
    """How a request's conversation is rendered (transformers' ``apply_chat_template`` arguments)."""
    return RenderCall(
        add_generation_prompt=request.add_generation_prompt and not request.continue_final,
        continue_final_message=request.continue_final,
        system_strategy=request.system_strategy,
        tools=list(tools) if tools is not None else None,
        template_kwargs=kwargs,
        now=request.now,
    )


# ---------------------------------------------------------------------------------------------- plain mlx-lm

#: The keyword mlx-lm's ``TokenizerWrapper.apply_chat_template`` sets when a request does not.
MLX_LM_THINKING_KWARG = "enable_thinking"


def vocabulary_has_thinking(token_ids: Mapping[str, int] | None) -> bool | None:
    """What mlx-lm's tokenizer wrapper would say for ``has_thinking`` from this vocabulary (None: unknown)."""
    if token_ids is None:
        return None
    from mlx_lm.tokenizer_utils import _infer_thinking

    class _Vocabulary:  # what _infer_thinking reads of a tokenizer: presence of the think tokens
        @staticmethod
        def get_vocab() -> Mapping[str, int]:
            return token_ids

        @staticmethod
        def encode(text: str, **_: Any) -> list[int]:
            return []

    return _infer_thinking(_Vocabulary())[0] is not None


def mlx_lm_variant(
    choice: TemplateChoice, request: ChatRequest, prompt: str, has_thinking: bool | None
) -> tuple[str | None, str | None]:
    """The prompt plain mlx-lm would send for this request, and a note, when it differs from ``prompt``.

    mlx-lm's ``TokenizerWrapper.apply_chat_template`` passes ``enable_thinking=tokenizer.has_thinking`` (think
    tokens in the vocabulary) whenever the request does not set it; a template that reads ``enable_thinking``
    and defaults otherwise then renders another prompt there. ``(None, None)`` when the result is the same or
    unknown (no vocabulary, the request sets the keyword, the template never reads it).
    """
    kwargs = dict(request.template_kwargs)
    if has_thinking is None or MLX_LM_THINKING_KWARG in kwargs:
        return None, None
    if MLX_LM_THINKING_KWARG not in choice.reads():
        return None, None
    kwargs[MLX_LM_THINKING_KWARG] = has_thinking
    call = render_call(request, kwargs, request.tools)
    other = choice.render(validate_messages(list(request.messages)), call, with_segments=False).text
    if other == prompt:
        return None, None
    vocabulary = "has thinking tokens" if has_thinking else "has no thinking tokens"
    note = (
        f"plain mlx-lm, given this template, would send another prompt: its tokenizer wrapper adds "
        f"enable_thinking={has_thinking} when the request does not set it (this vocabulary {vocabulary}), and "
        f"this template reads it; here the template's own default applies (set enable_thinking to choose)"
    )
    return other, note
