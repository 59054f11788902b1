"""Conversations: validation and the JSON messages file format the CLI and UI share.

A conversation is a list of ``{"role": ..., "content": str}`` dicts, as in transformers and the OpenAI
API: an assistant message may carry ``reasoning_content`` and ``tool_calls`` (its content may then be
absent), a ``tool`` message ``tool_call_id`` / ``name``; content may also be a list of text and image
blocks. Extra keys pass through to the template untouched, and so does every role: besides
system/user/assistant/tool, templates read ``developer`` (gpt-oss style), ``ipython`` (Llama 3.1),
``assistant_tool_call`` / ``tool_response`` (Granite) and others, so any non-empty text is a role, as in
transformers (the renderer warns when a template ignores one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import MessagesError

#: The roles every chat template knows; other roles pass through to the template (see the module docstring).
ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGES = 1000
MAX_CONTENT_CHARS = 1_000_000

Message = dict[str, Any]
#: Content block types a message's content list may hold (text, and images for vision models).
CONTENT_BLOCK_TYPES = ("text", "image")

#: A short conversation with every role, for template checks and the template lab.
SAMPLE_CONVERSATION: list[Message] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hello! How can I help you today?"},
    {"role": "user", "content": "What is 2 + 3?"},
]

_FORMAT_HINT = 'use a JSON list like [{"role": "user", "content": "Hello!"}]'


def validate_messages(messages: Any, *, allow_empty: bool = False) -> list[Message]:
    """Check a conversation and return a shallow copy of it.

    Raises:
        MessagesError: naming the first bad message and what is wrong with it.
    """
    if not isinstance(messages, list):
        raise MessagesError(
            f"messages must be a JSON list of {{role, content}} objects, got {type(messages).__name__}",
            hint=_FORMAT_HINT,
        )
    if not messages and not allow_empty:
        raise MessagesError("the conversation is empty", hint="add at least one user message")
    if len(messages) > MAX_MESSAGES:
        raise MessagesError(
            f"the conversation has {len(messages)} messages; the limit is {MAX_MESSAGES}",
            hint="trim older messages",
        )
    result = []
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise MessagesError(
                f"message {index} must be an object with 'role' and 'content', got {type(message).__name__}",
                hint=_FORMAT_HINT,
            )
        if "role" not in message:
            raise MessagesError(f"message {index} has no 'role'", hint=_FORMAT_HINT)
        if "content" not in message and not message.get("tool_calls"):
            raise MessagesError(f"message {index} has no 'content'", hint=_FORMAT_HINT)
        role = message["role"]
        if not isinstance(role, str) or not role.strip():
            raise MessagesError(
                f"message {index} role must be non-empty text, got {role!r:.60}",
                hint=f"use a role the template knows: {', '.join(ROLES)}, or one it reads such as 'developer'",
            )
        _check_content(index, message)
        _check_tool_calls(index, message)
        for key in ("name", "tool_call_id", "reasoning_content", "thinking", "reasoning"):
            if message.get(key) is not None and not isinstance(message[key], str):
                raise MessagesError(
                    f"message {index} {key} must be text, got {type(message[key]).__name__}", hint=_FORMAT_HINT
                )
        result.append(dict(message))
    return result


def _check_content(index: int, message: Message) -> None:
    content = message.get("content")
    if content is None:
        return
    if isinstance(content, str):
        if len(content) > MAX_CONTENT_CHARS:
            raise MessagesError(
                f"message {index} is {len(content):,} characters long; the limit is {MAX_CONTENT_CHARS:,}",
                hint="shorten the message",
            )
        return
    if isinstance(content, list):
        total = 0
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in CONTENT_BLOCK_TYPES:
                raise MessagesError(
                    f"message {index} content blocks must be objects with a type ({', '.join(CONTENT_BLOCK_TYPES)}), "
                    f"got {block!r:.80}",
                    hint='use {"type": "text", "text": "..."} or {"type": "image", "image": "path"}',
                )
            if kind == "text" and not isinstance(block.get("text"), str):
                raise MessagesError(f"message {index} has a text block without text", hint=_FORMAT_HINT)
            total += len(block.get("text") or "")
        if total > MAX_CONTENT_CHARS:
            raise MessagesError(
                f"message {index} is {total:,} characters long; the limit is {MAX_CONTENT_CHARS:,}",
                hint="shorten the message",
            )
        return
    raise MessagesError(
        f"message {index} content must be text (or a list of content blocks), got {type(content).__name__}",
        hint="join text blocks into one string",
    )


def _check_tool_calls(index: int, message: Message) -> None:
    calls = message.get("tool_calls")
    if calls is None:
        return
    if message.get("role") != "assistant" or not isinstance(calls, list):
        raise MessagesError(
            f"message {index}: tool_calls must be a list on an assistant message",
            hint='[{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]',
        )
    for number, call in enumerate(calls, start=1):
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise MessagesError(
                f"message {index} tool call {number} has no function name",
                hint='write it as {"type": "function", "function": {"name": "f", "arguments": {...}}}',
            )
        arguments = function.get("arguments", {})
        if not isinstance(arguments, (dict, str)):
            raise MessagesError(
                f"message {index} tool call {number} arguments must be an object or a JSON string, "
                f"got {type(arguments).__name__}"
            )


def parse_messages(text: str, source: str = "messages") -> list[Message]:
    """Parse and validate a JSON conversation. ``source`` names it in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MessagesError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint=_FORMAT_HINT,
        ) from exc
    if isinstance(data, dict) and "messages" in data:  # accept {"messages": [...]} exports too
        data = data["messages"]
    try:
        return validate_messages(data)
    except MessagesError as exc:
        raise MessagesError(f"{source}: {exc.message}", hint=exc.hint) from None


def load_messages(path: str | Path) -> list[Message]:
    """Read a messages file; ``-`` reads standard input."""
    if str(path) == "-":
        return parse_messages(sys.stdin.read(), "standard input")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MessagesError(f"messages file {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MessagesError(f"cannot read messages file {path}: {exc}") from None
    return parse_messages(text, str(path))


def ignored_roles(messages: list[Message], prompt: str) -> list[str]:
    """Warnings for messages of a role other than system/user/assistant/tool whose text the rendered prompt
    does not contain: the template ignored that role (transformers renders it the same way, silently)."""
    notes = []
    for index, message in enumerate(messages, start=1):
        role = message.get("role")
        if role in ROLES:
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(b.get("text") or "" for b in content if isinstance(b, dict))
        text = content.strip() if isinstance(content, str) else ""
        shown = (text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1])  # as is, or JSON-encoded
        if text and not any(form in prompt for form in shown):
            notes.append(
                f"message {index} has role {role!r}, which this template ignores: its content is not in the prompt"
            )
    return notes


def shape_tool_arguments(messages: list[Message], style: str, template: str = "this template") -> list[Message]:
    """The conversation with every assistant tool call's ``arguments`` in the shape a template expects.

    OpenAI-style clients send arguments as a JSON string, others as an object, and templates crash on the one
    they do not expect (GLM-4.5 iterates an object, DeepSeek R1 pastes a string). ``style`` is a preset's
    ``tool_arguments``: ``"dict"`` parses JSON strings, ``"string"`` encodes objects as JSON (as
    :meth:`playground.parsing.ToolCall.arguments_json` does), ``"any"`` changes nothing. The page and the API
    call this for conversations they receive; ``render --messages`` does not (the template's own error, as in
    transformers). Messages are copied, never changed in place.

    Raises:
        MessagesError: a JSON-string argument that is not a JSON object, for a template that needs an object.
    """
    if style not in ("dict", "string"):
        return list(messages)
    out = []
    for index, message in enumerate(messages, start=1):
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and isinstance(calls, list) and calls:
            message = {
                **message,
                "tool_calls": [_shape_call(c, style, index, n, template) for n, c in enumerate(calls, 1)],
            }
        out.append(message)
    return out


def _shape_call(call: Any, style: str, index: int, number: int, template: str) -> Any:
    nested = isinstance(call, dict) and isinstance(call.get("function"), dict)
    function = call["function"] if nested else call
    if not isinstance(function, dict) or "arguments" not in function:
        return call
    arguments = function["arguments"]
    if style == "string" and isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif style == "dict" and isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            arguments = exc
        if not isinstance(arguments, dict):
            raise MessagesError(
                f"message {index} tool call {number} arguments are not a JSON object, and {template} needs one",
                hint='write the arguments as an object, e.g. {"city": "Paris"}',
            )
    else:
        return call
    function = {**function, "arguments": arguments}
    return {**call, "function": function} if nested else function
