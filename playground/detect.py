"""Detect a model's family from its folder's metadata alone (no weights, no tokenizer needed).

Reads ``config.json``, ``tokenizer_config.json``, ``generation_config.json``, the vocabulary when there is one
and the model's own chat template (``tokenizer_config.json``, ``chat_template.jinja`` or ``chat_template.json``),
then ranks that evidence (:mod:`playground.ranking`: the name and ``model_type`` name the family, template
markers and special tokens confirm it or pick among its variants). What the folder lacks for loading is a
warning, not an error: detection works on the two small JSON files of a Hub repo.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DetectionError
from .families import Family, FamilyRegistry, registry
from .ranking import Decision, gather, name_match, rank
from .vision_config import read_preprocessor, vision_evidence

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: Files that hold a tokenizer's vocabulary (one of them is needed to load a model).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer.tiktoken", "qwen.tiktoken")


@dataclass(frozen=True)
class ModelMetadata:
    """What a model folder says about itself."""

    name: str
    path: Path | None = None
    config: dict = field(default_factory=dict)
    tokenizer_config: dict = field(default_factory=dict)
    generation_config: dict = field(default_factory=dict)
    own_template: str | None = None
    own_template_origin: str | None = None
    token_ids: dict[str, int] | None = None  # None: vocabulary not readable
    bos_token: str | None = None
    eos_token: str | None = None
    bos_token_null: bool = False  # tokenizer_config.json says "bos_token": null (the tokenizer adds none)
    generation_eos_ids: tuple[int, ...] = ()
    preprocessor_config: dict = field(default_factory=dict)  # image processor settings (vision models)

    @property
    def model_type(self) -> str | None:
        value = self.config.get("model_type")
        return value.lower() if isinstance(value, str) else None

    def has_token(self, token: str) -> bool:
        return self.token_ids is not None and token in self.token_ids


@dataclass(frozen=True)
class Detection:
    """The detected family and everything that follows from it."""

    family: str
    preset: str
    reason: str
    template_source: str  # "model", "preset" or "generic"
    template_origin: str | None
    eos_tokens: tuple[str, ...]
    bos_token: str
    eos_token: str
    model_name: str
    model_type: str | None = None
    warnings: tuple[str, ...] = ()
    eos_token_ids: tuple[int, ...] = ()
    vision: bool = False  # a vision-language model (see playground.vision_config.vision_evidence)
    rule: str = ""  # the rule that decided the preset (playground.ranking.RULE_*)
    decisions: tuple[Decision, ...] = ()  # each step, with the rule that fired and what it overruled

    @property
    def overruled(self) -> tuple[str, ...]:
        """The evidence the decisions overruled, in words."""
        return tuple(item for d in self.decisions for item in d.overruled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "preset": self.preset,
            "reason": self.reason,
            "rule": self.rule,
            "decisions": [d.to_dict() for d in self.decisions],
            "overruled": list(self.overruled),
            "template_source": self.template_source,
            "template_origin": self.template_origin,
            "eos_tokens": list(self.eos_tokens),
            "eos_token_ids": list(self.eos_token_ids),
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "model_name": self.model_name,
            "model_type": self.model_type,
            "vision": self.vision,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------- reading


def read_json(path: Path) -> dict:
    """A JSON object file (``{}`` when absent); DetectionError naming the file when it is broken."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DetectionError(
            f"{path.name} in {path.parent} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint=f"repair or re-download {path.name}",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectionError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DetectionError(f"{path.name} in {path.parent} must hold a JSON object", hint=f"repair {path.name}")
    return data


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _template_from_config_value(value: Any) -> str | None:
    """``chat_template`` is a string, or a list of {name, template} (use "default")."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list):
        named = {d.get("name"): d.get("template") for d in value if isinstance(d, dict)}
        chosen = named.get("default") or next((t for t in named.values() if isinstance(t, str)), None)
        return chosen if isinstance(chosen, str) else None
    return None


def _read_vocabulary(folder: Path, tokenizer_config: dict) -> dict[str, int] | None:
    tokens: dict[str, int] = {}
    found = False
    tok_path = folder / "tokenizer.json"
    if tok_path.is_file():
        data = read_json(tok_path)
        found = True
        model = data.get("model") or {}
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(vocab, dict):
            tokens.update({k: v for k, v in vocab.items() if isinstance(v, int)})
        elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            for index, item in enumerate(vocab):
                if isinstance(item, list) and item and isinstance(item[0], str):
                    tokens[item[0]] = index
        for item in data.get("added_tokens") or []:
            if isinstance(item, dict) and isinstance(item.get("content"), str) and isinstance(item.get("id"), int):
                tokens[item["content"]] = item["id"]
    decoder = tokenizer_config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, item in decoder.items():
            content = _token_text(item)
            if content is not None and str(key).isdigit():
                tokens[content] = int(key)
                found = True
    vocab_json = folder / "vocab.json"
    if not found and vocab_json.is_file():
        data = read_json(vocab_json)
        tokens.update({k: v for k, v in data.items() if isinstance(v, int)})
        found = True
    return tokens if found else None


def read_metadata(folder: Path, name: str | None = None) -> ModelMetadata:
    """Read the metadata files of a model folder.

    Raises:
        DetectionError: the folder is missing or a metadata file is broken.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DetectionError(f"model folder {folder} does not exist", hint="check the path, or give a Hub repo id")
    config = read_json(folder / "config.json")
    tokenizer_config = read_json(folder / "tokenizer_config.json")
    generation_config = read_json(folder / "generation_config.json")

    own_template = None
    origin = None
    sidecar = folder / "chat_template.jinja"
    sidecar_json = folder / "chat_template.json"
    if sidecar.is_file():
        try:
            own_template = sidecar.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DetectionError(f"cannot read {sidecar}: {exc}") from None
        origin = "chat_template.jinja"
    elif sidecar_json.is_file():
        own_template = _template_from_config_value(read_json(sidecar_json).get("chat_template"))
        origin = "chat_template.json" if own_template else None
    if own_template is None:
        own_template = _template_from_config_value(tokenizer_config.get("chat_template"))
        origin = "tokenizer_config.json" if own_template else None
    if own_template is not None and not own_template.strip():
        own_template, origin = None, None

    eos_ids = generation_config.get("eos_token_id")
    if isinstance(eos_ids, int):
        eos_ids = [eos_ids]
    if not isinstance(eos_ids, list):
        eos_ids = []
    return ModelMetadata(
        name=name or folder.name,
        path=folder,
        config=config,
        tokenizer_config=tokenizer_config,
        generation_config=generation_config,
        own_template=own_template,
        own_template_origin=origin,
        token_ids=_read_vocabulary(folder, tokenizer_config),
        bos_token=_token_text(tokenizer_config.get("bos_token")),
        bos_token_null="bos_token" in tokenizer_config and tokenizer_config["bos_token"] is None,
        eos_token=_token_text(tokenizer_config.get("eos_token")),
        generation_eos_ids=tuple(i for i in eos_ids if isinstance(i, int) and not isinstance(i, bool)),
        preprocessor_config=read_preprocessor(folder),
    )


def hub_cache_dir() -> str | None:
    """The Hugging Face cache folder, read from the environment at call time (``HF_HUB_CACHE``)."""
    return os.environ.get("HF_HUB_CACHE") or None


def looks_like_repo_id(text: str) -> bool:
    """``owner/name`` that is not an existing local path."""
    return bool(_REPO_ID_RE.match(text)) and not Path(text).exists()


def find_local(model: str) -> tuple[Path, str] | None:
    """A folder path, or a Hub repo id in the local Hugging Face cache; ``None`` for a repo id not cached.

    Never downloads. Returns the folder and a display name.

    Raises:
        DetectionError: a file instead of a folder, a name that is neither, or an unreadable cache.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DetectionError(
                f"{model} is a file, not a model folder", hint="give the folder that holds config.json"
            )
        return path.resolve(), path.resolve().name
    if not looks_like_repo_id(model):
        raise DetectionError(
            f"model {model!r} is neither a folder nor a Hub repo id",
            hint="give a path to an MLX model folder, or an id like mlx-community/Qwen2.5-0.5B-Instruct-4bit",
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True, cache_dir=hub_cache_dir())), model
    except LocalEntryNotFoundError:
        return None
    except Exception as exc:  # invalid ids and cache problems
        raise DetectionError(f"cannot look up {model} in the Hugging Face cache: {exc}") from None


def resolve_local(model: str) -> tuple[Path, str]:
    """Like :func:`find_local`, but a Hub id that is not cached is an error (``detect`` never downloads)."""
    found = find_local(model)
    if found is None:
        raise DetectionError(
            f"{model} is not in the local Hugging Face cache",
            hint=f"download it first (mlx-playground generate --model {model}, or hf download {model})",
        )
    return found


# ---------------------------------------------------------------------------------------------- rules


def classify_template(template: str, families: FamilyRegistry, name: str = "") -> Family | None:
    """The known format a template is written in, by its distinctive markers (most markers wins).

    Among families with as many matching markers, one whose name rule matches ``name`` (the model's) wins:
    some releases ship the same template text (Llama 3.1 and 3.3).
    """
    best: tuple[int, int, int, Family] | None = None
    for family in families:
        markers = family.match.template_markers
        if markers and all(m in template for m in markers):
            key = (len(markers), int(bool(name) and name_match(family, name) is not None), -family.priority)
            if best is None or key > best[:3]:
                best = (*key, family)
    return best[3] if best else None


def loading_gaps(folder: Path) -> list[str]:
    """What a folder lacks for loading (weights, tokenizer files), each with how to fix it; [] when complete."""
    gaps = []
    if not any(folder.glob("*.safetensors")):
        gaps.append(
            "no weights (*.safetensors): convert the original model with python -m mlx_lm convert --hf-path "
            "ORIGINAL_ID --mlx-path OUT_DIR -q"
        )
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        gaps.append(
            f"no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}): copy them from the original model into the folder"
        )
    return gaps


def _eos_list(meta: ModelMetadata, family: Family, warnings: list[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    names: list[str] = []
    if meta.token_ids is None:
        warnings.append("the vocabulary could not be read (no tokenizer.json); the family's EOS tokens are unverified")
        names.extend(family.eos_tokens)
    else:
        names.extend(t for t in family.eos_tokens if meta.has_token(t))
    if meta.eos_token:
        names.append(meta.eos_token)
    if meta.generation_eos_ids and meta.token_ids is not None:
        by_id = {v: k for k, v in meta.token_ids.items()}
        for token_id in meta.generation_eos_ids:
            if token_id in by_id:
                names.append(by_id[token_id])
            else:
                warnings.append(f"generation_config.json names EOS id {token_id}, which is not in the vocabulary")
    unique = tuple(dict.fromkeys(names))
    ids = tuple(meta.token_ids[t] for t in unique if meta.token_ids and t in meta.token_ids)
    return unique, ids


def detect_metadata(meta: ModelMetadata, families: FamilyRegistry | None = None) -> Detection:
    """Rank the evidence of metadata already read (see :mod:`playground.ranking`)."""
    families = families or registry()
    warnings: list[str] = []
    evidence = gather(meta.name, meta.config, meta.own_template, meta.token_ids, families)
    verdict = rank(evidence, families)
    family = verdict.family
    if meta.own_template is not None:
        if evidence.marked:
            reason = f"the model ships its own chat template ({meta.own_template_origin}); {verdict.sentence()}"
        else:
            reason = (
                f"the model ships its own chat template ({meta.own_template_origin}) in a format we do not know; "
                f"for EOS tokens and defaults: {verdict.sentence()}"
            )
        source = "model"
    else:
        reason = verdict.sentence()
        source = "generic" if family.name == "generic" else "preset"
        warnings.append(f"the model has no chat template: using the {family.name} preset instead")
    eos_tokens, eos_ids = _eos_list(meta, family, warnings)
    if meta.path is not None:
        warnings.extend(f"not loadable yet: {gap}" for gap in loading_gaps(meta.path))
    return Detection(
        family=family.name,
        preset=family.name,
        reason=reason,
        template_source=source,
        template_origin=meta.own_template_origin if source == "model" else None,
        eos_tokens=eos_tokens,
        eos_token_ids=eos_ids,
        bos_token=_bos(meta, family),
        eos_token=meta.eos_token if meta.eos_token is not None else family.eos_token,
        model_name=meta.name,
        model_type=meta.model_type,
        warnings=tuple(warnings),
        vision=vision_evidence(meta.config, meta.preprocessor_config) is not None,
        rule=verdict.rule,
        decisions=verdict.decisions,
    )


def _bos(meta: ModelMetadata, family: Family) -> str:
    """The tokenizer's BOS; "" when it declares ``bos_token: null`` (as transformers renders it); the family's
    when it says nothing."""
    if meta.bos_token is not None:
        return meta.bos_token
    return "" if meta.bos_token_null else family.bos_token


def detect(model: str | Path, families: FamilyRegistry | None = None) -> Detection:
    """Detect the family of a model folder or a locally cached Hub repo id."""
    folder, name = resolve_local(str(model))
    return detect_metadata(read_metadata(folder, name=name), families)
