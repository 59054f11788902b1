"""The Jinja environment chat templates run in.

It matches transformers' ``apply_chat_template`` environment (immutable sandbox, ``trim_blocks``,
``lstrip_blocks``, loop controls, the ``generation`` tag, a ``tojson`` that does not HTML-escape,
``raise_exception``, ``strftime_now``, guarded ``dict`` and ``namespace``) and adds limits, so that a
hostile or runaway template ends with a clear error instead of hanging or exhausting memory:

* render time (a watchdog interrupts the rendering thread between bytecodes),
* output size (checked as output is produced),
* size of strings and lists built by ``*``, ``+``, ``~`` and by calls with huge integer arguments.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MAX_OUTPUT_CHARS = 10_000_000


@dataclass(frozen=True)
class Limits:
    """How long a render may run and how much it may produce."""

    time_s: float = DEFAULT_TIME_LIMIT_S
    output_chars: int = DEFAULT_MAX_OUTPUT_CHARS


DEFAULT_LIMITS = Limits()


class TemplateRaise(jinja2.exceptions.TemplateError):
    """Raised by the template's own ``raise_exception(...)``."""


class RenderLimitError(Exception):
    """A render limit was hit; the message says which."""


class _Deadline(BaseException):
    """Injected into a rendering thread by the watchdog (BaseException: templates cannot catch it)."""


class _Watchdog:
    """One daemon thread that interrupts renders that pass their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, int]] = []
        self._active: dict[int, int] = {}  # ticket -> thread id
        self._tickets = itertools.count()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        ticket = next(self._tickets)
        with self._lock:
            self._active[ticket] = threading.get_ident()
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket, threading.get_ident()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="template-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()
        return ticket

    def disarm(self, ticket: int) -> None:
        with self._lock:
            self._active.pop(ticket, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._heap and (self._heap[0][1] not in self._active or self._heap[0][0] <= now):
                    _, ticket, tid = heapq.heappop(self._heap)
                    if self._active.pop(ticket, None) is not None:
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(_Deadline))
                wait = (self._heap[0][0] - now) if self._heap else None
            self._wake.wait(timeout=min(wait, 0.05) if wait is not None else None)
            self._wake.clear()


_WATCHDOG = _Watchdog()


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: Any) -> None:
    raise TemplateRaise(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _SafeDict:
    """``dict(...)`` for templates without exposing the ``dict`` type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


class _SafeNamespace(jinja2.utils.Namespace):
    """A ``namespace`` that refuses underscore-prefixed attribute names."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - same trick as Jinja's Namespace
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _SafeNamespace._check(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _SafeNamespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"templates cannot set underscore attributes on a namespace ({name!r})"
            )


class _GenerationTag(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}`` marks assistant text; it renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return caller()


class _CheckedCodeGenerator(CodeGenerator):
    """Routes ``~`` concatenation through the environment so its size can be checked."""

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: Any) -> None:  # noqa: N802 - Jinja visitor name
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class ChatTemplateEnvironment(ImmutableSandboxedEnvironment):
    """transformers-compatible chat template environment, with size limits on intermediate values."""

    code_generator_class = _CheckedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, max_chars: int = DEFAULT_MAX_OUTPUT_CHARS):
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols])
        self.max_chars = max_chars
        self.filters["tojson"] = _tojson
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.globals["dict"] = _SafeDict()
        self.globals["namespace"] = _SafeNamespace

    def unsafe_undefined(self, obj: Any, attribute: Any) -> Any:
        """Reaching for Python internals is an error, not a silent empty string."""
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} object is not allowed"
        )

    def _check_size(self, value: Any, what: str) -> Any:
        if isinstance(value, (str, list, tuple, bytes)) and len(value) > self.max_chars:
            raise RenderLimitError(f"{what} would be {len(value):,} long; the limit is {self.max_chars:,}")
        return value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 1000:
                raise RenderLimitError(f"exponent {right} is too large (limit 1000)")
            return left**right
        if operator == "*":
            seq, count = (left, right) if isinstance(right, int) else (right, left)
            sized = isinstance(seq, (str, list, tuple)) and isinstance(count, int)
            if sized and len(seq) * max(count, 0) > self.max_chars:
                raise RenderLimitError(
                    f"repeating a value {count:,} times would make {len(seq) * count:,} items; "
                    f"the limit is {self.max_chars:,}"
                )
            return left * right
        both_sized = isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple))
        if both_sized and len(left) + len(right) > self.max_chars:
            raise RenderLimitError(
                f"a value of {len(left) + len(right):,} items is over the limit of {self.max_chars:,}"
            )
        return left + right

    def checked_concat(self, parts: tuple) -> str:
        text = "".join(str(p) for p in parts)
        return self._check_size(text, "a joined string")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        for value in itertools.chain(args, kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > __self.max_chars:
                raise RenderLimitError(f"a call argument of {value:,} is over the limit of {__self.max_chars:,}")
        result = super().call(__context, __obj, *args, **kwargs)
        return __self._check_size(result, "a call result")


def make_environment(limits: Limits = DEFAULT_LIMITS) -> ChatTemplateEnvironment:
    """A fresh environment for the given limits."""
    return ChatTemplateEnvironment(max_chars=limits.output_chars)


def render_with_limits(template: jinja2.Template, variables: dict[str, Any], limits: Limits) -> str:
    """Render ``template``, stopping it when it runs past ``limits``.

    Raises:
        RenderLimitError: which limit was hit.
        jinja2 errors and ``TemplateRaise`` from the template itself.
    """
    ticket = _WATCHDOG.arm(limits.time_s)
    parts: list[str] = []
    size = 0
    try:
        try:
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > limits.output_chars:
                    raise RenderLimitError(
                        f"the rendered prompt passed the output limit of {limits.output_chars:,} characters"
                    )
                parts.append(chunk)
        finally:
            _WATCHDOG.disarm(ticket)
    except _Deadline:
        raise RenderLimitError(f"rendering took longer than the time limit of {limits.time_s:g} s") from None
    return "".join(parts)
