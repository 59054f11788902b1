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
    parser = prepared.parser() if not prepared.raw else None
    parts, tokens, final = [], [], None
    for event in engine.stream(prepared):
        parts.append(event.text)
        tokens.extend(event.tokens)
        if parser is not None:
            parser.feed(event.text)
        final = event
        if event.text and not args.json:
            out(event.text)
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
        print_json(data)
    else:
        out("\n")
        warn(w for w in final.warnings if w not in warnings)
        stop = f" ({final.stop_token})" if final.stop_token else ""
        print(
            f"[{final.finish_reason}{stop}; {final.generation_tokens} tokens, ttft {final.ttft_s:.3f} s, "
            f"{final.generation_tps:.1f} tok/s, seed {final.seed}]",
            file=sys.stderr,
        )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import threading

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
    report = []
    for (kind, value), plan, result in zip(columns, prepared, results):
        report.append(
            {
                kind: value,
                "prompt": plan.text,
                "text": result.text,
                **result.final.stats(),
                "warnings": list(plan.warnings),
            }
        )
    if args.json:
        print_json({"model": loaded.name, "columns": report})
        return 0
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
    return 0
