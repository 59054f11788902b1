"""Constraints as llguidance grammars, checked against one tokenizer.

llguidance (``LLMatcher``) compiles JSON schemas, regular expressions and Lark grammars (GBNF is converted to Lark
by its ``gbnf_to_lark``) into a matcher that gives, at each step, the set of tokens that keep the text valid. A
grammar here is llguidance's JSON form: a list of named grammars, the first being the start, so an answer grammar
can be wrapped (leading newlines after a thinking block, a family's tool-call markup around a JSON schema).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ConstraintError
from .spec import Constraint

#: Tool-call formats a "require a tool call" constraint can produce (see :func:`tool_call_grammar`).
TOOL_CALL_GRAMMAR_FORMATS = ("hermes", "qwen3-coder", "llama3", "mistral", "granite", "phi4-mini")

_HINTS = {
    "json_schema": "fix the schema (JSON Schema draft 2020-12: type, properties, required, enum, items, anyOf, ...)",
    "json_object": "this should not happen: report it",
    "regex": "fix the regular expression (Rust regex syntax: no look-around, no back-references)",
    "grammar": 'fix the grammar (Lark, e.g. start: "yes" | "no"; or GBNF, e.g. root ::= "yes" | "no")',
    "tool_call": "check the tools' parameter schemas",
}


#: JSON as models write it (``{"a": 1, "b": [2, 3]}``): no free whitespace, where a small model would pile up
#: newlines. A schema's own ``x-guidance`` options replace these.
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def with_layout(schema: Any) -> Any:
    """``schema`` with :data:`JSON_LAYOUT` unless it sets its own ``x-guidance`` options."""
    if isinstance(schema, dict) and "x-guidance" not in schema:
        return {**schema, "x-guidance": JSON_LAYOUT}
    return schema


def lltokenizer(loaded: Any) -> Any:
    """The llguidance tokenizer of a loaded model, built once per load (about a second for a large vocabulary)."""
    if loaded._constraint_tokenizer is None:
        import llguidance.hf

        tokenizer = getattr(loaded.tokenizer, "_tokenizer", loaded.tokenizer)
        try:
            loaded._constraint_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        except Exception as exc:  # llguidance names what it cannot read (a tokenizer without a decoder, ...)
            raise ConstraintError(
                f"{loaded.name}'s tokenizer cannot be used for constraints: {' '.join(str(exc).split())[:200]}",
                hint="structured output needs a Hugging Face fast tokenizer (tokenizer.json) with a decoder; "
                "choose another model or remove the constraint",
            ) from None
    return loaded._constraint_tokenizer


def answer_part(constraint: Constraint, tools: Any = None, tool_format: str = "none", tokens: Any = None) -> dict:
    """The constraint as one named llguidance grammar (``answer``)."""
    from llguidance import LLMatcher

    if constraint.kind in ("json_schema", "json_object"):
        return {"name": "answer", "json_schema": with_layout(constraint.schema())}
    if constraint.kind == "regex":
        (part,) = json.loads(LLMatcher.grammar_from_regex(constraint.value))["grammars"]
        return {"name": "answer", "lark_grammar": part["lark_grammar"]}
    if constraint.kind == "grammar":
        from llguidance.gbnf_to_lark import any_to_lark

        try:
            lark = any_to_lark(constraint.value)
        except Exception as exc:
            raise ConstraintError(
                f"the grammar is neither Lark nor valid GBNF: {' '.join(str(exc).split())[:300]}",
                hint=_HINTS["grammar"],
            ) from None
        return {"name": "answer", "lark_grammar": lark}
    return {"name": "answer", "lark_grammar": tool_call_grammar(constraint, tools, tool_format, tokens)}


def build_grammar(part: dict, *, leading_newlines: bool) -> str:
    """The whole grammar: the answer, after up to two newlines when it follows a thinking block (families write
    ``</think>\n\n``; more would let a small model pile them up)."""
    if not leading_newlines:
        return json.dumps({"grammars": [part]})
    wrapper = {"name": "start", "lark_grammar": "start: NEWLINES @answer\nNEWLINES: /\\n{0,2}/"}
    return json.dumps({"grammars": [wrapper, part]})


def check_grammar(grammar: str, ll: Any, constraint: Constraint) -> None:
    """Compile ``grammar`` for ``ll``; raise one :class:`ConstraintError` naming what the library rejected."""
    from llguidance import LLMatcher

    failed, messages = LLMatcher.validate_grammar_with_warnings(grammar, ll)
    if not failed:
        return
    detail = " ".join(messages[0].split()) if messages else "unknown error"
    what = {
        "json_schema": "the JSON schema",
        "json_object": "the JSON grammar",
        "regex": "the regular expression",
        "grammar": "the grammar",
        "tool_call": "the tool-call grammar",
    }[constraint.kind]
    if "Unimplemented keys" in detail or "Unknown format" in detail:
        raise ConstraintError(
            f"{what} uses a feature structured output does not support: {detail[:300]}",
            hint="remove or rewrite that keyword (llguidance supports most of JSON Schema; not 'not', 'if'/'then', "
            "'uniqueItems', 'dependentSchemas')",
        )
    raise ConstraintError(f"{what} is not valid: {detail[:400]}", hint=_HINTS[constraint.kind])


# ---------------------------------------------------------------------------------------------- tool calls


def _tool_functions(tools: Any, name: str) -> list[dict]:
    functions = [tool.get("function", tool) for tool in tools or ()]
    if not functions:
        raise ConstraintError(
            "'require a tool call' needs tools in the request", hint="add tools (--tools FILE.json) or drop the option"
        )
    if name:
        chosen = [f for f in functions if f.get("name") == name]
        if not chosen:
            names = ", ".join(str(f.get("name")) for f in functions)
            raise ConstraintError(f"no tool named {name!r} in the request", hint=f"choose one of: {names}")
        return chosen
    return functions


def _call_schema(function: dict, arguments_key: str) -> dict:
    parameters = function.get("parameters") or {"type": "object"}
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, arguments_key: parameters},
        "required": ["name", arguments_key],
        "additionalProperties": False,
    }


def _one_of(schemas: list[dict]) -> dict:
    return with_layout(schemas[0] if len(schemas) == 1 else {"anyOf": schemas})


def _marker(text: str, tokens: Any) -> str:
    """A markup string in Lark: the special token itself when the tokenizer has it as one special token
    (``<tool_call>`` in Qwen3, ``[TOOL_CALLS]`` in Mistral), else the literal text."""
    ll, vocab = tokens
    token_id = vocab.get(text)
    if token_id is not None and token_id < ll.vocab_size and ll.is_special_token(token_id):
        return f"<[{token_id}]>"
    return json.dumps(text)


def tool_call_grammar(constraint: Constraint, tools: Any, tool_format: str, tokens: Any) -> str:
    """A Lark grammar for one call in the family's format, arguments valid against the tool's schema.

    ``tokens`` is ``(llguidance tokenizer, vocabulary dict)``: markup that is a special token is matched as that
    token, as the model writes it.
    """
    if tool_format not in TOOL_CALL_GRAMMAR_FORMATS:
        raise ConstraintError(
            f"'require a tool call' is not available for the {tool_format!r} tool-call format",
            hint=f"it works with the formats {', '.join(TOOL_CALL_GRAMMAR_FORMATS)}; "
            "choose a template of such a family, or use a JSON schema constraint",
        )
    functions = _tool_functions(tools, constraint.value)
    if tool_format == "llama3":
        return f"start: %json {json.dumps(_one_of([_call_schema(f, 'parameters') for f in functions]))}"
    if tool_format == "mistral" and "[ARGS]" in tokens[1]:  # Mistral Small 3.2 and later: NAME[ARGS]{...}
        alternatives = [
            f"{_marker('[TOOL_CALLS]', tokens)} {json.dumps(f['name'])} {_marker('[ARGS]', tokens)} "
            f"%json {json.dumps(with_layout(f.get('parameters') or {'type': 'object'}))}"
            for f in functions
        ]
        return "start: " + "\n     | ".join(alternatives)
    call = _one_of([_call_schema(f, "arguments") for f in functions])
    if tool_format in ("hermes", "qwen3-coder"):
        return (
            f'start: {_marker("<tool_call>", tokens)} "\\n" %json {json.dumps(call)} "\\n" '
            f"{_marker('</tool_call>', tokens)}"
        )
    listed = json.dumps(with_layout({"type": "array", "items": call, "minItems": 1, "maxItems": 1}))
    opener = {"mistral": "[TOOL_CALLS]", "granite": "<|tool_call|>", "phi4-mini": "<|tool_call|>"}[tool_format]
    closer = f" {_marker('<|/tool_call|>', tokens)}" if tool_format == "phi4-mini" else ""
    return f"start: {_marker(opener, tokens)} %json {listed}{closer}"
