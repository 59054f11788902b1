"""Commands that generate: generate (one reply, streamed) and compare (several templates, one batch)."""

from __future__ import annotations

import argparse
import sys

from ..errors import PlaygroundError
from .io import out, print_json, read_text_file, warn
from .requests import backend_spec, check_images, request_from_args, settings_from_args


def cmd_generate(args: argparse.Namespace) -> int:
    from ..engine import Engine
    from ..messages import load_messages

    settings = settings_from_args(args)  # validate before the slow model load
    images = check_images(args.image)
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
    request = request_from_args(args, messages, settings=settings).replace(
        wire_eos=not args.no_eos_wiring,
        logprobs=args.logprobs,
        raw_prompt=args.prompt if args.raw else None,
        images=images,
    )
    if images and getattr(args, "backend", "local") not in (None, "local"):
        raise PlaygroundError("images need the local backend (mlx-vlm in this process)", hint="drop --backend")
    engine = Engine(backend=backend_spec(args))
    loaded = engine.load(args.model)
    prepared = engine.prepare(loaded, request)
    warnings = list(dict.fromkeys([*loaded.detection.warnings, *loaded.notes, *prepared.warnings]))
    if not args.json:
        warn(warnings)
        for line in prepared.vision.describe() if prepared.vision is not None else ():
            print(f"note: {line}", file=sys.stderr)
    reply = None
    for reply in engine.reply(prepared):
        if reply.new_text and not args.json:
            out(reply.new_text)
    if args.json:
        print_json(_generate_json(args, prepared, reply, warnings, engine))
    else:
        out("\n")
        _report(reply, warnings)
    if reply.error is not None:
        raise reply.error
    return 0


def _generate_json(args: argparse.Namespace, prepared, reply, warnings: list[str], engine) -> dict:
    """``generate --json``: the prompt, the reply (raw text; reasoning, answer and tool calls), stats, settings."""
    loaded = prepared.loaded
    final_warnings = reply.final.warnings if reply.final is not None else ()
    data = {
        "prompt": prepared.text,
        "text": reply.text,
        **reply.stats(),
        "template_source": "raw" if prepared.raw else prepared.rendered.source,
        "template": None if prepared.raw else prepared.rendered.template_name,
        "family": loaded.detection.family,
        "preset": loaded.detection.preset,
        "eos_tokens": list(prepared.eos.tokens),
        "bos_added": prepared.bos_added,
        "settings": prepared.settings.to_dict(),
        "setting_sources": dict(prepared.setting_sources),
        "template_kwargs": dict(prepared.template_kwargs),
        **({"steering_plan": prepared.steering.summary()} if prepared.steering is not None else {}),
        "warnings": list(dict.fromkeys([*warnings, *final_warnings])),
        "model": loaded.name,
        "backend": engine.default_backend.describe(),
    }
    if not prepared.raw:
        data["reasoning"] = reply.reasoning
        data["content"] = reply.content
        data["tool_calls"] = [c.to_message_dict() for c in reply.tool_calls]
    if args.logprobs:
        data["tokens"] = [t.to_dict() for t in reply.tokens]
    if prepared.vision is not None:
        data.update(prepared.vision.summary())
    return data


def _report(reply, warnings: list[str]) -> None:
    """The line after a streamed reply (stderr): finish reason, stop token, tokens, speed, seed."""
    final = reply.final
    if final is None:
        state = "partial reply, " if reply.partial else ""
        print(f"[error: {state}{reply.generated_tokens} tokens]", file=sys.stderr)
        return
    warn(w for w in final.warnings if w not in warnings)
    stop = f" ({final.stop_token})" if final.stop_token else ""
    print(
        f"[{final.finish_reason}{stop}; {final.generation_tokens} tokens, ttft {final.ttft_s:.3f} s, "
        f"{final.generation_tps:.1f} tok/s, seed {final.seed}]",
        file=sys.stderr,
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from ..engine import Engine
    from ..messages import load_messages
    from ..settings import new_seed

    settings = settings_from_args(args)
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
    base = request_from_args(args, messages, settings=settings).replace(wire_eos=not args.no_eos_wiring)
    engine = Engine(backend=backend_spec(args))
    loaded = engine.load(args.model)
    prepared = _prepare_columns(engine, loaded, base, columns)
    results = _run_columns(engine, prepared)
    for (_, value), result in zip(columns, results):
        if result.error is not None:
            raise PlaygroundError(f"column {value}: {result.error.message}", hint=result.error.hint)
    report = [
        {
            kind: value,
            "prompt": plan.text,
            "text": result.text,
            "reasoning": result.reasoning,
            "content": result.content,
            "tool_calls": [c.to_message_dict() for c in result.tool_calls],
            **result.stats(),
            "warnings": list(plan.warnings),
        }
        for (kind, value), plan, result in zip(columns, prepared, results)
    ]
    if args.json:
        print_json({"model": loaded.name, "columns": report})
    else:
        _print_columns(report)
    return 0


def _prepare_columns(engine, loaded, base, columns: list[tuple[str, str]]) -> list:
    """One prepared request per column (``("preset", NAME)`` or ``("template", FILE)``), refused by column."""
    prepared = []
    for kind, value in columns:
        if kind == "preset":
            request = base.replace(template=value)
        else:
            request = base.replace(template="custom", custom_template=read_text_file(value, "template file"))
        try:
            prepared.append(engine.prepare(loaded, request))
        except PlaygroundError as exc:
            raise PlaygroundError(f"column {value}: {exc.message}", hint=exc.hint) from None
    return prepared


def _run_columns(engine, prepared: list) -> list:
    """Every column's whole reply; started together, so they decode in one batch."""
    import threading

    results: list = [None] * len(prepared)

    def run(index: int) -> None:
        *_, results[index] = engine.reply(prepared[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prepared))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _print_columns(report: list[dict]) -> None:
    for index, column in enumerate(report, start=1):
        name = column.get("preset") or column.get("template")
        stop = f" ({column['stop_token']})" if column["stop_token"] else ""
        print(f"== column {index}: {name} ==")
        out(f"-- prompt ({column['prompt_tokens']} tokens) --\n{column['prompt']}\n-- reply --\n{column['text']}\n")
        print(
            f"[{column['finish_reason']}{stop}; {column['generation_tokens']} tokens, ttft {column['ttft_s']:.3f} s, "
            f"{column['generation_tps']:.1f} tok/s, batch of {column['batch_size']}, seed {column['seed']}]"
        )
        warn(column["warnings"])
