"""Presets rendered by mlx-lm's Python encoders (``encoder = ...`` instead of a Jinja template): DeepSeek V3.2.

Every conversation our preset renders must equal what ``mlx_lm.chat_templates.deepseek_v32.apply_chat_template``
returns when called directly; detection, the DSML tool-call format and preset validation around it.
"""

from __future__ import annotations

import json

import pytest
from mlx_lm.chat_templates import deepseek_v32
from preset_cases import CASES

from playground.cli import main
from playground.detect import detect
from playground.errors import PresetError, TemplateError
from playground.families import get_family, load_family
from playground.messages import shape_tool_arguments
from playground.parsing import ReplyParser, parse_reply
from playground.templates import render_family

FAMILY = get_family("deepseek-v3.2")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
CALL = {
    "type": "function",
    "id": "call_1",
    "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris", "days": 2})},
}
TOOL_TURNS = [
    {"role": "system", "content": "You help with the weather."},
    {"role": "user", "content": "Weather in Paris for two days?"},
    {"role": "assistant", "content": "", "reasoning_content": "Call the tool.", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 18}'},
]
REASONING = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
    {"role": "user", "content": "2+2?"},
]

# name -> (messages, add_generation_prompt, tools, keywords)
ROWS = {
    **{case: (messages, agp, None, {}) for case, (messages, agp) in CASES.items()},
    "reasoning_in_history": (REASONING, True, None, {}),
    "keep_reasoning": (REASONING, True, None, {"drop_thinking": False}),
    "chat_mode": (REASONING, True, None, {"enable_thinking": False}),
    "tools_declared": (TOOL_TURNS[:2], True, [WEATHER], {}),
    "tool_call_and_result": (TOOL_TURNS, True, [WEATHER], {}),
    "tool_call_chat_mode": (TOOL_TURNS, True, [WEATHER], {"enable_thinking": False}),
    "developer_role": ([{"role": "developer", "content": "Be brief."}], True, None, {}),
    "final_reply": ([*REASONING[:2]], False, None, {"enable_thinking": False}),
}


@pytest.mark.parametrize("case", ROWS)
def test_renders_what_mlx_lms_encoder_returns(case):
    messages, agp, tools, kwargs = ROWS[case]
    try:
        theirs = deepseek_v32.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=agp, **({"tools": tools} if tools else {}), **kwargs
        )
    except AssertionError:  # the encoder refuses it (a final reply without reasoning in thinking mode): so do we
        with pytest.raises(TemplateError, match="the deepseek_v32 encoder rejected the conversation"):
            render_family(FAMILY, messages, add_generation_prompt=agp, tools=tools, template_kwargs=kwargs)
        return
    ours = render_family(FAMILY, messages, add_generation_prompt=agp, tools=tools, template_kwargs=kwargs)
    assert ours.text == theirs
    assert ours.source == "preset" and any(s.kind == "message" for s in ours.segments)


def test_continuing_the_final_reply_matches_too():
    messages = [*REASONING[:2]]
    ours = render_family(
        FAMILY,
        messages,
        add_generation_prompt=False,
        continue_final_message=True,
        template_kwargs={"enable_thinking": False},
    )
    theirs = deepseek_v32.apply_chat_template(
        [dict(m) for m in messages], continue_final_message=True, enable_thinking=False
    )
    assert ours.text == theirs and ours.text.endswith("Hello!")


def test_a_keyword_the_encoder_does_not_take_is_named():
    with pytest.raises(TemplateError, match="the deepseek_v32 encoder takes no keyword 'reasoning_effort'") as info:
        render_family(FAMILY, REASONING, template_kwargs={"reasoning_effort": "high"})
    assert "enable_thinking" in info.value.hint


def test_object_arguments_are_the_encoders_error_until_shaped():
    turns = [
        *TOOL_TURNS[:2],
        {
            **TOOL_TURNS[2],
            "tool_calls": [{**CALL, "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}],
        },
        TOOL_TURNS[3],
    ]
    with pytest.raises(TemplateError, match="the deepseek_v32 encoder rejected the conversation") as info:
        render_family(FAMILY, turns, tools=[WEATHER])
    assert info.value.hint
    shaped = shape_tool_arguments(turns, FAMILY.tool_arguments)
    assert (
        render_family(FAMILY, shaped, tools=[WEATHER]).text == render_family(FAMILY, TOOL_TURNS, tools=[WEATHER]).text
    )


def test_jinja_consumers_get_a_clear_error_not_an_empty_prompt():
    from playground.templates import render

    with pytest.raises(TemplateError, match="encodes its prompt in Python"):
        render(FAMILY.template, REASONING)


@pytest.mark.parametrize(
    ("name", "model_type"),
    [
        ("DeepSeek-V3.2-Exp-4bit", "deepseek_v32"),
        ("model", "deepseek_v32"),
        ("DeepSeek-V3.2-Speciale-mlx", "deepseek_v3"),
    ],
)
def test_detected_from_model_type_and_names(model_dir, tmp_path, capsysbinary, name, model_type):
    tokens = {
        "<｜begin▁of▁sentence｜>": 0,
        "<｜end▁of▁sentence｜>": 1,
        "<｜User｜>": 128803,
        "<｜Assistant｜>": 128804,
        "<think>": 128798,
        "</think>": 128799,
    }
    folder = model_dir(
        name,
        config={"model_type": model_type},
        tokenizer_config={
            "bos_token": "<｜begin▁of▁sentence｜>",
            "eos_token": "<｜end▁of▁sentence｜>",
            "added_tokens_decoder": {str(i): {"content": t, "special": True} for t, i in tokens.items()},
        },
    )
    detection = detect(folder)
    assert (detection.preset, detection.eos_tokens) == ("deepseek-v3.2", ("<｜end▁of▁sentence｜>",))
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(REASONING))
    assert main(["render", "--model", str(folder), "--messages", str(chat)]) == 0
    assert capsysbinary.readouterr().out.decode() == deepseek_v32.apply_chat_template(
        [dict(m) for m in REASONING], add_generation_prompt=True
    )


def test_dsml_calls_parse_back_to_what_the_encoder_wrote():
    """The encoder's own text for an assistant tool call, parsed (whole and streamed) gives the call back."""
    text = deepseek_v32.render_message(
        0,
        [
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    CALL,
                    {
                        "type": "function",
                        "function": {"name": "note", "arguments": '{"text": "a \\"b\\"", "tags": [1]}'},
                    },
                ],
            }
        ],
        thinking_mode="chat",
    ).removesuffix("<｜end▁of▁sentence｜>")
    parsed = parse_reply(text, "think", "dsml")
    assert parsed.content == "Checking."
    assert [(c.name, c.arguments) for c in parsed.tool_calls] == [
        ("get_weather", {"city": "Paris", "days": 2}),
        ("note", {"text": 'a "b"', "tags": [1]}),
    ]
    streamed = ReplyParser("think", "dsml")
    for ch in text:
        streamed.feed(ch)
    streamed.finish()
    assert streamed.result().tool_calls == parsed.tool_calls


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        ('template = "x.jinja"\nencoder = "deepseek_v32"\n', "either 'template'"),
        ("", "either 'template'"),
        ('encoder = "no_such_encoder"\n', "not a module of mlx_lm.chat_templates"),
    ],
)
def test_preset_files_name_one_template_or_one_real_encoder(tmp_path, extra, pattern):
    path = tmp_path / "house.toml"
    path.write_text(f'name = "house"\ntitle = "House"\neos_tokens = []\nsystem_role = true\n{extra}')
    with pytest.raises(PresetError, match=pattern):
        load_family(path)


def test_copy_as_code_calls_the_encoder(engine, demo):
    """The prepared request through the engine, and the snippet's prompt part run as written."""
    from playground.prepare import ChatRequest
    from playground.snippet import mlx_lm_snippet

    prepared = engine.prepare(demo, ChatRequest(messages=tuple(REASONING), template="deepseek-v3.2"))
    assert prepared.text == deepseek_v32.apply_chat_template([dict(m) for m in REASONING], add_generation_prompt=True)
    assert (prepared.reasoning, prepared.tool_calls) == ("think", "dsml")
    script = mlx_lm_snippet(prepared)
    start = script.index("from mlx_lm.chat_templates")
    end = script.index("assert prompt ==")
    end = script.index("\n", end)
    scope: dict = {}
    exec(script[start:end], scope)  # noqa: S102 - our own generated code
    assert scope["prompt"] == prepared.text
