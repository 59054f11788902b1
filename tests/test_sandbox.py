"""Hostile and runaway templates: no leak, no side effect, a clear error well inside the time limit."""

from __future__ import annotations

import time

import pytest

from playground.errors import TemplateError, TemplateLimitError, TemplateSecurityError
from playground.sandbox import DEFAULT_TIME_LIMIT_S
from playground.templates import render

MESSAGES = [{"role": "user", "content": "hi"}]

# Each payload tries to reach Python internals; {marker} is a file that must never be created.
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch {marker}') }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('touch {marker}').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ messages.__class__.__base__.__subclasses__() }}",
    "{{ raise_exception.__globals__['__builtins__']['open']('{marker}', 'w') }}",
    "{{ strftime_now.__globals__['datetime'] }}",
    "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "{{ messages | attr('__class__') }}",
    "{{ dict.__call__.__globals__ }}",
    "{{ messages | map(attribute='__class__') | list }}",
    "{{ '{0.__class__.__mro__}'.format(messages) }}",
    "{{ messages[0].items.__self__.__class__ }}",
    "{{ messages.pop() }}{{ messages.append(1) }}",
    "{{ range.__globals__ }}",
]
RUNAWAYS = [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "time limit"),
    ("{% set r = range(100000) | list %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}", "time limit"),
    ("{{ 'x' * 1000000000 }}", "limit"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "limit"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "limit"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion"),
    ("{{ 'x'.center(10 ** 12) }}", "limit"),
    ("{% for i in range(10) %}{{ 'y' * 9000000 }}{% endfor %}", "output limit"),
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_escape_attempts_are_blocked_without_side_effects(tmp_path, payload):
    marker = tmp_path / "pwned"
    template = payload.replace("{marker}", str(marker))
    with pytest.raises(TemplateError) as info:
        render(template, MESSAGES)
    assert not marker.exists()
    text = info.value.message
    assert "<function" not in text and "<module" not in text and "subprocess" not in text
    assert isinstance(info.value, (TemplateSecurityError, TemplateError))


def test_escape_attempts_mostly_report_security(tmp_path):
    kinds = []
    for payload in ESCAPES:
        try:
            render(payload.replace("{marker}", str(tmp_path / "m")), MESSAGES)
        except TemplateError as exc:
            kinds.append(type(exc).__name__)
    assert kinds.count("TemplateSecurityError") >= 10


@pytest.mark.parametrize(("template", "which"), RUNAWAYS)
def test_runaway_templates_stop_with_a_clear_error(template, which):
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=which):
        render(template, MESSAGES)
    assert time.monotonic() - started < DEFAULT_TIME_LIMIT_S + 3  # well under 30 seconds


def test_messages_are_not_mutated_by_a_template():
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(TemplateError):
        render("{% set _ = messages[0].update({'content': 'changed'}) %}x", messages)
    assert messages == [{"role": "user", "content": "hi"}]


def test_the_engine_keeps_working_after_a_runaway():
    with pytest.raises(TemplateLimitError):
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", MESSAGES)
    assert render("{{ messages[0].content }}", MESSAGES).text == "hi"
