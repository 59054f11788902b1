"""Two 2026 architectures end to end: tiny random-weight LFM2 and Qwen3.5 models (tests/toy_families.py) are
loaded, detected as their presets with the EOS wired, prepared with the family's keywords and tools, generate a few
tokens, and their replies are parsed in the family's formats (LFM2's calls through mlx-lm's pythonic parser)."""

from __future__ import annotations

import pytest
from conftest import reply_of

from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

HELLO = ({"role": "user", "content": "Hello!"},)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def lfm2(engine, tmp_path_factory):
    from toy_families import build_toy_lfm2

    return engine.load(str(build_toy_lfm2(tmp_path_factory.mktemp("models") / "LFM2-toy-4bit")))


@pytest.fixture(scope="module")
def qwen35(engine, tmp_path_factory):
    from toy_families import build_toy_qwen35

    return engine.load(str(build_toy_qwen35(tmp_path_factory.mktemp("models") / "Qwen3.5-toy-MLX-4bit")))


@pytest.mark.parametrize(
    ("which", "preset", "model_type"), [("lfm2", "lfm2", "lfm2"), ("qwen35", "qwen3.5", "qwen3_5")]
)
def test_loaded_and_detected_with_the_family_eos(request, which, preset, model_type):
    loaded = request.getfixturevalue(which)
    assert (loaded.detection.preset, loaded.detection.template_source) == (preset, "preset")
    assert loaded.metadata.model_type == model_type
    assert "<|im_end|>" in loaded.eos(True).tokens


def _generate(engine, prepared):
    events = list(engine.stream(prepared))
    assert events[-1].finish_reason in ("stop", "length") and events[-1].generation_tokens <= 6
    parser = prepared.parser()
    for event in events:
        parser.feed(event.text)
    parser.finish()
    assert parser.result().raw == "".join(e.text for e in events)


def test_qwen35_thinking_keyword_prompt_and_stream(engine, qwen35):
    settings = GenerationSettings(temperature=0, max_tokens=6)
    on = engine.prepare(qwen35, ChatRequest(messages=HELLO, settings=settings))
    off = engine.prepare(
        qwen35, ChatRequest(messages=HELLO, settings=settings, template_kwargs={"enable_thinking": False})
    )
    assert on.text == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n<think>\n"
    assert off.text == on.text + "\n</think>\n\n"
    assert (on.reasoning, on.tool_calls) == ("think", "qwen3-coder")
    _generate(engine, on)
    reply = "The user greets me.\n</think>\n\nHi! <tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
    parser = on.parser()  # the prompt opened <think>: the reply starts as reasoning
    parser.feed(reply)
    parser.finish()
    parsed = parser.result()
    assert (parsed.reasoning, parsed.content) == ("The user greets me.", "Hi!")
    assert [(c.name, c.arguments) for c in parsed.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_lfm2_tools_prompt_stream_and_pythonic_call(engine, lfm2):
    settings = GenerationSettings(temperature=0, max_tokens=6)
    prepared = engine.prepare(lfm2, ChatRequest(messages=HELLO, settings=settings, tools=[WEATHER]))
    assert prepared.text.startswith("<|startoftext|>**IMPORTANT**: The syntax for calling the tools is:")
    assert (
        '<|im_start|>system\nYou can use the following tools: <|tool_list_start|>[{"type": "function"' in prepared.text
    )
    assert (prepared.reasoning, prepared.tool_calls) == ("none", "lfm2")
    bos_id = lfm2.tokenizer.convert_tokens_to_ids("<|startoftext|>")
    assert prepared.token_ids[0] == bos_id and prepared.token_ids.count(bos_id) == 1  # the template's, not doubled
    _generate(engine, prepared)
    reply = reply_of(prepared, "<|tool_call_start|>[get_weather(ci", 'ty="Paris")]<|tool_', "call_end|>Checking.")
    assert reply.content == "Checking." and not reply.parsed.errors
    message = reply.message()
    assert message["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
    history = [*HELLO, message, {"role": "tool", "content": '{"temperature": 18}'}]
    again = engine.prepare(lfm2, ChatRequest(messages=tuple(history), tools=[WEATHER]))
    assert (
        '<|tool_call_start|>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n<|tool_call_end|>' in again.text
    )
    assert '<|tool_response_start|>{"temperature": 18}<|tool_response_end|>' in again.text


def test_the_request_tools_reach_the_reply_parser(engine, qwen35):
    """mlx-lm's parsers type argument values by the declared tools: the prepared request hands them its tools."""
    add = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
        },
    }
    reply = (  # the prompt opened <think>: the reply closes it, then calls
        'Adding.</think>\n\n<minimax:tool_call>\n<invoke name="add">\n<parameter name="a">2</parameter>\n'
        '<parameter name="b">3</parameter>\n</invoke>\n</minimax:tool_call>'
    )
    with_tools = engine.prepare(qwen35, ChatRequest(messages=HELLO, template="minimax-m2", tools=[add]))
    without = engine.prepare(qwen35, ChatRequest(messages=HELLO, template="minimax-m2"))
    assert with_tools.tool_calls == "minimax-m2"
    calls = {}
    for name, prepared in (("with", with_tools), ("without", without)):
        parser = prepared.parser()
        parser.feed(reply)
        parser.finish()
        calls[name] = parser.result().tool_calls[0].arguments
    assert calls == {"with": {"a": 2, "b": 3}, "without": {"a": "2", "b": "3"}}
