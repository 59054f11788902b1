"""Reply parsing of the batch-B families (Nemotron Nano v2, Seed-OSS, Granite 4.1, Hermes, Command R7B, MiniCPM5,
Step 3.5, Apertus, Solar Open): each preset's reasoning and tool-call formats on replies written as the model writes
them (after the prompt its template ends with), parsed whole, one character at a time and split in two at every
position; and Seed-OSS's call body against mlx-lm's Qwen3-Coder parser on the same outputs.
"""

from __future__ import annotations

import random

import pytest

from playground.families import get_family
from playground.parsing import Delta, ParsedReply, ReplyParser, join_deltas, parse_reply
from playground.parsing.mlx_lm_tools import load_tool_parser

# Markup of these formats: answer text must never contain any of it.
TAGS = (
    "<think>",
    "</think>",
    "<TOOLCALL>",
    "</TOOLCALL>",
    "<seed:think>",
    "</seed:think>",
    "<seed:tool_call>",
    "</seed:tool_call>",
    "<function=",
    "<parameter=",
    "<tool_call>",
    "</tool_call>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|START_ACTION|>",
    "<|END_ACTION|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
    "<function name=",
    "</function>",
    "<param name=",
    "<|inner_prefix|>",
    "<|inner_suffix|>",
    "<|tools_prefix|>",
    "<|tools_suffix|>",
    "<|think|>",
    "<|end|>",
    "<|begin|>",
    "<|content|>",
    "<|tool_calls|>",
    "<|tool_call:begin|>",
    "<|tool_call:end|>",
    "<|calls|>",
)
W = {"city": "Paris", "unit": "celsius"}
ADD = {"a": 2, "b": 3}
NEMO_PROMPT = "<SPECIAL_11>Assistant\n<think>\n"
SEED_PROMPT = "<seed:bos>assistant\n"
CR7B_PROMPT = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
MINICPM_PROMPT = "<|im_start|>assistant\n<think>\n"
STEP_PROMPT = "<|im_start|>assistant\n<think>\n"
APERTUS_PROMPT = "<|assistant_start|>"
SOLAR_PROMPT = "<|begin|>assistant"
SEED_CALL = (
    "<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n<parameter=unit>celsius</parameter>\n"
    "</function>\n</seed:tool_call>"
)
SOLAR_CALL = (
    '<|tool_call:begin|>a1b2c3d4e5<|tool_call:name|>get_weather<|tool_call:args|>{"city": "Paris", "unit": "celsius"}'
    "<|tool_call:end|>"
)
MINICPM_CALL = (
    '<function name="get_weather"><param name="city">Paris</param><param name="unit">celsius</param></function>'
)

# id, preset, prompt, reply, content, reasoning, [(name, arguments, id)], error fragments
CASES = [
    # --- Nemotron Nano v2: <think> opened by the prompt, <TOOLCALL>[...] -------------------------------------------
    (
        "nemotron-answer",
        "nemotron-nano-v2",
        NEMO_PROMPT,
        "The user greets me.\n</think>\n\nHello! How can I help?",
        "Hello! How can I help?",
        "The user greets me.",
        [],
        [],
    ),
    (
        "nemotron-call",
        "nemotron-nano-v2",
        NEMO_PROMPT,
        'I need the weather.\n</think>\n\n<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]</TOOLCALL>',
        "",
        "I need the weather.",
        [("get_weather", W, None)],
        [],
    ),
    (
        "nemotron-two-calls-text",
        "nemotron-nano-v2",
        NEMO_PROMPT,
        'Two tools.</think>Let me check.\n<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}, '
        '{"name": "add", "arguments": {"a": 2, "b": 3}}]</TOOLCALL>',
        "Let me check.",
        "Two tools.",
        [("get_weather", W, None), ("add", ADD, None)],
        [],
    ),
    (
        "nemotron-thinking-off",
        "nemotron-nano-v2",
        "<SPECIAL_11>Assistant\n<think></think>",
        "Hello!",
        "Hello!",
        None,
        [],
        [],
    ),
    (
        "nemotron-invalid-json",
        "nemotron-nano-v2",
        "<SPECIAL_11>Assistant\n<think></think>",
        '<TOOLCALL>[{"name": "add", "arguments": {a: 2}}]</TOOLCALL>',
        "",
        None,
        [("add", "{a: 2}", None)],
        ["tool call 1 is not valid JSON"],
    ),
    # --- Seed-OSS: <seed:think>, <seed:tool_call> with Qwen3-Coder style bodies ---------------------------------------
    (
        "seed-answer",
        "seed-oss",
        SEED_PROMPT,
        "<seed:think>The user greets me.</seed:think>\nHello! How can I help?",
        "Hello! How can I help?",
        "The user greets me.",
        [],
        [],
    ),
    (
        "seed-budget-reflect",
        "seed-oss",
        SEED_PROMPT,
        "<seed:think>2+2.\n<seed:cot_budget_reflect>I have used 5 tokens, and there are 507 tokens remaining for use."
        "</seed:cot_budget_reflect>\nIt is 4.</seed:think>\nThe answer is 4.",
        "The answer is 4.",
        "2+2.\n<seed:cot_budget_reflect>I have used 5 tokens, and there are 507 tokens remaining for "
        "use.</seed:cot_budget_reflect>\nIt is 4.",
        [],
        [],
    ),
    (
        "seed-call",
        "seed-oss",
        SEED_PROMPT,
        "<seed:think>I need the weather.</seed:think>\n" + SEED_CALL,
        "",
        "I need the weather.",
        [("get_weather", W, None)],
        [],
    ),
    (
        "seed-budget-zero",
        "seed-oss",
        SEED_PROMPT
        + "<seed:think>\n<seed:cot_budget_reflect>The current thinking budget is 0, so I will directly start "
        "answering the question.</seed:cot_budget_reflect>\n</seed:think>",
        "\nThe answer is 4.",
        "\nThe answer is 4.",
        None,
        [],
        [],
    ),  # the block was closed by the prompt: the reply is answer text as written
    (
        "seed-text-two-calls-multiline",
        "seed-oss",
        SEED_PROMPT,
        "Sure.\n" + SEED_CALL + "\n<seed:tool_call>\n<function=note>\n<parameter=text>line one\nline two</parameter>\n"
        "</function>\n</seed:tool_call>",
        "Sure.",
        None,
        [("get_weather", W, None), ("note", {"text": "line one\nline two"}, None)],
        [],
    ),
    # --- Granite 4.1 and Hermes: <tool_call> JSON -------------------------------------------------------------------------
    (
        "granite41-call",
        "granite4.1",
        "<|start_of_role|>assistant<|end_of_role|>",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>',
        "",
        None,
        [("get_weather", W, None)],
        [],
    ),
    (
        "hermes-two-calls",
        "hermes",
        "<|im_start|>assistant\n",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
        "",
        None,
        [("get_weather", W, None), ("add", ADD, None)],
        [],
    ),
    # --- Command R7B: thinking, action, response markers ---------------------------------------------------------------
    (
        "cr7b-response",
        "command-r7b",
        CR7B_PROMPT,
        "<|START_RESPONSE|>Hello! How can I help you today?<|END_RESPONSE|>",
        "Hello! How can I help you today?",
        None,
        [],
        [],
    ),
    (
        "cr7b-plan-two-calls",
        "command-r7b",
        CR7B_PROMPT,
        "<|START_THINKING|>I will look up the weather and add the numbers.<|END_THINKING|><|START_ACTION|>[\n"
        '    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}},\n'
        '    {"tool_call_id": "1", "tool_name": "add", "parameters": {"a": 2, "b": 3}}\n]<|END_ACTION|>',
        "",
        "I will look up the weather and add the numbers.",
        [("get_weather", W, "0"), ("add", ADD, "1")],
        [],
    ),
    (
        "cr7b-reflection-response",
        "command-r7b",
        CR7B_PROMPT,
        "<|START_THINKING|>The weather tool says 18 degrees.<|END_THINKING|><|START_RESPONSE|>It is 18 °C in Paris."
        "<|END_RESPONSE|>",
        "It is 18 °C in Paris.",
        "The weather tool says 18 degrees.",
        [],
        [],
    ),
    (
        "cr7b-broken-action",
        "command-r7b",
        CR7B_PROMPT,
        '<|START_ACTION|>[{"tool_name": "add", "parameters": {a}}]',
        "",
        None,
        [("add", "{a}", None)],
        ["tool call 1 is not valid JSON"],
    ),
    # --- MiniCPM5: <think>, <function name=...> calls (mlx-lm's minicpm5 parser; values stay text without tools) ------
    (
        "minicpm5-answer",
        "minicpm5",
        MINICPM_PROMPT,
        "The user greets me.\n</think>\n\nHello!",
        "Hello!",
        "The user greets me.",
        [],
        [],
    ),
    (
        "minicpm5-two-calls-cdata",
        "minicpm5",
        MINICPM_PROMPT,
        "Need two tools.\n</think>\n\n"
        + MINICPM_CALL
        + '\n<function name="note"><param name="text"><![CDATA[a < b\nc]]>'
        "</param></function>",
        "",
        "Need two tools.",
        [("get_weather", W, None), ("note", {"text": "a < b\nc"}, None)],
        [],
    ),
    (
        "minicpm5-no-think",
        "minicpm5",
        "<|im_start|>assistant\n",
        "Let me check. " + MINICPM_CALL,
        "Let me check.",
        None,
        [("get_weather", W, None)],
        [],
    ),
    # --- Step 3.5: <think> opened by the prompt, Qwen3-Coder XML calls --------------------------------------------------
    (
        "step35-call",
        "step3.5",
        STEP_PROMPT,
        "I need the weather.\n</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=unit>\ncelsius\n</parameter>\n</function>\n</tool_call>",
        "",
        "I need the weather.",
        [("get_weather", W, None)],
        [],
    ),
    ("step35-answer", "step3.5", STEP_PROMPT, "Greeting.\n</think>\nHello!", "Hello!", "Greeting.", [], []),
    # --- Apertus: <|inner_prefix|> deliberation, <|tools_prefix|>[{NAME: args}] -----------------------------------------
    (
        "apertus-answer",
        "apertus",
        APERTUS_PROMPT,
        "Hello! How can I help you today?",
        "Hello! How can I help you today?",
        None,
        [],
        [],
    ),
    (
        "apertus-deliberation",
        "apertus",
        APERTUS_PROMPT,
        "<|inner_prefix|>The user greets me.<|inner_suffix|>Hello!",
        "Hello!",
        "The user greets me.",
        [],
        [],
    ),
    (
        "apertus-two-calls",
        "apertus",
        APERTUS_PROMPT,
        'Let me check.<|tools_prefix|>[{"get_weather": {"city": "Paris", "unit": "celsius"}}, {"add": {"a": 2, "b": 3}}]'
        "<|tools_suffix|>",
        "Let me check.",
        None,
        [("get_weather", W, None), ("add", ADD, None)],
        [],
    ),
    (
        "apertus-not-a-named-call",
        "apertus",
        APERTUS_PROMPT,
        '<|tools_prefix|>[{"a": {}, "b": {}}]<|tools_suffix|>',
        "",
        None,
        [("", '{"a": {}, "b": {}}', None)],
        ['tool call 1 is not a {"NAME": arguments} object'],
    ),
    # --- Solar Open: reasoning and answer as messages, tool-call sections ------------------------------------------------
    (
        "solar-think-answer",
        "solar-open",
        SOLAR_PROMPT,
        "<|think|>The user greets me.<|end|><|begin|>assistant<|content|>Hello! How can I help?",
        "Hello! How can I help?",
        "The user greets me.",
        [],
        [],
    ),
    ("solar-answer-end", "solar-open", SOLAR_PROMPT, "<|content|>Hello!<|end|>", "Hello!", None, [], []),
    (
        "solar-think-calls",
        "solar-open",
        SOLAR_PROMPT,
        "<|think|>I need two tools.<|end|><|begin|>assistant<|tool_calls|>"
        + SOLAR_CALL
        + '<|tool_call:begin|>k9l8m7n6o5<|tool_call:name|>add<|tool_call:args|>{"a": 2, "b": 3}<|tool_call:end|><|calls|>',
        "",
        "I need two tools.",
        [("get_weather", W, "a1b2c3d4e5"), ("add", ADD, "k9l8m7n6o5")],
        [],
    ),
    (
        "solar-content-then-calls",
        "solar-open",
        SOLAR_PROMPT,
        "<|content|>Let me check.<|end|><|begin|>assistant<|tool_calls|>" + SOLAR_CALL + "<|calls|>",
        "Let me check.",
        None,
        [("get_weather", W, "a1b2c3d4e5")],
        [],
    ),
    (
        "solar-low-effort",
        "solar-open",
        SOLAR_PROMPT + "<|think|><|end|><|begin|>assistant",
        "<|content|>Hi!",
        "Hi!",
        None,
        [],
        [],
    ),
    (
        "solar-unclosed-think",
        "solar-open",
        SOLAR_PROMPT,
        "<|think|>Still thinking",
        "",
        "Still thinking",
        [],
        ["reasoning was not closed (no <|end|>)"],
    ),
    (
        "solar-call-without-args",
        "solar-open",
        SOLAR_PROMPT,
        "<|tool_calls|><|tool_call:begin|>x1<|tool_call:name|>get_weather<|tool_call:end|><|calls|>",
        "",
        None,
        [("get_weather", "", "x1")],
        ["tool call 1 has no <|tool_call:args|>"],
    ),
]
IDS = [case[0] for case in CASES]


def _formats(preset: str) -> tuple[str, str]:
    family = get_family(preset)
    return family.reasoning, family.tool_calls


def _feed(preset: str, prompt: str, chunks: list[str]) -> tuple[ParsedReply, list[Delta]]:
    parser = ReplyParser(*_formats(preset), prompt=prompt)
    deltas: list[Delta] = []
    for chunk in chunks:
        deltas += parser.feed(chunk)
    deltas += parser.finish()
    return parser.result(), deltas


def _check_deltas(parsed: ParsedReply, deltas: list[Delta]) -> None:
    assert join_deltas(deltas) == (parsed.content, parsed.reasoning, parsed.tool_calls)
    for delta in deltas:
        if delta.kind == "content":
            assert delta.text and not any(tag in delta.text for tag in TAGS), delta
        if delta.kind == "tool_call":
            assert delta.tool_call is not None and delta.text == delta.tool_call.raw


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_whole_reply(case):
    _, preset, prompt, reply, content, reasoning, calls, errors = case
    parsed = parse_reply(reply, *_formats(preset), prompt=prompt)
    assert (parsed.content, parsed.reasoning) == (content, reasoning)
    assert [(c.name, c.arguments, c.id) for c in parsed.tool_calls] == calls
    assert len(parsed.errors) == len(errors), parsed.errors
    for message, fragment in zip(parsed.errors, errors):
        assert fragment in message
    assert all(call.raw and call.raw in reply for call in parsed.tool_calls)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_streamed_one_character_at_a_time_and_split_anywhere(case):
    _, preset, prompt, reply, *_ = case
    whole = parse_reply(reply, *_formats(preset), prompt=prompt)
    parsed, deltas = _feed(preset, prompt, list(reply))
    assert parsed == whole
    _check_deltas(parsed, deltas)
    for i in range(len(reply) + 1):
        parsed, deltas = _feed(preset, prompt, [reply[:i], reply[i:]])
        assert parsed == whole, f"split at {i}: {reply[:i]!r} | {reply[i:]!r}"
        _check_deltas(parsed, deltas)


@pytest.mark.parametrize("seed", range(3))
def test_mangled_replies_parse_the_same_however_they_are_split(seed):
    """Broken markup (inserted or cut tags, cut replies) parses identically whole, char by char and in two chunks."""
    rng = random.Random(seed)
    for _ in range(40):
        _, preset, prompt, reply, *_ = rng.choice(CASES)
        for _ in range(rng.randint(1, 3)):
            i = rng.randint(0, len(reply))
            op = rng.random()
            if op < 0.5:
                reply = reply[:i] + rng.choice(TAGS + ("\n", "{", "]", '"', "ü")) + reply[i:]
            elif op < 0.8:
                reply = reply[:i] + reply[rng.randint(i, min(len(reply), i + 8)) :]
            else:
                reply = reply[:i]
        whole = parse_reply(reply, *_formats(preset), prompt=prompt)
        for chunks in [list(reply), *([reply[:i], reply[i:]] for i in range(0, len(reply) + 1, 5))]:
            parsed, deltas = _feed(preset, prompt, chunks)
            assert parsed == whole, (preset, reply, [len(c) for c in chunks])
            assert join_deltas(deltas) == (parsed.content, parsed.reasoning, parsed.tool_calls)


def test_minicpm5_values_are_typed_by_the_declared_tools():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
            },
        }
    ]
    reply = '<function name="add"><param name="a">2</param><param name="b">3</param></function>'
    assert parse_reply(reply, "think", "minicpm5").tool_calls[0].arguments == {"a": "2", "b": "3"}
    assert parse_reply(reply, "think", "minicpm5", tools=tools).tool_calls[0].arguments == ADD


def test_apertus_history_keeps_arguments_as_json_text_as_its_template_needs():
    parsed = parse_reply('<|tools_prefix|>[{"add": {"a": 2, "b": 3}}]<|tools_suffix|>', "apertus", "apertus")
    message = parsed.to_message(json_arguments=get_family("apertus").tool_arguments == "string")
    assert message["tool_calls"][0]["function"]["arguments"] == '{"a": 2, "b": 3}'
    assert get_family("apertus").tool_arguments == "string"


def test_solar_end_outside_a_block_is_a_message_end_not_a_reasoning_close():
    # A bare </think> after answer text means "that was reasoning" for DeepSeek-R1; Solar's <|end|> ends messages.
    parsed = parse_reply("<|content|>First.<|end|><|begin|>assistant<|content|>Second.", "solar-open", "solar-open")
    assert (parsed.content, parsed.reasoning, parsed.errors) == ("First.Second.", None, ())


# --- Seed-OSS's call body against mlx-lm's Qwen3-Coder parser on the same outputs -------------------------------------
# (reply, our arguments, mlx-lm's arguments, why they differ)
SEED_SAME_OUTPUTS = [
    (SEED_CALL, W, W, ""),
    (
        "<seed:tool_call>\n<function=add>\n<parameter=a>2</parameter>\n<parameter=b>3</parameter>\n</function>\n"
        "</seed:tool_call>",
        ADD,
        {"a": "2", "b": "3"},
        "without declared tools mlx-lm keeps every value as text; ours reads a value that is valid JSON as JSON",
    ),
    (
        "<seed:tool_call>\n<function=note>\n<parameter=text>\nindented\n</parameter>\n</function>\n</seed:tool_call>",
        {"text": "indented"},
        {"text": "indented"},
        "",
    ),
]


@pytest.mark.parametrize(("reply", "ours", "theirs", "why"), SEED_SAME_OUTPUTS)
def test_seed_calls_against_mlx_lms_qwen3_coder_parser(reply, ours, theirs, why):
    inner = reply.removeprefix("<seed:tool_call>").removesuffix("</seed:tool_call>")
    mlx_call = load_tool_parser("qwen3_coder").parse_tool_call(inner, None)
    parsed = parse_reply(reply, "seed", "seed").tool_calls
    assert [c.name for c in parsed] == [mlx_call["name"]]
    assert (parsed[0].arguments, mlx_call["arguments"]) == (ours, theirs)
    assert (ours == theirs) == (not why), "state why the two parsers differ"
