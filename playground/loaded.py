"""A loaded model and what one request stops on: the typed results of loading, shared by every loader.

:class:`LoadedModel` (mlx-lm or mlx-vlm model, tokenizer, metadata, detection) and :class:`EosSet` live here, in a
leaf module, so the text loader (:mod:`playground.models`), the vision loader (:mod:`playground.vision.runtime`),
:mod:`playground.prepare` and the backends all use them without importing one another. :func:`diagnose` turns a
library's load failure into an error a user can act on (both loaders use it).
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .detect import Detection, ModelMetadata
from .errors import ModelLoadError, SettingsError
from .settings import check_value

DEFAULT_CONTEXT_LENGTH = 4096
_SERIALS = itertools.count(1)
#: generation_config.json keys that give a model's own sampling defaults (HF names = ours).
GENERATION_CONFIG_DEFAULTS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")


@dataclass
class LoadedModel:
    """A model ready to generate: mlx-lm model and tokenizer, plus what detection found.

    ``model`` is None when only the metadata and tokenizer were loaded (generation then happens on a
    server). ``serial`` identifies this load: a KV cache made for one load is never used with another.
    The tokenizer is never changed after loading; EOS wiring is decided per request (:meth:`eos`).
    """

    name: str
    path: Path
    model: Any
    tokenizer: Any  # mlx_lm TokenizerWrapper
    metadata: ModelMetadata
    detection: Detection
    base_eos_ids: tuple[int, ...]
    context_length: int
    num_parameters: int
    load_seconds: float
    serial: int = field(default_factory=lambda: next(_SERIALS))
    notes: tuple[str, ...] = field(default_factory=tuple)
    vision: Any = None  # a playground.vision.runtime.VisionRuntime for vision-language models (mlx-vlm)
    _weight_bytes: int | None = field(default=None, repr=False)
    _special: tuple[str, ...] | None = field(default=None, repr=False)
    _constraint_tokenizer: Any = field(default=None, repr=False)  # llguidance's, built on first use

    @property
    def has_weights(self) -> bool:
        return self.model is not None

    def eos(self, wire: bool = True) -> EosSet:
        """The tokens a reply stops on: the tokenizer's own (and generation_config's), plus the family's
        EOS tokens that exist in the vocabulary when ``wire`` is on."""
        ids = list(self.base_eos_ids)
        notes: list[str] = []
        if wire:
            vocab = self.tokenizer.get_vocab()
            for token in self.detection.eos_tokens:
                if token in vocab:
                    ids.append(vocab[token])
                else:
                    notes.append(f"EOS token {token} is not in the tokenizer's vocabulary; not used")
            ids.extend(self.detection.eos_token_ids)
        else:
            notes.append("EOS wiring is off: only the tokenizer's own EOS token stops replies")
        unique = tuple(dict.fromkeys(ids))
        names = tuple(self.tokenizer.convert_ids_to_tokens(list(unique)))
        return EosSet(ids=unique, tokens=names, wired=wire, notes=tuple(notes))

    def sampling_defaults(self) -> dict[str, Any]:
        """Sampling defaults from the model's generation_config.json (ignored when do_sample is false)."""
        config = self.metadata.generation_config
        if config.get("do_sample") is False:
            return {}
        out = {}
        for key in GENERATION_CONFIG_DEFAULTS:
            if key in config and config[key] is not None:
                try:
                    out[key] = check_value(key, config[key])
                except SettingsError:
                    continue
        return out

    def weight_bytes(self) -> int:
        """Bytes of the loaded weights (0 without weights)."""
        if self.model is None:
            return 0
        if self._weight_bytes is None:
            from mlx.utils import tree_flatten

            self._weight_bytes = sum(v.nbytes for _, v in tree_flatten(self.model.parameters()))
        return self._weight_bytes

    def kv_bytes_per_token(self) -> int | None:
        """KV-cache bytes one token of context costs (keys and values of every layer), from config.json."""
        config = self.metadata.config.get("text_config") or self.metadata.config
        try:
            layers = int(config["num_hidden_layers"])
            heads = int(config["num_attention_heads"])
            kv_heads = int(config.get("num_key_value_heads") or heads)
            head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
        itemsize = 4 if str(config.get("torch_dtype", "")).endswith("float32") else 2
        return 2 * layers * kv_heads * head_dim * itemsize

    def special_tokens(self) -> tuple[str, ...]:
        """Tokens shown as chips: the tokenizer's special and added tokens (each is one token)."""
        if self._special is None:
            tokenizer = self.tokenizer
            found: list[str] = []
            with contextlib.suppress(Exception):
                found += list(tokenizer.all_special_tokens)
            with contextlib.suppress(Exception):
                found += [t.content for t in tokenizer.added_tokens_decoder.values()]
            self._special = tuple(dict.fromkeys(t for t in found if t))
        return self._special

    def special_ids(self) -> frozenset[int]:
        """Ids of the tokens :meth:`special_tokens` lists."""
        vocab = self.tokenizer.get_vocab()
        return frozenset(vocab[t] for t in self.special_tokens() if t in vocab)

    def summary(self, wire: bool = True) -> dict[str, Any]:
        """JSON-friendly facts for the UI status panel and ``--json`` output."""
        eos = self.eos(wire)
        return {
            "name": self.name,
            "path": str(self.path),
            "family": self.detection.family,
            "preset": self.detection.preset,
            "reason": self.detection.reason,
            "template_source": self.detection.template_source,
            "eos_tokens": list(eos.tokens),
            "eos_wired": eos.wired,
            "context_length": self.context_length,
            "num_parameters": self.num_parameters,
            "load_seconds": round(self.load_seconds, 3),
            "weights_loaded": self.has_weights,
            "vision": self.detection.vision,
            "warnings": list(self.detection.warnings) + list(self.notes) + list(eos.notes),
        }


@dataclass(frozen=True)
class EosSet:
    """The EOS tokens one request stops on."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    wired: bool
    notes: tuple[str, ...] = ()


def diagnose(exc: BaseException, name: str) -> ModelLoadError:
    """Turn an mlx-lm / transformers / safetensors failure into an actionable error."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "sdpa_vector" in low or "unable to load function" in low or "metal" in low:
        return ModelLoadError(
            f"{name} hit a Metal kernel error ({str(exc)[:160]})",
            hint="use an mlx-community conversion (prefer 4-bit), try another model of the same family, "
            "or update mlx (pip install -U mlx mlx-lm)",
        )
    if "not supported" in low and "model type" in low:
        return ModelLoadError(
            f"{name}: {exc}",
            hint="update mlx-lm (pip install -U mlx-lm); if it is still unsupported, pick another model",
        )
    if "safetensors" in low or "header" in low or "deserializ" in low or "incomplete" in low:
        return ModelLoadError(
            f"{name} has corrupt or truncated weights ({str(exc)[:160]})",
            hint="delete and re-download the model, or re-run the conversion",
        )
    if "parameters not in model" in low or "missing parameters" in low or "shape" in low:
        return ModelLoadError(
            f"{name}: the weights do not match config.json ({str(exc)[:160]})",
            hint="the conversion is broken or config.json was edited; re-convert with mlx_lm.convert",
        )
    if "tokenizer" in low:
        return ModelLoadError(
            f"{name}: the tokenizer could not be loaded ({str(exc)[:160]})",
            hint="copy tokenizer.json and tokenizer_config.json from the original model",
        )
    return ModelLoadError(f"could not load {name}: {text[:300]}", hint="check that the folder is an MLX model")
