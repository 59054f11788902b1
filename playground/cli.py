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


class _Parser(argparse.ArgumentParser):
    """Argument errors follow the CLI's rule: one ``error:`` line, one ``hint:`` line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        print(f"hint: see '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _warn(lines) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _out(text: str) -> None:
    """Write text to stdout exactly (UTF-8, no added newline)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def _print_json(data: Any) -> None:
    _out(json.dumps(data, ensure_ascii=False) + "\n")


def _blas_line() -> str:
    from .blas import ensure_fast_blas

    return "BLAS: " + ensure_fast_blas().describe()


def _read_text_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaygroundError(f"{what} {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaygroundError(f"cannot read {what} {path}: {exc}") from None


# ---------------------------------------------------------------------------------------------- commands


def _template_kwargs(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaygroundError(
            f"--template-kwargs is not valid JSON: {exc.msg} at column {exc.colno}",
            hint='give a JSON object, e.g. --template-kwargs \'{"enable_thinking": false}\'',
        ) from None
    if not isinstance(data, dict):
        raise PlaygroundError(
            f"--template-kwargs must be a JSON object, got {type(data).__name__}",
            hint='give a JSON object, e.g. --template-kwargs \'{"enable_thinking": false}\'',
        )
    return data


def _now(text: str | None):
    if text is None:
        return None
    from datetime import datetime

    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise PlaygroundError(
            f"--now must look like YYYY-MM-DDTHH:MM:SS, got {text!r}", hint="for example --now 2026-01-15T09:30:00"
        ) from None


def _tools(path: str | None):
    if path is None:
        return None
    from .prepare import check_tools

    text = _read_text_file(path, "tools file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaygroundError(
            f"tools file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint='a JSON list like [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]',
        ) from None
    return check_tools(data)


def _request_from_args(args: argparse.Namespace, messages: list, *, settings=None):
    """The one ChatRequest the CLI's arguments describe (shared by render and generate)."""
    from .prepare import ChatRequest
    from .settings import GenerationSettings

    kwargs = _template_kwargs(args.template_kwargs)
    if getattr(args, "date_string", None) is not None:
        kwargs.setdefault("date_string", args.date_string)
    custom = _read_text_file(args.template, "template file") if args.template else None
    return ChatRequest(
        messages=tuple(messages),
        template="custom" if custom is not None else (args.preset or "auto"),
        custom_template=custom,
        system_strategy=args.system_strategy,
        template_kwargs=kwargs,
        tools=_tools(args.tools),
        add_generation_prompt=not (getattr(args, "no_generation_prompt", False) or args.continue_final),
        continue_final=args.continue_final,
        settings=settings or GenerationSettings(),
        now=_now(args.now),
    )


def cmd_render(args: argparse.Namespace) -> int:
    import dataclasses

    from .detect import read_metadata
    from .messages import load_messages
    from .models import resolve_model
    from .prepare import render_request
    from .prompting import choose_template

    if not (args.preset or args.model or args.template):
        raise PlaygroundError("render needs a template", hint="pass --preset NAME, --model PATH or --template FILE")
    request = _request_from_args(args, load_messages(args.messages))
    if args.image:
        return _render_images(args, request)
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
    if args.json:
        _print_json(rendered.to_dict())
    else:
        _out(rendered.text)
        _warn(rendered.warnings)
    return 0


def _check_images(paths: list[str] | None) -> tuple[str, ...]:
    """The --image paths, refused early when one is a URL or missing."""
    from .vision.prompt import check_image_source

    for path in paths or ():
        check_image_source(path)
    return tuple(paths or ())


def _render_images(args: argparse.Namespace, request) -> int:
    """render --image: the prompt exactly as the model's processor expands the image placeholders."""
    from .engine import Engine

    images = _check_images(args.image)
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
        _print_json({**data, **prepared.vision.summary()})
    else:
        _out(prepared.text)
        _warn(warnings)
        for line in prepared.vision.describe():
            print(f"note: {line}", file=sys.stderr)
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from .detect import detect_metadata
    from .models import check_model_folder, resolve_model

    folder, name = resolve_model(args.model, allow_download=False)
    detection = detect_metadata(check_model_folder(folder, name, weights=False))
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
    if detection.vision:
        from .vision.config import vision_evidence

        meta = check_model_folder(folder, name, weights=False)
        rows.append(("vision", f"yes: {vision_evidence(meta.config, meta.preprocessor_config)} (loads with mlx-vlm)"))
    for key, value in rows:
        print(f"{key:<11} {value}")
    _warn(detection.warnings)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .families import registry

    families = list(registry())
    if args.json:
        _print_json([f.summary() for f in families])
        return 0
    if args.markdown:
        _out(presets_markdown(families))
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


def _settings_from_args(args: argparse.Namespace):
    from .settings import GenerationSettings

    return GenerationSettings(
        temperature=args.temp,
        top_p=args.top_p,
        min_p=args.min_p,
        top_k=args.top_k,
        repetition_penalty=args.repetition_penalty,
        repetition_context_size=args.repetition_context_size,
        presence_penalty=args.presence_penalty,
        frequency_penalty=args.frequency_penalty,
        max_tokens=args.max_tokens,
        seed=args.seed,
        stop=tuple(args.stop or ()),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .messages import load_messages

    settings = _settings_from_args(args)  # validate before the slow model load
    images = _check_images(args.image)
    if args.prompt is not None and not args.prompt.strip():
        raise PlaygroundError("--prompt is empty", hint="give the text of the user message, e.g. --prompt 'Hello!'")
    if args.raw:
        if args.prompt is None or args.messages or args.system is not None:
            raise PlaygroundError(
                "--raw sends one text exactly as given",
                hint="use --raw with --prompt TEXT (no --messages, no --system)",
            )
        messages = []
    elif args.messages:
        messages = load_messages(args.messages)
    else:
        messages = [{"role": "user", "content": args.prompt}]
    if args.system is not None:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": args.system})
    request = _request_from_args(args, messages, settings=settings).replace(
        wire_eos=not args.no_eos_wiring,
        logprobs=args.logprobs,
        raw_prompt=args.prompt if args.raw else None,
        images=images,
    )
    if images and getattr(args, "backend", "local") not in (None, "local"):
        raise PlaygroundError("images need the local backend (mlx-vlm in this process)", hint="drop --backend")
    engine = Engine(backend=_backend_spec(args))
    loaded = engine.load(args.model)
    prepared = engine.prepare(loaded, request)
    warnings = list(dict.fromkeys([*loaded.detection.warnings, *loaded.notes, *prepared.warnings]))
    if not args.json:
        _warn(warnings)
        for line in prepared.vision.describe() if prepared.vision is not None else ():
            print(f"note: {line}", file=sys.stderr)
    parser = prepared.parser() if not prepared.raw else None
    parts, tokens, final = [], [], None
    for event in engine.stream(prepared):
        parts.append(event.text)
        tokens.extend(event.tokens)
        if parser is not None:
            parser.feed(event.text)
        final = event
        if event.text and not args.json:
            _out(event.text)
    text = "".join(parts)
    if args.json:
        data = {
            "prompt": prepared.text,
            "text": text,
            **final.stats(),
            "template_source": "raw" if prepared.raw else prepared.rendered.source,
            "template": None if prepared.raw else prepared.rendered.template_name,
            "family": loaded.detection.family,
            "preset": loaded.detection.preset,
            "eos_tokens": list(prepared.eos.tokens),
            "bos_added": prepared.bos_added,
            "settings": prepared.settings.to_dict(),
            "setting_sources": dict(prepared.setting_sources),
            "warnings": list(dict.fromkeys([*warnings, *final.warnings])),
            "model": loaded.name,
            "backend": engine.default_backend.describe(),
        }
        if parser is not None:
            parser.finish()
            parsed = parser.result()
            data["reasoning"] = parsed.reasoning
            data["content"] = parsed.content
            data["tool_calls"] = [c.to_message_dict() for c in parsed.tool_calls]
        if args.logprobs:
            data["tokens"] = [t.to_dict() for t in tokens]
        if prepared.vision is not None:
            data.update(prepared.vision.summary())
        _print_json(data)
    else:
        _out("\n")
        _warn(w for w in final.warnings if w not in warnings)
        stop = f" ({final.stop_token})" if final.stop_token else ""
        print(
            f"[{final.finish_reason}{stop}; {final.generation_tokens} tokens, ttft {final.ttft_s:.3f} s, "
            f"{final.generation_tps:.1f} tok/s, seed {final.seed}]",
            file=sys.stderr,
        )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import threading

    from .engine import Engine
    from .messages import load_messages
    from .settings import new_seed

    settings = _settings_from_args(args)
    columns = list(args.columns or [])
    if len(columns) < 2:
        raise PlaygroundError(
            "compare needs at least two columns", hint="e.g. --preset chatml --preset llama2 (or --template FILE)"
        )
    if args.prompt is not None and not args.prompt.strip():
        raise PlaygroundError("--prompt is empty", hint="give the text of the user message, e.g. --prompt 'Hello!'")
    messages = load_messages(args.messages) if args.messages else [{"role": "user", "content": args.prompt}]
    if args.system is not None:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": args.system})
    if settings.seed is None:  # one seed for every column, reported
        import dataclasses

        settings = dataclasses.replace(settings, seed=new_seed())
    args.template = None
    args.preset = None
    base = _request_from_args(args, messages, settings=settings).replace(wire_eos=not args.no_eos_wiring)
    engine = Engine(backend=_backend_spec(args))
    loaded = engine.load(args.model)
    prepared = []
    for kind, value in columns:
        if kind == "preset":
            request = base.replace(template=value)
        else:
            request = base.replace(template="custom", custom_template=_read_text_file(value, "template file"))
        try:
            prepared.append(engine.prepare(loaded, request))
        except PlaygroundError as exc:
            raise PlaygroundError(f"column {value}: {exc.message}", hint=exc.hint) from None
    results: list = [None] * len(prepared)
    failures: list = [None] * len(prepared)

    def run(index: int) -> None:
        try:
            results[index] = engine.generate(prepared[index])
        except PlaygroundError as exc:
            failures[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prepared))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for failure in failures:
        if failure is not None:
            raise failure
    out = []
    for (kind, value), plan, result in zip(columns, prepared, results):
        out.append(
            {
                kind: value,
                "prompt": plan.text,
                "text": result.text,
                **result.final.stats(),
                "warnings": list(plan.warnings),
            }
        )
    if args.json:
        _print_json({"model": loaded.name, "columns": out})
        return 0
    for index, column in enumerate(out, start=1):
        name = column.get("preset") or column.get("template")
        stop = f" ({column['stop_token']})" if column["stop_token"] else ""
        print(f"== column {index}: {name} ==")
        _out(f"-- prompt ({column['prompt_tokens']} tokens) --\n{column['prompt']}\n-- reply --\n{column['text']}\n")
        print(
            f"[{column['finish_reason']}{stop}; {column['generation_tokens']} tokens, ttft {column['ttft_s']:.3f} s, "
            f"{column['generation_tps']:.1f} tok/s, batch of {column['batch_size']}, seed {column['seed']}]"
        )
        _warn(column["warnings"])
    return 0


def _parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PlaygroundError("--auth must look like USER:PASSWORD", hint="for example --auth alice:s3cret")
    return user, password


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui.app import serve

    auth = _parse_auth(args.auth)
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if exposed and auth is None:
        print(
            "warning: the playground is reachable from other machines and anyone there can run the model; "
            "add --auth USER:PASSWORD",
            file=sys.stderr,
        )
    from .engine import Engine

    engine = Engine(
        max_models=args.max_models,
        max_batch=args.max_batch,
        memory_limit_gb=args.memory_limit,
        backend=_backend_spec(args),
    )
    if engine.default_backend.remote:
        from .errors import BackendError

        try:
            engine.backend().check()
        except BackendError as exc:  # the UI still serves (and says so on Send)
            print(f"warning: {exc.one_line()}", file=sys.stderr)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    engine.load(args.model)  # a bad model is one error line before anything is served
    try:
        serve(
            engine=engine,
            model=args.model,
            host=args.host,
            port=args.port,
            share=args.share,
            auth=auth,
            queue_size=args.queue_size,
            concurrency=args.concurrency,
        )
    except OSError as exc:
        if "port" not in str(exc).lower() and "address" not in str(exc).lower():
            raise
        raise PlaygroundError(
            f"cannot listen on {args.host}:{args.port}: the port is in use or not available",
            hint="stop the other server, or pick another port with --port N",
        ) from None
    return 0


def cmd_fix_template(args: argparse.Namespace) -> int:
    from .families import get_family
    from .repair import fix_template

    if args.vision_config:
        from .repair import fix_vision_config

        vision = fix_vision_config(args.model_dir, dry_run=args.dry_run)
        if args.json and not (args.preset or args.template):
            _print_json(vision.to_dict())
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
    template = _read_text_file(args.template, "template file") if args.template else get_family(args.preset).template
    if args.eos and args.keep_eos:
        raise PlaygroundError("--eos and --keep-eos contradict each other", hint="use one of them")
    report = fix_template(args.model_dir, template, eos=args.eos, keep_eos=args.keep_eos, dry_run=args.dry_run)
    if args.json:
        _print_json(report.to_dict())
        return 0
    verb = "would change" if report.dry_run else "changed"
    print(f"{verb}: {', '.join(report.changed) or 'nothing (already fixed)'}")
    if report.backups:
        print(f"backups: {', '.join(report.backups)}")
    if report.eos_ids:
        print(f"eos_token_id: {report.eos_ids}")
    if report.verified_prompt is not None:
        print("verified with mlx-lm; a sample conversation now renders as:")
        _out(report.verified_prompt + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_markdown, format_table, run_bench

    results = run_bench(
        args.model,
        tokens=args.tokens,
        turns=args.turns,
        repeats=args.repeats,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_table(results))
    if args.markdown:
        print(format_markdown(results))
    if args.json:
        _print_json(results)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    from .blas import ensure_fast_blas
    from .models import demo_model_path

    blas = ensure_fast_blas()
    rows = {"mlx-playground": __version__, "python": platform.python_version(), "platform": platform.platform()}
    try:
        import mlx.core as mx

        rows["mlx"] = getattr(mx, "__version__", "?")
        rows["device"] = str(mx.default_device())
    except Exception as exc:  # pragma: no cover - broken installs
        rows["mlx"] = f"not importable: {exc}"
    try:
        from importlib.metadata import version

        for package in ("mlx-lm", "gradio", "transformers", "jinja2", "huggingface-hub"):
            rows[package] = version(package)
    except Exception:  # pragma: no cover
        pass
    rows["blas"] = blas.describe()
    demo = demo_model_path()
    rows["demo model"] = str(demo) if demo.is_dir() else f"missing ({demo})"
    if args.json:
        _print_json(rows)
    else:
        for key, value in rows.items():
            print(f"{key:<15} {value}")
    return 0


# ---------------------------------------------------------------------------------------------- parser


def _sampling_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temp", type=float, help="temperature (0 = greedy)")
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--repetition-context-size", type=int)
    p.add_argument("--presence-penalty", type=float)
    p.add_argument("--frequency-penalty", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int, help="the seed (default: a random one, reported so the run can be repeated)")
    p.add_argument("--stop", nargs="+", metavar="STR", help="stop strings (not included in the reply)")
    p.add_argument(
        "--no-eos-wiring", action="store_true", help="use only the tokenizer's own EOS (to see why wiring matters)"
    )


class _Column(argparse.Action):
    """--preset / --template for compare: columns in the order given."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001 - argparse's signature
        columns = list(getattr(namespace, self.dest, None) or [])
        columns.append(("preset" if option_string == "--preset" else "template", values))
        setattr(namespace, self.dest, columns)


def _template_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tools", metavar="FILE.json", help="a JSON list of function schemas the template declares")
    p.add_argument(
        "--template-kwargs",
        metavar="JSON",
        help='extra template keywords as a JSON object, e.g. \'{"enable_thinking": false}\' (see presets --json)',
    )
    p.add_argument("--now", metavar="YYYY-MM-DDTHH:MM:SS", help="the time templates see (strftime_now); default: now")


API_KEY_ENV = "MLX_PLAYGROUND_API_KEY"


def _backend_options(p: argparse.ArgumentParser) -> None:
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


def _backend_spec(args: argparse.Namespace):
    """The BackendSpec the options describe (the API key from --api-key or the environment, never printed)."""
    import os

    from .prepare import BackendSpec

    kind = getattr(args, "backend", "local") or "local"
    if kind == "local":
        given = [f"--{n.replace('_', '-')}" for n in ("base_url", "api_key", "served_model") if getattr(args, n, None)]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise PlaygroundError(
                f"{', '.join(given)} {verb} a server backend", hint="add --backend openai or --backend ollama"
            )
        return BackendSpec()
    key = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV) or None
    return BackendSpec(kind=kind, base_url=args.base_url, api_key=key, served_model=args.served_model)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-batch",
        type=_int_at_least(1),
        default=8,
        help="requests decoded together in one batch (default 8); more wait in a queue",
    )
    p.add_argument(
        "--memory-limit",
        type=_positive_float,
        metavar="GB",
        help="refuse requests whose weights + KV cache would exceed this many GB (default: no limit)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES

    parser = _Parser(
        prog="mlx-playground",
        description="A playground for MLX language models that shows the exact prompt each model receives.",
    )
    parser.add_argument("--version", action="store_true", help="show the version and the active BLAS, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("serve", help="open the playground UI (the default command)")
    p.add_argument("--model", default="demo", help="the model loaded at start: 'demo', a folder or a Hub id")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_int_at_least(1, 65535), default=7860)
    p.add_argument("--share", action="store_true", help="create a public Gradio share link (use with --auth)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (recommended with --host/--share)")
    p.add_argument("--max-models", type=_int_at_least(1), default=1, help="models kept loaded at once (default 1)")
    p.add_argument(
        "--queue-size", type=_int_at_least(1), default=64, help="requests that may wait for the model (default 64)"
    )
    p.add_argument(
        "--concurrency",
        type=_int_at_least(1),
        default=8,
        help="requests the UI hands to the engine at once (default 8; they decode together, see --max-batch)",
    )
    _engine_options(p)
    _backend_options(p)
    p.set_defaults(func=cmd_serve)

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
    _template_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with prompt, source, family, warnings")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("detect", help="detect a model's family, template source and EOS tokens (no weights read)")
    p.add_argument("model", metavar="PATH_OR_REPO")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_detect)

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
    _template_options(p)
    p.add_argument("--continue-final", action="store_true", help="continue the final (assistant) message")
    p.add_argument(
        "--raw", action="store_true", help="send --prompt exactly as given: no template, no BOS added (notebook mode)"
    )
    p.add_argument(
        "--logprobs",
        type=_int_at_least(0, 20),
        default=0,
        metavar="N",
        help="with --json: each generated token's log-probability and its N best alternatives",
    )
    _sampling_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with the prompt, text and stats last")
    _backend_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "compare", help="run one conversation through several templates at once (one batch) and compare"
    )
    p.add_argument("--model", default="demo", help="a model folder, a Hub id, or 'demo' (the bundled demo model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message")
    src.add_argument("--messages", help="JSON file with [{role, content}, ...]; '-' reads stdin")
    p.add_argument("--system", help="a system prompt")
    p.add_argument(
        "--preset", action=_Column, dest="columns", metavar="NAME", help="a column rendered with this preset (repeat)"
    )
    p.add_argument(
        "--template", action=_Column, dest="columns", metavar="FILE", help="a column rendered with this template file"
    )
    p.add_argument("--system-strategy", choices=SYSTEM_STRATEGIES, default=DEFAULT_SYSTEM_STRATEGY)
    _template_options(p)
    _sampling_options(p)
    p.add_argument("--json", action="store_true", help='print {"columns": [...]} as one JSON object')
    _backend_options(p)
    p.set_defaults(func=cmd_compare, continue_final=False)

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
        nargs="+",
        metavar="TOKEN",
        help="the EOS tokens for generation_config.json (default: the family's EOS tokens in the vocabulary)",
    )
    p.add_argument("--keep-eos", action="store_true", help="leave generation_config.json's eos_token_id alone")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fix_template)

    p = sub.add_parser("bench", help="measure streaming speed, KV-cache reuse, rendering and start-up")
    p.add_argument(
        "--model", help="benchmark this model (default: a random-weight 56M-parameter Llama built on the fly)"
    )
    p.add_argument("--tokens", type=_int_at_least(2), default=200, help="tokens per generation run (default 200)")
    p.add_argument(
        "--turns", type=_int_at_least(2), default=10, help="chat turns for the time-to-first-token test (default 10)"
    )
    p.add_argument("--repeats", type=_int_at_least(2), default=5, help="alternating run pairs per ratio (default 5)")
    p.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    p.add_argument("--markdown", action="store_true", help="also print the README's Markdown table of this run")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("doctor", help="show versions, the active BLAS and the demo model location")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("presets", help="list the family presets")
    p.add_argument(
        "--json", action="store_true", help="each preset with its keywords, EOS tokens, reply formats and source"
    )
    p.add_argument("--markdown", action="store_true", help="the README's preset table")
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "version", False):
        print(f"mlx-playground {__version__} ({_blas_line()})")
        return 0
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except PlaygroundError as exc:
        print(f"error: {' '.join(exc.message.split())}", file=sys.stderr)
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
