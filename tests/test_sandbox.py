"""Hostile and runaway templates: no leak, no side effect, a clear error well inside the time limit."""

from __future__ import annotations

import time

import pytest

from playground.errors import TemplateError, TemplateLimitError, TemplateSecurityError
from playground.templates import render
from playground.templates.sandbox import DEFAULT_TIME_LIMIT_S

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
    assert isinstance(info.value, TemplateSecurityError), text  # blocked as a security error, not a crash
    assert text.startswith("template blocked at line 1: ") and info.value.hint


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_engine_keeps_working_after_a_runaway():
    with pytest.raises(TemplateLimitError):
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", MESSAGES)
    assert render("{{ messages[0].content }}", MESSAGES).text == "hi"


def test_the_documented_size_limits_are_enforced():
    """README: templates over 200,000 characters, conversations over 1,000 messages or 1,000,000 characters
    per message are refused; output and any one value stop at 10,000,000 characters."""
    from playground.errors import MessagesError, TemplateSyntaxError
    from playground.messages import MAX_CONTENT_CHARS, MAX_MESSAGES
    from playground.templates import MAX_TEMPLATE_CHARS
    from playground.templates.sandbox import DEFAULT_MAX_OUTPUT_CHARS

    assert (MAX_TEMPLATE_CHARS, MAX_MESSAGES, MAX_CONTENT_CHARS, DEFAULT_MAX_OUTPUT_CHARS) == (
        200_000, 1000, 1_000_000, 10_000_000
    )
    render("{# " + "x" * (MAX_TEMPLATE_CHARS - 10) + " #}ok", MESSAGES)  # just under: fine
    with pytest.raises(TemplateSyntaxError, match="200,000"):
        render("{# " + "x" * MAX_TEMPLATE_CHARS + " #}", MESSAGES)
    render("{{ messages | length }}", MESSAGES * MAX_MESSAGES)
    with pytest.raises(MessagesError, match="the limit is 1000"):
        render("{{ messages | length }}", MESSAGES * (MAX_MESSAGES + 1))
    render("ok", [{"role": "user", "content": "x" * MAX_CONTENT_CHARS}], with_segments=False)
    with pytest.raises(MessagesError, match="1,000,000"):
        render("ok", [{"role": "user", "content": "x" * (MAX_CONTENT_CHARS + 1)}])
    with pytest.raises(TemplateLimitError, match="10,000,000|limit"):
        render("{{ 'y' * 10000001 }}", MESSAGES)
