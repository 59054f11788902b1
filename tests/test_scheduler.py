"""Batched generation: requests of one model decode together, and each reply is exactly what it would be alone."""

from __future__ import annotations

import math
import threading

import pytest
from conftest import DEMO_MODEL, ask

from playground.backends.local.prompt_cache import PromptCacheState
from playground.engine import Engine
from playground.errors import GenerationError
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

PROMPTS = ["Hello!", "What is 4 + 5?", "What is the capital of France? Please answer in one short sentence."]


def prepared_for(engine, loaded, text, **settings):
    settings = {"temperature": 0, "max_tokens": 40, **settings}
    request = ChatRequest(messages=({"role": "user", "content": text},), settings=GenerationSettings(**settings))
    return engine.prepare(loaded, request)


def run_together(engine, prepared, cancels=None, cancel_after=None):
    """Stream every request at once from its own thread; returns the results in order."""
    results = [None] * len(prepared)
    started = threading.Barrier(len(prepared))

    def consume(index):
        started.wait()
        cancel = cancels[index] if cancels else None
        text, final, sizes = "", None, []
        for event in engine.stream(prepared[index], cancel=cancel):
            text += event.text
            final = event
            sizes.append(event.batch_size)
            if cancel_after and index in cancel_after and event.generation_tokens >= cancel_after[index]:
                cancel.set()
        results[index] = (text, final, max(sizes))

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(len(prepared))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def stream_while_another_joins(engine, first, second, joins_at):
    """Stream ``first``; once it has produced ``joins_at`` tokens, ``second`` is submitted from another thread.
    Returns the first's events and the second's result (or the GenerationError it raised)."""
    joined, out = threading.Event(), {}

    def late():
        joined.wait(30)
        try:
            out["second"] = engine.generate(second)
        except GenerationError as exc:
            out["second"] = exc

    thread = threading.Thread(target=late)
    thread.start()
    events = []
    for event in engine.stream(first):
        events.append(event)
        if event.generation_tokens == joins_at:
            joined.set()  # the second request arrives while the first is decoding
    thread.join(60)
    return events, out.get("second")


@pytest.fixture(scope="module")
def toy(engine, toy_llama3):
    return engine.load(str(toy_llama3))


@pytest.mark.parametrize("which", ["demo", "toy"])
def test_batched_replies_are_identical_to_running_alone(engine, demo, toy, which):
    loaded = demo if which == "demo" else toy
    plans = [
        prepared_for(engine, loaded, PROMPTS[0]),
        prepared_for(engine, loaded, PROMPTS[1], max_tokens=5),  # stops early (token limit)
        prepared_for(engine, loaded, PROMPTS[2], temperature=0.9, seed=7),  # another sampler, seeded
    ]
    alone = [engine.generate(p) for p in plans]
    together = run_together(engine, plans)
    assert [t[0] for t in together] == [a.text for a in alone]
    assert [t[1].finish_reason for t in together] == [a.final.finish_reason for a in alone]
    assert max(t[2] for t in together) >= 2  # they really decoded in one batch
    assert together[1][1].generation_tokens <= 5


def test_a_cancelled_request_leaves_the_others_untouched(engine, demo):
    plans = [prepared_for(engine, demo, text, max_tokens=60) for text in PROMPTS[:2]]
    plans[0] = engine.prepare(demo, plans[0].request.replace(wire_eos=False))  # long enough to cancel
    alone = engine.generate(plans[1]).text
    cancels = [threading.Event(), threading.Event()]
    together = run_together(engine, plans, cancels=cancels, cancel_after={0: 3})
    assert together[0][1].finish_reason == "cancelled" and 3 <= together[0][1].generation_tokens <= 6
    assert together[1][0] == alone and together[1][1].finish_reason == "stop"


@pytest.mark.slow
def test_a_session_joining_a_running_batch_gets_its_own_reply(engine, demo):
    first = engine.prepare(demo, prepared_for(engine, demo, PROMPTS[0], max_tokens=80).request.replace(wire_eos=False))
    second = prepared_for(engine, demo, PROMPTS[1])
    first_alone, second_alone = engine.generate(first).text, engine.generate(second).text
    events, joined = stream_while_another_joins(engine, first, second, joins_at=10)
    assert "".join(e.text for e in events) == first_alone
    assert joined.text == second_alone and joined.final.batch_size == 2


@pytest.mark.slow
@pytest.mark.parametrize("joins_at", [1, 10])
def test_a_sampled_reply_moved_into_a_batch_goes_on_as_if_alone(engine, demo, joins_at):
    """A lone request decodes on generate_step, which has already fed its last token and drawn the next one
    when a second request arrives; it moves into the batch with that step thrown away and its random key
    rewound, so its reply, token probabilities included, is the same as running alone to the end."""
    sampled = prepared_for(engine, demo, PROMPTS[0], temperature=1.5, top_k=50, seed=11, max_tokens=40)
    sampled = engine.prepare(demo, sampled.request.replace(wire_eos=False, logprobs=3))
    second = prepared_for(engine, demo, PROMPTS[1], max_tokens=60)
    second = engine.prepare(demo, second.request.replace(wire_eos=False))
    alone = engine.generate(sampled)
    events, _ = stream_while_another_joins(engine, sampled, second, joins_at)
    text, tokens, final = "".join(e.text for e in events), [t for e in events for t in e.tokens], events[-1]
    assert final.batch_size == 2  # it did decode in a batch after starting alone
    assert text == alone.text and final.generation_tokens == alone.final.generation_tokens == 40
    assert [t.id for t in tokens] == [t.id for t in alone.tokens]
    assert [t.logprob for t in tokens] == pytest.approx([t.logprob for t in alone.tokens], abs=1e-4)


@pytest.mark.parametrize("batching", [True, False])
def test_a_repetition_penalty_sees_the_part_of_the_prompt_held_in_the_kv_cache(demo, batching):
    """generate_step gives logits processors only the tokens it feeds; with a reused cache that is the new
    part of the prompt, so the penalty must be told about the cached start to penalise the same tokens."""
    engine = Engine(batching=batching)
    loaded = engine.load(str(DEMO_MODEL))
    settings = {"temperature": 0, "max_tokens": 30, "repetition_penalty": 3.0, "repetition_context_size": 200}
    cache = PromptCacheState()
    history = [{"role": "user", "content": "My name is Emma. What is 4 + 5?"}]
    first, _ = ask(engine, loaded, history, cache=cache, **settings)
    history += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "What is my name?"}]
    reused, _ = ask(engine, loaded, history, cache=cache, **settings)
    fresh, _ = ask(engine, loaded, history, **settings)
    assert reused.final.reused_tokens > 0 and fresh.final.reused_tokens == 0
    assert reused.text == fresh.text


def test_kv_cache_reuse_inside_a_batch_gives_the_same_reply(engine, demo):
    cache = PromptCacheState()
    history = [{"role": "user", "content": "My name is Emma."}]
    first, _ = ask(engine, demo, history, cache=cache, temperature=0, max_tokens=30)
    history += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "What is my name?"}]
    with_cache = engine.prepare(demo, ChatRequest(messages=tuple(history), settings=GenerationSettings(temperature=0)))
    other = prepared_for(engine, demo, PROMPTS[2])
    expected = engine.generate(with_cache).text
    results = [None, None]

    def run(index, prepared, state):
        results[index] = engine.generate(prepared, cache=state)

    threads = [
        threading.Thread(target=run, args=(0, with_cache, cache)),
        threading.Thread(target=run, args=(1, other, None)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results[0].text == expected and results[0].final.reused_tokens > 0


def test_seeded_sampling_reproduces_itself_in_a_batch(engine, demo):
    sampled = prepared_for(engine, demo, PROMPTS[0], temperature=1.3, seed=123, max_tokens=30)
    alone = engine.generate(sampled).text
    together = run_together(engine, [sampled, prepared_for(engine, demo, PROMPTS[1]), sampled])
    assert together[0][0] == alone and together[2][0] == alone


def test_requests_beyond_the_batch_limit_wait_and_see_their_queue_position(demo):
    engine = Engine(max_batch=1)
    loaded = engine.load(str(DEMO_MODEL))
    long = engine.prepare(loaded, prepared_for(engine, loaded, PROMPTS[0], max_tokens=40).request.replace(wire_eos=False))
    waiting = prepared_for(engine, loaded, PROMPTS[1])
    statuses, out = [], {}
    started = threading.Event()

    def second():
        started.wait(30)
        for event in engine.stream(waiting):
            statuses.append((event.status, event.queue_position))
        out["done"] = True

    thread = threading.Thread(target=second)
    thread.start()
    for event in engine.stream(long):
        if event.generation_tokens == 2:
            started.set()
    thread.join(60)
    assert ("queued", 1) in statuses and statuses[-1][0] == "done" and out["done"]


def test_stop_while_queued_ends_without_generating(demo):
    engine = Engine(max_batch=1)
    loaded = engine.load(str(DEMO_MODEL))
    blocker = engine.prepare(
        loaded, prepared_for(engine, loaded, PROMPTS[0], max_tokens=60).request.replace(wire_eos=False)
    )
    cancel = threading.Event()
    events = []

    def queued():
        for event in engine.stream(prepared_for(engine, loaded, PROMPTS[1]), cancel=cancel):
            events.append(event)
            if event.status == "queued":
                cancel.set()

    thread = threading.Thread(target=queued)
    for event in engine.stream(blocker):
        if event.generation_tokens == 2:
            thread.start()
    thread.join(30)
    assert events[-1].finish_reason == "cancelled" and events[-1].generation_tokens == 0


def test_the_memory_limit_refuses_a_request_that_can_never_fit(demo):
    engine = Engine(memory_limit_gb=0.001)
    loaded = engine.load(str(DEMO_MODEL))
    with pytest.raises(GenerationError, match="memory limit"):
        engine.generate(prepared_for(engine, loaded, PROMPTS[0]))


def test_batching_off_decodes_one_at_a_time_with_the_same_replies(engine, demo):
    solo = Engine(batching=False)
    loaded = solo.load(str(DEMO_MODEL))
    plans = [prepared_for(solo, loaded, text) for text in PROMPTS]
    expected = [engine.generate(prepared_for(engine, demo, text)).text for text in PROMPTS]
    together = run_together(solo, plans)
    assert [t[0] for t in together] == expected and max(t[2] for t in together) == 1


# ---------------------------------------------------------------------------------------------- token probabilities


def test_token_probabilities_are_consistent(engine, demo):
    result, _ = ask(engine, demo, temperature=0, max_tokens=40, logprobs=5)
    tokens = result.tokens
    assert tokens and tokens[-1].text == "<|im_end|>" and tokens[-1].special
    assert "".join(t.text for t in tokens[:-1]) == result.text
    for token in tokens:
        logprobs = [alt.logprob for alt in token.top]
        assert logprobs == sorted(logprobs, reverse=True) and len(token.top) == 5
        assert token.top[0].id == token.id and token.logprob == pytest.approx(token.top[0].logprob)  # greedy
        assert sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-5
        assert token.eos_logprob is not None and token.eos_logprob <= 1e-6


def test_the_stop_decision_is_visible_in_p_eos(engine, demo):
    """Right template and wired EOS: P(EOS) rises to ~1 exactly at the end. Like a broken conversion (only the
    tokenizer's own EOS): P(EOS) stays near zero all along, and the reply runs to the token limit."""
    right, _ = ask(engine, demo, temperature=0, max_tokens=40, logprobs=5)
    p = [math.exp(t.eos_logprob) for t in right.tokens]
    assert p[-1] > 0.5 and max(p[:-1]) < 0.2
    broken, _ = ask(engine, demo, temperature=0, max_tokens=40, logprobs=5, wire_eos=False)
    q = [math.exp(t.eos_logprob) for t in broken.tokens]
    assert broken.final.finish_reason == "length" and max(q) < 0.05


def test_token_probabilities_cost_nothing_when_off(engine, demo):
    result, _ = ask(engine, demo, temperature=0, max_tokens=20)
    assert list(result.tokens) == []


def test_a_batch_that_cannot_take_the_lone_request_leaves_it_running_alone(engine, demo, monkeypatch):
    """If the BatchGenerator refuses the requests (here: made to fail), the one that was decoding goes on alone
    with the same reply, and only the newcomer gets the error."""
    from mlx_lm.generate import BatchGenerator

    first = engine.prepare(demo, prepared_for(engine, demo, PROMPTS[0], max_tokens=60).request.replace(wire_eos=False))
    second = prepared_for(engine, demo, PROMPTS[1])
    first_alone = engine.generate(first).text

    def refuse(self, *args, **kwargs):
        raise RuntimeError("no room in this batch")

    monkeypatch.setattr(BatchGenerator, "insert", refuse)
    events, joined = stream_while_another_joins(engine, first, second, joins_at=10)
    final = events[-1]
    assert "".join(e.text for e in events) == first_alone and final.batch_size == 1 and final.finish_reason == "length"
    assert isinstance(joined, GenerationError) and "no room in this batch" in joined.message
