"""Tool-call formats parsed by mlx-lm's own parsers (``mlx_lm.tool_parsers``), streamed like the others.

`MlxLmStage` is the one streaming stage for all of them: answer text streams until the parser module's
``tool_call_start`` marker, the call text is buffered up to its ``tool_call_end`` marker, and the module's
``parse_tool_call(text, tools)`` turns the text between the markers into calls (the text mlx-lm's own server hands it).
A call text the parser rejects (it raises) becomes an error event and a call holding the raw text, never an exception.

Formats (`MLX_LM_TOOL_FORMATS`, format name -> parser module), with what the model writes:

- ``gemma4``: ``<|tool_call>call:NAME{key:<|"|>text<|"|>,n:1}<tool_call|>`` (Gemma 4), one wrapper per call.
- ``minimax-m2``: ``<minimax:tool_call>\\n<invoke name="NAME">\\n<parameter name="k">v</parameter>\\n</invoke>
  \\n</minimax:tool_call>`` (MiniMax-M2), several ``<invoke>`` per section. Values are typed by the declared tools'
  schema (without tools, every value stays text).
- ``lfm2``: ``<|tool_call_start|>[NAME(k="v", n=1)]<|tool_call_end|>`` (LFM2 / LFM2.5 Python-style calls, mlx-lm's
  ``pythonic`` parser). LFM2's template writes calls back as ``{"name": ..., "arguments": {...}}`` inside the same
  markers, so a JSON body is read as JSON (``json_bodies``).
- ``minicpm5``: ``<function name="NAME"><param name="k">v</param></function>`` (MiniCPM5), no outer wrapper, one
  block per call; values with ``<``, ``&`` or newlines in ``<![CDATA[...]]>``. Values are typed by the declared
  tools' schema (without tools, every value stays text).

mlx-lm is imported only when one of these formats is chosen (the rest of `playground.parsing` is stdlib only).
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Sequence
from typing import Any

from ._scan import WHITESPACE
from .tools import TaggedStage, call_from_json

#: format name -> (mlx_lm.tool_parsers module, whether a JSON {"name", "arguments"} body is accepted too)
MLX_LM_TOOL_FORMATS: dict[str, tuple[str, bool]] = {
    "gemma4": ("gemma4", False),
    "minimax-m2": ("minimax_m2", False),
    "lfm2": ("pythonic", True),
    "minicpm5": ("minicpm5", False),
}


def load_tool_parser(module: str) -> Any:
    """The ``mlx_lm.tool_parsers`` module called `module` (its markers and ``parse_tool_call``)."""
    try:
        return importlib.import_module(f"mlx_lm.tool_parsers.{module}")
    except ImportError as exc:
        raise ValueError(f"mlx-lm has no tool parser {module!r} ({exc}); upgrade mlx-lm (0.32 or later)") from exc


class MlxLmStage(TaggedStage):
    """Calls between an mlx-lm parser module's start and end markers, parsed by that module.

    `tools` (the declared function schemas) go to the parser, which uses them to type argument values.
    Several calls parsed from one marked section share its text as their `raw`.
    """

    def __init__(self, module: str, tools: Sequence[dict] | None = None, *, json_bodies: bool = False) -> None:
        parser = load_tool_parser(module)
        super().__init__(opener=parser.tool_call_start, closer=parser.tool_call_end)
        self.module = module
        self._parse_tool_call = parser.parse_tool_call
        self.tools = list(tools) if tools else None
        self.json_bodies = json_bodies

    def _emit(self, body: str, raw: str, unclosed: str | None) -> None:
        if self.json_bodies and body.strip(WHITESPACE).startswith("{"):
            name, arguments, call_id, error = call_from_json(body.strip(WHITESPACE))
            self._call(name, arguments, raw, call_id, error, unclosed)
            return
        try:
            parsed = self._parse_tool_call(body, self.tools)
        except Exception as exc:  # noqa: BLE001 - any parser failure (ValueError, SyntaxError, ...) is reported
            reason = str(exc) or type(exc).__name__
            self._call("", body.strip(WHITESPACE), raw, None, f"could not be parsed ({reason})", unclosed)
            return
        for call in parsed if isinstance(parsed, list) else [parsed]:
            name, arguments, call_id, error = _call_fields(call)
            self._call(name, arguments, raw, call_id, error, unclosed)


def _call_fields(call: Any) -> tuple[str, dict | str, str | None, str | None]:
    """(name, arguments, id, error suffix) from one call dict returned by an mlx-lm parser."""
    if not isinstance(call, dict):
        return "", json.dumps(call, ensure_ascii=False, default=str), None, "is not a call"
    name = call.get("name")
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):  # a parser that kept JSON text
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    call_id = call.get("id") if isinstance(call.get("id"), str) else None
    if not isinstance(name, str) or not name:
        return "" if name is None else str(name), arguments, call_id, "has no function name"
    if not isinstance(arguments, dict):
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str)
        return name, text, call_id, "has arguments that are not a JSON object"
    return name, arguments, call_id, None


def make_mlx_lm_stage(tool_calls: str, tools: Sequence[dict] | None = None) -> MlxLmStage:
    module, json_bodies = MLX_LM_TOOL_FORMATS[tool_calls]
    return MlxLmStage(module, tools, json_bodies=json_bodies)
