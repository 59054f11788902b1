"""Load MLX models with mlx-lm, wire the family's EOS tokens, and keep a small cache.

Vision-language models (detection says ``vision``) load with mlx-vlm instead: see :mod:`playground.vision`.

``load_model`` accepts a local folder or a Hub repo id (downloaded with ``huggingface_hub``, which
respects ``HF_HUB_OFFLINE``). Failures are diagnosed into :class:`ModelLoadError` with a hint a user can
act on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .backends.local.blas import ensure_fast_blas
from .detect import TOKENIZER_FILES, ModelMetadata, detect_metadata, find_local, hub_cache_dir, read_metadata
from .errors import DetectionError, ModelLoadError
from .loaded import DEFAULT_CONTEXT_LENGTH, LoadedModel, diagnose

DEMO_MODEL_ALIAS = "demo"
DEFAULT_MAX_MODELS = 1
_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.py", "*.model", "*.tiktoken", "*.txt", "*.jinja"]


def demo_model_path() -> Path:
    """The bundled demo model (packaged in the wheel, or in the source checkout's assets/)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_assets" / "demo-model"
    return packaged if packaged.is_dir() else here.parent / "assets" / "demo-model"


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
