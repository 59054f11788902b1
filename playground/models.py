"""Load MLX models with mlx-lm, wire the family's EOS tokens, and keep a small cache.

Vision-language models (detection says ``vision``) load with mlx-vlm instead: see :mod:`playground.vision`.

``load_model`` accepts a local folder or a Hub repo id (downloaded with ``huggingface_hub``, which
respects ``HF_HUB_OFFLINE``). Failures are diagnosed into :class:`ModelLoadError` with a hint a user can
act on.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .blas import ensure_fast_blas
from .detect import (
    TOKENIZER_FILES,
    Detection,
    ModelMetadata,
    detect_metadata,
    find_local,
    hub_cache_dir,
    read_metadata,
)
from .errors import DetectionError, ModelLoadError, SettingsError
from .settings import check_value

DEMO_MODEL_ALIAS = "demo"
DEFAULT_MAX_MODELS = 1
DEFAULT_CONTEXT_LENGTH = 4096
_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.py", "*.model", "*.tiktoken", "*.txt", "*.jinja"]


def demo_model_path() -> Path:
    """The bundled demo model (packaged in the wheel, or in the source checkout's assets/)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_assets" / "demo-model"
    return packaged if packaged.is_dir() else here.parent / "assets" / "demo-model"


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


# ---------------------------------------------------------------------------------------------- resolving


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except Exception:  # pragma: no cover - very old huggingface_hub
        return False


def resolve_model(model: str | Path, *, allow_download: bool = True, weights: bool = True) -> tuple[Path, str]:
    """A folder for ``model``: the demo alias, a local path, a cached Hub id, or a fresh download.

    ``weights=False`` (the model is served elsewhere) downloads only the metadata and tokenizer files.
    """
    text = str(model).strip()
    if not text:
        raise ModelLoadError("no model given", hint=f"pass a folder, a Hub id, or '{DEMO_MODEL_ALIAS}'")
    if text == DEMO_MODEL_ALIAS:
        path = demo_model_path()
        if not path.is_dir():
            raise ModelLoadError(f"the demo model is missing at {path}", hint="run: python assets/train_demo_model.py")
        return path, "demo-model"
    try:
        found = find_local(text)
    except DetectionError as exc:
        raise ModelLoadError(exc.message, hint=exc.hint) from None
    if found is not None:
        return found
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    if _offline() or not allow_download:
        raise ModelLoadError(
            f"{text} is not in the local Hugging Face cache and downloads are off (HF_HUB_OFFLINE is set)",
            hint=f"with network access, unset HF_HUB_OFFLINE; or download it elsewhere (hf download {text}) "
            "and pass its folder",
        )
    try:
        patterns = _DOWNLOAD_PATTERNS if weights else [p for p in _DOWNLOAD_PATTERNS if p != "*.safetensors"]
        folder = snapshot_download(text, allow_patterns=patterns, cache_dir=hub_cache_dir())
    except GatedRepoError:
        raise ModelLoadError(
            f"{text} is gated on the Hugging Face Hub", hint="accept its license on the Hub and run: hf auth login"
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"{text} does not exist on the Hugging Face Hub (or is private)",
            hint="check the spelling; mlx-community hosts many MLX conversions",
        ) from None
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"could not download {text}: the Hugging Face Hub is not reachable and the model is not in the local cache",
            hint="check your network connection, or pass a local model folder",
        ) from None
    except Exception as exc:
        raise ModelLoadError(
            f"could not download {text}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            hint="check your network connection, or pass a local folder",
        ) from None
    return Path(folder), text


def check_model_folder(path: Path, name: str, *, weights: bool = True) -> ModelMetadata:
    """Catch the common problems before mlx-lm does, with better messages."""
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{name} has no config.json", hint="point at the folder of an MLX model (it holds config.json)"
        )
    try:
        meta = read_metadata(path, name=name)
    except DetectionError as exc:
        raise ModelLoadError(exc.message, hint=exc.hint) from None
    if weights and not any(path.glob("*.safetensors")):
        raise ModelLoadError(
            f"{name} has no weights (*.safetensors) in {path}",
            hint="convert the original model: python -m mlx_lm convert --hf-path ORIGINAL_ID --mlx-path OUT_DIR -q",
        )
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{name} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])})",
            hint="copy the tokenizer files from the original model into the folder",
        )
    return meta


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


# ---------------------------------------------------------------------------------------------- loading


def load_model(model: str | Path, *, weights: bool = True, allow_download: bool = True) -> LoadedModel:
    """Load a model with mlx-lm (``weights=False``: only its metadata and tokenizer).

    Raises:
        ModelLoadError: with a hint, for every failure a user can fix.
    """
    ensure_fast_blas()
    started = time.perf_counter()
    path, name = resolve_model(model, allow_download=allow_download, weights=weights)
    meta = check_model_folder(path, name, weights=weights)
    detection = detect_metadata(meta)
    if detection.vision:  # vision-language models load with mlx-vlm (the 'vision' extra)
        from .vision.runtime import load_vision_model

        return load_vision_model(path, name, meta, detection, weights=weights, started=started)
    mlx_model = None
    try:
        from mlx_lm.utils import get_total_parameters, load_tokenizer

        if weights:
            import mlx_lm

            mlx_model, tokenizer = mlx_lm.load(str(path))
        else:
            eos = meta.config.get("eos_token_id") or list(meta.generation_eos_ids) or None
            tokenizer = load_tokenizer(path, eos_token_ids=eos)
    except ModelLoadError:
        raise
    except Exception as exc:  # mlx-lm raises plain ValueError/FileNotFoundError/RuntimeError
        raise diagnose(exc, name) from exc
    if mlx_model is not None:
        warm_up(mlx_model)
    context = meta.config.get("max_position_embeddings") or getattr(tokenizer, "model_max_length", None)
    if not isinstance(context, int) or context <= 0 or context > 10_000_000:
        context = DEFAULT_CONTEXT_LENGTH
    return LoadedModel(
        name=name,
        path=path,
        model=mlx_model,
        tokenizer=tokenizer,
        metadata=meta,
        detection=detection,
        base_eos_ids=tuple(sorted(tokenizer.eos_token_ids)),
        context_length=context,
        num_parameters=int(get_total_parameters(mlx_model)) if mlx_model is not None else 0,
        load_seconds=time.perf_counter() - started,
    )


def warm_up(model: Any) -> None:
    """Run one token through the model so the first reply's time-to-first-token is not one-off setup."""
    import mlx.core as mx

    with contextlib.suppress(Exception):  # some architectures need more than one token; it is only a warm-up
        mx.eval(model(mx.array([[0]])))


class ModelCache:
    """Keeps the most recently used models loaded (default one); older ones are released.

    Keyed by the resolved folder (so ``demo`` and the demo folder are one entry) and by whether the
    weights were loaded. A model still used by a running generation stays alive through that
    generation's reference, so switching models never frees memory that is in use.
    """

    def __init__(self, max_models: int = DEFAULT_MAX_MODELS):
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self.max_models = max_models
        self._models: OrderedDict[tuple[str, bool], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str | Path, weights: bool = True) -> tuple[str, bool] | None:
        """The cache key of ``model`` without downloading (None for a Hub id that is not cached)."""
        try:
            path, _ = resolve_model(model, allow_download=False)
        except ModelLoadError:
            return None
        return str(path), weights

    def get(self, model: str | Path, *, weights: bool = True) -> LoadedModel:
        """The loaded model, loading it (and evicting the least recently used) if needed."""
        found = self.peek(model, weights=weights)
        if found is not None:
            return found
        loaded = load_model(model, weights=weights)
        with self._lock:
            self._models[(str(loaded.path), weights)] = loaded
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
                release_memory()
            return loaded

    def peek(self, model: str | Path, *, weights: bool = True) -> LoadedModel | None:
        """The model if it is already loaded (never loads). With weights loaded, it also serves
        metadata-only requests."""
        key = self.key(model, weights)
        if key is None:
            return None
        with self._lock:
            for candidate in (key, (key[0], True)):
                if candidate in self._models:
                    self._models.move_to_end(candidate)
                    return self._models[candidate]
            return None

    def loaded(self) -> list[str]:
        with self._lock:
            return [k[0] for k in self._models]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
        release_memory()


def release_memory() -> None:
    """Free what released models held (Python objects first, then MLX's buffer cache)."""
    gc.collect()
    try:
        import mlx.core as mx

        mx.clear_cache()
    except Exception:  # pragma: no cover - older mlx
        pass


def list_cached_models() -> list[str]:
    """MLX models in the local Hugging Face cache (a snapshot with config.json and *.safetensors)."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(hub_cache_dir())
    except Exception:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            files = {f.file_name for f in revision.files}
            if "config.json" in files and any(n.endswith(".safetensors") for n in files):
                found.append(repo.repo_id)
                break
    return sorted(found)
