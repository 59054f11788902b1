"""Typed inputs: the values of the UI's components, gathered once per event into one object.

Event handlers receive the components' values by name (Gradio's ``inputs_kwargs``) and build one of these
objects; everything after that works with typed fields. The field names are also the parameter names of
the HTTP API (``gradio_client``: ``client.predict(message=..., temperature=..., api_name="/send")``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from ..backends.spec import BackendSpec
from ..errors import MessagesError, SettingsError, TemplateError
from ..options import options
from ..prepare import AUTO, ChatRequest
from ..settings import GenerationSettings
from ..templates import DEFAULT_SYSTEM_STRATEGY

#: How many alternatives per token the token view shows.
TOKEN_VIEW_TOP = 5


def _number(name: str, value: Any, kind: type) -> Any:
    """A number box's value: None when empty; a clear error naming the field when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {value!r}", hint=f"type a number for {name}") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _json(label: str, text: Any, kind: type, example: str) -> Any:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"{label} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", hint=f"e.g. {example}"
        ) from None
    if not isinstance(value, kind):
        raise TemplateError(f"{label} must be a JSON {kind.__name__.replace('dict', 'object')}", hint=f"e.g. {example}")
    return value


class _Sampling:
    """The behaviour of :class:`SamplingInputs` (its fields come from the options table)."""

    def settings(self) -> GenerationSettings:
        """Validated settings; an out-of-range value is refused with a message naming the field and range."""
        stops = tuple(line for line in str(self.stop or "").splitlines() if line)
        values = {o.name: _number(o.name, getattr(self, o.name), o.kind) for o in options()}
        return GenerationSettings(**values, seed=_number("seed", self.seed, int), stop=stops)


#: The sampling settings (shared by Chat and Notebook): one field per option of the options table (None or ""
#: = the model's default), the seed, the stop strings (one per line) and whether to show token probabilities.
SamplingInputs = make_dataclass(
    "SamplingInputs",
    [
        *[(o.name, Any, field(default=None)) for o in options()],
        ("seed", Any, field(default=None)),
        ("stop", str, field(default="")),
        ("logprobs", bool, field(default=True)),
    ],
    bases=(_Sampling,),
    frozen=True,
)
SamplingInputs.__module__ = __name__


@dataclass(frozen=True)
class BackendInputs:
    """The model panel's backend choice."""

    backend: str = "local"
    base_url: str = ""
    api_key: str = ""
    served_model: str = ""

    def spec(self) -> BackendSpec:
        kind = self.backend or "local"
        if kind == "local":
            return BackendSpec()
        if not (self.base_url or "").strip():
            raise SettingsError(f"the {kind} backend needs a server URL", hint="e.g. http://127.0.0.1:8080/v1")
        return BackendSpec(
            kind=kind,
            base_url=self.base_url.strip(),
            api_key=(self.api_key or "").strip() or None,
            served_model=(self.served_model or "").strip() or None,
        )


@dataclass(frozen=True)
class TemplateInputs:
    """How the conversation becomes a prompt."""

    system: str = ""
    template: str = AUTO
    system_strategy: str = DEFAULT_SYSTEM_STRATEGY
    enable_thinking: bool | None = None
    reasoning_effort: str | None = None
    template_kwargs: str = ""
    tools: str = ""
    wire_eos: bool = True


#: The Structured output selector's choices -> constraint kind ("" = none); a kind's own name is taken too.
CONSTRAINT_CHOICES: dict[str, str] = {
    "none": "",
    "JSON schema": "json_schema",
    "any JSON object": "json_object",
    "regex": "regex",
    "grammar (Lark or GBNF)": "grammar",
    "require a tool call": "tool_call",
}


@dataclass(frozen=True)
class ConstraintInputs:
    """The Structured output section: which kind, and the box that kind reads."""

    constraint_kind: str | None = None
    json_schema: str = ""
    constraint_regex: str = ""
    constraint_grammar: str = ""
    constraint_tool: str = ""

    def constraint(self):
        """The request's constraint (None: none chosen); a bad one is refused by name, the boxes keep their text."""
        from ..constraints import CONSTRAINT_KINDS, Constraint

        choice = self.constraint_kind or "none"
        kind = CONSTRAINT_CHOICES.get(choice, choice if choice in CONSTRAINT_KINDS else None)
        if kind is None:
            raise SettingsError(
                f"unknown structured output kind {choice!r}", hint=f"choose one of: {', '.join(CONSTRAINT_CHOICES)}"
            )
        value = {
            "json_schema": self.json_schema,
            "regex": self.constraint_regex,
            "grammar": self.constraint_grammar,
            "tool_call": (self.constraint_tool or "").strip(),
        }.get(kind, "")
        return Constraint(kind, value or "") if kind else None


@dataclass(frozen=True)
class ChatInputs(SamplingInputs, BackendInputs, TemplateInputs, ConstraintInputs):
    """Everything the Chat tab sends with a request."""

    message: Any = None  # the Message box: {"text": ..., "files": [...]} or a plain string

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ChatInputs:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TypeError(f"unknown chat inputs: {', '.join(unknown)}")
        return cls(**values)

    @property
    def text(self) -> str:
        if isinstance(self.message, dict):
            return str(self.message.get("text") or "")
        return str(self.message or "")

    @property
    def files(self) -> list[str]:
        if not isinstance(self.message, dict):
            return []
        out = []
        for item in self.message.get("files") or []:
            path = item.get("path") if isinstance(item, dict) else item
            if path:
                out.append(str(path))
        return out

    def kwargs(self) -> dict[str, Any]:
        """The Template keywords box (the thinking / effort controls are request fields: prepare maps them)."""
        return dict(_json("template keywords", self.template_kwargs, dict, '{"enable_thinking": false}') or {})

    def tool_list(self) -> tuple[dict, ...] | None:
        value = _json("tools", self.tools, list, '[{"type": "function", "function": {"name": "get_weather"}}]')
        if value is None:
            return None
        from ..prepare import check_tools

        return check_tools(value)

    def request(
        self,
        conversation: list[dict],
        *,
        custom_template: str = "",
        backend: BackendSpec | None = None,
        **changes: Any,
    ):
        """The ChatRequest these inputs describe for ``conversation`` (system prompt first); ``backend``: the
        backend to use (default: the one the fields name)."""
        messages = []
        if self.system and self.system.strip():
            messages.append({"role": "system", "content": self.system})
        messages.extend(conversation)
        if not messages:
            raise MessagesError("the conversation is empty", hint="type a message")
        request = ChatRequest(
            messages=tuple(messages),
            template=self.template or AUTO,
            custom_template=custom_template or None,
            system_strategy=self.system_strategy or DEFAULT_SYSTEM_STRATEGY,
            template_kwargs=self.kwargs(),
            thinking=None if self.enable_thinking is None else bool(self.enable_thinking),
            effort=self.reasoning_effort or None,
            tools=self.tool_list(),
            settings=self.settings(),
            wire_eos=bool(self.wire_eos),
            logprobs=TOKEN_VIEW_TOP if self.logprobs else 0,
            backend=backend if backend is not None else self.spec(),
            constraint=self.constraint(),
        )
        return request.replace(**changes) if changes else request
