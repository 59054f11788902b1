"""The renderer: transformers-compatible environment, segments, errors with line numbers, limits."""

from __future__ import annotations

import pytest

from playground.errors import (
    MessagesError,
    TemplateLimitError,
    TemplateRaisedError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from playground.families import get_family
from playground.templates import RenderCall, compile_template, render, render_family

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "  Hi there \n"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]


@pytest.mark.parametrize("preset", ["chatml", "llama3", "llama2", "gemma", "mistral", "phi3", "qwen2.5"])
def test_segments_cover_text_and_attribute_messages(preset):
    rendered = render_family(get_family(preset), CHAT)
    text = rendered.text
    # Segments tile the text exactly, in order.
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(text)
    for left, right in zip(rendered.segments, rendered.segments[1:]):
        assert left.end == right.start
    # Each message segment holds that message's (possibly stripped) content.
    by_message = {}
    for seg in rendered.segments:
        if seg.kind == "message":
            by_message.setdefault(seg.message, "")
            by_message[seg.message] += text[seg.start : seg.end]
    for index, message in enumerate(rendered.messages):
        assert by_message[index].strip() == message["content"].strip()
    # Template segments contain the special tokens, never message text.
    template_text = "".join(text[s.start : s.end] for s in rendered.segments if s.kind == "template")
    assert "Hello!" not in template_text and "Bye" not in template_text


def test_segments_keep_preserved_whitespace_with_the_message():
    rendered = render_family(get_family("chatml"), CHAT)
    seg = next(s for s in rendered.segments if s.message == 1)
    assert rendered.text[seg.start : seg.end] == "  Hi there \n"
    llama = render_family(get_family("llama3"), CHAT)
    seg = next(s for s in llama.segments if s.message == 1)
    assert llama.text[seg.start : seg.end] == "Hi there"  # the template trims


def test_continue_final_message_leaves_the_reply_open():
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, I am "}]
    for preset, ending in [("chatml", "<|im_start|>assistant\nHello, I am "), ("llama3", "<|end_header_id|>\n\nHello, I am")]:
        rendered = render_family(get_family(preset), messages, add_generation_prompt=False, continue_final_message=True)
        assert rendered.text.endswith(ending)


def test_tojson_does_not_escape_html_and_keeps_unicode():
    out = render("{{ messages[0] | tojson }}", [{"role": "user", "content": "<b>é</b> & 'q'"}]).text
    assert out == '{"role": "user", "content": "<b>é</b> & \'q\'"}'


def test_transformers_globals_and_extensions():
    template = (
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{% generation %}{{ m.content }}"
        "{% endgeneration %}{% endfor %}|{{ strftime_now('%Y') | length }}|{{ dict(a=1).a }}|"
        "{% set ns = namespace(n=0) %}{% set ns.n = ns.n + 2 %}{{ ns.n }}|{{ tools is none }}|{{ extra }}"
    )
    out = render(template, CHAT, RenderCall(template_kwargs={"extra": "x"})).text
    assert out == "Be brief.|4|1|2|True|x"


def test_trim_and_lstrip_blocks_like_transformers():
    template = "{% for m in messages %}\n  {% if m.role == 'user' %}\n{{ m.content }}\n  {% endif %}\n{% endfor %}"
    assert render(template, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]).text == "a\nb\n"


def test_compiled_templates_are_cached():
    source = "{{ messages | length }}"
    assert compile_template(source) is compile_template(source)


@pytest.mark.parametrize(
    ("template", "error", "pattern"),
    [
        ("{% for m in messages %}\n{{ m.content }\n{% endfor %}", TemplateSyntaxError, "line 2"),
        ("{% if true %}\nx\n", TemplateSyntaxError, "line"),
        ("{{ raise_exception('Conversation roles must alternate') }}", TemplateRaisedError, "roles must alternate"),
        ("ok\n{{ messages[0].content + 1 }}", TemplateRaisedError, "line 2"),
        ("{{ messages.__class__.__mro__ }}", TemplateSecurityError, "__class__"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", TemplateLimitError, "time"),
        ("{{ 'x' * 100000000 }}", TemplateLimitError, "limit"),
    ],
)
@pytest.mark.slow
def test_template_errors_are_clear(template, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        render(template, [{"role": "user", "content": "hi"}])
    assert info.value.hint


def test_syntax_error_reports_line_number_attribute():
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template("line one\n{% if %}\n")
    assert info.value.lineno == 2


@pytest.mark.parametrize(
    ("messages", "pattern"),
    [
        ({"role": "user"}, "JSON list"),
        ([], "empty"),
        ([{"role": 3, "content": "x"}], "role must be non-empty text"),
        ([{"role": "user", "content": 3}], "content must be text"),
        ([{"role": "user"}], "has no 'content'"),
        (["hello"], "must be an object"),
    ],
)
def test_bad_messages(messages, pattern):
    with pytest.raises(MessagesError, match=pattern):
        render("{{ messages }}", messages)


def test_unknown_template_rejecting_system_is_retried_with_merge_and_says_so():
    strict = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" \
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
    rendered = render(strict, CHAT[:2])  # unknown system support: tried as-is first
    assert rendered.text == "[user]Be brief.\n\n  Hi there \n"
    assert any("rejected the system message" in w for w in rendered.warnings)
    with pytest.raises(TemplateRaisedError):
        render(strict, CHAT[:2], RenderCall(system_strategy="strict"))
