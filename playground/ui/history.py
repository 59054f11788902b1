"""The one boundary between Gradio chat history and the engine's plain messages."""

from __future__ import annotations

from typing import Any

from ..errors import MessagesError
from ..messages import Message


def content_text(content: Any) -> str:
    """Text of a Gradio 6 message content: a string, a text block, or a list of blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type", "text") == "text" and isinstance(content.get("text"), str):
            return content["text"]
        raise MessagesError(
            f"chat message content of type {content.get('type')!r} is not text", hint="the playground is text-only"
        )
    if isinstance(content, (list, tuple)):
        return "".join(content_text(block) for block in content)
    raise MessagesError(f"chat message content must be text, got {type(content).__name__}")


def is_annotation(item: dict[str, Any]) -> bool:
    """Stats lines the UI adds under replies (messages with a metadata title) are not conversation."""
    metadata = item.get("metadata") or {}
    return bool(metadata.get("title"))


def history_to_messages(history: list[dict[str, Any]] | None, system_prompt: str | None = None) -> list[Message]:
    """Gradio chat history (+ optional system prompt) -> ``[{"role", "content": str}]`` for the engine."""
    messages: list[Message] = []
    if system_prompt and system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt})
    for item in history or []:
        if not isinstance(item, dict):
            raise MessagesError(f"chat history items must be messages, got {type(item).__name__}")
        if is_annotation(item):
            continue
        role = item.get("role")
        if role not in ("user", "assistant", "system"):
            raise MessagesError(f"chat history has a message with role {role!r}")
        messages.append({"role": role, "content": content_text(item.get("content"))})
    return messages


def messages_to_history(messages: list[Message]) -> tuple[list[dict[str, Any]], str]:
    """Plain messages -> (Gradio history, system prompt). The first system message becomes the system prompt."""
    system = ""
    history = []
    for index, message in enumerate(messages):
        if message["role"] == "system" and index == 0:
            system = message["content"]
            continue
        history.append({"role": message["role"], "content": message["content"]})
    return history, system
