"""OpenAI request bodies -> :class:`~playground.prepare.ChatRequest`: the fields an OpenAI-compatible client sends.

``/v1/chat/completions`` takes ``messages`` with every role (passed to the template as the page passes them; text
parts are joined; a tool result gets the ``name`` of the call it answers), ``tools`` and ``tool_choice`` (``auto``;
``none``: the tools are left out of the prompt; ``required`` or a named function: a constrained tool call), the
sampling fields of the options table under mlx_lm.server's names (``temperature``, ``top_p``, ``top_k``, ``min_p``,
``repetition_penalty``, ``presence_penalty``, ``frequency_penalty``, ``max_tokens`` or ``max_completion_tokens``),
(and every other option, e.g. ``thinking_budget``), ``stop``, ``seed``, ``logprobs``/``top_logprobs``,
``chat_template_kwargs``, ``reasoning_effort``,
``response_format`` (``json_schema`` and ``json_object``, as constraints of :mod:`playground.constraints`),
``stream`` and ``stream_options``, and vLLM's ``add_generation_prompt`` and ``continue_final_message``.
``/v1/completions`` takes a ``prompt`` sent exactly as given (no template, no BOS added) and ``logprobs`` as a
count. A field the API knows but cannot honour is refused with a 400 naming it, never ignored; fields it does not
know (``metadata``, ``store``, ``parallel_tool_calls``, ...) change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..constraints import Constraint
from ..options import MLX_LM, options
from ..prepare import MAX_LOGPROBS, ChatRequest
from ..settings import GenerationSettings
from .errors import bad_field, unsupported

CHAT, COMPLETION = "chat", "completion"
_RESPONSE_FORMAT_HINT = (
    'use {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}} or {"type": "json_object"}'
)


@dataclass(frozen=True)
class ApiCall:
    """One API request, parsed: what to generate (``request``, before the model's chat setup is applied) and how to
    answer (stream or not, usage in the stream, log-probabilities)."""

    endpoint: str  # chat | completion
    model: str | None
    request: ChatRequest
    stream: bool = False
    include_usage: bool = False
    top_logprobs: int | None = None  # None: no log-probabilities in the answer
    notes: tuple[str, ...] = ()  # what the API changed in the request (tool_choice none)
    body: dict[str, Any] = field(default_factory=dict, repr=False)


def _expect(body: dict, name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise bad_field(name, f"{name} must be {what}, got {value!r}")
    if not isinstance(value, kinds):
        raise bad_field(name, f"{name} must be {what}, got {type(value).__name__}")
    return value


def _settings(body: dict) -> GenerationSettings:
    """The sampling fields, by mlx_lm.server's names (the options table's), plus stop and seed."""
    values: dict[str, Any] = {}
    for option in options():
        name = option.server.get(MLX_LM, option.name)
        if body.get(name) is not None:
            values[option.name] = body[name]
    if body.get("max_completion_tokens") is not None:
        values["max_tokens"] = body["max_completion_tokens"]
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, (str, list)):
        raise bad_field("stop", f"stop must be a string or a list of strings, got {type(stop).__name__}")
    stops = tuple([stop] if isinstance(stop, str) else stop or ())
    return GenerationSettings(**values, seed=body.get("seed"), stop=stops)


def _refuse_unsupported(body: dict) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise unsupported("n", f"n must be 1 (one reply per request), got {n!r}", hint="send several requests")
    if body.get("logit_bias"):
        raise unsupported("logit_bias", "logit_bias is not supported", hint="leave it out")


def _text_of(index: int, content: Any) -> Any:
    """Content as the templates take it: text parts joined into one string (images are refused)."""
    if not isinstance(content, list):
        return content
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image", "image"):
            raise unsupported(
                f"messages[{index}].content",
                f"message {index + 1} has an image: the API takes text only",
                hint="use the page's Chat tab (or generate --image) for images",
            )
        else:
            raise bad_field(f"messages[{index}].content", f"message {index + 1} has a content part of type {kind!r}")
    return "".join(texts)


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_field("messages", "messages must be a non-empty list of {role, content} objects")
    out, call_names = [], {}
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            what = type(message).__name__
            raise bad_field(f"messages[{index}]", f"message {index + 1} must be an object, got {what}")
        message = {k: v for k, v in message.items() if v is not None}
        role = message.get("role")
        if "content" in message:
            message["content"] = _text_of(index, message["content"])
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict) and call.get("id"):
                call_names[call["id"]] = call["function"].get("name")
        if role == "tool" and "name" not in message and message.get("tool_call_id") in call_names:
            message["name"] = call_names[message["tool_call_id"]]
        out.append(message)
    return out


def _tools(body: dict) -> tuple[tuple[dict, ...] | None, Constraint | None, list[str]]:
    """The tools, the constraint ``tool_choice`` asks for (``required``: a call of any tool; a named function: a
    call of it), and a note for ``none`` (the tools are left out of the prompt)."""
    tools = body.get("tools")
    tools = tuple(tools) if isinstance(tools, list) else tools
    choice = body.get("tool_choice")
    if choice in (None, "auto"):
        return tools, None, []
    if choice == "none":
        return None, None, ["tool_choice none: the tools are left out of the prompt"]
    if choice == "required":
        return tools, Constraint("tool_call"), []
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return tools, Constraint("tool_call", function["name"]), []
    raise bad_field(
        "tool_choice",
        f"tool_choice must be auto, none, required or a function, got {choice!r:.80}",
        hint='e.g. {"type": "function", "function": {"name": "get_weather"}}',
    )


def _response_format(body: dict) -> Constraint | None:
    """``response_format`` as a constraint on the answer (None for text)."""
    value = body.get("response_format")
    kind = value.get("type") if isinstance(value, dict) else value
    if value is None or kind == "text":
        return None
    if kind == "json_object":
        return Constraint("json_object")
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if schema is None:
            raise bad_field(
                "response_format.json_schema.schema", "the json_schema has no schema", _RESPONSE_FORMAT_HINT
            )
        return Constraint("json_schema", json.dumps(schema))
    raise bad_field("response_format", f"response_format type {kind!r} is not known", hint=_RESPONSE_FORMAT_HINT)


def _top_logprobs(body: dict, endpoint: str) -> int | None:
    if endpoint == COMPLETION:
        count = _expect(body, "logprobs", (int,), "an integer")
    else:
        count = _expect(body, "top_logprobs", (int,), "an integer") or 0
        if not _expect(body, "logprobs", (bool,), "true or false"):
            return None
    if count is not None and not 0 <= count <= MAX_LOGPROBS:
        param = "top_logprobs" if endpoint == CHAT else "logprobs"
        raise unsupported(param, f"{param} must be in [0, {MAX_LOGPROBS}], got {count}", hint="ask for up to 20")
    return count


def client_name(body: Any) -> str | None:
    """The client's own name for itself (``prompt_cache_key``, ``user``), if it gave one."""
    for name in ("prompt_cache_key", "user", "safety_identifier"):
        value = body.get(name) if isinstance(body, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()[:120]
    return None


def parse(endpoint: str, body: Any) -> ApiCall:
    """The :class:`ApiCall` of a request body.

    Raises:
        ApiError: a field of the wrong shape (422) or one the API cannot honour (400), naming the field.
        PlaygroundError: a setting out of range (from :class:`GenerationSettings`).
    """
    if not isinstance(body, dict):
        raise bad_field("body", f"the request body must be a JSON object, got {type(body).__name__}")
    _refuse_unsupported(body)
    top = _top_logprobs(body, endpoint)
    common = {
        "settings": _settings(body),
        "logprobs": max(top, 1) if top is not None else 0,  # the token's own probability needs them computed
    }
    if endpoint == COMPLETION:
        request, notes = ChatRequest(raw_prompt=_prompt(body), **common), []
    else:
        messages = _messages(body)
        tools, required, notes = _tools(body)
        formatted = _response_format(body)
        if required is not None and formatted is not None:
            raise unsupported("tool_choice", "a required tool call and a response_format cannot go together")
        kwargs = _expect(body, "chat_template_kwargs", (dict,), "a JSON object") or {}
        request = ChatRequest(
            messages=tuple(messages),
            tools=tools,
            template_kwargs=kwargs,
            effort=_expect(body, "reasoning_effort", (str,), "a string"),
            add_generation_prompt=body.get("add_generation_prompt", True) is not False,
            continue_final=body.get("continue_final_message") is True,
            constraint=required or formatted,
            **common,
        )
    stream = _expect(body, "stream", (bool,), "true or false") or False
    options_ = _expect(body, "stream_options", (dict,), "a JSON object") or {}
    return ApiCall(
        endpoint=endpoint,
        model=_expect(body, "model", (str,), "a string"),
        request=request,
        stream=stream,
        include_usage=bool(options_.get("include_usage")),
        top_logprobs=top,
        notes=tuple(notes),
        body=body,
    )


def _prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_field("prompt", "prompt must be a string (one prompt per request)", hint="send one text prompt")
    if body.get("echo"):
        raise unsupported("echo", "echo is not supported", hint="the request log shows the prompt")
    if body.get("suffix"):
        raise unsupported("suffix", "suffix (fill-in-the-middle) is not supported", hint="leave it out")
    return prompt
