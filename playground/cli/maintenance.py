"""fix-template, bench and doctor."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import PlaygroundError
from .io import out, print_json, read_text_file, warn


def cmd_fix_template(args: argparse.Namespace) -> int:
    from ..families import get_family
    from ..repair import fix_template

    if args.vision_config:
        from ..repair import fix_vision_config

        vision = fix_vision_config(args.model_dir, dry_run=args.dry_run)
        if args.json and not (args.preset or args.template):
            print_json(vision.to_dict())
        elif not args.json:
            verb = "would write" if vision.dry_run else "wrote"
            done = "; ".join(f"{r.field} = {r.value} (from {r.source})" for r in vision.repairs)
            print(f"vision_config: {verb + ' ' + done if done else 'nothing to repair'}")
            if vision.backups:
                print(f"backups: {', '.join(vision.backups)}")
        if not (args.preset or args.template):
            return 0
    elif not (args.preset or args.template):
        raise PlaygroundError("fix-template needs --preset, --template or --vision-config", hint="see --help")
    template = read_text_file(args.template, "template file") if args.template else get_family(args.preset).template
    if args.eos and args.keep_eos:
        raise PlaygroundError("--eos and --keep-eos contradict each other", hint="use one of them")
    report = fix_template(args.model_dir, template, eos=args.eos, keep_eos=args.keep_eos, dry_run=args.dry_run)
    if args.json:
        print_json(report.to_dict())
        return 0
    warn(report.warnings)
    verb = "would change" if report.dry_run else "changed"
    print(f"{verb}: {', '.join(report.changed) or 'nothing (already fixed)'}")
    if report.backups:
        print(f"backups: {', '.join(report.backups)}")
    if report.eos_ids:
        print(f"eos_token_id: {report.eos_ids}")
    if report.verified_prompt is not None:
        print("verified with mlx-lm; a sample conversation now renders as:")
        out(report.verified_prompt + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import format_markdown, format_table, run_bench

    results = run_bench(
        args.model,
        tokens=args.tokens,
        turns=args.turns,
        repeats=args.repeats,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        only=args.only,
    )
    print(format_table(results))
    if args.markdown:
        print(format_markdown(results))
    if args.json:
        print_json(results)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    from ..backends.spec import BackendSpec
    from ..engine import Engine
    from ..models import demo_model_path

    rows = {"mlx-playground": __version__, "python": platform.python_version(), "platform": platform.platform()}
    try:
        local = Engine().backend(BackendSpec()).check()  # mlx's version, its device and the BLAS it uses
        rows.update(mlx=local["mlx"], device=local["device"])
        blas = local["blas"]
    except Exception as exc:  # pragma: no cover - broken installs
        rows["mlx"] = f"not importable: {exc}"
        blas = "unknown"
    try:
        from importlib.metadata import version

        for package in ("mlx-lm", "gradio", "transformers", "jinja2", "huggingface-hub"):
            rows[package] = version(package)
    except Exception:  # pragma: no cover
        pass
    rows["blas"] = blas
    demo = demo_model_path()
    rows["demo model"] = str(demo) if demo.is_dir() else f"missing ({demo})"
    if args.json:
        print_json(rows)
    else:
        for key, value in rows.items():
            print(f"{key:<15} {value}")
    return 0
