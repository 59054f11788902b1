"""Every role passes through to the template, as in transformers; a warning says when a template ignores one.

Roles beyond system/user/assistant/tool that templates read: ``developer`` (gpt-oss), ``ipython`` (Llama 3.1),
``assistant_tool_call`` / ``tool_response`` (Granite 3.3). Malformed messages keep their clear errors.
"""

from __future__ import annotations

import json
from datetime import datetime
from unittest import mock

import pytest

from playground.cli import main
from playground.errors import MessagesError
from playground.families import get_family
from playground.messages import validate_messages
from playground.templates import render_family

NOW = datetime(2026, 1, 15, 9, 30)

# preset, conversation with an extra role, text that role's message puts in the prompt
PASSED = [
    (
        "gpt-oss",
        [{"role": "developer", "content": "Answer in French."}, {"role": "user", "content": "Hi"}],
        "Answer in French.",
    ),
    (
        "llama3.1",
        [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "calling"},
            {"role": "ipython", "content": "4"},
        ],
        '<|start_header_id|>ipython<|end_header_id|>\n\n"4"',
    ),
    (
        "granite3.3",
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant_tool_call", "content": '<|tool_call|>[{"name": "f"}]'},
            {"role": "tool_response", "content": "42"},
        ],
        "<|start_of_role|>tool_response<|end_of_role|>42<|end_of_text|>",
    ),
]


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102 - the clock transformers' strftime_now reads
        return NOW


@pytest.mark.parametrize(("preset", "messages", "shown"), PASSED, ids=[p[0] for p in PASSED])
def test_extra_roles_render_as_transformers_renders_them(preset, messages, shown):
    from transformers.utils import chat_template_utils as ctu

    family = get_family(preset)
    rendered = render_family(family, messages, now=NOW)
    with mock.patch.object(ctu, "datetime", _FixedClock):
        theirs = ctu.render_jinja_template(
            [messages],
            chat_template=family.template,
            add_generation_prompt=True,
            bos_token=family.bos_token,
            eos_token=family.eos_token,
        )[0][0]
    assert rendered.text == theirs and shown in rendered.text
    assert not any("ignores" in w for w in rendered.warnings)


@pytest.mark.parametrize(("preset", "role"), [("qwen3", "developer"), ("granite4", "tool_response")])
def test_a_template_that_ignores_a_role_gets_a_warning_not_a_refusal(preset, role):
    messages = [{"role": role, "content": "SECRET-NOTE"}, {"role": "user", "content": "Hi"}]
    rendered = render_family(get_family(preset), messages, now=NOW)
    assert "SECRET-NOTE" not in rendered.text
    assert (
        f"message 1 has role '{role}', which this template ignores: its content is not in the prompt"
        in rendered.warnings
    )


@pytest.mark.parametrize(
    ("messages", "pattern"),
    [
        (["hello"], "message 1 must be an object"),
        ([{"content": "x"}], "message 1 has no 'role'"),
        ([{"role": 7, "content": "x"}], "message 1 role must be non-empty text, got 7"),
        ([{"role": " ", "content": "x"}], "message 1 role must be non-empty text"),
        ([{"role": "developer", "content": 3}], "message 1 content must be text"),
    ],
)
def test_malformed_messages_keep_their_clear_errors(messages, pattern):
    with pytest.raises(MessagesError, match=pattern) as info:
        validate_messages(messages)
    assert info.value.hint


def test_cli_messages_pass_a_developer_role(tmp_path, capsysbinary):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hi"}]))
    assert main(["render", "--preset", "chatml", "--messages", str(path)]) == 0
    out = capsysbinary.readouterr()
    assert (
        out.out.decode()
        == "<|im_start|>developer\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert main(["render", "--preset", "qwen3", "--messages", str(path)]) == 0
    assert (
        "warning: message 1 has role 'developer', which this template ignores" in capsysbinary.readouterr().err.decode()
    )
