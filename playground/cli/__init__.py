"""The ``mlx-playground`` command line.

Domain errors become one ``error: ...`` line plus a ``hint: ...`` line on stderr and exit code 2;
no tracebacks for anything a user can fix. One module per group of commands; :mod:`.parser` holds every
option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import PlaygroundError
from .io import blas_line
from .parser import EXIT_USAGE, build_parser

__all__ = ["EXIT_USAGE", "build_parser", "main"]


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
        print(f"mlx-playground {__version__} ({blas_line()})")
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
