"""Tool-call formats parsed by mlx-lm's own parsers (`MlxLmStage`), and our parsers held against mlx-lm's.

The scripted replies of the mlx-lm formats (gemma4, minimax-m2, lfm2) are in tests/test_parsing.py's table, split at
every position. Here: what only the stage does (declared tools type the values, a call is emitted when its end
marker arrives), and, where the project keeps its own parser for a format that mlx-lm also parses (Qwen3-Coder XML,
GLM arg_key/arg_value, Kimi sections), both run over the same model outputs with every difference stated.
"""

from __future__ import annotations

import pytest

from playground.parsing import TOOL_CALL_FORMATS, ReplyParser, ToolCall, parse_reply
from playground.parsing.mlx_lm_tools import MLX_LM_TOOL_FORMATS, MlxLmStage, load_tool_parser

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "note",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array"}}},
        },
    },
]
KIMI = (
    "<|tool_calls_section_begin|>",
    "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<|tool_calls_section_end|>",
)


@pytest.mark.parametrize("fmt", sorted(MLX_LM_TOOL_FORMATS))
def test_each_mlx_lm_format_is_a_tool_call_format_with_the_modules_markers(fmt):
    assert fmt in TOOL_CALL_FORMATS
    module = load_tool_parser(MLX_LM_TOOL_FORMATS[fmt][0])
    stage = MlxLmStage(MLX_LM_TOOL_FORMATS[fmt][0])
    assert (stage.openers, stage.closer) == ((module.tool_call_start,), module.tool_call_end)


def test_an_unknown_parser_module_is_named():
    with pytest.raises(ValueError, match="mlx-lm has no tool parser 'nope'"):
        MlxLmStage("nope")


def test_declared_tools_type_the_values():
    reply = (
        '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
        '<parameter name="days">3</parameter>\n</invoke>\n</minimax:tool_call>'
    )
    assert parse_reply(reply, "none", "minimax-m2").tool_calls[0].arguments == {"city": "Paris", "days": "3"}
    typed = parse_reply(reply, "none", "minimax-m2", tools=TOOLS).tool_calls[0]
    assert typed.arguments == {"city": "Paris", "days": 3}
    streamed = ReplyParser("none", "minimax-m2", tools=TOOLS)
    for ch in reply:
        streamed.feed(ch)
    streamed.finish()
    assert streamed.result().tool_calls == (typed,)


def test_a_call_is_one_delta_when_its_end_marker_arrives():
    parser = ReplyParser("gemma4", "gemma4", prompt="<|turn>model\n")
    deltas = parser.feed("<|channel>thought\nWeather.<channel|>Checking. <|tool_call>call:add{a:1,")
    assert [d.kind for d in deltas if d.text] == ["reasoning", "content"]
    assert parser.feed("b:2}<tool_call|") == []
    deltas = parser.feed(">")
    assert [d.tool_call for d in deltas] == [
        ToolCall("add", {"a": 1, "b": 2}, None, "<|tool_call>call:add{a:1,b:2}<tool_call|>")
    ]


def test_calls_parsed_from_one_section_share_its_text():
    section = '<minimax:tool_call>\n<invoke name="a">\n</invoke>\n<invoke name="b">\n</invoke>\n</minimax:tool_call>'
    calls = parse_reply("ok " + section, "none", "minimax-m2").tool_calls
    assert [(c.name, c.raw) for c in calls] == [("a", section), ("b", section)]


# --- our parsers against mlx-lm's on the same model outputs ---------------------------------------------------------
# (format, mlx-lm module, reply, declared tools, our arguments, mlx-lm's arguments, why they differ)
SAME_OUTPUTS = [
    (
        "qwen3-coder",
        "qwen3_coder",
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
        "</function>\n</tool_call>",
        TOOLS,
        {"city": "Paris", "days": 3},
        {"city": "Paris", "days": 3},
        "",
    ),
    (
        "qwen3-coder",
        "qwen3_coder",
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
        "</function>\n</tool_call>",
        None,
        {"city": "Paris", "days": 3},
        {"city": "Paris", "days": "3"},
        "without declared tools mlx-lm keeps every value as text; ours reads a value that is valid JSON as JSON",
    ),
    (
        "qwen3-coder",
        "qwen3_coder",
        '<tool_call>\n<function=note>\n<parameter=text>\n42\n</parameter>\n<parameter=tags>\n["a", "b"]\n</parameter>\n'
        "</function>\n</tool_call>",
        TOOLS,
        {"text": 42, "tags": ["a", "b"]},
        {"text": "42", "tags": ["a", "b"]},
        "mlx-lm follows the schema (text is a string, so '42' stays text); ours does not read the schema",
    ),
    (
        "glm4.5",
        "glm47",
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key>"
        "<arg_value>3</arg_value></tool_call>",
        TOOLS,
        {"city": "Paris", "days": 3},
        {"city": "Paris", "days": 3},
        "",
    ),
    (
        "glm4.5",
        "glm47",
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>true</arg_value></tool_call>",
        TOOLS,
        {"city": True},
        {"city": "true"},
        "a declared string stays text in mlx-lm; ours reads JSON-looking text as JSON",
    ),
    (
        "glm4.5",
        "glm47",
        "<tool_call>note\n<arg_key>text</arg_key>\n<arg_value> hi </arg_value>\n<arg_key>tags</arg_key>\n"
        "<arg_value>['a', 'b']</arg_value>\n</tool_call>",
        None,
        {"text": " hi ", "tags": "['a', 'b']"},
        {"text": "hi", "tags": ["a", "b"]},
        "mlx-lm strips values and also reads Python literals; ours keeps a value's text exactly and reads only JSON",
    ),
    (
        "kimi",
        "kimi_k2",
        KIMI[0] + KIMI[1] + "functions.get_weather:0" + KIMI[2] + '{"city": "Paris"}' + KIMI[3] + KIMI[4],
        None,
        {"city": "Paris"},
        {"city": "Paris"},
        "",
    ),
    (
        "kimi",
        "kimi_k2",
        KIMI[0] + KIMI[1] + "functions.f:0" + KIMI[2] + "{'a': 1}" + KIMI[3] + KIMI[4],
        None,
        "{'a': 1}",
        {"a": 1},
        "mlx-lm also reads a Python literal; ours reports arguments that are not JSON as an error and keeps the text",
    ),
]


@pytest.mark.parametrize(
    ("fmt", "module", "reply", "tools", "ours", "theirs", "why"),
    SAME_OUTPUTS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(SAME_OUTPUTS)],
)
def test_our_parser_against_mlx_lms(fmt, module, reply, tools, ours, theirs, why):
    parser = load_tool_parser(module)
    inner = reply[len(parser.tool_call_start) : len(reply) - len(parser.tool_call_end)]
    mlx_calls = parser.parse_tool_call(inner, tools)
    mlx_call = mlx_calls[0] if isinstance(mlx_calls, list) else mlx_calls
    parsed = parse_reply(reply, "none", fmt)
    assert [c.name for c in parsed.tool_calls] == [mlx_call["name"]]
    assert (parsed.tool_calls[0].arguments, mlx_call["arguments"]) == (ours, theirs)
    assert (ours == theirs) == (not why), "state why the two parsers differ"
    if fmt == "kimi":
        assert parsed.tool_calls[0].id == mlx_call["id"]


# --- the other formats both cover: mistral, hermes (mlx-lm's json_tools), pythonic ---------------------------------
# (our format, mlx-lm module, reply, our calls, mlx-lm's calls (name, arguments), who is right where they differ)
MORE_OUTPUTS = [
    ("mistral", "mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123def"}]',
     [("get_weather", {"city": "Paris"})], [("get_weather", {"city": "Paris"})], ""),
    ("mistral", "mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
     [("get_weather", {"city": "Paris"})], [("get_weather", {"city": "Paris"})], ""),
    ("mistral", "mistral", '[TOOL_CALLS]a[ARGS]{"x": 1}[TOOL_CALLS]b[ARGS]{"y": 2}',
     [("a", {"x": 1}), ("b", {"y": 2})], [("a", {"x": 1}), ("b", {"y": 2})], ""),
    ("mistral", "mistral", '[TOOL_CALLS][{"name": "f", "arguments": "{\\"a\\": 1}"}]',
     [("f", {"a": 1})], [("f", {"a": 1})], ""),
    ("mistral", "mistral", '[TOOL_CALLS]get_weather[CALL_ID]abc123def[ARGS]{"city": "Paris"}',
     [("get_weather", {"city": "Paris"})], [("abc123def", {"city": "Paris"})],
     "mlx-lm is wrong: its NAME[ARGS] pattern takes the call id (Mistral Small 3.2 / Devstral 2507 / Magistral write "
     "NAME[CALL_ID]ID[ARGS]) for the function name"),
    ("hermes", "json_tools", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
     [("get_weather", {"city": "Paris"})], [("get_weather", {"city": "Paris"})], ""),
    ("hermes", "json_tools", '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>',
     [("get_weather", {"city": "Paris"})], [("get_weather", '{"city": "Paris"}')],
     "mlx-lm keeps string-encoded arguments as the string; ours decodes them to the object (both are usable)"),
    ("pythonic", "pythonic", '[get_weather(city="Paris", days=3)]',
     [("get_weather", {"city": "Paris", "days": 3})], [("get_weather", {"city": "Paris", "days": 3})], ""),
    ("pythonic", "pythonic", '[a(x=1), b(y="t")]', [("a", {"x": 1}), ("b", {"y": "t"})],
     [("a", {"x": 1}), ("b", {"y": "t"})], ""),
    ("pythonic", "pythonic", "[f(flag=true, x=null, l=[1, 2])]", [("f", {"flag": True, "x": None, "l": [1, 2]})],
     [("f", {"flag": True, "x": None, "l": [1, 2]})], ""),  # ours failed here before: JSON literals now read
]


@pytest.mark.parametrize(
    ("fmt", "module", "reply", "ours", "theirs", "why"), MORE_OUTPUTS, ids=[f"{r[0]}-{i}" for i, r in enumerate(MORE_OUTPUTS)]
)
def test_more_formats_against_mlx_lms(fmt, module, reply, ours, theirs, why):
    parser = load_tool_parser(module)
    inner = reply.removeprefix(parser.tool_call_start)
    inner = inner.removesuffix(parser.tool_call_end) if parser.tool_call_end else inner
    mlx_calls = parser.parse_tool_call(inner, None)
    mlx_calls = mlx_calls if isinstance(mlx_calls, list) else [mlx_calls]
    parsed = parse_reply(reply, "none", fmt)
    assert not parsed.errors and parsed.content == ""
    assert [(c.name, c.arguments) for c in parsed.tool_calls] == ours
    assert [(c["name"], c["arguments"]) for c in mlx_calls] == theirs
    assert (ours == theirs) == (not why), "state why the two parsers differ"


def test_a_broken_hermes_call_is_no_call_in_either():
    reply = '<tool_call>\n{"name": "f", "arguments": {"a": 1},}\n</tool_call>'
    with pytest.raises(ValueError):
        load_tool_parser("json_tools").parse_tool_call(reply[len("<tool_call>") : -len("</tool_call>")], None)
    parsed = parse_reply(reply, "none", "hermes")
    assert parsed.errors == ("tool call 1 is not valid JSON: Expecting property name enclosed in double quotes: "
                             "line 1 column 37 (char 36)",)
    assert parsed.tool_calls[0].arguments == '{"a": 1},'  # ours keeps the text and says why; mlx-lm raises
