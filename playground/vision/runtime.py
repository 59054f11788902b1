"""Load vision-language models with mlx-vlm, repairing missing ``vision_config`` defaults on the way.

:func:`load_vision_model` returns the same :class:`~playground.loaded.LoadedModel` as text models: the
mlx-vlm model, an mlx-lm tokenizer wrapper over the same tokenizer files (so EOS wiring, detokenizing and
token chips work unchanged), and a :class:`VisionRuntime` (the model's own processor, its image token,
the repairs made) in ``loaded.vision``. The scheduler runs such models' requests in a
:class:`~playground.backends.local.vision.VisionUnit`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError
from ..loaded import DEFAULT_CONTEXT_LENGTH, LoadedModel, diagnose
from ..vision_config import (
    ConfigRepair,
    mlx_vlm_vision_defaults,
    plan_repairs,
    quiet_root_logger,
    read_preprocessor,
    repair_warning,
    repaired_config,
    shape_hint,
    shape_mismatch,
)

if TYPE_CHECKING:  # argument types only
    from ..detect import Detection, ModelMetadata

_CACHE_ENTRIES = 4


def install_command() -> str:
    """The exact command that installs the vision extra into this interpreter."""
    root = Path(__file__).resolve().parents[2]
    python = sys.executable or "python"
    if (root / "pyproject.toml").is_file() and (root / "playground").is_dir():
        return f"{python} -m pip install -e '{root}[vision]'"
    return f"{python} -m pip install 'mlx-template-playground[vision]'"


def mlx_vlm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlx_vlm") is not None


def require_mlx_vlm(name: str) -> None:
    """ModelLoadError with the install command when mlx-vlm is missing."""
    if not mlx_vlm_available():
        raise ModelLoadError(
            f"{name} is a vision-language model: it needs mlx-vlm (the 'vision' extra), which is not installed",
            hint=f"install it with: {install_command()}",
        )


@dataclass(eq=False)
class VisionRuntime:
    """What a loaded vision model needs besides weights and tokenizer: its processor and image tokens."""

    processor: Any = field(repr=False)
    model_type: str
    image_token: str | None  # the token repeated once per image patch group, e.g. <|image_pad|>
    image_token_id: int | None
    placeholders: tuple[str, ...]  # what a template may write per image (<|image_pad|>, <start_of_image>, [IMG])
    video_token_id: int | None = None
    repairs: tuple[ConfigRepair, ...] = ()
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _prompts: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def cached(self, key: Any) -> Any:
        with self.lock:
            if key in self._prompts:
                self._prompts.move_to_end(key)
                return self._prompts[key]
        return None

    def remember(self, key: Any, value: Any) -> None:
        with self.lock:
            self._prompts[key] = value
            while len(self._prompts) > _CACHE_ENTRIES:
                self._prompts.popitem(last=False)

    def summary(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "image_token": self.image_token,
            "placeholders": list(self.placeholders),
            "repairs": [r.to_dict() for r in self.repairs],
        }


# ---------------------------------------------------------------------------------------------- loading


@contextlib.contextmanager
def _overlay(folder: Path, config: dict):
    """A temporary folder that links every file of ``folder`` except config.json, which is ``config``."""
    tmp = Path(tempfile.mkdtemp(prefix="mlx-playground-vlm-"))
    try:
        for item in folder.iterdir():
            if item.name != "config.json":
                os.symlink(item.resolve(), tmp / item.name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def diagnose_vision(exc: BaseException, name: str, folder: Path) -> ModelLoadError:
    """Turn an mlx-vlm load failure into an actionable error (shape mismatches name the config field)."""
    text = f"{type(exc).__name__}: {exc}"
    label = f"{name} (a vision-language model)"
    mismatch = shape_mismatch(text)
    if mismatch is not None:
        expected, received, parameter = mismatch
        return ModelLoadError(
            f"{label}: the weight {parameter} has shape {received} but config.json implies {expected}",
            hint=shape_hint(expected, received, parameter, folder),
        )
    low = text.lower()
    if "not supported" in low and "model type" in low:
        found = re.search(r"model type (\S+) not supported", text, flags=re.IGNORECASE)
        kind = f" '{found.group(1)}'" if found else ""
        return ModelLoadError(
            f"{label}: mlx-vlm {_version()} does not support its model type{kind}",
            hint="update mlx-vlm (pip install -U mlx-vlm); if it is still unsupported, pick another model",
        )
    general = diagnose(exc, name)
    message = general.message.replace(name, label, 1) if name in general.message else f"{label}: {general.message}"
    return ModelLoadError(message, hint=general.hint)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlx-vlm")
    except PackageNotFoundError:  # pragma: no cover - a source checkout of mlx-vlm
        return "(unknown version)"


def _token_id(tokenizer: Any, token: str | None) -> int | None:
    if not token:
        return None
    vocab = tokenizer.get_vocab()
    return vocab.get(token)


def _image_tokens(processor: Any, tokenizer: Any, config: dict) -> tuple[str | None, int | None, tuple[str, ...]]:
    """The repeated image token (from config.json's image_token_id / image_token_index) and the
    per-image placeholders a chat template may write."""
    token_id = None
    for key in ("image_token_id", "image_token_index"):
        value = config.get(key)
        if value is None and isinstance(config.get("text_config"), dict):
            value = config["text_config"].get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            token_id = value
            break
    names = {}
    for attr in ("boi_token", "image_token"):
        value = getattr(processor, attr, None)
        value = getattr(value, "content", value)  # AddedToken
        if isinstance(value, str) and value:
            names[attr] = value
    token = None
    if token_id is not None:
        with contextlib.suppress(Exception):
            token = tokenizer.convert_ids_to_tokens(token_id)
    if not token:
        token = names.get("image_token")
        token_id = _token_id(tokenizer, token)
    placeholders = tuple(dict.fromkeys(names[a] for a in ("boi_token", "image_token") if a in names))
    return token, token_id, placeholders


def _context_length(config: dict, tokenizer: Any) -> int:
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    context = text.get("max_position_embeddings") or config.get("max_position_embeddings")
    if not isinstance(context, int) or context <= 0 or context > 10_000_000:
        context = getattr(tokenizer, "model_max_length", None)
    if not isinstance(context, int) or context <= 0 or context > 10_000_000:
        context = DEFAULT_CONTEXT_LENGTH
    return context


def _eos_ids(meta: ModelMetadata) -> list[int] | None:
    config = meta.config
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    eos = config.get("eos_token_id") or text.get("eos_token_id") or list(meta.generation_eos_ids) or None
    return [eos] if isinstance(eos, int) else eos


def load_vision_model(
    path: Path, name: str, meta: ModelMetadata, detection: Detection, *, weights: bool = True, started: float
) -> Any:
    """Load a vision-language model with mlx-vlm (``weights=False``: processor and tokenizer only).

    Raises:
        ModelLoadError: mlx-vlm missing (with the install command), or a load failure with a hint.
    """
    if not mlx_vlm_available():
        if weights:
            require_mlx_vlm(name)
        return _metadata_only(path, name, meta, detection, started)
    preprocessor = read_preprocessor(path)
    repairs = plan_repairs(meta.config, preprocessor, mlx_vlm_vision_defaults(meta.config))
    notes = [w for w in [repair_warning(repairs, path)] if w]
    model = None
    try:
        import mlx_vlm
        from mlx_lm.utils import get_total_parameters, load_tokenizer
        from mlx_vlm.utils import load_image_processor, load_processor

        with contextlib.ExitStack() as stack:
            stack.enter_context(quiet_root_logger())
            folder = stack.enter_context(_overlay(path, repaired_config(meta.config, repairs))) if repairs else path
            if weights:
                model, processor = mlx_vlm.load(str(folder))
            else:
                processor = load_processor(folder, True, eos_token_ids=_eos_ids(meta))
                image_processor = load_image_processor(folder)
                if image_processor is not None:
                    processor.image_processor = image_processor
            tokenizer = load_tokenizer(folder, eos_token_ids=_eos_ids(meta))
    except ModelLoadError:
        raise
    except Exception as exc:  # mlx-vlm / transformers raise plain ValueError, OSError, ...
        raise diagnose_vision(exc, name, path) from exc
    token, token_id, placeholders = _image_tokens(processor, tokenizer, meta.config)
    video_id = meta.config.get("video_token_id")
    runtime = VisionRuntime(
        processor=processor,
        model_type=str(meta.config.get("model_type") or ""),
        image_token=token,
        image_token_id=token_id,
        placeholders=placeholders,
        video_token_id=video_id if isinstance(video_id, int) else None,
        repairs=tuple(repairs),
    )
    return LoadedModel(
        name=name,
        path=path,
        model=model,
        tokenizer=tokenizer,
        metadata=meta,
        detection=detection,
        base_eos_ids=tuple(sorted(tokenizer.eos_token_ids)),
        context_length=_context_length(meta.config, tokenizer),
        num_parameters=int(get_total_parameters(model)) if model is not None else 0,
        load_seconds=time.perf_counter() - started,
        notes=tuple(notes),
        vision=runtime,
    )


def _metadata_only(path: Path, name: str, meta: ModelMetadata, detection: Detection, started: float) -> Any:
    """Without mlx-vlm, a server backend still gets the tokenizer (text only; images need mlx-vlm)."""
    from mlx_lm.utils import load_tokenizer

    try:
        tokenizer = load_tokenizer(path, eos_token_ids=_eos_ids(meta))
    except Exception as exc:
        raise diagnose(exc, name) from exc
    return LoadedModel(
        name=name,
        path=path,
        model=None,
        tokenizer=tokenizer,
        metadata=meta,
        detection=detection,
        base_eos_ids=tuple(sorted(tokenizer.eos_token_ids)),
        context_length=_context_length(meta.config, tokenizer),
        num_parameters=0,
        load_seconds=time.perf_counter() - started,
        notes=(f"{name} is a vision-language model; without mlx-vlm it takes text only ({install_command()})",),
    )
