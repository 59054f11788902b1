"""Vision-language metadata without mlx-vlm: is a folder a VLM, and which ``vision_config`` fields need repair.

Community conversions of vision models often lack ``patch_size`` (and similar fields) in
``config.json``'s ``vision_config``. mlx-vlm then silently uses its dataclass default (14 for most
families), and a model whose weights were made with 16-pixel patches fails to load with a shape error.
:func:`plan_repairs` finds such fields and the value they should have: from the model's own
``preprocessor_config.json`` first, else from the family's known value. A field is repaired only when
its value differs from what mlx-vlm would assume (otherwise nothing would change).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Files that describe an image processor (their presence is evidence of a vision model).
PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
#: ``model_type`` values of vision-language models whose architecture ends in ForConditionalGeneration.
VISION_MODEL_TYPES = frozenset(
    {
        "qwen2_vl",
        "qwen2_5_vl",
        "qwen3_vl",
        "qwen3_vl_moe",
        "gemma3",
        "gemma3n",
        "llama4",
        "mistral3",
        "pixtral",
        "llava",
        "llava_next",
        "llava_onevision",
        "idefics2",
        "idefics3",
        "smolvlm",
        "paligemma",
        "mllama",
        "aya_vision",
        "internvl_chat",
        "kimi_vl",
        "glm4v",
    }
)

#: ``vision_config`` fields mlx-vlm fills with a default when they are missing, and where the
#: preprocessor keeps the value the weights were made with.
PREPROCESSOR_KEYS: dict[str, str] = {
    "patch_size": "patch_size",
    "spatial_patch_size": "patch_size",
    "temporal_patch_size": "temporal_patch_size",
    "spatial_merge_size": "merge_size",
    "image_size": "size",
}
#: Known patch sizes per family (top-level ``model_type``), for folders without a preprocessor value.
FAMILY_PATCH_SIZE: dict[str, int] = {
    "qwen2_vl": 14,
    "qwen2_5_vl": 14,
    "qwen3_vl": 16,
    "qwen3_vl_moe": 16,
    "gemma3": 14,
    "llama4": 14,
    "mistral3": 14,
    "pixtral": 16,
}
#: Fields that only exist in the Qwen-VL vision configs (used when mlx-vlm is not importable).
_QWEN_ONLY = ("spatial_patch_size", "temporal_patch_size", "spatial_merge_size")


@dataclass(frozen=True)
class ConfigRepair:
    """One ``vision_config`` field that config.json lacks, and the value it gets."""

    field: str
    value: int
    source: str  # "preprocessor_config.json" or "the <family> family's known value"
    default: int | None  # what mlx-vlm would have assumed (None: unknown)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "source": self.source, "mlx_vlm_default": self.default}


def read_preprocessor(folder: Path | None) -> dict:
    """The image processor settings of a folder: ``preprocessor_config.json`` plus a ``processor_config.json``'s
    ``image_processor`` section ({} when neither exists or they are broken)."""
    if folder is None:
        return {}
    out: dict = {}
    for name in PREPROCESSOR_FILES:
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        if name == "processor_config.json":
            data = data.get("image_processor") if isinstance(data.get("image_processor"), dict) else {}
        out.update(data)
    return out


def _has_image_processor(preprocessor: Mapping[str, Any]) -> bool:
    keys = ("image_processor_type", "patch_size", "image_mean", "image_std", "image_seq_length")
    return any(k in preprocessor for k in keys)


def vision_evidence(config: Mapping[str, Any], preprocessor: Mapping[str, Any] | None = None) -> str | None:
    """Why a model is a vision-language model (None: it is text-only), from its metadata alone."""
    if isinstance(config.get("vision_config"), dict) and config["vision_config"]:
        return "config.json has a vision_config"
    model_type = str(config.get("model_type") or "").lower()
    declared = config.get("architectures")
    archs = [a for a in declared if isinstance(a, str)] if isinstance(declared, list) else []
    generative = [a for a in archs if a.endswith("ForConditionalGeneration")]
    if generative and model_type in VISION_MODEL_TYPES:
        return f"architecture {generative[0]} with model_type '{model_type}'"
    if preprocessor and _has_image_processor(preprocessor) and generative:
        return f"architecture {generative[0]} with an image processor (preprocessor_config.json)"
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, dict):  # {"height": 16, "width": 16}
        height, width = value.get("height"), value.get("width")
        if isinstance(height, int) and height > 0 and height == width:
            return height
    return None


def _preprocessor_value(field: str, preprocessor: Mapping[str, Any]) -> int | None:
    raw = preprocessor.get(PREPROCESSOR_KEYS[field])
    if field == "image_size":  # only a square fixed size ({"height": 896, "width": 896}) is an image size
        return _as_int(raw) if isinstance(raw, dict) else None
    return _as_int(raw)


@contextlib.contextmanager
def quiet_root_logger():
    """mlx-vlm reports load problems with logging.error on the root logger as well as raising them; the
    raised error becomes our one-line message, so the log line (printed by logging's last-resort handler
    when nothing is configured) is dropped while loading."""
    import logging

    root = logging.getLogger()
    handler = logging.NullHandler() if not root.handlers else None
    if handler is not None:
        root.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            root.removeHandler(handler)


def mlx_vlm_vision_defaults(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The defaults of mlx-vlm's ``VisionConfig`` for this model type (None: mlx-vlm or the type is unknown)."""
    import dataclasses

    try:
        from mlx_vlm.utils import get_model_and_args
    except ImportError:
        return None
    try:
        with quiet_root_logger():
            module, _ = get_model_and_args(dict(config))
        fields = dataclasses.fields(module.VisionConfig)
    except Exception:  # unknown model type, or a module without a dataclass VisionConfig
        return None
    return {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


def plan_repairs(
    config: Mapping[str, Any],
    preprocessor: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    *,
    only_if_different: bool = True,
) -> list[ConfigRepair]:
    """The ``vision_config`` fields to fill in.

    ``defaults`` are mlx-vlm's (see :func:`mlx_vlm_vision_defaults`); with them, only fields mlx-vlm
    knows are considered and, with ``only_if_different``, only values that differ from its default.
    Without them, ``patch_size`` (and the Qwen-VL fields for Qwen-VL models) are considered.
    """
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return []
    model_type = str(config.get("model_type") or "").lower()
    if defaults is not None:
        candidates = [f for f in PREPROCESSOR_KEYS if f in defaults]
    else:
        candidates = ["patch_size", *(_QWEN_ONLY if model_type.startswith("qwen") else ()), "image_size"]
    repairs = []
    for field in candidates:
        if vision.get(field) is not None:
            continue
        value = _preprocessor_value(field, preprocessor)
        source = "preprocessor_config.json"
        if value is None and field in ("patch_size", "spatial_patch_size") and model_type in FAMILY_PATCH_SIZE:
            value, source = FAMILY_PATCH_SIZE[model_type], f"the {model_type} family's known value"
        if value is None:
            continue
        default = defaults.get(field) if defaults is not None else None
        default = default if isinstance(default, int) and not isinstance(default, bool) else None
        if only_if_different and default is not None and default == value:
            continue
        repairs.append(ConfigRepair(field, value, source, default))
    return repairs


def repaired_config(config: Mapping[str, Any], repairs: list[ConfigRepair]) -> dict:
    """A copy of ``config`` with the repairs written into its ``vision_config``."""
    out = json.loads(json.dumps(config))
    for repair in repairs:
        out["vision_config"][repair.field] = repair.value
    return out


def repair_warning(repairs: list[ConfigRepair], folder: Path | str | None = None) -> str | None:
    """One status line: what was filled in, from where, instead of what, and how to make it permanent."""
    if not repairs:
        return None
    by_source: dict[str, list[ConfigRepair]] = {}
    for repair in repairs:
        by_source.setdefault(repair.source, []).append(repair)
    used = "; ".join(
        ", ".join(f"{r.field}={r.value}" for r in group) + f" from {source}" for source, group in by_source.items()
    )
    defaults = sorted({r.default for r in repairs if r.default is not None})
    instead = f" instead of mlx-vlm's default {', '.join(map(str, defaults))}" if defaults else ""
    fix = f"mlx-playground fix-template {folder} --vision-config" if folder else "fix-template --vision-config"
    missing = ", ".join(r.field for r in repairs)
    return (
        f"config.json's vision_config lacks {missing}: using {used}{instead} (the folder is unchanged; {fix} writes it)"
    )


_SHAPE_RE = re.compile(
    r"Expected shape \(([\d, ]*)\) but received shape \(([\d, ]*)\) for parameter ([\w.]+)", re.IGNORECASE
)


def shape_mismatch(text: str) -> tuple[tuple[int, ...], tuple[int, ...], str] | None:
    """``(expected, received, parameter)`` from an MLX ``load_weights`` shape error, or None."""
    match = _SHAPE_RE.search(text)
    if not match:
        return None

    def dims(s: str) -> tuple[int, ...]:
        return tuple(int(x) for x in s.replace(" ", "").split(",") if x)

    return dims(match.group(1)), dims(match.group(2)), match.group(3)


def shape_hint(expected: tuple[int, ...], received: tuple[int, ...], parameter: str, folder: Path | str) -> str:
    """What to change when a vision weight's shape does not match config.json."""
    fix = f"mlx-playground fix-template {folder} --vision-config"
    differing = [(e, r) for e, r in zip(expected, received) if e != r]
    low = parameter.lower()
    if "patch" in low and len(differing) == 2 and differing[0][1] == differing[1][1]:
        size = differing[0][1]
        return (
            f"the weights use {size}x{size}-pixel patches but config.json says (or mlx-vlm assumes) "
            f"{differing[0][0]}: set vision_config.patch_size to {size} ({fix} does it from preprocessor_config.json)"
        )
    if "position" in low:
        return f"vision_config.image_size (or patch_size) does not match the weights; compare with the original ({fix})"
    return f"a vision_config field (patch_size, image_size, hidden_size, ...) does not match the weights ({fix})"
