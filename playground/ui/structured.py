"""The page's "Structured output" controls: a kind selector, a JSON-schema code box with examples, a regex box, a
grammar box and a tool name, for the Chat settings and for each Compare column (``suffix`` "-1", "-2", ...).

The values reach :class:`~playground.ui.inputs.ConstraintInputs`, which makes the request's
:class:`~playground.constraints.Constraint`; what is wrong with one (a schema that is not JSON, a regex syntax
error, ...) is refused like any other bad input, with the text left in its box.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from .inputs import CONSTRAINT_CHOICES as KINDS

#: Example schemas the code box can be filled with.
SCHEMA_EXAMPLES: dict[str, dict] = {
    "person (nested, enum, array)": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "colour": {"enum": ["red", "green", "blue"]},
            "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3},
            "address": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 20}},
                "required": ["city"],
            },
        },
        "required": ["name", "age", "colour", "hobbies", "address"],
        "additionalProperties": False,
    },
    "answer with confidence": {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 60},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    },
    "sentiment": {
        "type": "object",
        "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}},
        "required": ["sentiment"],
        "additionalProperties": False,
    },
}
EXAMPLE_GRAMMAR = 'start: "Answer: " ("yes" | "no")'


def schema_example(name: str | None) -> Any:
    """The code box's new value for an example chosen in the dropdown (no change for none)."""
    if not name or name not in SCHEMA_EXAMPLES:
        return gr.skip()
    return json.dumps(SCHEMA_EXAMPLES[name], indent=2)


def shown(kind: str | None) -> tuple:
    """Which boxes the selected kind needs: schema (and its examples), regex, grammar, tool name."""
    kind = KINDS.get(kind or "none", "")
    return (
        gr.update(visible=kind == "json_schema"),
        gr.update(visible=kind == "json_schema"),
        gr.update(visible=kind == "regex"),
        gr.update(visible=kind == "grammar"),
        gr.update(visible=kind == "tool_call"),
    )


def structured_output_controls(suffix: str = "") -> dict[str, Any]:
    """Build the controls (inside the current Blocks layout) and wire the kind selector and the examples;
    returns them by input name: constraint_kind, json_schema, constraint_regex, constraint_grammar, constraint_tool."""
    kind = gr.Dropdown(
        list(KINDS), value="none", label="Structured output: the answer must be", elem_id=f"constraint-kind{suffix}"
    )
    example = gr.Dropdown(
        ["", *SCHEMA_EXAMPLES], value="", label="Example schema", elem_id=f"json-schema-example{suffix}", visible=False
    )
    schema = gr.Code(
        value=json.dumps(SCHEMA_EXAMPLES["answer with confidence"], indent=2),
        language="json",
        label="JSON schema",
        elem_id=f"json-schema{suffix}",
        visible=False,
        interactive=True,
    )
    regex = gr.Textbox(
        value="", label="Regular expression (the whole answer)", elem_id=f"constraint-regex{suffix}", visible=False
    )
    grammar = gr.Code(
        value=EXAMPLE_GRAMMAR, label="Grammar (Lark or GBNF)", elem_id=f"constraint-grammar{suffix}", visible=False,
        interactive=True,
    )  # fmt: skip
    tool = gr.Textbox(
        value="", label="Tool to call (empty: any of the tools)", elem_id=f"constraint-tool{suffix}", visible=False
    )
    light: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden", "concurrency_limit": None}
    kind.change(shown, kind, [example, schema, regex, grammar, tool], **light)
    example.change(schema_example, example, schema, **light)
    return {
        "constraint_kind": kind,
        "json_schema": schema,
        "constraint_regex": regex,
        "constraint_grammar": grammar,
        "constraint_tool": tool,
    }


def compare_steering_controls(index: int) -> dict[str, Any]:
    """A Compare column's own structured output and thinking budget (keys ``NAME_INDEX``, as the columns' other
    inputs)."""
    with gr.Accordion("Structured output and thinking budget", open=False):
        controls = structured_output_controls(f"-{index}")
        controls["thinking_budget"] = gr.Textbox(
            value="",
            label="Thinking budget (tokens; empty = none)",
            elem_id=f"compare-thinking-budget-{index}",
            placeholder="none",
            max_lines=1,
        )
    return {f"{name}_{index}": component for name, component in controls.items()}
