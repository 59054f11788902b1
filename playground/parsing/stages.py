"""The streaming tool-call stage of each format (`TOOL_CALL_FORMATS`): one table from format name to its stage.

The stages live in `playground.parsing.tools` (the formats the project parses itself), `family_tools` (families'
own list and section formats) and `mlx_lm_tools` (formats parsed by mlx-lm's own parsers, imported only when used).
"""

from __future__ import annotations

from collections.abc import Callable

from .family_tools import FAMILY_TOOL_FORMATS, make_family_stage
from .mlx_lm_tools import MLX_LM_TOOL_FORMATS, make_mlx_lm_stage
from .tools import (
    _DSML,
    Glm4Stage,
    ListStage,
    Llama3Stage,
    MistralStage,
    NoToolStage,
    PythonicStage,
    SectionStage,
    TaggedStage,
    ToolStage,
    _deepseek_body,
    _dsml_body,
    _kimi_body,
    check_tool_call_format,
)

#: The stages of the formats the project parses itself.
_STAGES: dict[str, Callable[[], NoToolStage | ToolStage]] = {
    "none": NoToolStage,
    "hermes": lambda: TaggedStage("json"),
    "qwen3-coder": lambda: TaggedStage("coder"),
    "glm4.5": lambda: TaggedStage("glm"),
    "llama3": Llama3Stage,
    "glm4": Glm4Stage,
    "mistral": MistralStage,
    "deepseek": lambda: SectionStage(
        "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", _deepseek_body
    ),
    "kimi": lambda: SectionStage(
        "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>", "<|tool_call_end|>",
        _kimi_body,
    ),
    "dsml": lambda: SectionStage(
        f"<{_DSML}function_calls>", f"</{_DSML}function_calls>", f'<{_DSML}invoke name="', f"</{_DSML}invoke>",
        _dsml_body,
    ),
    "granite": lambda: ListStage(("<|tool_call|>",)),
    "phi4-mini": lambda: ListStage(("<|tool_call|>", "functools["), "<|/tool_call|>"),
    "pythonic": PythonicStage,
}
_STAGES["deepseek-v3.1"] = _STAGES["deepseek"]


def make_tool_stage(tool_calls: str, tools: list[dict] | tuple[dict, ...] | None = None) -> NoToolStage | ToolStage:
    """The streaming stage for a tool-call format; `tools` (the declared function schemas) are used by the formats
    whose parser types argument values by them (mlx-lm's)."""
    check_tool_call_format(tool_calls)
    if tool_calls in MLX_LM_TOOL_FORMATS:
        return make_mlx_lm_stage(tool_calls, tools)
    if tool_calls in FAMILY_TOOL_FORMATS:
        return make_family_stage(tool_calls)
    if tool_calls in _STAGES:
        return _STAGES[tool_calls]()
    raise ValueError("the harmony format is parsed by playground.parsing.harmony.HarmonyParser")
