"""The UI's pure parts: history conversion (the Gradio boundary), settings parsing, HTML views."""

from __future__ import annotations

import pytest

from playground.errors import MessagesError, SettingsError
from playground.families import get_family
from playground.templates import render_family
from playground.ui import views
from playground.ui.handlers import settings_from_inputs
from playground.ui.history import content_text, history_to_messages, messages_to_history

GRADIO6_HISTORY = [
    {"role": "user", "content": [{"type": "text", "text": "Hello!"}], "metadata": None, "options": None},
    {"role": "assistant", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there."}]},
    {"role": "assistant", "content": "prompt 10 tokens", "metadata": {"title": "Stats: stop · 3 tokens"}},
    {"role": "user", "content": "plain string content"},
]


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("abc", "abc"),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"),
        ({"type": "text", "text": "x"}, "x"),
        (None, ""),
        ([], ""),
    ],
)
def test_content_text(content, text):
    assert content_text(content) == text


def test_history_to_messages_converts_blocks_and_skips_stats():
    messages = history_to_messages(GRADIO6_HISTORY, "Be brief.")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there."},
        {"role": "user", "content": "plain string content"},
    ]
    assert all(isinstance(m["content"], str) for m in messages)
    assert history_to_messages(GRADIO6_HISTORY, "   ")[0]["role"] == "user"  # blank system prompt is no message


@pytest.mark.parametrize(
    "history",
    [
        [{"role": "user", "content": {"type": "image", "url": "x.png"}}],
        [{"role": "robot", "content": "x"}],
        ["not a message"],
        [{"role": "user", "content": 42}],
    ],
)
def test_history_to_messages_rejects_bad_items(history):
    with pytest.raises(MessagesError):
        history_to_messages(history)


def test_messages_round_trip():
    messages = history_to_messages(GRADIO6_HISTORY, "sys")
    history, system = messages_to_history(messages)
    assert system == "sys" and history_to_messages(history, system) == messages


def test_settings_from_inputs():
    s = settings_from_inputs(0.5, 0.9, 0.0, 40.0, 1.1, 64.0, 100.0, "7", "###\n\nEND\n")
    assert (s.top_k, s.repetition_context_size, s.max_tokens, s.seed, s.stop) == (40, 64, 100, 7, ("###", "END"))
    assert settings_from_inputs(None, None, None, None, None, None, None, "", "").seed is None
    for bad in [dict(temperature=-1), dict(seed="abc"), dict(max_tokens=0), dict(top_p=1.5)]:
        values = dict(temperature=0.7, top_p=1.0, min_p=0.0, top_k=0, repetition_penalty=1.0,
                      repetition_context_size=20, max_tokens=10, seed="", stop_text="")
        values.update({("stop_text" if k == "stop" else k): v for k, v in bad.items()})
        with pytest.raises(SettingsError):
            settings_from_inputs(**values)


def test_prompt_html_escapes_colours_and_shows_tokens():
    messages = [{"role": "system", "content": "Be <b>bold</b>"}, {"role": "user", "content": "  hi\t"}]
    rendered = render_family(get_family("chatml"), messages)
    html = views.prompt_html(rendered, ["<|im_start|>", "<|im_end|>"], token_count=12)
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.count('<span class="pg-tok">&lt;|im_start|&gt;</span>') == 3
    assert 'class="pg-msg pg-system"' in html and 'class="pg-msg pg-user"' in html
    assert "↵" in html and "⇥" in html and "··" in html  # newlines, tabs and edge spaces are visible
    assert "12 tokens" in html


def test_diff_html_marks_changes():
    a = render_family(get_family("chatml"), [{"role": "user", "content": "Hi"}]).text
    b = render_family(get_family("llama2"), [{"role": "user", "content": "Hi"}]).text
    html = views.diff_html(a, b, "chatml", "llama2")
    assert '<del class="pg-del">' in html and '<ins class="pg-ins">' in html and "[INST]" in html
    assert "identical" in views.diff_html(a, a)
