"""Tool-call arguments arrive as a JSON string (OpenAI-style clients) or an object (others); templates crash on
the shape they do not expect. Conversations from the page are shaped for the chosen template's family
(``shape_tool_arguments``, the preset's ``tool_arguments``); ``render --messages`` keeps transformers' behaviour."""

from __future__ import annotations

import json

import pytest

from playground.errors import MessagesError, TemplateError
from playground.families import get_family
from playground.messages import shape_tool_arguments
from playground.templates import render_family

AS_OBJECT = {"city": "Paris", "unit": "°C"}
AS_STRING = json.dumps(AS_OBJECT, ensure_ascii=False)


def conversation(arguments, nested: bool = True) -> list[dict]:
    function = {"name": "get_weather", "arguments": arguments}
    call = {"type": "function", "id": "call0A1b2", "function": function} if nested else function
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call0A1b2", "content": "18"},
    ]


# preset, the shape its template crashes on
CRASHES = [("glm4.5", AS_STRING), ("glm4.6", AS_STRING), ("deepseek-r1", AS_OBJECT), ("deepseek-v3.1", AS_OBJECT)]


@pytest.mark.parametrize(("preset", "wrong"), CRASHES)
def test_shaping_makes_the_wrong_shape_render_as_the_right_one(preset, wrong):
    family = get_family(preset)
    right = AS_OBJECT if family.tool_arguments == "dict" else AS_STRING
    with pytest.raises(TemplateError):
        render_family(family, conversation(wrong))
    shaped = shape_tool_arguments(conversation(wrong), family.tool_arguments)
    assert render_family(family, shaped).text == render_family(family, conversation(right)).text


@pytest.mark.parametrize(
    ("style", "given", "expected"),
    [
        ("dict", AS_STRING, AS_OBJECT),
        ("dict", AS_OBJECT, AS_OBJECT),
        ("dict", "", {}),
        ("string", AS_OBJECT, AS_STRING),
        ("string", AS_STRING, AS_STRING),
        ("any", AS_STRING, AS_STRING),
        ("any", AS_OBJECT, AS_OBJECT),
    ],
)
@pytest.mark.parametrize("nested", [True, False], ids=["openai-shape", "flat"])
def test_each_style(style, given, expected, nested):
    messages = conversation(given, nested)
    shaped = shape_tool_arguments(messages, style)
    call = shaped[1]["tool_calls"][0]
    assert (call["function"] if nested else call)["arguments"] == expected
    assert messages == conversation(given, nested)  # the input is not changed


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '"text"'])
def test_a_string_that_is_not_an_object_is_a_clear_error(bad):
    with pytest.raises(
        MessagesError, match="message 2 tool call 1 arguments are not a JSON object, and the glm4.5 template needs one"
    ) as info:
        shape_tool_arguments(conversation(bad), "dict", "the glm4.5 template")
    assert info.value.hint


def test_render_messages_keeps_transformers_behaviour(tmp_path, cli):
    """The template's own error, as error + hint, where transformers raises too."""
    from transformers.utils.chat_template_utils import render_jinja_template

    family = get_family("glm4.5")
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(conversation(AS_STRING)))
    code, out, err = cli("render", "--preset", "glm4.5", "--messages", str(path))
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 2
    assert lines[0].startswith("error: the template raised an error: GLM-4.5's template needs tool-call arguments")
    assert lines[1].startswith("hint: ")
    with pytest.raises(Exception, match="GLM-4.5's template needs tool-call arguments"):
        render_jinja_template([conversation(AS_STRING)], chat_template=family.template)
