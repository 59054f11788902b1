"""Presets whose prompt is built by Python code, not a Jinja template: mlx-lm's own encoders.

DeepSeek V3.2 ships no chat template; its prompt is written by Python (``encoding_dsv32.py``), which mlx-lm
carries as ``mlx_lm.chat_templates.deepseek_v32`` (used when a tokenizer_config.json says
``"chat_template_type": "deepseek_v32"``). A preset names such a module with ``encoder = "deepseek_v32"``
instead of ``template``; it renders through the module's ``apply_chat_template``, exactly what mlx-lm sends.
The keywords it takes are the encoder's own parameters. Segments are found by searching each message's text
in the prompt (coarser than the Jinja probe).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from functools import lru_cache

from ..errors import TemplateError, TemplateRaisedError
from ..families import ENCODER_PACKAGE
from ..messages import Message, ignored_roles, validate_messages
from .render import (
    RenderCall,
    RenderedPrompt,
    TemplateFacts,
    _segments_by_search,
    check_template_kwargs,
    preprocess_messages,
    rendered_prompt,
)

#: Keywords mlx-lm's apply_chat_template handles itself (not the encoder's own parameters).
_WRAPPER_KEYWORDS = frozenset({"enable_thinking"})
_NOT_KEYWORDS = frozenset({"messages", "tools", "context", "add_default_bos_token"})


@lru_cache(maxsize=8)
def load_encoder(name: str) -> Callable[..., str]:
    """``mlx_lm.chat_templates.NAME.apply_chat_template``.

    Raises:
        TemplateError: no such module, or it has no apply_chat_template.
    """
    try:
        module = importlib.import_module(f"{ENCODER_PACKAGE}.{name}")
    except ImportError as exc:
        raise TemplateError(
            f"mlx-lm has no prompt encoder {name!r} ({exc})",
            hint="upgrade mlx-lm (pip install -U mlx-lm), or check the preset's encoder name",
        ) from None
    encoder = getattr(module, "apply_chat_template", None)
    if not callable(encoder):
        raise TemplateError(f"{ENCODER_PACKAGE}.{name} has no apply_chat_template", hint="check the encoder name")
    return encoder


@lru_cache(maxsize=8)
def encoder_keywords(name: str) -> frozenset[str]:
    """The template keywords an encoder reads: ``enable_thinking`` and its ``encode_messages`` parameters."""
    module = importlib.import_module(f"{ENCODER_PACKAGE}.{name}")
    encode = getattr(module, "encode_messages", None)
    params = set(inspect.signature(encode).parameters) if callable(encode) else set()
    return frozenset((params - _NOT_KEYWORDS) | _WRAPPER_KEYWORDS)


def render_encoder(
    name: str,
    messages: list[Message],
    call: RenderCall = RenderCall(),
    *,
    facts: TemplateFacts = TemplateFacts(source="preset"),
    with_segments: bool = True,
    warnings: Iterable[str] = (),
) -> RenderedPrompt:
    """Render ``messages`` with mlx-lm's encoder ``name`` (the :func:`playground.templates.render` interface; the
    encoder writes its own BOS and has a system role, so the token and system-strategy arguments do not apply).

    Raises:
        MessagesError, TemplateError: a keyword the encoder does not take, or a conversation it rejects.
    """
    encoder = load_encoder(name)
    messages = preprocess_messages(validate_messages(messages))
    kwargs = check_template_kwargs(call.template_kwargs)
    unknown = sorted(set(kwargs) - encoder_keywords(name))
    if unknown:
        raise TemplateError(
            f"the {name} encoder takes no keyword {', '.join(map(repr, unknown))}",
            hint=f"it reads: {', '.join(sorted(encoder_keywords(name)))}",
        )
    if call.tools:
        kwargs["tools"] = call.tools
    try:
        text = encoder(
            messages,
            add_generation_prompt=call.add_generation_prompt,
            continue_final_message=call.continue_final_message,
            **kwargs,
        )
    except (AssertionError, NotImplementedError, ValueError, KeyError, TypeError) as exc:
        raise TemplateRaisedError(
            f"the {name} encoder rejected the conversation: {type(exc).__name__}: {exc}"[:400],
            hint="check the roles and order of the messages (tool results follow the assistant's tool calls; "
            "in thinking mode replies after the last user message need reasoning_content)",
        ) from None
    notes = [*warnings, *ignored_roles(messages, text)]
    segments = _segments_by_search(text, messages) if with_segments else ()
    return rendered_prompt(text, facts, call, messages=messages, warnings=notes, segments=segments)
