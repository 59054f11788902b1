"""Conversations: validation and the JSON messages file format the CLI and UI share.

A conversation is a list of ``{"role": ..., "content": str}`` dicts. Extra keys (``tool_calls``,
``name``, ...) pass through to the template untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import MessagesError

ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGES = 1000
MAX_CONTENT_CHARS = 1_000_000

Message = dict[str, Any]

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
        missing = [k for k in ("role", "content") if k not in message]
        if missing:
            raise MessagesError(f"message {index} has no {' or '.join(repr(m) for m in missing)}", hint=_FORMAT_HINT)
        role = message["role"]
        if role not in ROLES:
            raise MessagesError(
                f"message {index} has unknown role {role!r}",
                hint=f"use one of: {', '.join(ROLES)}",
            )
        content = message["content"]
        if not isinstance(content, str):
            raise MessagesError(
                f"message {index} content must be text, got {type(content).__name__}",
                hint="join text blocks into one string",
            )
        if len(content) > MAX_CONTENT_CHARS:
            raise MessagesError(
                f"message {index} is {len(content):,} characters long; the limit is {MAX_CONTENT_CHARS:,}",
                hint="shorten the message",
            )
        result.append(dict(message))
    return result


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


def has_system(messages: list[Message]) -> bool:
    """Whether any message has the system role."""
    return any(m.get("role") == "system" for m in messages)
