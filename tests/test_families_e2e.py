"""A 2025-26 architecture end to end: a tiny random-weight Qwen3 with its special tokens, built here."""

from __future__ import annotations

import pytest
from conftest import reply_of

from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

HELLO = ({"role": "user", "content": "Hello!"},)


@pytest.fixture(scope="module")
def qwen3(engine, tmp_path_factory):
    from toy_qwen3 import build_toy_qwen3

    folder = build_toy_qwen3(tmp_path_factory.mktemp("models") / "Qwen3-toy-4bit")
    return engine.load(str(folder))


def test_it_loads_and_is_detected_as_qwen3_with_its_eos_wired(qwen3):
    assert qwen3.detection.preset == "qwen3" and qwen3.detection.template_source == "preset"
    assert qwen3.metadata.model_type == "qwen3"
    assert "<|im_end|>" in qwen3.eos(True).tokens


def test_enable_thinking_off_and_on_change_the_prompt(engine, qwen3):
    on = engine.prepare(qwen3, ChatRequest(messages=HELLO))
    off = engine.prepare(qwen3, ChatRequest(messages=HELLO, template_kwargs={"enable_thinking": False}))
    explicit_on = engine.prepare(qwen3, ChatRequest(messages=HELLO, template_kwargs={"enable_thinking": True}))
    assert on.text.endswith("<|im_start|>assistant\n") and on.text == explicit_on.text
    assert off.text == on.text + "<think>\n\n</think>\n\n"
    assert off.prompt_tokens == on.prompt_tokens + 2  # <think> and </think> (this toy tokenizer drops whitespace)
    assert (on.reasoning, on.tool_calls) == ("think", "hermes")


def test_it_streams_and_the_reply_is_parsed_per_family(engine, qwen3):
    prepared = engine.prepare(
        qwen3, ChatRequest(messages=HELLO, settings=GenerationSettings(temperature=0, max_tokens=12))
    )
    events = list(engine.stream(prepared))
    final = events[-1]
    assert final.finish_reason in ("stop", "length") and final.generation_tokens <= 12
    parser = prepared.parser()
    for event in events:
        parser.feed(event.text)
    parser.finish()
    assert parser.result().raw == "".join(e.text for e in events)


def test_reasoning_and_tool_calls_go_back_into_the_history_as_the_template_wants(engine, qwen3):

    prepared = engine.prepare(qwen3, ChatRequest(messages=HELLO))
    reply = '<think>\nThe user greets me.\n</think>\n\nHi! <tool_call>\n{"name": "wave", "arguments": {"hand": "left"}}\n</tool_call>'
    message = reply_of(prepared, reply).message()
    assert message["reasoning_content"] == "The user greets me." and message["content"] == "Hi!"
    assert message["tool_calls"][0]["function"] == {"name": "wave", "arguments": {"hand": "left"}}
    history = [*HELLO, message, {"role": "user", "content": "Again?"}]
    nxt = engine.prepare(qwen3, ChatRequest(messages=tuple(history)))
    assert "The user greets me." not in nxt.text  # Qwen3 drops reasoning before the last user turn
    assert '<tool_call>\n{"name": "wave", "arguments": {"hand": "left"}}\n</tool_call>' in nxt.text
    final_turn = engine.prepare(qwen3, ChatRequest(messages=(*HELLO, message), add_generation_prompt=False))
    assert "<think>\nThe user greets me.\n</think>" in final_turn.text  # ... but keeps it on the final turn


def test_deepseek_gets_its_tool_arguments_as_a_json_string(engine, qwen3):
    prepared = engine.prepare(qwen3, ChatRequest(messages=HELLO, template="deepseek-r1"))
    message = reply_of(  # the prompt opened a think block: a real reply closes it first
        prepared,
        "Wave.</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>wave\n```json\n{\"hand\": \"left\"}\n```"
        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    ).message()
    assert message["tool_calls"][0]["function"]["arguments"] == '{"hand": "left"}'
