"""Tool-call formats of single families, built from the generic stages in `playground.parsing.tools`.

Formats (`FAMILY_TOOL_FORMATS`), with what the model writes:

- ``nemotron``: ``<TOOLCALL>[{"name": ..., "arguments": {...}}, ...]</TOOLCALL>`` (NVIDIA Nemotron Nano v2).
- ``seed``: ``<seed:tool_call>\\n<function=NAME>\\n<parameter=KEY>VALUE</parameter>\\n</function>\\n</seed:tool_call>``
  (Seed-OSS): the Qwen3-Coder body in Seed's own tags; values that parse as JSON are JSON, else strings.
- ``command-r7b``: ``<|START_ACTION|>[{"tool_call_id": "0", "tool_name": ..., "parameters": {...}}, ...]
  <|END_ACTION|>`` (Command R7B); the id is the one its template writes back.
- ``apertus``: ``<|tools_prefix|>[{"NAME": {...}}, ...]<|tools_suffix|>`` (Apertus): each call is an object whose one
  key is the function name.
- ``solar-open``: ``<|tool_calls|><|tool_call:begin|>ID<|tool_call:name|>NAME<|tool_call:args|>{...}
  <|tool_call:end|>...<|calls|>`` (Solar Open); the id is the model's.

Whitespace, errors and `ToolCall.raw` follow the rules in `playground.parsing.tools`.
"""

from __future__ import annotations

import json

from ._scan import arguments_value
from .tools import ListStage, SectionStage, TaggedStage, ToolStage, arguments_from_json

FAMILY_TOOL_FORMATS: tuple[str, ...] = ("nemotron", "seed", "command-r7b", "apertus", "solar-open")


def call_from_named_object(obj: object) -> tuple[str, dict | str, str | None, str | None]:
    """(name, arguments, id, error suffix) from Apertus' {"NAME": arguments} call object."""
    if not isinstance(obj, dict) or len(obj) != 1:
        return "", json.dumps(obj, ensure_ascii=False), None, 'is not a {"NAME": arguments} object'
    ((name, raw_arguments),) = obj.items()
    arguments = arguments_value(raw_arguments)
    error = "has arguments that are not a JSON object" if isinstance(arguments, str) else None
    return name, arguments, None, error if name else "has no function name"


def solar_call_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    """(name, arguments, id, error suffix) from ``ID<|tool_call:name|>NAME<|tool_call:args|>{json}``."""
    head, has_args, arguments_text = body.partition("<|tool_call:args|>")
    call_id, has_name, name = head.partition("<|tool_call:name|>")
    if not has_name:
        call_id, name = "", head
    call_id, name = call_id.strip() or None, name.strip()
    if not has_args:
        return name, "", call_id, "has no <|tool_call:args|>"
    arguments, error = arguments_from_json(arguments_text)
    return name, arguments, call_id, error if name else "has no function name"


def make_family_stage(tool_calls: str) -> ToolStage:
    """The streaming stage of one of `FAMILY_TOOL_FORMATS`."""
    if tool_calls == "nemotron":
        return ListStage(("<TOOLCALL>",), "</TOOLCALL>")
    if tool_calls == "seed":
        return TaggedStage("coder", opener="<seed:tool_call>", closer="</seed:tool_call>")
    if tool_calls == "command-r7b":
        return ListStage(("<|START_ACTION|>",), "<|END_ACTION|>")
    if tool_calls == "apertus":
        return ListStage(("<|tools_prefix|>",), "<|tools_suffix|>", read=call_from_named_object)
    if tool_calls == "solar-open":
        return SectionStage("<|tool_calls|>", "<|calls|>", "<|tool_call:begin|>", "<|tool_call:end|>", solar_call_body)
    raise ValueError(f"{tool_calls!r} is not one of {', '.join(FAMILY_TOOL_FORMATS)}")
