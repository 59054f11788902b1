"""The ``mlx-playground`` command line.

Domain errors become one ``error: ...`` line plus a ``hint: ...`` line on stderr and exit code 2;
no tracebacks for anything a user can fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import PlaygroundError

EXIT_USAGE = 2
_COMMANDS = ("serve", "render", "detect", "presets", "generate", "doctor", "bench", "fix-template")


def _out(text: str) -> None:
    """Write text to stdout exactly (UTF-8, no added newline)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def _print_json(data: Any) -> None:
    _out(json.dumps(data, ensure_ascii=False) + "\n")


def _read_text_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaygroundError(f"{what} {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaygroundError(f"cannot read {what} {path}: {exc}") from None


# ---------------------------------------------------------------------------------------------- commands


def cmd_render(args: argparse.Namespace) -> int:
    from .detect import read_metadata, resolve_local
    from .messages import load_messages
    from .prompting import choose_template

    if not (args.preset or args.model or args.template):
        raise PlaygroundError("render needs a template", hint="pass --preset NAME, --model PATH or --template FILE")
    messages = load_messages(args.messages)
    template = _read_text_file(args.template, "template file") if args.template else None
    meta = None
    if args.model:
        folder, name = resolve_local(args.model)
        meta = read_metadata(folder, name=name)
    choice = choose_template(meta, preset=args.preset, template=template)
    kwargs: dict[str, Any] = {}
    if args.bos_token is not None:
        kwargs["bos_token"] = args.bos_token
    if args.eos_token is not None:
        kwargs["eos_token"] = args.eos_token
    if args.date_string is not None:
        kwargs["extra_vars"] = {"date_string": args.date_string}
    rendered = choice.render(
        messages,
        add_generation_prompt=not (args.no_generation_prompt or args.continue_final),
        continue_final_message=args.continue_final,
        system_strategy=args.system_strategy,
        with_segments=args.json,
        **kwargs,
    )
    if args.json:
        _print_json(rendered.to_dict())
    else:
        _out(rendered.text)
        for warning in rendered.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from .detect import detect

    detection = detect(args.model)
    if args.json:
        _print_json(detection.to_dict())
        return 0
    rows = [
        ("model", detection.model_name),
        ("family", detection.family),
        ("preset", detection.preset),
        ("reason", detection.reason),
        (
            "template",
            detection.template_source + (f" ({detection.template_origin})" if detection.template_origin else ""),
        ),
        ("bos token", detection.bos_token or "(none)"),
        ("eos tokens", ", ".join(detection.eos_tokens) or "(none)"),
    ]
    for key, value in rows:
        print(f"{key:<11} {value}")
    for warning in detection.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .families import registry

    families = list(registry())
    if args.json:
        _print_json([f.summary() for f in families])
        return 0
    width = max(len(f.name) for f in families)
    print(f"{'preset':<{width}}  {'system':<6}  eos tokens / reference")
    for f in families:
        system = "yes" if f.system_role else "no"
        print(f"{f.name:<{width}}  {system:<6}  {', '.join(f.eos_tokens) or '(tokenizer)'}  [{f.reference}]")
    return 0


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from .templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES

    parser = argparse.ArgumentParser(
        prog="mlx-playground",
        description="A playground for MLX language models that shows the exact prompt each model receives.",
    )
    parser.add_argument("--version", action="version", version=f"mlx-playground {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("render", help="render a conversation with a chat template and print the exact prompt")
    p.add_argument("--preset", help="a family preset (see 'mlx-playground presets')")
    p.add_argument("--model", help="a model folder or cached Hub id: use its own template or its detected preset")
    p.add_argument("--template", help="a Jinja chat template file")
    p.add_argument("--messages", required=True, help="JSON file with [{role, content}, ...]; '-' reads stdin")
    p.add_argument("--no-generation-prompt", action="store_true", help="do not open an assistant turn at the end")
    p.add_argument("--continue-final", action="store_true", help="leave the final message open for continuation")
    p.add_argument("--bos-token", help="override the BOS token string")
    p.add_argument("--eos-token", help="override the EOS token string")
    p.add_argument("--date-string", help="date for templates that print today's date (Llama 3.x)")
    p.add_argument(
        "--system-strategy",
        choices=SYSTEM_STRATEGIES,
        default=DEFAULT_SYSTEM_STRATEGY,
        help="what to do with a system message when the template has no system role (default: merge)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with prompt, source, family, warnings")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("detect", help="detect a model's family, template source and EOS tokens (no weights read)")
    p.add_argument("model", metavar="PATH_OR_REPO")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("presets", help="list the family presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_presets)
    return parser


def _normalise_argv(argv: list[str]) -> list[str]:
    """``mlx-playground`` alone, or with only options, means ``serve``."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        return ["serve", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except PlaygroundError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
