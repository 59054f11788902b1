"""Commands about prompts and models without generating: render, detect, presets."""

from __future__ import annotations

import argparse
import sys

from ..errors import PlaygroundError
from .io import out, print_json, warn
from .requests import check_images, request_from_args


def cmd_render(args: argparse.Namespace) -> int:
    import dataclasses

    from ..detect import read_metadata
    from ..messages import load_messages
    from ..models import resolve_model
    from ..prepare import mlx_lm_variant, render_request, vocabulary_has_thinking
    from ..templates import choose_template

    if not (args.preset or args.model or args.template):
        raise PlaygroundError("render needs a template", hint="pass --preset NAME, --model PATH or --template FILE")
    request = request_from_args(args, load_messages(args.messages))
    if args.image:
        return render_images(args, request)
    meta = None
    if args.model:
        folder, name = resolve_model(args.model, allow_download=False)
        meta = read_metadata(folder, name=name)
    choice = choose_template(meta, preset=args.preset, template=request.custom_template)
    if args.bos_token is not None:
        choice = dataclasses.replace(choice, bos_token=args.bos_token)
    if args.eos_token is not None:
        choice = dataclasses.replace(choice, eos_token=args.eos_token)
    rendered = render_request(choice, request)
    thinks = vocabulary_has_thinking(meta.token_ids) if meta is not None else None  # mlx-lm's has_thinking
    mlx_lm_prompt, mlx_lm_note = mlx_lm_variant(choice, request, rendered.text, thinks)
    if args.json:
        steering = {"constraint": request.constraint.to_dict()} if request.constraint is not None else {}
        print_json({**rendered.to_dict(), "mlx_lm_prompt": mlx_lm_prompt, "mlx_lm_note": mlx_lm_note, **steering})
    else:
        out(rendered.text)
        warn([*rendered.warnings, *([mlx_lm_note] if mlx_lm_note else [])])
    return 0


def render_images(args: argparse.Namespace, request) -> int:
    """render --image: the prompt exactly as the model's processor expands the image placeholders."""
    from ..engine import Engine

    images = check_images(args.image)
    if not args.model:
        raise PlaygroundError(
            "render --image needs --model", hint="the model's processor expands the image placeholders: pass --model"
        )
    if args.bos_token is not None or args.eos_token is not None:
        raise PlaygroundError("--bos-token/--eos-token cannot be combined with --image", hint="drop them")
    engine = Engine()
    loaded = engine.load(args.model, weights=False)  # the processor and tokenizer, no weights
    prepared = engine.prepare(loaded, request.replace(images=images))
    warnings = list(dict.fromkeys([*loaded.notes, *prepared.warnings]))
    if args.json:
        data = {**prepared.rendered.to_dict(), "prompt_tokens": prepared.prompt_tokens, "warnings": warnings}
        print_json({**data, **prepared.vision.summary()})
    else:
        out(prepared.text)
        warn(warnings)
        for line in prepared.vision.describe():
            print(f"note: {line}", file=sys.stderr)
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from ..detect import detect_metadata, read_metadata
    from ..errors import DetectionError
    from ..models import resolve_model

    folder, name = resolve_model(args.model, allow_download=False)
    if not (folder / "config.json").is_file():
        raise DetectionError(f"{name} has no config.json", hint="point at a model folder (it holds config.json)")
    meta = read_metadata(folder, name=name)  # metadata alone: what loading still needs becomes a warning
    detection = detect_metadata(meta)
    if args.json:
        print_json(detection.to_dict())
        return 0
    rows = [
        ("model", detection.model_name),
        ("family", detection.family),
        ("preset", detection.preset),
        ("rule", detection.rule),
        ("reason", detection.reason),
        *[(f"{d.step} rule", f"{d.rule}: {d.chose}") for d in detection.decisions],
        *[("overruled", item) for item in detection.overruled],
        (
            "template",
            detection.template_source + (f" ({detection.template_origin})" if detection.template_origin else ""),
        ),
        ("bos token", detection.bos_token or "(none)"),
        ("eos tokens", ", ".join(detection.eos_tokens) or "(none)"),
    ]
    if detection.vision:
        from ..vision_config import vision_evidence

        rows.append(("vision", f"yes: {vision_evidence(meta.config, meta.preprocessor_config)} (loads with mlx-vlm)"))
    for key, value in rows:
        print(f"{key:<11} {value}")
    warn(detection.warnings)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from ..families import registry

    families = list(registry())
    if args.json:
        print_json([f.summary() for f in families])
        return 0
    if args.markdown:
        out(presets_markdown(families))
        return 0
    width = max(len(f.name) for f in families)
    print(f"{'preset':<{width}}  {'system':<6}  eos tokens / reference")
    for f in families:
        system = "yes" if f.system_role else "no"
        print(f"{f.name:<{width}}  {system:<6}  {', '.join(f.eos_tokens) or '(tokenizer)'}  [{f.reference}]")
    return 0


def presets_markdown(families: list) -> str:
    """The README's preset table, generated from the preset files."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        "| preset | reproduces | system role | EOS tokens | defaults | thinking / tool calls | keywords |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in families:
        eos = " ".join(f"`{cell(t)}`" for t in f.eos_tokens) or "(the tokenizer's)"
        defaults = ", ".join(f"{k} {v}" for k, v in f.defaults.items()) or "-"
        formats = f"{f.reasoning} / {f.tool_calls}" if (f.reasoning, f.tool_calls) != ("none", "none") else "-"
        keywords = ", ".join(f"`{k.name}`" for k in f.kwargs) or "-"
        system = "yes" if f.system_role else "no (merge/drop/strict)"
        rows.append(
            f"| `{f.name}` | {cell(f.reference) or '-'} | {system} | {eos} | {defaults} | {formats} | {keywords} |"
        )
    return "\n".join(rows) + "\n"
