"""Vision-language models (the optional ``vision`` extra: mlx-vlm).

- :mod:`.runtime`: loading with mlx-vlm (repairing missing ``vision_config`` fields on the way), the processor,
  the install hint;
- :mod:`.prompt`: images in messages, and the prompt exactly as the processor expands it.

Elsewhere: :mod:`playground.vision_config` (a leaf that detection reads: is a folder a VLM, which fields mlx-vlm
would silently default; pure metadata) and :mod:`playground.backends.local.vision` (the scheduler unit that
decodes with mlx-vlm's ``generate_step``).

Importing this package is cheap: mlx-vlm is imported only when a vision model is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Keys an image content block may hold its image under (first found wins).
IMAGE_KEYS = ("image", "path", "url", "image_url")


def image_source(block: Mapping[str, Any]) -> str | None:
    """The image path / URI of an image content block (None when it has none)."""
    for key in IMAGE_KEYS:
        value = block.get(key)
        if isinstance(value, Mapping):  # OpenAI style: {"image_url": {"url": ...}}
            value = value.get("url")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def messages_have_images(messages: Sequence[Any]) -> bool:
    """Whether any message holds an image content block."""
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(isinstance(b, Mapping) and b.get("type") == "image" for b in content):
            return True
    return False


def request_has_images(request: Any) -> bool:
    """Whether a ChatRequest carries images (``images`` or image blocks in its messages)."""
    return bool(getattr(request, "images", ())) or messages_have_images(request.messages)
