"""Repair a model folder: write the chat template (and EOS ids) where every tool reads them.

The template goes to ``chat_template.jinja`` and into ``tokenizer_config.json`` (``chat_template``); EOS
ids go to ``generation_config.json`` (mlx-lm and transformers read them from there). Every changed file
is backed up first (``NAME.bak``, or ``NAME.bak.N`` when that exists); running again changes nothing.
The result is verified by loading the tokenizer with mlx-lm and rendering a sample conversation.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .detect import read_json, read_metadata
from .errors import DetectionError, ModelLoadError, PlaygroundError
from .messages import SAMPLE_CONVERSATION
from .templates import compile_template, render


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


def plan_changes(folder: Path, template: str, eos: list[str] | None) -> tuple[dict[Path, str], list[int]]:
    """New text for each file that needs it (only files whose content would change)."""
    meta = read_metadata(folder)
    planned: dict[Path, str] = {}
    sidecar = folder / "chat_template.jinja"
    if not sidecar.exists() or sidecar.read_text(encoding="utf-8") != template:
        planned[sidecar] = template
    config_path = folder / "tokenizer_config.json"
    config = read_json(config_path)
    if config.get("chat_template") != template:
        planned[config_path] = _json_text({**config, "chat_template": template})
    ids: list[int] = []
    if eos:
        if meta.token_ids is None:
            raise ModelLoadError(
                f"cannot map EOS tokens to ids: {folder} has no readable vocabulary (tokenizer.json)",
                hint="give the folder of a model with tokenizer.json",
            )
        unknown = [t for t in eos if t not in meta.token_ids]
        if unknown:
            raise ModelLoadError(
                f"EOS token(s) {', '.join(unknown)} are not in the vocabulary",
                hint="use tokens the tokenizer knows (see 'mlx-playground detect')",
            )
        ids = [meta.token_ids[t] for t in eos]
        gen_path = folder / "generation_config.json"
        gen = read_json(gen_path)
        if gen.get("eos_token_id") != ids:
            planned[gen_path] = _json_text({**gen, "eos_token_id": ids})
    return planned, ids


def verify(folder: Path, template: str) -> str:
    """Load the tokenizer with mlx-lm and check it renders the sample exactly like our renderer."""
    from mlx_lm.utils import load_tokenizer

    try:
        tokenizer = load_tokenizer(folder)
    except Exception as exc:
        raise ModelLoadError(f"mlx-lm could not load the repaired tokenizer: {exc}") from None
    if not tokenizer.has_chat_template:
        raise ModelLoadError("after the repair mlx-lm still sees no chat template", hint="check file permissions")
    rendered = tokenizer.apply_chat_template(SAMPLE_CONVERSATION, tokenize=False, add_generation_prompt=True)
    expected = render(
        template,
        SAMPLE_CONVERSATION,
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
        supports_system=True,
        with_segments=False,
    ).text
    if rendered != expected:
        raise ModelLoadError(
            "the template mlx-lm renders differs from the one written",
            hint="another template file may take precedence in this folder",
        )
    return rendered


@dataclass
class VisionConfigReport:
    """What ``fix-template --vision-config`` wrote (or would write) into config.json."""

    folder: Path
    repairs: list = field(default_factory=list)  # playground.vision.config.ConfigRepair
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
    from .vision.config import mlx_vlm_vision_defaults, plan_repairs, read_preprocessor, repaired_config

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
    folder: str | Path, template: str, *, eos: list[str] | None = None, dry_run: bool = False
) -> RepairReport:
    """Write ``template`` (and EOS ids) into a model folder, with backups, then verify with mlx-lm."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder} does not exist", hint="give a local model folder")
    compile_template(template)  # refuse broken templates before touching anything
    try:
        planned, ids = plan_changes(folder, template, eos)
    except DetectionError as exc:
        raise ModelLoadError(exc.message, hint=exc.hint) from None
    report = RepairReport(folder=folder, eos_ids=ids, dry_run=dry_run)
    for name in ("chat_template.jinja", "tokenizer_config.json") + (("generation_config.json",) if eos else ()):
        (report.changed if folder / name in planned else report.unchanged).append(name)
    if dry_run:
        return report
    for path, text in planned.items():
        if path.exists():
            report.backups.append(_backup(path).name)
        path.write_text(text, encoding="utf-8")
    try:
        report.verified_prompt = verify(folder, template)
    except PlaygroundError:
        raise
    return report
