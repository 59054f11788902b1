"""Engine.reply: the one loop over a reply's events (parsing, the assistant message, failures, closing), and
thinking / effort as plain request fields that prepare maps to the family's keyword."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from playground.errors import BackendError, TemplateError
from playground.events import GenerationEvent
from playground.parsing import ReplyParser
from playground.prepare import ChatRequest
from playground.reply import ReplyState, run_reply

HI = ({"role": "user", "content": "Hi"},)


def prepared_stub(text="", reasoning="none", tool_calls="none", json_arguments=False):
    return SimpleNamespace(
        text=text, reasoning=reasoning, tool_calls=tool_calls, json_tool_arguments=json_arguments, raw=False,
        parser=lambda prompt=None: ReplyParser(reasoning, tool_calls, prompt=text if prompt is None else prompt),
    )


def event(text, n, done=None, **extra):
    return GenerationEvent(text, None, 5, n, 0.01, 100.0, 50.0, 0.1, finish_reason=done, **extra)


def test_a_continued_reply_is_parsed_with_the_text_it_continues():
    # The earlier part opened a think block: the continuation is reasoning, not answer text.
    prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nLet me"
    base = {"role": "assistant", "content": "<think>\nLet me"}
    *_, state = run_reply(
        prepared_stub(prompt, "think", "hermes"), iter([event(" think.\n</think>\n\nHello!", 5, "stop")]), continues=base
    )
    assert state.message() == {"role": "assistant", "content": "Hello!", "reasoning_content": "Let me think."}


def test_a_continued_reply_keeps_its_text_when_the_template_changed_it():
    *_, state = run_reply(
        prepared_stub("prompt that does not end with the text"),
        iter([event(" 5 = 9.", 4, "stop")]),
        continues={"role": "assistant", "content": "4 +"},
    )
    assert state.message() == {"role": "assistant", "content": "4 + 5 = 9."}


def test_states_stream_the_parsed_pieces_and_end_once_done():
    events = [event("<think>\nhm", 2), event("\n</think>\n\nHi", 4), event("!", 5, "stop")]
    states = [(s.done, s.reasoning, s.content) for s in run_reply(prepared_stub("", "think"), iter(events))]
    assert states == [(False, "hm", ""), (False, "hm", "Hi"), (True, "hm", "Hi!")]


def test_tool_call_arguments_take_the_shape_the_template_wants():
    call = '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>'
    for json_arguments, expected in ((False, {"a": 1}), (True, '{"a": 1}')):
        *_, state = run_reply(prepared_stub("", "none", "hermes", json_arguments), iter([event(call, 9, "stop")]))
        assert state.message()["tool_calls"][0]["function"]["arguments"] == expected


def test_a_failure_mid_reply_ends_it_with_the_error_and_keeps_the_partial_reply():
    def events():
        yield event("4 + 5", 3)
        raise BackendError("the server went away", hint="start it again")

    *_, state = run_reply(prepared_stub(), events())
    assert state.done and state.finish_reason == "error" and state.partial and state.generated_tokens == 3
    assert state.message()["content"] == "4 + 5" and state.error.hint == "start it again"


def test_an_unexpected_exception_becomes_a_typed_error_not_a_crash():
    def events():
        raise KeyError("boom")
        yield

    *_, state = run_reply(prepared_stub(), events())
    assert state.error.message == "generation failed: KeyError: 'boom'" and not state.partial


def test_closing_the_reply_closes_the_event_stream():
    closed = threading.Event()

    def events():
        try:
            while True:
                yield event("x", 1)
        finally:
            closed.set()

    replies = run_reply(prepared_stub(), events())
    next(replies)
    replies.close()
    assert closed.is_set()


def test_the_event_stream_is_read_to_its_end_after_the_final_event():
    # Closing a scheduler stream before its end cancels the request (and Compare's columns share one cancel).
    closed_early = threading.Event()

    def events():
        finished = False
        try:
            yield event("Hi", 1)
            yield event("!", 2, "stop")
            finished = True
        finally:
            if not finished:
                closed_early.set()

    *_, state = run_reply(prepared_stub(), events())
    assert state.done and not closed_early.is_set()


def test_engine_reply_on_the_demo_model(engine, demo):
    prepared = engine.prepare(demo, ChatRequest(messages=HI, settings=demo_greedy()))
    done = []
    for final in engine.reply(prepared):  # one state, updated in place and yielded after every event
        done.append(final.done)
    assert done[-1] and not any(done[:-1]) and final.final.finish_reason == "stop"
    assert final.content == final.text and final.message() == {"role": "assistant", "content": final.text}
    assert engine.generate(prepared).text == final.text


def demo_greedy():
    from playground.settings import GenerationSettings

    return GenerationSettings(temperature=0.0, max_tokens=20)


# ---------------------------------------------------------------------------------------------- thinking / effort


@pytest.mark.parametrize(
    ("template", "thinking", "effort", "kwargs", "controls"),
    [
        ("qwen3", False, None, {"enable_thinking": False}, {"thinking": "enable_thinking=False"}),
        ("deepseek-v3.1", True, None, {"thinking": True}, {"thinking": "thinking=True"}),
        ("gpt-oss", None, "high", {"reasoning_effort": "high"}, {"effort": "reasoning_effort='high'"}),
        ("chatml", True, None, {}, {}),  # no switch: thinking on is how it behaves anyway
    ],
)
def test_thinking_and_effort_map_to_the_keyword_the_template_declares(
    engine, demo, template, thinking, effort, kwargs, controls
):
    prepared = engine.prepare(demo, ChatRequest(messages=HI, template=template, thinking=thinking, effort=effort))
    assert (dict(prepared.template_kwargs), dict(prepared.controls)) == (kwargs, controls)
    assert prepared.summary()["controls"] == controls


def test_thinking_off_changes_the_prompt_and_an_explicit_keyword_wins(engine, demo):
    off = engine.prepare(demo, ChatRequest(messages=HI, template="qwen3", thinking=False))
    assert off.text.endswith("<think>\n\n</think>\n\n")
    explicit = engine.prepare(
        demo, ChatRequest(messages=HI, template="qwen3", thinking=False, template_kwargs={"enable_thinking": True})
    )
    assert not explicit.text.endswith("</think>\n\n") and "given as a template keyword" in explicit.controls["thinking"]


def test_settings_a_template_cannot_take_are_said_not_dropped_silently(engine, demo):
    prepared = engine.prepare(demo, ChatRequest(messages=HI, template="chatml", thinking=False, effort="low"))
    assert any("thinking off has no effect" in w for w in prepared.warnings)
    assert any("reasoning effort 'low' has no effect" in w for w in prepared.warnings)
    with pytest.raises(TemplateError, match="reasoning effort must be one of low, medium, high, got 'max'"):
        engine.prepare(demo, ChatRequest(messages=HI, template="gpt-oss", effort="max"))


def test_a_reply_state_of_a_raw_request_is_all_answer():
    raw = SimpleNamespace(raw=True, text="Once upon", json_tool_arguments=False)
    state = ReplyState(raw)
    state.add(event(" a <think>time", 3, "length"))
    assert (state.content, state.reasoning, state.done) == (" a <think>time", None, True)
