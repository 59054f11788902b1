"""Images a session's messages refer to, kept in a private folder of the session.

The page shows images of the conversation (thumbnails) by handing their paths to Gradio, which serves a
copy of any file a handler returns from the working directory or the system temp dir. So a conversation
must never refer to an arbitrary server file: an imported ``{"type": "image", "image": "README.md"}``
would otherwise make Gradio serve README.md to whoever imported it. Every image a message refers to (an
upload, a path in an imported conversation, a ``data:`` URI) is therefore checked (it exists, it is a
file, it is an image no bigger than :data:`MAX_IMAGE_BYTES`) and copied into the session's own folder
under the system temp dir, and the message is rewritten to point at the copy; anything else is refused
with a message. The server is launched without ``allowed_paths``, so nothing else is reachable.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import MessagesError
from ..vision import image_source, is_url

#: The largest image accepted (bytes).
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: Image formats accepted (PIL's names) and the suffix their copies get.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
#: The process's folder (under the system temp dir) is FOLDER_PREFIX + its pid; one folder per session inside.
FOLDER_PREFIX = "mlx-playground-images-"
_HINT = "attach a PNG, JPEG, WebP, GIF or BMP file"

_root: Path | None = None
_root_lock = threading.Lock()


def images_root() -> Path:
    """This process's folder of session folders (created once, removed at exit; folders left behind by
    processes that no longer run, e.g. killed ones, are removed when the next one starts)."""
    global _root
    with _root_lock:
        if _root is None or not _root.is_dir():
            _remove_stale()
            _root = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
            atexit.register(shutil.rmtree, _root, True)
        return _root


def _remove_stale() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        with contextlib.suppress(OSError, ValueError):
            if not pid.isdigit() or folder.stat().st_uid != os.getuid() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:  # its process is gone
                shutil.rmtree(folder, ignore_errors=True)
            except PermissionError:  # a live process of another user
                continue


def _shown(source: str) -> str:
    return source if not source.startswith("data:") else source[: max(source.find(","), 0)][:40] + ",..."


def _image_format(data: bytes, shown: str) -> str:
    """The image format of ``data`` (PIL), or a MessagesError saying it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise MessagesError(f"image {shown} is not an image (or a damaged one)", hint=_HINT) from None
    if kind not in FORMATS:
        raise MessagesError(f"image {shown} is a {kind} file, which is not accepted", hint=_HINT)
    return kind


def _read(source: str) -> bytes:
    """The bytes of an image source (a path or a ``data:image/...;base64,`` URI), after the basic checks."""
    shown = _shown(source)
    if is_url(source):
        raise MessagesError(
            f"image {source} is a URL: the playground never downloads anything",
            hint="download it first and attach the file",
        )
    if source.startswith("data:"):
        head, _, payload = source.partition(",")
        if not head.startswith("data:image/") or not head.endswith(";base64") or not payload:
            raise MessagesError(f"image {shown} is not a base64 image data URI", hint="use data:image/png;base64,...")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise MessagesError(f"image {shown} is not valid base64", hint="use data:image/png;base64,...") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise MessagesError(f"image {shown} is larger than {MAX_IMAGE_BYTES // 2**20} MB", hint=_HINT)
        return data
    path = Path(source).expanduser()
    try:
        if not path.exists():
            raise MessagesError(f"image {source} does not exist", hint="check the path (it is a path on the server)")
        if not path.is_file():
            raise MessagesError(f"image {source} is not a file", hint=_HINT)
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise MessagesError(f"image {source} is larger than {MAX_IMAGE_BYTES // 2**20} MB", hint=_HINT)
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MessagesError(f"image {source} cannot be read ({reason})", hint=_HINT) from None


def _is_upload(source: str) -> bool:
    """Whether ``source`` is a file Gradio received from a browser (in its upload folder)."""
    from gradio.utils import get_upload_folder

    try:
        return Path(source).resolve().is_relative_to(Path(get_upload_folder()).resolve())
    except (OSError, RuntimeError, ValueError):
        return False


class SessionImages:
    """One session's private image folder (created on first use, removed with the session)."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._remove: weakref.finalize | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        """The folder (private to this user: mode 0700), created on first use; removed with the session."""
        with self._lock:
            if self._folder is None or not self._folder.is_dir():
                self._folder = Path(tempfile.mkdtemp(prefix="session-", dir=images_root()))
                self._remove = weakref.finalize(self, shutil.rmtree, str(self._folder), True)
            return self._folder

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` is a file in this session's folder."""
        if self._folder is None:
            return False
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):
            return False
        return resolved.parent == self._folder.resolve() and resolved.is_file()

    def localize(self, source: str, *, server_files: bool = True) -> str:
        """The path of the session's copy of image ``source`` (checked: exists, a file, an image).

        ``server_files=False`` (a playground reachable from other machines) accepts only uploads and
        ``data:`` URIs: a path would let a visitor display any image file the server can read.

        Raises:
            MessagesError: naming the image and what is wrong with it.
        """
        if not isinstance(source, str) or not source.strip():
            raise MessagesError("an image block has no image", hint='write it as {"type": "image", "image": "a.png"}')
        source = source.strip()
        if self.owns(source):
            return str(Path(source).resolve())
        if not server_files and not source.startswith("data:") and not _is_upload(source):
            raise MessagesError(
                "this playground is reachable from other machines, so image paths on the server are not accepted",
                hint="attach the image in the Message box, or give it as a data:image/...;base64 URI",
            )
        data = _read(source)
        kind = _image_format(data, _shown(source))
        digest = hashlib.sha256(data).hexdigest()[:24]
        target = self.folder / f"{digest}{FORMATS[kind]}"
        if not target.exists():
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(target)
        return str(target)

    def localize_messages(self, messages: Sequence[dict], *, server_files: bool = True) -> list[dict]:
        """``messages`` with every image block as ``{"type": "image", "image": <the session's copy>}``.

        Raises:
            MessagesError: the first image that cannot be used, naming its message.
        """
        out = []
        for index, message in enumerate(messages, start=1):
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list) or not any(_is_image(b) for b in content):
                out.append(message)
                continue
            blocks = []
            for block in content:
                if not _is_image(block):
                    blocks.append(block)
                    continue
                try:
                    path = self.localize(image_source(block) or "", server_files=server_files)
                except MessagesError as exc:
                    raise MessagesError(f"message {index}: {exc.message}", hint=exc.hint) from None
                blocks.append({"type": "image", "image": path})
            out.append({**message, "content": blocks})
        return out

    def cleanup(self) -> None:
        """Remove the folder and every copy in it."""
        with self._lock:
            remove, self._remove, self._folder = self._remove, None, None
        if remove is not None:
            remove()


def _is_image(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "image"
