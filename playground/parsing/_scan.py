"""Small text-scanning helpers shared by the parsers (no state, no imports beyond the stdlib)."""

from __future__ import annotations

import ast
import json
import re

WHITESPACE = " \t\r\n"


def find_first(text: str, tags: tuple[str, ...], start: int = 0) -> tuple[int, str]:
    """The earliest occurrence of any tag at or after `start`: (index, tag), or (-1, "")."""
    best, best_tag = -1, ""
    for tag in tags:
        i = text.find(tag, start)
        if i >= 0 and (best < 0 or i < best or (i == best and len(tag) > len(best_tag))):
            best, best_tag = i, tag
    return best, best_tag


def partial_tag_len(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that is the beginning of a tag but not a whole tag.

    That much must be held back while streaming: the next chunk may complete the tag.
    """
    longest = 0
    for tag in tags:
        for k in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:k]):
                longest = k
                break
    return longest


class BracketScanner:
    """Finds the end of a bracketed value (a JSON object / array, or a Python call / list) in a growing text.

    `end(text, start)` returns the index just past the bracket that closes the one at text[start], or None when the
    text does not reach it yet. Brackets inside strings do not count; nothing is validated. Successive calls with the
    same `start` on a text that only grew resume where the previous call stopped, so streaming stays linear.
    """

    def __init__(self, *, python: bool = False) -> None:
        self.quotes = "'\"" if python else '"'
        self._reset(-1)

    def _reset(self, start: int) -> None:
        self.start = self.pos = start
        self.depth = 0
        self.quote = ""
        self.escaped = False
        self.tail = ""

    def end(self, text: str, start: int) -> int | None:
        if start != self.start or len(text) < self.pos or not text.endswith(self.tail, 0, self.pos):
            self._reset(start)
        depth, quote, escaped = self.depth, self.quote, self.escaped
        for j in range(self.pos, len(text)):
            c = text[j]
            if quote:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == quote:
                    quote = ""
            elif c in self.quotes:
                quote = c
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth <= 0:
                    self._reset(-1)
                    return j + 1
        self.pos, self.depth, self.quote, self.escaped = len(text), depth, quote, escaped
        self.tail = text[max(start, len(text) - 16): len(text)]
        return None


def loads_object(text: str) -> tuple[dict | None, str | None]:
    """(the JSON object, None) or (None, why it is not one)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, str(exc)
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    return value, None


def arguments_value(value: object) -> dict | str:
    """Normalise parsed arguments: an object stays a dict, a string holding a JSON object becomes that dict,
    anything else becomes its JSON text."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        obj, _ = loads_object(value)
        return obj if obj is not None else value
    if value is None:
        return {}
    return json.dumps(value, ensure_ascii=False)


def loose_value(text: str) -> object:
    """A value written as text inside XML-ish markup: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


_NAME_IN_BROKEN_JSON = re.compile(r'"(?:tool_)?name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGS_IN_BROKEN_JSON = re.compile(r'"(?:arguments|parameters)"\s*:\s*', re.S)


def salvage_call(text: str) -> tuple[str, str]:
    """(name, raw arguments) recovered by pattern from a call written as broken JSON."""
    m = _NAME_IN_BROKEN_JSON.search(text)
    name = m.group(1) if m else ""
    a = _ARGS_IN_BROKEN_JSON.search(text)
    if not a:
        return name, text.strip()
    args = text[a.end():].rstrip()
    # drop the brackets that closed the outer call object (and list)
    while args[-1:] in ("}", "]") and args.count("{") + args.count("[") < args.count("}") + args.count("]"):
        args = args[:-1].rstrip()
    return name, args


def python_call(text: str) -> tuple[str, dict] | None:
    """Parse `name(k=v, ...)` / `a.b(k=v)` with literal keyword arguments, or None when it is not one."""
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    return _call_node(node, text)


def python_call_list(text: str) -> list[tuple[str, dict, str]] | None:
    """Parse `[f(a=1), g(b=2)]` (the "pythonic" tool-call style) into (name, arguments, source text) per call,
    or None when it is not one."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.List) or not node.elts:
        return None
    calls = []
    for elt in node.elts:
        call = _call_node(elt, text)
        if call is None:
            return None
        calls.append((call[0], call[1], ast.get_source_segment(text, elt) or ""))
    return calls


def _call_node(node: ast.AST, text: str) -> tuple[str, dict] | None:
    if not isinstance(node, ast.Call) or node.args:
        return None
    name = _dotted(node.func)
    if name is None:
        return None
    arguments = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return None
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:  # a value written as JSON (true, false, null: templates render nested values as JSON)
            try:
                arguments[keyword.arg] = json.loads(ast.get_source_segment(text, keyword.value) or "")
            except json.JSONDecodeError:
                return None
    return name, arguments


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None
