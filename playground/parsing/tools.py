"""Pull tool calls out of a streamed answer, per model-family tool-call format.

Formats (`TOOL_CALL_FORMATS`), with what the model writes:

- ``none``: no tool calls; the answer is passed through unchanged.
- ``hermes``: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``, possibly several (Qwen2.5 / Qwen3 /
  QwQ, SmolLM3, Granite 4, Hermes). A Qwen3-Coder style body (below) is accepted too.
- ``qwen3-coder``: ``<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>\\n</function>
  \\n</tool_call>`` (Qwen3-Coder); a JSON body is accepted too. Values that parse as JSON are JSON, else strings.
- ``llama3``: Llama 3.1-3.3 / 4: the reply is ``{"name": ..., "parameters": {...}}`` (or "arguments"), optionally
  after ``<|python_tag|>`` (or Llama 4's ``<|python_start|>``; ``<|python_end|>`` markers are dropped), several
  separated by ``;``. Built-in tools: ``<|python_tag|>brave_search.call(query="x")``
  gives the call ``brave_search`` with ``{"query": "x"}``; other code after ``<|python_tag|>`` is the built-in
  ``code_interpreter`` with ``{"code": ...}``. A JSON object at the start of the reply is only taken for a call when
  its first key is "name" (or "type" / "function") and it has a name and "parameters" / "arguments"; otherwise it
  is answer text (held back until the object is complete, so a JSON answer streams late).
- ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": "abc123def"}]`` (v3 tokenizers, Mistral Small
  3 / 3.1) and ``[TOOL_CALLS]NAME[ARGS]{...}`` / ``[TOOL_CALLS]NAME[CALL_ID]abc123def[ARGS]{...}`` (Mistral Small
  3.2, Devstral, Magistral, Ministral 3), one ``[TOOL_CALLS]`` per call.
- ``deepseek``: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json\\n{...}\\n```
  <｜tool▁call▁end｜>...<｜tool▁calls▁end｜>`` (DeepSeek-R1, V3, V3-0324).
- ``deepseek-v3.1``: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>
  <｜tool▁calls▁end｜>``. Both DeepSeek formats accept either call shape.
- ``glm4.5``: ``<tool_call>NAME\\n<arg_key>k</arg_key>\\n<arg_value>v</arg_value>\\n...</tool_call>`` (GLM-4.5/4.6);
  values that parse as JSON are JSON, else strings.
- ``glm4``: glm-4-9b-chat: the reply is ``NAME\\n{...}`` (the function name is the message's metadata line). A reply
  that is not a call starts with the newline that ends the empty metadata; that newline is dropped.
- ``kimi``: ``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}
  <|tool_call_end|>...<|tool_calls_section_end|>``; the id is ``functions.NAME:0`` (what the template writes back).
- ``dsml``: DeepSeek V3.2: ``<｜DSML｜function_calls>\\n<｜DSML｜invoke name="NAME">\\n<｜DSML｜parameter name="K"
  string="true|false">V</｜DSML｜parameter>...</｜DSML｜invoke>...</｜DSML｜function_calls>``; values are decoded by
  mlx-lm's ``decode_dsml_to_arguments`` (``string="false"`` values are JSON).
- ``granite``: Granite 3.x: ``<|tool_call|>[{"name": ..., "arguments": {...}}, ...]``.
- ``phi4-mini``: ``<|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|>`` (closing tag optional), and the
  ``functools[{...}]`` form Phi-4-mini also writes.
- ``pythonic``: ``[get_weather(city="Paris"), f(x=1)]`` at the start of the reply, optionally inside
  ``<|python_start|>...<|python_end|>`` (Llama 3.2 / Llama 4 pythonic tool calling).
- ``harmony``: gpt-oss; handled by `playground.parsing.harmony`.
- ``gemma4``, ``minimax-m2``, ``lfm2``, ``minicpm5``: parsed by mlx-lm's own parsers; see
  `playground.parsing.mlx_lm_tools`.
- ``nemotron``, ``seed``, ``command-r7b``, ``apertus``, ``solar-open``: see `playground.parsing.family_tools`.

Whitespace: the whitespace right before a call's markup, between calls, and at the end of a reply that made calls
belongs to the markup (templates insert it) and is dropped; whitespace after a call that is followed by more answer
text is kept. So trailing whitespace of the answer is held back until more text (or the end) shows what it is.

Events are tuples: ``("content", text)``, ``("tool_call", ToolCall)``, ``("error", message)``. Errors name the call
by its 1-based position: "tool call 2 is not valid JSON: ...". A call whose arguments do not parse keeps them as the
raw string. `ToolCall.raw` is the call's own text: its wrapper tags when each call has its own (hermes, deepseek,
kimi, mistral NAME[ARGS]), else its JSON / Python text.
"""

from __future__ import annotations

import json
import re

from ._scan import (
    WHITESPACE,
    BracketScanner,
    arguments_value,
    find_first,
    loads_object,
    loose_value,
    partial_tag_len,
    python_call,
    python_call_list,
    salvage_call,
)
from .types import ToolCall

TOOL_CALL_FORMATS: tuple[str, ...] = (
    "none",
    "hermes",
    "llama3",
    "mistral",
    "harmony",
    "deepseek",
    "deepseek-v3.1",
    "glm4.5",
    "glm4",
    "kimi",
    "dsml",
    "granite",
    "phi4-mini",
    "qwen3-coder",
    "pythonic",
    # parsed by mlx-lm's own parsers (playground.parsing.mlx_lm_tools)
    "gemma4",
    "minimax-m2",
    "lfm2",
    "minicpm5",
    # families' own list / section formats (playground.parsing.family_tools)
    "nemotron",
    "seed",
    "command-r7b",
    "apertus",
    "solar-open",
)

Event = tuple[str, object]

_WAIT, _NO, _YES = "wait", "no", "yes"


def check_tool_call_format(tool_calls: str) -> None:
    if tool_calls not in TOOL_CALL_FORMATS:
        raise ValueError(f"unknown tool-call format {tool_calls!r}; valid: {', '.join(TOOL_CALL_FORMATS)}")


def _skip_ws(text: str, i: int = 0) -> int:
    while i < len(text) and text[i] in WHITESPACE:
        i += 1
    return i


def call_from_object(obj: object) -> tuple[str, dict | str, str | None, str | None]:
    """(name, arguments, id, error suffix) from a parsed {"name", "arguments"/"parameters", "id"?} object (also
    {"tool_name", "parameters", "tool_call_id"})."""
    if not isinstance(obj, dict):
        return "", json.dumps(obj, ensure_ascii=False), None, "is not a JSON object"
    function = obj.get("function")
    fields = function if isinstance(function, dict) else obj
    name = fields.get("name", fields.get("tool_name"))  # Command R7B: {"tool_call_id", "tool_name", "parameters"}
    raw_args = fields.get("arguments", fields.get("parameters", {}))
    arguments = arguments_value(raw_args)
    call_id = obj.get("id", obj.get("tool_call_id"))
    call_id = call_id if isinstance(call_id, str) else None
    error = None
    if not isinstance(name, str) or not name:
        error = "has no function name"
        name = "" if name is None else str(name)
    elif isinstance(arguments, str):
        error = "has arguments that are not a JSON object"
    return name, arguments, call_id, error


def call_from_json(text: str) -> tuple[str, dict | str, str | None, str | None]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        name, arguments = salvage_call(text)
        return name, arguments, None, f"is not valid JSON: {exc}"
    return call_from_object(obj)


def arguments_from_json(text: str) -> tuple[dict | str, str | None]:
    """(arguments, error suffix) from the JSON text of an arguments object."""
    obj, error = loads_object(text.strip())
    if obj is None:
        return text.strip(), f"is not valid JSON: {error}"
    return obj, None


def json_array_items(text: str) -> list[str]:
    """The source text of each element of a valid JSON array."""
    decoder = json.JSONDecoder()
    i = _skip_ws(text, text.index("[") + 1)
    items = []
    while i < len(text) and text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        items.append(text[i:end])
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
    return items


class NoToolStage:
    """The ``none`` format: the answer is content as it comes."""

    def feed(self, text: str) -> list[Event]:
        return [("content", text)] if text else []

    def finish(self) -> list[Event]:
        return []


class ToolStage:
    """Base of the tool-call formats: content outside the markup, `_markup` parses what starts at an opener.

    Subclasses set `openers` (strings that start markup anywhere in the answer) and may implement `_start` to
    recognise a call that can only be the whole reply (its first non-space text).
    """

    openers: tuple[str, ...] = ()
    detects_start = False

    def __init__(self) -> None:
        self.buf = ""
        self.events: list[Event] = []
        self.calls = 0
        self.in_markup = False
        self.opener = ""
        self._ws = ""  # trailing whitespace of the content, held back
        self._at_start = self.detects_start
        self._search_from = 0
        self._json = BracketScanner()
        self._python = BracketScanner(python=True)

    _UNCLOSED_JSON = "was not closed (the JSON object is unfinished)"

    def _json_object_end(self, i: int, final: bool) -> tuple[int, str | None] | None:
        """Where the JSON object at ``buf[i]`` ends, and why it is unfinished (if the reply ended inside it);
        None while more text may still close it."""
        end = self._json.end(self.buf, i)
        if end is not None:
            return end, None
        return (len(self.buf), self._UNCLOSED_JSON) if final else None

    # --- driving -------------------------------------------------------------------------------------------
    def feed(self, text: str) -> list[Event]:
        self.buf += text
        self._run(final=False)
        return self._take()

    def finish(self) -> list[Event]:
        self._run(final=True)
        if self._ws and not self.calls:
            self.events.append(("content", self._ws))
        self._ws = ""
        return self._take()

    def _take(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def _run(self, final: bool) -> None:
        while True:
            if self.in_markup:
                if not self._markup(final):
                    return
                continue
            if self._at_start:
                verdict = self._start(final)
                if verdict == _WAIT:
                    if not final:
                        return
                    verdict = _NO
                self._at_start = False
                if verdict == _YES:
                    self._enter_markup("")
                continue
            if not self._content_step(final):
                return

    def _content_step(self, final: bool) -> bool:
        i, tag = find_first(self.buf, self.openers) if self.openers else (-1, "")
        if i >= 0:
            self._content(self.buf[:i], before_markup=True)
            self.buf = self.buf[i:]
            self._enter_markup(tag)
            return True
        keep = 0 if final or not self.openers else partial_tag_len(self.buf, self.openers)
        n = len(self.buf) - keep
        self._content(self.buf[:n])
        self.buf = self.buf[n:]
        return False

    def _enter_markup(self, opener: str) -> None:
        self.in_markup = True
        self.opener = opener
        self._search_from = 0
        self._entered(opener)

    def _leave_markup(self) -> None:
        self.in_markup = False
        self.opener = ""

    def _content(self, text: str, *, before_markup: bool = False) -> None:
        text = self._ws + text
        body = text.rstrip(WHITESPACE)
        self._ws = "" if before_markup else text[len(body):]
        if body:
            self.events.append(("content", body))

    def _call(self, name: str, arguments: dict | str, raw: str, call_id: str | None = None, *errors: str | None):
        number = self.calls + 1
        for error in errors:
            if error:
                self.events.append(("error", f"tool call {number} {error}"))
        self.events.append(("tool_call", ToolCall(name=name, arguments=arguments, id=call_id, raw=raw)))
        self.calls += 1

    def _find_closer(self, closer: str, start: int) -> int:
        """Find `closer` at or after `start`, resuming where the previous unsuccessful search stopped."""
        i = self.buf.find(closer, max(start, self._search_from))
        if i < 0:
            self._search_from = max(start, len(self.buf) - len(closer) + 1)
        return i

    def _ended_after(self, marker: str) -> None:
        """The reply ended right after a marker that opens a call: nothing to parse, but say so."""
        if marker:
            self.events.append(("error", f"the reply ended right after {marker}"))

    # --- hooks ---------------------------------------------------------------------------------------------
    def _start(self, final: bool) -> str:
        return _NO

    def _entered(self, opener: str) -> None:
        pass

    def _markup(self, final: bool) -> bool:  # pragma: no cover - every subclass with openers overrides it
        raise NotImplementedError


# --- <tool_call>...</tool_call> bodies: hermes JSON, GLM-4.5 arg_key/arg_value, Qwen3-Coder XML -------------------

_GLM_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)
_CODER_FUNCTION = re.compile(r"<function=([^>\n]*)>")
_CODER_PARAM = re.compile(r"<parameter=([^>\n]*)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|\Z)", re.S)


def _glm_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    name = body.split("<arg_key>", 1)[0].strip()
    arguments = {key.strip(): loose_value(value) for key, value in _GLM_ARG.findall(body)}
    return name, arguments, None, None if name else "has no function name"


def _coder_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    m = _CODER_FUNCTION.search(body)
    name = m.group(1).strip() if m else ""
    arguments = {}
    for key, value in _CODER_PARAM.findall(body):
        value = value[1:] if value.startswith("\n") else value
        value = value[:-1] if value.endswith("\n") else value
        arguments[key.strip()] = loose_value(value)
    return name, arguments, None, None if name else "has no function name"


class TaggedStage(ToolStage):
    """``<tool_call>BODY</tool_call>``; the body shape depends on the format (JSON, GLM-4.5 or Qwen3-Coder).
    Subclasses with other markers or bodies override :meth:`_emit` (mlx-lm's parsers)."""

    openers = ("<tool_call>",)
    closer = "</tool_call>"

    def __init__(self, body: str = "json", *, opener: str = "<tool_call>", closer: str = "</tool_call>") -> None:
        super().__init__()
        self.body = body
        self.openers = (opener,)
        self.closer = closer

    def _markup(self, final: bool) -> bool:
        start = len(self.opener)
        end = self._find_closer(self.closer, start)
        if end < 0 and not final:
            return False
        unclosed = None
        if end < 0:
            end, stop = len(self.buf), len(self.buf)
            unclosed = f"was not closed (no {self.closer})"
        else:
            stop = end + len(self.closer)
        body, raw, opener = self.buf[start:end], self.buf[:stop], self.opener
        self.buf = self.buf[stop:]
        self._leave_markup()
        if unclosed and not body.strip(WHITESPACE):
            self._ended_after(opener)
            return True
        self._emit(body, raw, unclosed)
        return True

    def _emit(self, body: str, raw: str, unclosed: str | None) -> None:
        """The call(s) in one marked body."""
        name, arguments, call_id, error = self._parse(body)
        self._call(name, arguments, raw, call_id, error, unclosed)

    def _parse(self, body: str) -> tuple[str, dict | str, str | None, str | None]:
        stripped = body.strip()
        if stripped.startswith("{"):
            return call_from_json(stripped)
        if self.body == "glm":
            return _glm_body(body)
        if "<function=" in body:
            return _coder_body(body)
        return call_from_json(stripped)


# --- Llama 3 JSON / built-in calls --------------------------------------------------------------------------------

_KEY_RE = re.compile(r'\{\s*"((?:[^"\\]|\\.)*)"\s*(:?)')
_BUILTIN_RE = re.compile(r"([A-Za-z_]\w*)\.call\(")


def _first_key_state(text: str, keys: tuple[str, ...]) -> str:
    """Whether the JSON object starting `text` has one of `keys` as its first key (yes / no / wait for more)."""
    i = _skip_ws(text, 1)
    if i == len(text):
        return _WAIT
    if text[i] != '"':
        return _NO
    m = _KEY_RE.match(text)
    if m and m.group(2):
        return _YES if m.group(1) in keys else _NO
    if m:  # key complete, waiting for the colon
        rest = text[m.end():]
        return _NO if rest.strip(WHITESPACE) or m.group(1) not in keys else _WAIT
    partial = text[i + 1:]
    return _WAIT if any(key.startswith(partial) or (key + '"').startswith(partial) for key in keys) else _NO


def _looks_like_call(text: str) -> bool:
    """A complete JSON object that is a call: it has a name and arguments (or is not valid JSON at all)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return True
    if not isinstance(obj, dict):
        return False
    fields = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    return isinstance(fields.get("name"), str) and ("parameters" in fields or "arguments" in fields)


_PY_END = "<|python_end|>"


class Llama3Stage(ToolStage):
    openers = ("<|python_tag|>", "<|python_start|>")  # Llama 4 wraps the calls' part in <|python_start|>..end|>
    detects_start = True

    def __init__(self) -> None:
        super().__init__()
        self.phase = "item"
        self.tagged = False

    def _start(self, final: bool) -> str:
        i = _skip_ws(self.buf)
        if i == len(self.buf):
            return _WAIT
        if self.buf[i] != "{":
            return _NO
        state = _first_key_state(self.buf[i:], ("name", "type", "function"))
        if state == _YES:
            self.buf = self.buf[i:]
        return state

    def _entered(self, opener: str) -> None:
        self.phase = "item"
        self.tagged = bool(opener)

    def _skip_python_end(self, i: int, final: bool) -> bool | None:
        """At buf[i]: drop a <|python_end|> (True), wait for more text (None) or neither (False)."""
        rest = self.buf[i:]
        if rest.startswith(_PY_END):
            self.buf = self.buf[i + len(_PY_END):]
            self.opener = ""
            return True
        if not final and rest and _PY_END.startswith(rest):
            return None
        return False

    def _markup(self, final: bool) -> bool:
        if self.phase == "after":
            return self._after_call(final)
        prefix = self.opener
        i = _skip_ws(self.buf, len(prefix))
        if i == len(self.buf):
            if not final:
                return False
            self.buf = ""
            self._ended_after(prefix)
            self._leave_markup()
            return True
        if self.tagged:
            skipped = self._skip_python_end(i, final)
            if skipped is None:
                return False
            if skipped:
                return True
        if self.buf[i] == "{":
            return self._json_call(i, final)
        if not self.tagged:  # after ";": not another call
            self._leave_markup()
            return True
        return self._python_tag_code(i, final)

    def _after_call(self, final: bool) -> bool:
        """After a call: a ``;`` and another call, a ``<|python_end|>``, or the end of the markup."""
        i = _skip_ws(self.buf)
        skipped = self._skip_python_end(i, final)
        if skipped is None:
            return False
        if skipped:
            return True
        if i == len(self.buf):
            if not final:
                return False
            self.buf = ""
        elif self.buf[i] == ";":
            self.buf = self.buf[i + 1:]
            self.phase = "item"
            return True
        self._leave_markup()
        return True

    def _json_call(self, i: int, final: bool) -> bool:
        """A JSON object at buf[i]: a call, or (untagged, not shaped like a call) answer text."""
        found = self._json_object_end(i, final)
        if found is None:
            return False
        end, unclosed = found
        text, raw = self.buf[i:end], self.buf[:end]
        if not self.tagged and not unclosed and not _looks_like_call(text):
            self.buf = self.buf[end:]  # a JSON answer, not a call
            self._leave_markup()
            self._content(text)
            return True
        name, arguments, call_id, error = call_from_json(text)
        self.buf = self.buf[end:]
        self.opener = ""
        self.phase = "after"
        self._call(name, arguments, raw, call_id, error, unclosed)
        return True

    def _python_tag_code(self, i: int, final: bool) -> bool:
        rest = self.buf[i:]
        m = _BUILTIN_RE.match(rest)
        if m:
            end = self._python.end(self.buf, i + m.end() - 1)
            if end is None and not final:
                return False
            end = len(self.buf) if end is None else end
            text, raw = self.buf[i:end], self.buf[:end]
            self.buf = self.buf[end:]
            self.opener = ""
            self.phase = "after"
            parsed = python_call(text)
            if parsed is None:
                self._call(m.group(1), text[m.end():].rstrip(")"), raw, None, "is not a valid built-in tool call")
            else:
                self._call(parsed[0].removesuffix(".call"), parsed[1], raw)
            return True
        if not final:
            return False  # a built-in call still being written, or code for the interpreter (runs to the end)
        raw = self.buf
        self.buf = ""
        self._leave_markup()
        self._call("code_interpreter", {"code": rest}, raw)
        return True


# --- glm-4-9b-chat: NAME\n{json} ----------------------------------------------------------------------------------

_GLM4_NAME = re.compile(r"[A-Za-z_][\w.\-]*")


class Glm4Stage(ToolStage):
    detects_start = True

    def _start(self, final: bool) -> str:
        if not self.buf:
            return _WAIT
        if self.buf[0] == "\n":
            self.buf = self.buf[1:]
            return _NO
        m = _GLM4_NAME.match(self.buf)
        if not m:
            return _NO
        if m.end() == len(self.buf):
            return _WAIT
        if self.buf[m.end()] != "\n":
            return _NO
        i = _skip_ws(self.buf, m.end() + 1)
        if i == len(self.buf):
            return _WAIT
        return _YES if self.buf[i] == "{" else _NO

    def _markup(self, final: bool) -> bool:
        name, _, rest = self.buf.partition("\n")
        i = _skip_ws(self.buf, len(name) + 1)
        found = self._json_object_end(i, final)
        if found is None:
            return False
        end, unclosed = found
        raw, text = self.buf[:end], self.buf[i:end]
        self.buf = self.buf[end:]
        self._leave_markup()
        arguments, error = arguments_from_json(text)
        self._call(name, arguments, raw, None, error, unclosed)
        return True


# --- Mistral [TOOL_CALLS] -----------------------------------------------------------------------------------------


class MistralStage(ToolStage):
    openers = ("[TOOL_CALLS]",)
    next_call = "[TOOL_CALLS]"

    def _markup(self, final: bool) -> bool:
        start = len(self.opener)
        i = _skip_ws(self.buf, start)
        if i == len(self.buf):
            if not final:
                return False
            self.buf = ""
            self._ended_after(self.opener)
            self._leave_markup()
            return True
        if self.buf[i] in "[{":
            end = self._json.end(self.buf, i)
            if end is None and not final:
                return False
            _json_list_calls(self, self.buf[i:] if end is None else self.buf[i:end], end is None)
            self.buf = "" if end is None else self.buf[end:]
            self._leave_markup()
            return True
        args_at = self._find_closer("[ARGS]", i)
        if args_at < 0:
            if not final:
                return False
            raw, head = self.buf, self.buf[i:]
            self.buf = ""
            self._leave_markup()
            name, _, call_id = head.partition("[CALL_ID]")
            self._call(name.strip(), "", raw, call_id.strip() or None, "has no [ARGS]")
            return True
        head = self.buf[i:args_at]
        name, _, call_id = head.partition("[CALL_ID]")
        a = _skip_ws(self.buf, args_at + len("[ARGS]"))
        if a == len(self.buf) and not final:
            return False
        unclosed = None
        if a < len(self.buf) and self.buf[a] == "{":
            end = self._json.end(self.buf, a)
            if end is None and not final:
                return False
            if end is None:
                end = len(self.buf)
                unclosed = self._UNCLOSED_JSON
        else:
            end = self.buf.find(self.next_call, a)
            if end < 0:
                if not final:
                    return False
                end = len(self.buf)
        raw, text = self.buf[:end], self.buf[a:end]
        self.buf = self.buf[end:]
        self._leave_markup()
        arguments, error = arguments_from_json(text)
        self._call(name.strip(), arguments, raw, call_id.strip() or None, error, unclosed)
        return True


def _json_list_calls(stage: ToolStage, text: str, unclosed: bool, read=call_from_object) -> None:
    """Calls from a JSON array of call objects (or a single object), each read by `read` (see `call_from_object`)."""
    not_closed = "was not closed (the JSON is unfinished)" if unclosed else None
    try:
        value = json.loads(text)
    except ValueError as exc:
        name, arguments = salvage_call(text)
        stage._call(name, arguments, text, None, f"is not valid JSON: {exc}", not_closed)
        return
    if isinstance(value, dict):
        items = [(value, text)]
    elif isinstance(value, list):
        items = list(zip(value, json_array_items(text)))
    else:
        stage._call("", text, text, None, "is not a JSON object or list")
        return
    for obj, raw in items:
        name, arguments, call_id, error = read(obj)
        stage._call(name, arguments, raw, call_id, error)


# --- DeepSeek / Kimi sections -------------------------------------------------------------------------------------

_FENCED = re.compile(r"\s*```[A-Za-z]*[ \t]*\n?(.*?)\n?```\s*\Z", re.S)


def _deepseek_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    left, sep, right = body.partition("<｜tool▁sep｜>")
    if not sep:
        return body.strip(), "", None, "has no <｜tool▁sep｜>"
    stripped = right.lstrip()
    if stripped.startswith(("{", "[")):  # V3.1: NAME<sep>{json}
        arguments, error = arguments_from_json(right)
        return left.strip(), arguments, None, error
    name, _, rest = right.partition("\n")  # R1 / V3: TYPE<sep>NAME\n```json\n{json}\n```
    m = _FENCED.match(rest)
    arguments, error = arguments_from_json(m.group(1) if m else rest)
    return name.strip(), arguments, None, error


_KIMI_ID = re.compile(r"(?:functions\.)?(.+?)(?::\d+)?\Z", re.S)


def _kimi_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    head, sep, args = body.partition("<|tool_call_argument_begin|>")
    call_id = head.strip()
    m = _KIMI_ID.match(call_id)
    name = m.group(1) if m else call_id
    if not sep:
        return name, "", call_id or None, "has no <|tool_call_argument_begin|>"
    arguments, error = arguments_from_json(args)
    return name, arguments, call_id or None, error


_DSML = "｜DSML｜"
_DSML_PARAMETER = re.compile(rf'<{_DSML}parameter name="(.*?)" string="(true|false)">(.*?)</{_DSML}parameter>', re.S)


def _dsml_body(body: str) -> tuple[str, dict | str, str | None, str | None]:
    """``NAME">`` then parameters, decoded as mlx-lm's DeepSeek V3.2 encoder decodes them."""
    from mlx_lm.chat_templates.deepseek_v32 import decode_dsml_to_arguments

    name, sep, rest = body.partition('">')
    if not sep:
        return body.strip(), "", None, 'has no closing "> after its name'
    values = {key: (value, string) for key, string, value in _DSML_PARAMETER.findall(rest)}
    arguments, error = arguments_from_json(decode_dsml_to_arguments(name, values)["arguments"])
    return name.strip(), arguments, None, error


class SectionStage(ToolStage):
    """A section of calls: SECTION_BEGIN (CALL_BEGIN body CALL_END)* SECTION_END; each call is emitted when done."""

    def __init__(self, section_begin: str, section_end: str, call_begin: str, call_end: str, parse) -> None:
        super().__init__()
        self.section_begin, self.section_end = section_begin, section_end
        self.call_begin, self.call_end = call_begin, call_end
        self.openers = (section_begin, call_begin)
        self.parse = parse

    def _entered(self, opener: str) -> None:
        if opener == self.section_begin:
            self.buf = self.buf[len(opener):]

    def _markup(self, final: bool) -> bool:
        i = _skip_ws(self.buf)
        rest = self.buf[i:]
        if rest.startswith(self.call_begin):
            start = i + len(self.call_begin)
            end = self._find_closer(self.call_end, start)
            if end < 0 and not final:
                return False
            unclosed = None
            if end < 0:
                end = stop = len(self.buf)
                unclosed = f"was not closed (no {self.call_end})"
            else:
                stop = end + len(self.call_end)
            body, raw = self.buf[start:end], self.buf[i:stop]
            self.buf = self.buf[stop:]
            self._search_from = 0
            if unclosed and not body.strip(WHITESPACE):
                self._ended_after(self.call_begin)
                return True
            name, arguments, call_id, error = self.parse(body)
            self._call(name, arguments, raw, call_id, error, unclosed)
            return True
        if rest.startswith(self.section_end):
            self.buf = self.buf[i + len(self.section_end):]
            self._leave_markup()
            return True
        if not final and (self.call_begin.startswith(rest) or self.section_end.startswith(rest)):
            return False
        if final and not rest:
            self.buf = ""
        self._leave_markup()
        return True


# --- Granite 3 / Phi-4-mini: <|tool_call|>[...] -------------------------------------------------------------------


class ListStage(ToolStage):
    """``<|tool_call|>`` followed by a JSON list of calls, with an optional closing tag."""

    def __init__(self, openers: tuple[str, ...], closer: str = "", read=call_from_object) -> None:
        super().__init__()
        self.openers = openers
        self.closer = closer
        self.read = read
        self.phase = "list"

    def _entered(self, opener: str) -> None:
        self.phase = "list"
        self.buf = self.buf[len(opener.rstrip("[")):]  # "functools[": the "[" opens the list

    def _markup(self, final: bool) -> bool:
        i = _skip_ws(self.buf)
        if self.phase == "close":
            rest = self.buf[i:]
            if rest.startswith(self.closer):
                self.buf = rest[len(self.closer):]
            elif not final and self.closer.startswith(rest):
                return False
            self._leave_markup()
            return True
        if i == len(self.buf):
            if not final:
                return False
            self.buf = ""
            self._ended_after(self.opener)
            self._leave_markup()
            return True
        if self.buf[i] not in "[{":
            self.events.append(("error", f"{self.opener} is not followed by a JSON list of calls"))
            self._leave_markup()
            return True
        end = self._json.end(self.buf, i)
        if end is None and not final:
            return False
        _json_list_calls(self, self.buf[i:] if end is None else self.buf[i:end], end is None, self.read)
        self.buf = "" if end is None else self.buf[end:]
        if self.closer:
            self.phase = "close"
        else:
            self._leave_markup()
        return True


# --- pythonic: [f(a=1), g(b="x")] ---------------------------------------------------------------------------------

_PYTHONIC_PREFIX = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")


class PythonicStage(ToolStage):
    openers = ("<|python_start|>",)
    detects_start = True

    def _start(self, final: bool) -> str:
        i = _skip_ws(self.buf)
        rest = self.buf[i:]
        if not rest:
            return _WAIT
        if _PYTHONIC_PREFIX.match(rest):
            self.buf = rest
            return _YES
        if rest[0] != "[":
            return _NO
        return _WAIT if re.fullmatch(r"\[\s*([A-Za-z_][\w.]*\s*)?", rest) else _NO

    def _markup(self, final: bool) -> bool:
        i = _skip_ws(self.buf, len(self.opener))
        if i == len(self.buf):
            if not final:
                return False
            self.buf = ""
            self._ended_after(self.opener)
            self._leave_markup()
            return True
        if self.buf[i] != "[":
            self.buf = self.buf[len(self.opener):]
            self._leave_markup()
            return True
        end = self._python.end(self.buf, i)
        if end is None and not final:
            return False
        end = len(self.buf) if end is None else end
        text = self.buf[i:end]
        stop = end
        closing = "<|python_end|>"
        if self.opener:
            j = _skip_ws(self.buf, end)
            if self.buf.startswith(closing, j):
                stop = j + len(closing)
            elif not final and closing.startswith(self.buf[j:]):
                return False
        raw = self.buf[:stop]
        self.buf = self.buf[stop:]
        self._leave_markup()
        calls = python_call_list(text)
        if calls is None:
            self._call("", text, raw, None, "is not a valid Python call list")
        else:
            for name, arguments, source in calls:
                self._call(name, arguments, raw if len(calls) == 1 else source)
        return True
