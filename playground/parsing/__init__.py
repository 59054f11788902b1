"""Split a model's (streamed) reply into reasoning, answer text and tool calls, per model-family output format.

Pure Python (stdlib only: no Gradio, mlx or mlx-lm), except the tool-call formats parsed by mlx-lm's own
parsers (`mlx_lm_tools`), which import them when chosen. See `reasoning` and `tools` for the formats, `ReplyParser` for
the streaming rules.

    >>> parse_reply("<think>\\nhm\\n</think>\\n\\nHi!", "think").content
    'Hi!'
"""

from .reasoning import REASONING_FORMATS
from .reply import ReplyParser, parse_reply, reasoning_open
from .tools import TOOL_CALL_FORMATS
from .types import Delta, ParsedReply, ToolCall, join_deltas

__all__ = [
    "REASONING_FORMATS",
    "TOOL_CALL_FORMATS",
    "Delta",
    "ParsedReply",
    "ReplyParser",
    "ToolCall",
    "join_deltas",
    "parse_reply",
    "reasoning_open",
]
