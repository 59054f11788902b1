"""The argument parser: every option, checked with its range; argument errors follow the error/hint rule."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..backends.local.prompt_cache import DEFAULT_PROMPT_CACHE_BYTES
from .generation import cmd_compare, cmd_generate
from .maintenance import cmd_bench, cmd_doctor, cmd_fix_template
from .prompts import cmd_detect, cmd_presets, cmd_render
from .requests import API_KEY_ENV
from .server import API_TOKEN_ENV, cmd_serve

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """Argument errors follow the CLI's rule: one ``error:`` line, one ``hint:`` line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        print(f"hint: see '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (the message names the range)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {low}{upper}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def sampling_options(p: argparse.ArgumentParser) -> None:
    """The generation settings: one flag per entry of the options table, then seed, stop strings, EOS wiring."""
    from ..options import add_arguments

    add_arguments(p)
    p.add_argument("--seed", type=int, help="the seed (default: a random one, reported so the run can be repeated)")
    p.add_argument("--stop", nargs="+", metavar="STR", help="stop strings (not included in the reply)")
    p.add_argument(
        "--no-eos-wiring", action="store_true", help="use only the tokenizer's own EOS (to see why wiring matters)"
    )


def constraint_options(p: argparse.ArgumentParser) -> None:
    """Structured output: at most one constraint on the answer (see playground.constraints)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--json-schema", metavar="FILE.json", help="the answer is JSON valid against this schema")
    group.add_argument("--json-object", action="store_true", help="the answer is a JSON object (any keys)")
    group.add_argument("--regex", metavar="R", help="the answer matches this regular expression (the whole answer)")
    group.add_argument("--grammar", metavar="FILE", help="the answer follows this Lark (or GBNF) grammar")
    group.add_argument(
        "--require-tool-call",
        nargs="?",
        const="",
        metavar="TOOL",
        help="the reply is one call of the --tools in the template family's format (of TOOL if given), "
        "its arguments valid against the tool's schema",
    )


class ColumnAction(argparse.Action):
    """--preset / --template for compare: columns in the order given."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001 - argparse's signature
        columns = list(getattr(namespace, self.dest, None) or [])
        columns.append(("preset" if option_string == "--preset" else "template", values))
        setattr(namespace, self.dest, columns)


def template_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tools", metavar="FILE.json", help="a JSON list of function schemas the template declares")
    p.add_argument(
        "--template-kwargs",
        metavar="JSON",
        help="extra template keywords as a JSON object, e.g. '{\"enable_thinking\": false}' (see presets --json)",
    )
    p.add_argument("--now", metavar="YYYY-MM-DDTHH:MM:SS", help="the time templates see (strftime_now); default: now")


def backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("local", "openai", "ollama"),
        default="local",
        help="where tokens come from: mlx-lm in this process (default), an OpenAI-compatible server's "
        "/v1/completions (mlx_lm.server, vLLM, llama.cpp, LM Studio) or Ollama; the prompt is always ours",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="the server (default http://127.0.0.1:8080/v1 for openai, http://127.0.0.1:11434 for ollama)",
    )
    p.add_argument(
        "--api-key", metavar="KEY", help=f"the server's API key (better: the {API_KEY_ENV} environment variable)"
    )
    p.add_argument("--served-model", metavar="NAME", help="the model's name on the server, if not the server's default")


def engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-batch",
        type=int_at_least(1),
        default=8,
        help="requests decoded together in one batch (default 8); more wait in a queue",
    )
    p.add_argument(
        "--memory-limit",
        type=positive_float,
        metavar="GB",
        help="refuse requests whose weights + KV cache would exceed this many GB (default: no limit)",
    )


def _serve_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground serve``."""
    p = sub.add_parser("serve", help="open the playground UI (the default command)")
    p.add_argument("--model", default="demo", help="the model loaded at start: 'demo', a folder or a Hub id")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_at_least(1, 65535), default=7860)
    p.add_argument("--share", action="store_true", help="create a public Gradio share link (use with --auth)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (recommended with --host/--share)")
    p.add_argument("--max-models", type=int_at_least(1), default=1, help="models kept loaded at once (default 1)")
    p.add_argument(
        "--queue-size",
        type=int_at_least(1),
        default=64,
        help="requests that may wait for the model, in the page and in the API (default 64; more get HTTP 429)",
    )
    p.add_argument(
        "--concurrency",
        type=int_at_least(1),
        default=8,
        help="requests the UI hands to the engine at once (default 8; they decode together, see --max-batch)",
    )
    p.add_argument("--api-only", action="store_true", help="serve only the OpenAI-compatible API (/v1), not the page")
    p.add_argument(
        "--api-token",
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' for the API (better: the {API_TOKEN_ENV} environment variable); "
        "independent of --auth, and not --api-key (the key of a server backend)",
    )
    p.add_argument(
        "--prompt-cache-bytes",
        type=int_at_least(0),
        default=DEFAULT_PROMPT_CACHE_BYTES,
        metavar="N",
        help="bytes of KV cache shared by all requests and sessions, reused by longest common prompt prefix "
        f"(default {DEFAULT_PROMPT_CACHE_BYTES:,}; 0 turns the shared cache off)",
    )
    engine_options(p)
    backend_options(p)
    p.set_defaults(func=cmd_serve)


def _render_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground render``."""
    from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES

    p = sub.add_parser("render", help="render a conversation with a chat template and print the exact prompt")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--preset", help="a family preset (see 'mlx-playground presets')")
    which.add_argument(
        "--model", help="'demo', a model folder or a cached Hub id: its own template or its detected preset"
    )
    which.add_argument("--template", help="a Jinja chat template file")
    p.add_argument("--messages", required=True, help="JSON file with [{role, content}, ...]; '-' reads stdin")
    p.add_argument("--no-generation-prompt", action="store_true", help="do not open an assistant turn at the end")
    p.add_argument("--continue-final", action="store_true", help="leave the final message open for continuation")
    p.add_argument("--bos-token", help="override the BOS token string")
    p.add_argument("--eos-token", help="override the EOS token string")
    p.add_argument("--date-string", help="date for templates that print today's date (Llama 3.x)")
    p.add_argument(
        "--image",
        action="append",
        metavar="PATH",
        help="an image for the last user message (repeatable; needs --model: shows its image tokens)",
    )
    p.add_argument(
        "--system-strategy",
        choices=SYSTEM_STRATEGIES,
        default=DEFAULT_SYSTEM_STRATEGY,
        help="what to do with a system message when the template has no system role (default: merge)",
    )
    template_options(p)
    constraint_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with prompt, source, family, warnings")
    p.set_defaults(func=cmd_render)


def _detect_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground detect``."""
    p = sub.add_parser("detect", help="detect a model's family, template source and EOS tokens (no weights read)")
    p.add_argument("model", metavar="PATH_OR_REPO")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_detect)


def _generate_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground generate``."""
    from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES

    p = sub.add_parser("generate", help="generate a reply with mlx-lm, streaming it to stdout")
    p.add_argument("--model", default="demo", help="a model folder, a Hub id, or 'demo' (the bundled demo model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message")
    src.add_argument("--messages", help="JSON file with [{role, content}, ...]; '-' reads stdin")
    p.add_argument("--system", help="a system prompt")
    p.add_argument(
        "--image", action="append", metavar="PATH", help="an image file for the user message (repeatable; VLMs only)"
    )
    tpl = p.add_mutually_exclusive_group()
    tpl.add_argument("--preset", help="render with this preset instead of the model's own/detected template")
    tpl.add_argument("--template", help="render with this Jinja template file")
    p.add_argument("--system-strategy", choices=SYSTEM_STRATEGIES, default=DEFAULT_SYSTEM_STRATEGY)
    template_options(p)
    p.add_argument("--continue-final", action="store_true", help="continue the final (assistant) message")
    p.add_argument(
        "--raw", action="store_true", help="send --prompt exactly as given: no template, no BOS added (notebook mode)"
    )
    p.add_argument(
        "--logprobs",
        type=int_at_least(0, 20),
        default=0,
        metavar="N",
        help="with --json: each generated token's log-probability and its N best alternatives",
    )
    sampling_options(p)
    constraint_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with the prompt, text and stats last")
    backend_options(p)
    p.set_defaults(func=cmd_generate)


def _compare_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground compare``."""
    from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES

    p = sub.add_parser("compare", help="run one conversation through several templates at once (one batch) and compare")
    p.add_argument("--model", default="demo", help="a model folder, a Hub id, or 'demo' (the bundled demo model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message")
    src.add_argument("--messages", help="JSON file with [{role, content}, ...]; '-' reads stdin")
    p.add_argument("--system", help="a system prompt")
    p.add_argument(
        "--preset",
        action=ColumnAction,
        dest="columns",
        metavar="NAME",
        help="a column rendered with this preset (repeat)",
    )
    p.add_argument(
        "--template",
        action=ColumnAction,
        dest="columns",
        metavar="FILE",
        help="a column rendered with this template file",
    )
    p.add_argument("--system-strategy", choices=SYSTEM_STRATEGIES, default=DEFAULT_SYSTEM_STRATEGY)
    template_options(p)
    sampling_options(p)
    constraint_options(p)
    p.add_argument("--json", action="store_true", help='print {"columns": [...]} as one JSON object')
    backend_options(p)
    p.set_defaults(func=cmd_compare, continue_final=False)


def _fix_template_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground fix-template``."""
    p = sub.add_parser("fix-template", help="write a chat template (and EOS ids) into a model folder, with backups")
    p.add_argument("model_dir", metavar="MODEL_DIR")
    fix_src = p.add_mutually_exclusive_group()
    fix_src.add_argument("--preset", help="the family preset to write")
    fix_src.add_argument("--template", help="a Jinja template file to write")
    p.add_argument(
        "--vision-config",
        action="store_true",
        help="write the vision_config fields mlx-vlm would otherwise default (patch_size, ...) into config.json",
    )
    p.add_argument(
        "--eos",
        action="append",
        metavar="TOKEN",
        help="an EOS token for generation_config.json; repeat for several (default: the family's EOS tokens in "
        "the vocabulary)",
    )
    p.add_argument("--keep-eos", action="store_true", help="leave generation_config.json's eos_token_id alone")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fix_template)


def _bench_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground bench``."""
    p = sub.add_parser("bench", help="measure streaming speed, KV-cache reuse, rendering and start-up")
    p.add_argument(
        "--model", help="benchmark this model (default: a random-weight 56M-parameter Llama built on the fly)"
    )
    p.add_argument("--tokens", type=int_at_least(2), default=200, help="tokens per generation run (default 200)")
    p.add_argument(
        "--turns", type=int_at_least(2), default=10, help="chat turns for the time-to-first-token test (default 10)"
    )
    p.add_argument("--repeats", type=int_at_least(2), default=7, help="alternating run pairs per ratio (default 7)")
    p.add_argument(
        "--only",
        choices=("engine", "ui", "structured", "ttft", "demo", "api", "startup"),
        help="run only this part (api: the OpenAI-compatible API against a real mlx_lm.server)",
    )
    p.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    p.add_argument("--markdown", action="store_true", help="also print the README's Markdown table of this run")
    p.set_defaults(func=cmd_bench)


def _doctor_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground doctor``."""
    p = sub.add_parser("doctor", help="show versions, the active BLAS and the demo model location")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def _presets_command(sub: argparse._SubParsersAction) -> None:
    """``mlx-playground presets``."""
    p = sub.add_parser("presets", help="list the family presets")
    p.add_argument(
        "--json", action="store_true", help="each preset with its keywords, EOS tokens, reply formats and source"
    )
    p.add_argument("--markdown", action="store_true", help="the README's preset table")
    p.set_defaults(func=cmd_presets)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlx-playground",
        description="A playground for MLX language models that shows the exact prompt each model receives.",
    )
    parser.add_argument("--version", action="store_true", help="show the version and the active BLAS, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    _serve_command(sub)
    _render_command(sub)
    _detect_command(sub)
    _generate_command(sub)
    _compare_command(sub)
    _fix_template_command(sub)
    _bench_command(sub)
    _doctor_command(sub)
    _presets_command(sub)
    return parser
