"""The serve command: the UI and the OpenAI-compatible API on one port (or the API alone), with the model loaded
(or refused) before anything is served."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import PlaygroundError
from ..ports import port_unavailable
from .requests import backend_spec

API_TOKEN_ENV = "MLX_PLAYGROUND_API_TOKEN"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PlaygroundError("--auth must look like USER:PASSWORD", hint="for example --auth alice:s3cret")
    return user, password


def _warn_exposed(args: argparse.Namespace, auth: tuple[str, str] | None, token: str | None) -> None:
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if exposed and auth is None and not args.api_only:
        print(
            "warning: the playground is reachable from other machines and anyone there can run the model; "
            "add --auth USER:PASSWORD",
            file=sys.stderr,
        )
    if exposed and token is None:
        print(
            f"warning: the API (/v1) is reachable from other machines without a token; add --api-token TOKEN "
            f"(or set {API_TOKEN_ENV})",
            file=sys.stderr,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    from ..api.service import ApiService
    from ..engine import Engine

    if args.api_only and args.share:
        raise PlaygroundError("--share needs the page: it cannot go with --api-only", hint="drop one of them")
    auth = parse_auth(args.auth)
    token = args.api_token or os.environ.get(API_TOKEN_ENV) or None
    _warn_exposed(args, auth, token)
    engine = Engine(
        max_models=args.max_models,
        max_batch=args.max_batch,
        memory_limit_gb=args.memory_limit,
        backend=backend_spec(args),
        prompt_cache_bytes=args.prompt_cache_bytes,
    )
    if engine.default_backend.remote:
        from ..errors import BackendError

        try:
            engine.backend().check()
        except BackendError as exc:  # the UI still serves (and says so on Send)
            print(f"warning: {exc.one_line()}", file=sys.stderr)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    engine.load(args.model)  # a bad model is one error line before anything is served
    api = ApiService(engine, default_model=args.model, api_token=token, max_pending=args.queue_size)
    where = f"http://{args.host}:{args.port}/v1" + (" (Bearer token required)" if token else "")
    print(f"OpenAI-compatible API: {where}", file=sys.stderr, flush=True)
    if args.api_only:
        from ..api.server import serve_api

        serve_api(api, host=args.host, port=args.port)
        return 0
    from ..ui.app import serve

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
            api=api,
        )
    except OSError as exc:
        if "port" not in str(exc).lower() and "address" not in str(exc).lower():
            raise
        raise port_unavailable(args.host, args.port) from None
    return 0
