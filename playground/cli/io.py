"""Output helpers of the command line: exact text, JSON, warnings on stderr, reading user files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import PlaygroundError


def warn(lines) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def out(text: str) -> None:
    """Write text to stdout exactly (UTF-8, no added newline)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def print_json(data: Any) -> None:
    out(json.dumps(data, ensure_ascii=False) + "\n")


def blas_line() -> str:
    from ..backends.local.blas import ensure_fast_blas

    return "BLAS: " + ensure_fast_blas().describe()


def read_text_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaygroundError(f"{what} {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaygroundError(f"cannot read {what} {path}: {exc}") from None
