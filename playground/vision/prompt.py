"""Images in a conversation: where they come from, and the prompt exactly as the model's processor expands it.

**One representation.** An image is a content block of a user message: ``{"type": "image", "image":
"path/to/file.png"}`` (also accepted: the keys ``path``, ``url`` and ``image_url``; a ``data:image/...``
URI works too). ``ChatRequest.images`` is a shortcut for the CLI (``--image``): :func:`attach_images`
turns each into such a block at the start of the last user message, before rendering. http(s) URLs are
refused: the playground never downloads.

**The prompt.** The chat template writes one placeholder per image (``<|vision_start|><|image_pad|>
<|vision_end|>`` for Qwen2-VL, ``<start_of_image>`` for Gemma 3, ``[IMG]`` for Pixtral, ...). The model's
own processor then expands each placeholder into the image's tokens (``<|image_pad|>`` repeated once per
merged patch) and tokenizes the result. :func:`expand_prompt` runs the processor and keeps the exact text
it handed to its tokenizer: that text is ``PreparedChat.text``, and its token ids are the ids generation
uses, so the prompt view shows precisely what the model receives. :class:`ImageSpan` marks each run of
image tokens in that text (for chips with a count).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MessagesError, ModelLoadError
from . import IMAGE_KEYS, image_source, is_url

_URL_HINT = "download it first (for example: curl -L -o image.jpg 'URL') and pass the file"


@dataclass(frozen=True)
class ImageInfo:
    """One image of the prompt, in order."""

    index: int  # 0-based, in prompt order
    source: str  # the path as given (data URIs shortened)
    width: int
    height: int
    tokens: int | None  # image tokens this image takes in the prompt (None: could not be attributed)
    fingerprint: str = field(repr=False, default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "tokens": self.tokens,
        }


@dataclass(frozen=True)
class ImageSpan:
    """A run of one repeated image token in ``PreparedChat.text``: ``text[start:end] == token * count``."""

    start: int
    end: int
    token: str
    count: int
    image: int | None  # index into VisionPrompt.images (None: not attributable)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "token": self.token, "count": self.count, "image": self.image}


@dataclass(frozen=True, eq=False)
class VisionPrompt:
    """The image side of a prepared request: the images, their token runs, and the processor's tensors."""

    images: tuple[ImageInfo, ...]
    spans: tuple[ImageSpan, ...]
    image_token: str | None
    image_token_id: int | None
    placeholder: str | None  # what the template wrote once per image (before expansion)
    token_ids: tuple[int, ...]
    bos_added: bool
    pixel_values: Any = field(repr=False, default=None)
    mask: Any = field(repr=False, default=None)
    extra: dict[str, Any] = field(repr=False, default_factory=dict)  # image_grid_thw and friends

    @property
    def image_tokens(self) -> int:
        """How many prompt tokens are image tokens."""
        if self.image_token_id is None:
            return sum(s.count for s in self.spans)
        return sum(1 for t in self.token_ids if t == self.image_token_id)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(i.fingerprint for i in self.images)

    def summary(self) -> dict[str, Any]:
        return {
            "image_tokens": self.image_tokens,
            "image_token": self.image_token,
            "placeholder": self.placeholder,
            "images": [i.to_dict() for i in self.images],
            "spans": [s.to_dict() for s in self.spans],
        }

    def describe(self) -> list[str]:
        """One line per image for terminals: size, and the tokens it became."""
        lines = []
        for image in self.images:
            runs = [s for s in self.spans if s.image == image.index]
            shown = " + ".join(f"{s.token} ×{s.count}" for s in runs) or "not attributed"
            count = f"{image.tokens:,} image tokens" if image.tokens is not None else "image tokens"
            lines.append(f"image {image.index + 1} ({image.source}, {image.width}x{image.height}): {count} ({shown})")
        lines.append(f"{self.image_tokens:,} image tokens in all")
        return lines


# ---------------------------------------------------------------------------------------------- sources


def attach_images(messages: Sequence[dict], images: Sequence[str]) -> list[dict]:
    """``messages`` with ``images`` as image blocks at the start of the last user message."""
    messages = [dict(m) for m in messages]
    if not images:
        return messages
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            blocks = [{"type": "image", "image": str(src)} for src in images]
            if isinstance(content, list):
                message["content"] = blocks + list(content)
            else:
                message["content"] = blocks + ([{"type": "text", "text": content}] if content else [])
            return messages
    raise MessagesError("images need a user message to go with", hint="add a user message, e.g. --prompt 'Describe it'")


def image_sources(messages: Sequence[dict]) -> list[str]:
    """The image of every image block, in order."""
    found = []
    for index, message in enumerate(messages, start=1):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "image":
                source = image_source(block)
                if source is None:
                    raise MessagesError(
                        f"message {index} has an image block without an image",
                        hint='write it as {"type": "image", "image": "path/to/file.png"}',
                    )
                found.append(source)
    return found


def check_image_source(source: str) -> None:
    """Refuse URLs and missing files before anything slow happens."""
    if is_url(source):
        raise MessagesError(f"image {source} is a URL: the playground never downloads anything", hint=_URL_HINT)
    if source.startswith("data:"):
        if not source.startswith("data:image/") or "," not in source:
            raise MessagesError("an image data URI must look like data:image/png;base64,...", hint="or pass a file")
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise MessagesError(f"image {source} does not exist", hint="check the path")
    if not path.is_file():
        raise MessagesError(f"image {source} is not a file", hint="pass an image file (PNG, JPEG, WebP, GIF)")


def _fingerprint(source: str) -> str:
    if source.startswith("data:"):
        return "sha1:" + hashlib.sha1(source.encode("utf-8")).hexdigest()
    path = Path(source).expanduser().resolve()
    stat = path.stat()
    return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


def _shown(source: str) -> str:
    return source if not source.startswith("data:") else source[: source.find(",")] + ",..."


def load_image(source: str) -> Any:
    """A PIL image in RGB, turned as its EXIF says (mlx-vlm's loader, after our checks)."""
    from mlx_vlm.utils import load_image as _load

    check_image_source(source)
    try:
        if source.startswith("data:"):
            base64.b64decode(source.split(",", 1)[1], validate=True)
        return _load(str(Path(source).expanduser()) if not source.startswith("data:") else source)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise MessagesError(
            f"image {_shown(source)} could not be read ({detail})", hint="use a PNG, JPEG, WebP or GIF file"
        ) from None


# ---------------------------------------------------------------------------------------------- expansion


class _Recorder:
    """Stands in for a processor's tokenizer for one call and keeps the text it is given."""

    def __init__(self, tokenizer: Any):
        self._tokenizer = tokenizer
        self.texts: list[Any] = []

    def __call__(self, text: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.texts.append(text)
        return self._tokenizer(text, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def _run_processor(runtime: Any, text: str, images: list, add_special: bool) -> tuple[dict, str | None]:
    """mlx-vlm's ``prepare_inputs`` with the model's processor; also returns the text it tokenized."""
    from mlx_vlm.utils import prepare_inputs

    processor = runtime.processor
    with runtime.lock:
        real = getattr(processor, "tokenizer", None)
        recorder = _Recorder(real) if real is not None else None
        if recorder is not None:
            processor.tokenizer = recorder
        try:
            inputs = prepare_inputs(processor, images=images, prompts=[text], add_special_tokens=add_special)
        finally:
            if recorder is not None:
                processor.tokenizer = real
    seen = recorder.texts[-1] if recorder is not None and recorder.texts else None
    if isinstance(seen, (list, tuple)) and len(seen) == 1:
        seen = seen[0]
    return inputs, seen if isinstance(seen, str) else None


def _align(rendered: str, expanded: str, placeholder: str, fill: str | None) -> list[tuple[int, int]] | None:
    """Where each placeholder of ``rendered`` went in ``expanded``: ``[(start, end), ...]`` in ``expanded``
    (None when the expansion cannot be attributed exactly)."""
    pieces = rendered.split(placeholder)
    if not expanded.startswith(pieces[0]):
        return None
    regions = []
    pos = len(pieces[0])
    for i, piece in enumerate(pieces[1:], start=1):
        if i == len(pieces) - 1:
            end = len(expanded) - len(piece)
            if end < pos or expanded[end:] != piece:
                return None
        else:
            if not piece:
                return None  # two images back to back: the boundary is ambiguous
            search = pos
            if fill:
                run = re.compile(f"(?:{re.escape(fill)})+").search(expanded, pos)
                search = run.end() if run else pos
            end = expanded.find(piece, search)
            if end < 0:
                return None
        regions.append((pos, end))
        pos = end + len(piece)
    return regions


def _remap_segments(rendered: Any, placeholder: str, regions: list[tuple[int, int]]) -> tuple:
    """The rendered prompt's segments moved onto the expanded text."""
    from ..templates import Segment

    starts = [m.start() for m in re.finditer(re.escape(placeholder), rendered.text)]
    shifts = []  # (end of placeholder in rendered, start in expanded, cumulative shift after it)
    total = 0
    for r_start, (x_start, x_end) in zip(starts, regions):
        total += (x_end - x_start) - len(placeholder)
        shifts.append((r_start, r_start + len(placeholder), x_start, total))

    def move(pos: int) -> int:
        shift = 0
        for r_start, r_end, x_start, after in shifts:
            if pos >= r_end:
                shift = after
            elif pos > r_start:
                return x_start
        return pos + shift

    return tuple(Segment(move(s.start), move(s.end), s.kind, s.message, s.role) for s in rendered.segments)


def _spans(text: str, token: str | None, regions: list[tuple[int, int]] | None, n_images: int) -> list[ImageSpan]:
    if not token:
        return []
    runs = list(re.finditer(f"(?:{re.escape(token)})+", text))
    spans = []
    for index, run in enumerate(runs):
        image = None
        if regions is not None:
            image = next((i for i, (a, b) in enumerate(regions) if a <= run.start() and run.end() <= b), None)
        elif len(runs) == n_images:
            image = index
        count = (run.end() - run.start()) // len(token)
        spans.append(ImageSpan(run.start(), run.end(), token, count, image))
    return spans


def _pick_placeholder(text: str, candidates: Sequence[str], n_images: int, template_name: str) -> str | None:
    if not candidates:
        return None
    counts = {c: text.count(c) for c in candidates}
    for candidate, count in counts.items():
        if count == n_images:
            return candidate
    if not any(counts.values()):
        raise MessagesError(
            f"the template ({template_name}) put no image placeholder into the prompt "
            f"(expected one of {', '.join(candidates)} per image)",
            hint="use the model's own template (template 'model') or a preset that places images",
        )
    shown = ", ".join(f"{count} × {c}" for c, count in counts.items() if count)
    raise MessagesError(
        f"the prompt has {shown} but {n_images} image(s) are attached",
        hint="each image needs exactly one placeholder: do not type image tokens into messages",
    )


def expand_prompt(loaded: Any, rendered: Any, sources: Sequence[str]) -> tuple[Any, VisionPrompt]:
    """Run the model's processor on the rendered prompt and its images.

    Returns the rendered prompt moved onto the expanded text (its segments shifted; none when the
    expansion cannot be attributed) and the :class:`VisionPrompt`.
    """
    runtime = loaded.vision
    tokenizer = loaded.tokenizer
    placeholder = _pick_placeholder(rendered.text, runtime.placeholders, len(sources), rendered.template_name)
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not rendered.text.startswith(bos)
    fingerprints = tuple(_fingerprint(s) for s in sources)
    key = (rendered.text, fingerprints, add_special)
    done = runtime.cached(key)
    if done is None:
        images = [load_image(s) for s in sources]
        try:
            inputs, seen = _run_processor(runtime, rendered.text, images, add_special)
        except MessagesError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split())[:240]
            raise MessagesError(
                f"the model's processor could not prepare the images: {detail}",
                hint="check that each image has exactly one placeholder and is a normal picture",
            ) from None
        ids = [int(i) for i in inputs["input_ids"].reshape(-1).tolist()]
        if seen is None or list(tokenizer.encode(seen, add_special_tokens=add_special)) != ids:
            seen = tokenizer.decode(ids)  # the text handed to the tokenizer is not known exactly: decode the ids
        sizes = [(img.width, img.height) for img in images]
        done = (inputs, seen, ids, sizes)
        runtime.remember(key, done)
    inputs, text, ids, sizes = done
    regions = _align(rendered.text, text, placeholder, runtime.image_token) if placeholder else None
    spans = _spans(text, runtime.image_token, regions, len(sources))
    per_image = [0] * len(sources)
    attributed = all(s.image is not None for s in spans) and bool(spans)
    for span in spans:
        if span.image is not None:
            per_image[span.image] += span.count
    infos = tuple(
        ImageInfo(i, _shown(src), w, h, per_image[i] if attributed else None, fingerprints[i])
        for i, (src, (w, h)) in enumerate(zip(sources, sizes))
    )
    bos_id = getattr(tokenizer, "bos_token_id", None)
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values", "attention_mask")}
    vision = VisionPrompt(
        images=infos,
        spans=tuple(spans),
        image_token=runtime.image_token,
        image_token_id=runtime.image_token_id,
        placeholder=placeholder,
        token_ids=tuple(ids),
        bos_added=bool(add_special and bos_id is not None and ids[:1] == [bos_id]),
        pixel_values=inputs.get("pixel_values"),
        mask=inputs.get("attention_mask"),
        extra=extra,
    )
    segments = _remap_segments(rendered, placeholder, regions) if regions is not None else ()
    return dataclasses.replace(rendered, text=text, segments=segments), vision


def prepare_vision(loaded: Any, choice: Any, request: Any, render: Callable) -> tuple[Any, VisionPrompt]:
    """Render ``request`` (its images attached to the messages) and expand it with the model's processor.

    Raises:
        MessagesError: a URL, a missing or unreadable image, a text-only model, a template without image
            placeholders. ModelLoadError: a vision model loaded without mlx-vlm.
    """
    messages = attach_images(request.messages, request.images)
    sources = image_sources(messages)
    for source in sources:
        check_image_source(source)
    if loaded.vision is None:
        if loaded.detection.vision:
            from .runtime import install_command

            raise ModelLoadError(
                f"{loaded.name} is a vision-language model, but images need mlx-vlm (the 'vision' extra)",
                hint=f"install it with: {install_command()}",
            )
        raise MessagesError(
            f"{loaded.name} is a text-only model: it cannot read images",
            hint="pick a vision-language model (its config.json has a vision_config), or remove the image",
        )
    rendered = render(choice, request.replace(messages=tuple(messages), images=()))
    return expand_prompt(loaded, rendered, sources)


__all__ = [
    "IMAGE_KEYS",
    "ImageInfo",
    "ImageSpan",
    "VisionPrompt",
    "attach_images",
    "check_image_source",
    "expand_prompt",
    "image_sources",
    "prepare_vision",
]
