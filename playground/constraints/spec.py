"""What a user asks the answer to be: one :class:`Constraint`, part of a :class:`~playground.prepare.ChatRequest`.

Kinds (``CONSTRAINT_KINDS``):

- ``json_schema``: JSON valid against a schema (``value``: the schema, as JSON text).
- ``json_object``: any JSON object (``value`` empty).
- ``regex``: text matching a regular expression (``value``: the pattern, matched whole).
- ``grammar``: a Lark grammar (llguidance's dialect), or a GBNF grammar (llama.cpp's), converted (``value``).
- ``tool_call``: one call of the request's tools in the template family's tool-call format, its arguments valid
  against the tool's ``parameters`` schema (``value``: a tool name, or empty for any of the tools).

This module checks only the shape (a known kind, JSON that parses); whether the library can compile it for a
tokenizer is checked by :func:`playground.constraints.plan.plan_steering` while the request is prepared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConstraintError

CONSTRAINT_KINDS: tuple[str, ...] = ("json_schema", "json_object", "regex", "grammar", "tool_call")
#: Longest constraint text accepted (a schema, a pattern, a grammar).
MAX_CONSTRAINT_CHARS = 200_000
#: What ``json_object`` means, as a schema.
ANY_JSON_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class Constraint:
    """One structured-output constraint on the answer; see the module doc for the kinds."""

    kind: str
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CONSTRAINT_KINDS:
            raise ConstraintError(
                f"unknown constraint kind {self.kind!r}", hint=f"valid kinds: {', '.join(CONSTRAINT_KINDS)}"
            )
        if not isinstance(self.value, str):
            object.__setattr__(self, "value", json.dumps(self.value) if self.kind == "json_schema" else self.value)
        if not isinstance(self.value, str):
            raise ConstraintError(f"the {self.kind} constraint must be text, got {type(self.value).__name__}")
        if len(self.value) > MAX_CONSTRAINT_CHARS:
            raise ConstraintError(
                f"the {self.kind} constraint is {len(self.value):,} characters; the limit is {MAX_CONSTRAINT_CHARS:,}",
                hint="shorten it",
            )
        if self.kind in ("json_schema", "regex", "grammar") and not self.value.strip():
            raise ConstraintError(f"the {self.kind.replace('_', ' ')} is empty", hint=_EMPTY_HINTS[self.kind])
        if self.kind == "json_schema":
            self.schema()

    def schema(self) -> Any:
        """The JSON schema this constraint stands for (``json_schema`` and ``json_object``)."""
        if self.kind == "json_object":
            return dict(ANY_JSON_OBJECT)
        try:
            schema = json.loads(self.value)
        except json.JSONDecodeError as exc:
            raise ConstraintError(
                f"the JSON schema is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                hint='write the schema as a JSON object, e.g. {"type": "object", "properties": {...}}',
            ) from None
        if not isinstance(schema, (dict, bool)):
            raise ConstraintError(
                f"a JSON schema must be a JSON object, got {type(schema).__name__}",
                hint='write the schema as a JSON object, e.g. {"type": "object", "properties": {...}}',
            )
        return schema

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: the kind and its value (a schema as an object)."""
        if self.kind == "json_schema":
            return {"kind": self.kind, "schema": self.schema()}
        if self.kind == "json_object":
            return {"kind": self.kind}
        if self.kind == "tool_call":
            return {"kind": self.kind, "tool": self.value or None}
        return {"kind": self.kind, self.kind: self.value}

    def describe(self) -> str:
        """One short line for status lines and notes."""
        if self.kind == "json_object":
            return "any JSON object"
        if self.kind == "json_schema":
            return "JSON valid against a schema"
        if self.kind == "tool_call":
            return f"a call of {self.value}" if self.value else "a tool call"
        short = self.value if len(self.value) <= 40 else self.value[:37] + "..."
        return f"{self.kind} {short!r}"


_EMPTY_HINTS = {
    "json_schema": 'give a JSON schema, e.g. {"type": "object", "properties": {"answer": {"type": "string"}}}',
    "regex": "give a regular expression the whole answer must match, e.g. [0-9]+",
    "grammar": 'give a Lark grammar, e.g. start: "yes" | "no"',
}
