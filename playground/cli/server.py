"""The serve command: the UI, with the model loaded (or refused) before anything is served."""

from __future__ import annotations

import argparse
import sys

from ..errors import PlaygroundError
from .requests import backend_spec


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PlaygroundError("--auth must look like USER:PASSWORD", hint="for example --auth alice:s3cret")
    return user, password


def cmd_serve(args: argparse.Namespace) -> int:
    from ..ui.app import serve

    auth = parse_auth(args.auth)
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if exposed and auth is None:
        print(
            "warning: the playground is reachable from other machines and anyone there can run the model; "
            "add --auth USER:PASSWORD",
            file=sys.stderr,
        )
    from ..engine import Engine

    engine = Engine(
        max_models=args.max_models,
        max_batch=args.max_batch,
        memory_limit_gb=args.memory_limit,
        backend=backend_spec(args),
    )
    if engine.default_backend.remote:
        from ..errors import BackendError

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
