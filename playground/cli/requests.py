"""From command-line arguments to the engine's typed requests (ChatRequest, settings, backend)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import PlaygroundError
from .io import read_text_file

API_KEY_ENV = "MLX_PLAYGROUND_API_KEY"


def template_kwargs(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaygroundError(
            f"--template-kwargs is not valid JSON: {exc.msg} at column {exc.colno}",
            hint="give a JSON object, e.g. --template-kwargs '{\"enable_thinking\": false}'",
        ) from None
    if not isinstance(data, dict):
        raise PlaygroundError(
            f"--template-kwargs must be a JSON object, got {type(data).__name__}",
            hint="give a JSON object, e.g. --template-kwargs '{\"enable_thinking\": false}'",
        )
    return data


def parse_now(text: str | None):
    if text is None:
        return None
    from datetime import datetime

    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise PlaygroundError(
            f"--now must look like YYYY-MM-DDTHH:MM:SS, got {text!r}", hint="for example --now 2026-01-15T09:30:00"
        ) from None


def read_tools(path: str | None):
    if path is None:
        return None
    from ..prepare import check_tools

    text = read_text_file(path, "tools file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaygroundError(
            f"tools file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint='a JSON list like [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]',
        ) from None
    return check_tools(data)


def request_from_args(args: argparse.Namespace, messages: list, *, settings=None):
    """The one ChatRequest the CLI's arguments describe (shared by render and generate)."""
    from ..prepare import ChatRequest
    from ..settings import GenerationSettings

    kwargs = template_kwargs(args.template_kwargs)
    if getattr(args, "date_string", None) is not None:
        kwargs.setdefault("date_string", args.date_string)
    custom = read_text_file(args.template, "template file") if args.template else None
    return ChatRequest(
        messages=tuple(messages),
        template="custom" if custom is not None else (args.preset or "auto"),
        custom_template=custom,
        system_strategy=args.system_strategy,
        template_kwargs=kwargs,
        tools=read_tools(args.tools),
        add_generation_prompt=not (getattr(args, "no_generation_prompt", False) or args.continue_final),
        continue_final=args.continue_final,
        settings=settings or GenerationSettings(),
        now=parse_now(args.now),
        constraint=constraint_from_args(args),
    )


def constraint_from_args(args: argparse.Namespace):
    """The structured-output constraint of --json-schema / --json-object / --regex / --grammar /
    --require-tool-call (None without one)."""
    from ..constraints import Constraint

    if getattr(args, "json_schema", None):
        return Constraint("json_schema", read_text_file(args.json_schema, "JSON schema file"))
    if getattr(args, "json_object", False):
        return Constraint("json_object")
    if getattr(args, "regex", None) is not None:
        return Constraint("regex", args.regex)
    if getattr(args, "grammar", None):
        return Constraint("grammar", read_text_file(args.grammar, "grammar file"))
    if getattr(args, "require_tool_call", None) is not None:
        return Constraint("tool_call", args.require_tool_call)
    return None


def settings_from_args(args: argparse.Namespace):
    from ..options import values_from_args
    from ..settings import GenerationSettings

    return GenerationSettings(**values_from_args(args), seed=args.seed, stop=tuple(args.stop or ()))


def check_images(paths: list[str] | None) -> tuple[str, ...]:
    """The --image paths, refused early when one is a URL or missing."""
    from ..vision.prompt import check_image_source

    for path in paths or ():
        check_image_source(path)
    return tuple(paths or ())


def backend_spec(args: argparse.Namespace):
    """The BackendSpec the options describe (the API key from --api-key or the environment, never printed)."""
    import os

    from ..backends.spec import BackendSpec

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
