"""Repair a model folder: write the chat template (and EOS ids) where every tool reads them.

The template goes to ``chat_template.jinja`` and into ``tokenizer_config.json`` (``chat_template``); EOS
ids go to ``generation_config.json`` (mlx-lm and transformers read them from there). Every changed file
is backed up first (``NAME.bak``, or ``NAME.bak.N`` when that exists); running again changes nothing.
Before anything is written, the tokenizer (as mlx-lm loads it) must render a sample conversation with the
new template exactly like our renderer; after writing, mlx-lm reloads the folder and checks again; on any
failure the backups are restored. By default the family's EOS tokens are written too, since plain mlx-lm
otherwise still runs past the end of a turn after a repair.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .detect import ModelMetadata, classify_template, detect_metadata, read_json, read_metadata
from .errors import DetectionError, ModelLoadError, PlaygroundError
from .families import registry
from .messages import SAMPLE_CONVERSATION
from .templates import RenderCall, TemplateFacts, compile_template, render


@dataclass
class RepairReport:
    """What fix-template changed (or would change) and how it verified the result."""

    folder: Path
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    eos_ids: list[int] = field(default_factory=list)
    dry_run: bool = False
    verified_prompt: str | None = None

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "changed": self.changed,
            "unchanged": self.unchanged,
            "backups": self.backups,
            "eos_token_ids": self.eos_ids,
            "dry_run": self.dry_run,
            "verified_prompt": self.verified_prompt,
        }


def _backup(path: Path) -> Path:
    target = path.with_name(path.name + ".bak")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.bak.{n}")
        n += 1
    shutil.copy2(path, target)
    return target


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


#: Sample conversations tried, in order, when verifying a template: the first one it accepts is used.
VERIFY_SAMPLES: tuple[list[dict], ...] = (
    SAMPLE_CONVERSATION,
    [m for m in SAMPLE_CONVERSATION if m["role"] != "system"],
    [{"role": "user", "content": "Hello!"}],
)


def check_model_folder_for_repair(folder: Path) -> ModelMetadata:
    """Refuse a folder that is not a model before anything in it is touched."""
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder} does not exist", hint="give a local model folder")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"{folder} is not a model folder (it has no config.json)", hint="give the folder that holds config.json"
        )
    try:
        meta = read_metadata(folder)
    except DetectionError as exc:
        raise ModelLoadError(exc.message, hint=exc.hint) from None
    if meta.token_ids is None:
        raise ModelLoadError(
            f"{folder} has no tokenizer (tokenizer.json or vocab.json)",
            hint="copy the tokenizer files from the original model into the folder first",
        )
    return meta


def _sample_for(template: str, bos: str, eos: str) -> tuple[list[dict], str]:
    """The first sample conversation the template accepts, and our render of it (raises if none)."""
    last: PlaygroundError | None = None
    for sample in VERIFY_SAMPLES:
        try:
            facts = TemplateFacts(bos_token=bos, eos_token=eos)
            text = render(template, sample, RenderCall(system_strategy="strict"), facts=facts, with_segments=False).text
            return sample, text
        except PlaygroundError as exc:
            last = exc
    raise ModelLoadError(
        f"the template rejects every sample conversation: {last.message if last else 'unknown error'}",
        hint="check the template in the Template lab before writing it into a model",
    )


def eos_plan(meta: ModelMetadata, template: str, eos: list[str] | None, keep_eos: bool) -> list[int]:
    """The generation_config eos_token_id to write: the tokens given, or by default the family's EOS tokens
    (the family of the template written, else the detected one) that exist in the vocabulary, plus the
    tokenizer's own EOS. Empty: leave generation_config.json alone."""
    vocab = meta.token_ids or {}
    if eos:
        unknown = [t for t in eos if t not in vocab]
        if unknown:
            raise ModelLoadError(
                f"EOS token(s) {', '.join(unknown)} are not in the vocabulary",
                hint="use tokens the tokenizer knows (see 'mlx-playground detect')",
            )
        return [vocab[t] for t in eos]
    if keep_eos:
        return []
    family = classify_template(template, registry())
    if family is None:
        family = registry().get(detect_metadata(meta).family)
    names = [t for t in family.eos_tokens if t in vocab]
    if meta.eos_token in vocab and meta.eos_token not in names:
        names.append(meta.eos_token)
    return list(dict.fromkeys(vocab[t] for t in names))


def plan_changes(folder: Path, template: str, ids: list[int]) -> dict[Path, str]:
    """New text for each file that needs it (only files whose content would change)."""
    planned: dict[Path, str] = {}
    sidecar = folder / "chat_template.jinja"
    if not sidecar.exists() or sidecar.read_text(encoding="utf-8") != template:
        planned[sidecar] = template
    config_path = folder / "tokenizer_config.json"
    config = read_json(config_path)
    if config.get("chat_template") != template:
        planned[config_path] = _json_text({**config, "chat_template": template})
    if ids:
        gen_path = folder / "generation_config.json"
        gen = read_json(gen_path)
        if gen.get("eos_token_id") != ids:
            planned[gen_path] = _json_text({**gen, "eos_token_id": ids})
    return planned


def verify_in_memory(folder: Path, template: str) -> tuple[list[dict], str]:
    """Before writing anything: the tokenizer as mlx-lm loads it, with the new template set in memory, must
    render a sample conversation exactly as our renderer does."""
    from mlx_lm.utils import load_tokenizer

    try:
        tokenizer = load_tokenizer(folder)
    except Exception as exc:
        raise ModelLoadError(f"mlx-lm could not load the tokenizer of {folder}: {exc}") from None
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    sample, expected = _sample_for(template, bos, eos)
    try:
        rendered = tokenizer.apply_chat_template(
            sample, chat_template=template, tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:
        raise ModelLoadError(f"transformers could not render the template: {exc}") from None
    if rendered != expected:
        raise ModelLoadError(
            "transformers renders this template differently from the playground",
            hint="report this template; it uses a feature the two renderers disagree on",
        )
    return sample, rendered


def verify_on_disk(folder: Path, template: str, sample: list[dict], ids: list[int]) -> str:
    """After writing: mlx-lm loads the folder, sees the template, renders the sample, and stops on ``ids``."""
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(folder, eos_token_ids=ids or None)
    if not tokenizer.has_chat_template:
        raise ModelLoadError("after the repair mlx-lm still sees no chat template", hint="check file permissions")
    rendered = tokenizer.apply_chat_template(sample, tokenize=False, add_generation_prompt=True)
    facts = TemplateFacts(bos_token=tokenizer.bos_token or "", eos_token=tokenizer.eos_token or "")
    expected = render(template, sample, RenderCall(system_strategy="strict"), facts=facts, with_segments=False).text
    if rendered != expected:
        raise ModelLoadError(
            "the template mlx-lm renders differs from the one written",
            hint="another template file may take precedence in this folder",
        )
    gen = read_json(folder / "generation_config.json") if ids else {}
    if ids and gen.get("eos_token_id") != ids:
        raise ModelLoadError("generation_config.json does not hold the EOS ids written")
    return rendered


@dataclass
class VisionConfigReport:
    """What ``fix-template --vision-config`` wrote (or would write) into config.json."""

    folder: Path
    repairs: list = field(default_factory=list)  # playground.vision_config.ConfigRepair
    backups: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "vision_config": [r.to_dict() for r in self.repairs],
            "changed": ["config.json"] if self.repairs else [],
            "backups": self.backups,
            "dry_run": self.dry_run,
        }


def fix_vision_config(folder: str | Path, *, dry_run: bool = False) -> VisionConfigReport:
    """Write the ``vision_config`` fields config.json lacks (patch_size, ...) from preprocessor_config.json
    or the family's known value, with a backup; verified by planning again (nothing may be left)."""
    from .vision_config import mlx_vlm_vision_defaults, plan_repairs, read_preprocessor, repaired_config

    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json", hint="give the folder of a vision-language model")
    try:
        config = read_json(path)
    except DetectionError as exc:
        raise ModelLoadError(exc.message, hint=exc.hint) from None
    if not isinstance(config.get("vision_config"), dict):
        raise ModelLoadError(
            f"{folder} is not a vision-language model (config.json has no vision_config)",
            hint="--vision-config repairs vision models; use --preset or --template for the chat template",
        )
    preprocessor = read_preprocessor(folder)
    defaults = mlx_vlm_vision_defaults(config)
    repairs = plan_repairs(config, preprocessor, defaults, only_if_different=False)
    report = VisionConfigReport(folder=folder, repairs=repairs, dry_run=dry_run)
    if dry_run or not repairs:
        return report
    report.backups.append(_backup(path).name)
    path.write_text(_json_text(repaired_config(config, repairs)), encoding="utf-8")
    if plan_repairs(read_json(path), preprocessor, defaults, only_if_different=False):
        raise ModelLoadError(f"config.json in {folder} still lacks vision_config fields after the repair")
    return report


def fix_template(
    folder: str | Path,
    template: str,
    *,
    eos: list[str] | None = None,
    keep_eos: bool = False,
    dry_run: bool = False,
) -> RepairReport:
    """Write ``template`` (and the family's EOS ids) into a model folder.

    Everything is checked before a file is touched: the folder is a model, the template compiles, and the
    tokenizer as mlx-lm loads it renders a sample conversation with the new template exactly like our
    renderer. Changed files are backed up; if anything fails after writing, the backups are restored (and
    files that did not exist are removed), so a failed repair leaves the folder as it was.
    """
    folder = Path(folder)
    meta = check_model_folder_for_repair(folder)
    compile_template(template)
    ids = eos_plan(meta, template, eos, keep_eos)
    sample, _ = verify_in_memory(folder, template)
    planned = plan_changes(folder, template, ids)
    report = RepairReport(folder=folder, eos_ids=ids, dry_run=dry_run)
    for name in ("chat_template.jinja", "tokenizer_config.json") + (("generation_config.json",) if ids else ()):
        (report.changed if folder / name in planned else report.unchanged).append(name)
    if dry_run:
        return report
    written: list[tuple[Path, Path | None]] = []
    try:
        for path, text in planned.items():
            backup = _backup(path) if path.exists() else None
            if backup is not None:
                report.backups.append(backup.name)
            written.append((path, backup))
            path.write_text(text, encoding="utf-8")
        report.verified_prompt = verify_on_disk(folder, template, sample, ids)
    except BaseException:
        for path, backup in reversed(written):
            if backup is not None:
                shutil.copy2(backup, path)
                backup.unlink()
            else:
                path.unlink(missing_ok=True)
        report.backups.clear()
        raise
    return report
