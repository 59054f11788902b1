"""Render chat templates exactly like transformers, and say where every character came from.

``render`` returns a :class:`RenderedPrompt`: the prompt text, its source (``model``, ``preset``,
``custom`` or ``generic``), the family, warnings, and segments that attribute each character either to
the template or to one message (the UI colours them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import jinja2

from ..errors import (
    TemplateError,
    TemplateLimitError,
    TemplateRaisedError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from ..messages import Message, ignored_roles, validate_messages
from .sandbox import DEFAULT_LIMITS, Limits, RenderLimitError, TemplateRaise, make_environment, render_with_limits

SOURCES = ("model", "preset", "custom", "generic")
SYSTEM_STRATEGIES = ("merge", "drop", "strict")
DEFAULT_SYSTEM_STRATEGY = "merge"
MAX_TEMPLATE_CHARS = 200_000

_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
_PROBE_OPEN, _PROBE_CLOSE = "\ue000", "\ue001"
_PROBE_RE = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class Segment:
    """A span ``[start, end)`` of the prompt: template text, or the content of message ``message``."""

    start: int
    end: int
    kind: Literal["template", "message"]
    message: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact prompt a model receives, and how it was made."""

    text: str
    source: str
    family: str | None = None
    template_name: str = ""
    warnings: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()
    messages: tuple[Message, ...] = ()
    add_generation_prompt: bool = True
    bos_token: str = ""
    eos_token: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``render --json``)."""
        return {
            "prompt": self.text,
            "source": self.source,
            "family": self.family,
            "template_name": self.template_name,
            "warnings": list(self.warnings),
            "add_generation_prompt": self.add_generation_prompt,
            "segments": [
                {"start": s.start, "end": s.end, "kind": s.kind, "message": s.message, "role": s.role}
                for s in self.segments
            ],
        }


# ---------------------------------------------------------------------------------------------- compile


@lru_cache(maxsize=8)
def _environment(limits: Limits) -> jinja2.Environment:
    return make_environment(limits)


@lru_cache(maxsize=128)
def _compile_cached(source: str, limits: Limits) -> jinja2.Template:
    return _environment(limits).from_string(source)


@lru_cache(maxsize=128)
def template_variables(source: str) -> frozenset[str]:
    """The names a template reads from its context (messages, tools, enable_thinking, ...)."""
    from jinja2 import meta

    try:
        return frozenset(meta.find_undeclared_variables(_environment(DEFAULT_LIMITS).parse(source)))
    except jinja2.TemplateSyntaxError:
        return frozenset()


def _line(source: str, lineno: int | None) -> str:
    if not lineno:
        return ""
    lines = source.splitlines()
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def compile_template(source: str, limits: Limits = DEFAULT_LIMITS) -> jinja2.Template:
    """Compile (cached) a chat template.

    Raises:
        TemplateSyntaxError: with the line number and the offending line.
    """
    if not isinstance(source, str):
        raise TemplateSyntaxError(f"a chat template must be text, got {type(source).__name__}")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateSyntaxError(
            f"the template is {len(source):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}",
            hint="chat templates are usually a few kilobytes",
        )
    try:
        return _compile_cached(source, limits)
    except jinja2.TemplateSyntaxError as exc:
        text = _line(source, exc.lineno)
        raise TemplateSyntaxError(
            f"template syntax error at line {exc.lineno}: {exc.message}" + (f" (in: {text[:120]})" if text else ""),
            hint="check the tags on that line: every {% if %}/{% for %} needs its {% endif %}/{% endfor %}",
            lineno=exc.lineno,
        ) from None
    except RecursionError:
        raise TemplateSyntaxError("the template is nested too deeply to compile") from None


def _template_lineno(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    lineno = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _run(template: jinja2.Template, source: str, variables: dict[str, Any], limits: Limits) -> str:
    """Render, translating every failure into one of our TemplateError types."""
    try:
        return render_with_limits(template, variables, limits)
    except TemplateRaise as exc:
        lineno = _template_lineno(exc)
        raise TemplateRaisedError(
            f"the template raised an error: {exc.message}", hint=_raise_hint(str(exc.message)), lineno=lineno
        ) from None
    except RenderLimitError as exc:
        raise TemplateLimitError(
            f"template stopped: {exc}", hint="the template loops or grows without bound; simplify it"
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        lineno = _template_lineno(exc)
        where = f" at line {lineno}" if lineno else ""
        raise TemplateSecurityError(
            f"template blocked{where}: {exc}",
            hint="chat templates may only use messages, tokens and plain Jinja; Python internals are off limits",
            lineno=lineno,
        ) from None
    except RecursionError:
        raise TemplateLimitError(
            "template stopped: recursion went too deep", hint="a macro calls itself without end"
        ) from None
    except MemoryError:
        raise TemplateLimitError("template stopped: it ran out of memory") from None
    except Exception as exc:  # a template bug: undefined names, type errors, bad filters
        lineno = _template_lineno(exc)
        where = f" at line {lineno}" if lineno else ""
        text = _line(source, lineno)
        message = getattr(exc, "message", None) or str(exc)
        raise TemplateRaisedError(
            f"template failed{where}: {type(exc).__name__}: {message}" + (f" (in: {text[:120]})" if text else ""),
            hint="fix the template on that line",
            lineno=lineno,
        ) from None


def _raise_hint(message: str) -> str:
    low = message.lower()
    if "system" in low:
        return "this template has no system role: use --system-strategy merge or drop, or remove the system message"
    if "alternate" in low:
        return "make user and assistant messages alternate, starting with a user message"
    return "the template rejected this conversation; check the roles and order of the messages"


# ---------------------------------------------------------------------------------------------- system roles


def apply_system_strategy(messages: list[Message], strategy: str, family_label: str) -> tuple[list[Message], list[str]]:
    """Rewrite system messages for a template that has no system role.

    ``merge`` prepends them to the first user message, ``drop`` removes them, ``strict`` leaves them for
    the template to reject. Returns the new messages and warnings that say what happened.
    """
    if strategy not in SYSTEM_STRATEGIES:
        raise TemplateError(f"unknown system strategy {strategy!r}", hint=f"use one of: {', '.join(SYSTEM_STRATEGIES)}")
    systems = [m for m in messages if m.get("role") == "system"]
    if not systems or strategy == "strict":
        return messages, []
    rest = [m for m in messages if m.get("role") != "system"]
    if strategy == "drop":
        return rest, [f"{family_label} has no system role: the system prompt was dropped (system strategy 'drop')"]
    system_text = "\n\n".join(m["content"] for m in systems)
    merged = []
    done = False
    for message in rest:
        if not done and message.get("role") == "user":
            message = {**message, "content": f"{system_text}\n\n{message['content']}"}
            done = True
        merged.append(message)
    if not done:
        merged.insert(0, {"role": "user", "content": system_text})
    return merged, [
        f"{family_label} has no system role: the system prompt was merged into the first user message "
        "(system strategy 'merge')"
    ]


# ---------------------------------------------------------------------------------------------- segments


def _segments_from_probe(
    template: jinja2.Template, variables: dict[str, Any], messages: list[Message], text: str, limits: Limits
) -> list[Segment] | None:
    """Exact attribution: render once more with each content replaced by a marker, then map back."""
    probe_messages = []
    cores = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            core = content.strip()
            lead = content[: len(content) - len(content.lstrip())]
            trail = content[len(content.rstrip()) :]
            cores.append((core, lead, trail))
            message = {**message, "content": f"{lead}{_PROBE_OPEN}{index}{_PROBE_CLOSE}{trail}"}
        else:
            cores.append(None)
        probe_messages.append(message)
    try:
        probe = render_with_limits(template, {**variables, "messages": probe_messages}, limits)
    except Exception:
        return None
    out: list[Segment] = []
    rebuilt: list[str] = []
    pos = 0  # position in the rebuilt (real) text
    last = 0
    for match in _PROBE_RE.finditer(probe):
        index = int(match.group(1))
        if index >= len(cores) or cores[index] is None:
            return None
        core, lead, trail = cores[index]
        before = probe[last : match.start()]
        rebuilt.append(before)
        pos += len(before)
        rebuilt.append(core)
        start, end = pos, pos + len(core)
        pos = end
        last = match.end()
        out.append(Segment(start, end, "message", index, messages[index].get("role")))
    rebuilt.append(probe[last:])
    if "".join(rebuilt) != text:
        return None
    # Whitespace the template kept around a message belongs to that message.
    widened = []
    for seg in out:
        _, lead, trail = cores[seg.message]
        start, end = seg.start, seg.end
        if lead and text[max(0, start - len(lead)) : start] == lead:
            start -= len(lead)
        if trail and text[end : end + len(trail)] == trail:
            end += len(trail)
        widened.append(Segment(start, end, "message", seg.message, seg.role))
    return _fill_template_gaps(widened, len(text))


def _segments_by_search(text: str, messages: list[Message]) -> list[Segment]:
    """Fallback attribution: find each message's content in order."""
    out = []
    cursor = 0
    for index, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            continue
        for candidate in (content, content.strip()):
            found = text.find(candidate, cursor)
            if found >= 0:
                out.append(Segment(found, found + len(candidate), "message", index, message.get("role")))
                cursor = found + len(candidate)
                break
    return _fill_template_gaps(out, len(text))


def _fill_template_gaps(message_segments: Iterable[Segment], length: int) -> list[Segment]:
    result = []
    pos = 0
    for seg in sorted(message_segments, key=lambda s: s.start):
        if seg.start < pos:  # overlapping after widening: keep the earlier one's claim
            seg = Segment(pos, seg.end, seg.kind, seg.message, seg.role)
            if seg.start >= seg.end:
                continue
        if seg.start > pos:
            result.append(Segment(pos, seg.start, "template"))
        result.append(seg)
        pos = seg.end
    if pos < length:
        result.append(Segment(pos, length, "template"))
    return result


# ---------------------------------------------------------------------------------------------- render


def _apply_continue(text: str) -> str:
    tag = _CONTINUE_TAG.strip()
    loc = text.rfind(tag)
    if loc < 0:
        raise TemplateRaisedError(
            "continue_final_message is set but the final message does not appear in the rendered prompt",
            hint="this template rewrites or drops the final message; turn off 'continue final message'",
        )
    if text[loc : loc + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return text[:loc]
    return text[:loc].rstrip()


#: Variables the renderer sets itself; template keywords cannot replace them.
RESERVED_VARIABLES = frozenset(
    {
        "messages",
        "tools",
        "documents",
        "add_generation_prompt",
        "continue_final_message",
        "bos_token",
        "eos_token",
        "raise_exception",
        "strftime_now",
        "namespace",
        "dict",
    }
)
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def check_template_kwargs(template_kwargs: Any) -> dict[str, Any]:
    """A copy of ``template_kwargs`` once checked: an object whose keys are names the renderer does not set."""
    if template_kwargs is None:
        return {}
    if not isinstance(template_kwargs, dict):
        raise TemplateError(
            f"template keywords must be a JSON object, got {type(template_kwargs).__name__}",
            hint='for example {"enable_thinking": false}',
        )
    for key in template_kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise TemplateError(f"template keyword {key!r} is not a valid name", hint="use names like enable_thinking")
        if key in RESERVED_VARIABLES:
            raise TemplateError(
                f"template keyword {key!r} is set by the playground itself",
                hint="messages, tools and the generation prompt have their own options; remove it from the keywords",
            )
    return dict(template_kwargs)


def preprocess_messages(messages: list[Message]) -> list[Message]:
    """What transformers 5 does before rendering: drop None-valued keys, alias the reasoning fields."""
    out = []
    for message in messages:
        message = {k: v for k, v in message.items() if v is not None}
        reasoning = next((message[k] for k in _REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def _pinned_clock(now: datetime):
    def strftime_now(fmt: str) -> str:
        return now.strftime(str(fmt))

    return strftime_now


@dataclass(frozen=True)
class TemplateFacts:
    """What a template is: where it came from, its special tokens, and whether it has a system role (None:
    unknown)."""

    source: str = "custom"
    family: str | None = None
    template_name: str = ""
    bos_token: str = ""
    eos_token: str = ""
    supports_system: bool | None = None


@dataclass(frozen=True)
class RenderCall:
    """What a conversation is rendered with: transformers' ``apply_chat_template`` arguments, and what to do with a
    system message the template cannot take."""

    add_generation_prompt: bool = True
    continue_final_message: bool = False
    tools: list[dict] | None = None
    documents: list[dict] | None = None
    template_kwargs: dict[str, Any] | None = None
    now: datetime | None = None
    system_strategy: str = DEFAULT_SYSTEM_STRATEGY


_FACTS = frozenset(TemplateFacts.__dataclass_fields__)
_CALL = frozenset(RenderCall.__dataclass_fields__)


def split_options(options: dict[str, Any]) -> tuple[RenderCall, TemplateFacts, dict[str, Any]]:
    """``apply_chat_template``-style keyword arguments as (call, facts, the rest)."""
    call = RenderCall(**{k: v for k, v in options.items() if k in _CALL})
    facts = TemplateFacts(**{k: v for k, v in options.items() if k in _FACTS})
    return call, facts, {k: v for k, v in options.items() if k not in _CALL | _FACTS}


def _check_call(facts: TemplateFacts, call: RenderCall) -> None:
    if facts.source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {facts.source!r}")
    if call.system_strategy not in SYSTEM_STRATEGIES:
        raise TemplateError(
            f"unknown system strategy {call.system_strategy!r}", hint=f"use one of: {', '.join(SYSTEM_STRATEGIES)}"
        )
    if call.continue_final_message and call.add_generation_prompt:
        raise TemplateError(
            "continue_final_message and add_generation_prompt cannot both be on",
            hint="continuing the final message already leaves the prompt open; turn the generation prompt off",
        )


def _variables(facts: TemplateFacts, call: RenderCall) -> dict[str, Any]:
    variables: dict[str, Any] = check_template_kwargs(call.template_kwargs)
    variables.update(
        bos_token=facts.bos_token,
        eos_token=facts.eos_token,
        add_generation_prompt=call.add_generation_prompt,
        tools=call.tools,
        documents=call.documents,
    )
    if call.now is not None:
        variables["strftime_now"] = _pinned_clock(call.now)
    return variables


def render(
    template: str,
    messages: list[Message],
    call: RenderCall = RenderCall(),
    *,
    facts: TemplateFacts = TemplateFacts(),
    with_segments: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    warnings: Iterable[str] = (),
) -> RenderedPrompt:
    """Render ``template`` for ``messages`` the way transformers' ``apply_chat_template`` does.

    ``facts.supports_system=False`` applies ``call.system_strategy`` before rendering; ``None`` (unknown)
    renders as-is and, if the template rejects a system message, retries with the strategy and says so.

    Messages are preprocessed as transformers 5 does: keys whose value is None are dropped, and a
    message's reasoning given as ``reasoning_content``, ``thinking`` or ``reasoning`` is offered under
    both ``thinking`` and ``reasoning_content``. ``call.template_kwargs`` (``enable_thinking``,
    ``reasoning_effort``, ...) reach the template as variables; ``call.now`` pins the clock ``strftime_now``
    reads (default: the current time).

    Raises:
        MessagesError, TemplateError (syntax, raised, security, limit).
    """
    _check_call(facts, call)
    messages = preprocess_messages(validate_messages(messages))
    compiled = compile_template(template, limits)
    notes = list(warnings)
    label = facts.family or "this template"
    if facts.supports_system is False:
        messages, extra = apply_system_strategy(messages, call.system_strategy, label)
        notes += extra
    variables = _variables(facts, call)
    continuing = call.continue_final_message

    def attempt(msgs: list[Message]) -> str:
        run_msgs = msgs
        if continuing:
            if "content" not in template:
                raise TemplateError("continue_final_message is set but the template never reads message content")
            run_msgs = [*msgs[:-1], {**msgs[-1], "content": msgs[-1]["content"] + _CONTINUE_TAG}]
        text = _run(compiled, template, {**variables, "messages": run_msgs}, limits)
        return _apply_continue(text) if continuing else text

    try:
        text = attempt(messages)
    except TemplateRaisedError as exc:
        has_system = any(m["role"] == "system" for m in messages)
        if facts.supports_system is None and has_system and call.system_strategy != "strict":
            retried, extra = apply_system_strategy(messages, call.system_strategy, label)
            text = attempt(retried)
            messages = retried
            notes.append(f"the template rejected the system message ({exc.message.split(': ', 1)[-1]})")
            notes += extra
        else:
            raise

    notes += ignored_roles(messages, text)
    segments: list[Segment] = []
    if with_segments:
        probe = None if continuing else _segments_from_probe(compiled, dict(variables), messages, text, limits)
        segments = probe if probe is not None else _segments_by_search(text, messages)
    return rendered_prompt(text, facts, call, messages=messages, warnings=notes, segments=segments)


def rendered_prompt(
    text: str, facts: TemplateFacts, call: RenderCall, *, messages: list[Message], warnings, segments
) -> RenderedPrompt:
    """The :class:`RenderedPrompt` of ``text`` (shared by the Jinja renderer and mlx-lm's encoders)."""
    return RenderedPrompt(
        text=text,
        source=facts.source,
        family=facts.family,
        template_name=facts.template_name,
        warnings=tuple(warnings),
        segments=tuple(segments),
        messages=tuple(messages),
        add_generation_prompt=call.add_generation_prompt,
        bos_token=facts.bos_token,
        eos_token=facts.eos_token,
    )
