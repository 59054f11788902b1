"""KV-cache reuse across turns is an optimisation only: replies are identical with and without it."""

from __future__ import annotations

import pytest
from conftest import ask

from playground.backends.local.prompt_cache import PromptCacheState, common_prefix_len

GREEDY = {"temperature": 0, "max_tokens": 30}


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [([], [], 0), ([1, 2, 3], [1, 2, 3, 4], 3), ([1, 2, 3], [1, 9, 3], 1), ([5], [6], 0), ([1, 2], [1, 2], 2)],
)
def test_common_prefix_len(a, b, n):
    assert common_prefix_len(a, b) == n


def chat(engine, loaded, messages, cache=None, template="auto"):
    result, _ = ask(engine, loaded, messages, cache=cache, template=template, **GREEDY)
    return result.text, result.final


def test_multi_turn_reuse_gives_identical_replies(engine, demo):
    cache = PromptCacheState()
    with_cache, without = [], []
    for user in ["My name is Emma.", "What is my name?", "What is 3 + 4?", "Thanks!"]:
        with_cache.append({"role": "user", "content": user})
        without.append({"role": "user", "content": user})
        reply, final = chat(engine, demo, with_cache, cache)
        fresh, fresh_final = chat(engine, demo, without)
        assert reply == fresh
        if len(with_cache) > 1:
            assert final.reused_tokens > 0 and fresh_final.reused_tokens == 0
            assert final.reused_tokens < final.prompt_tokens
        with_cache.append({"role": "assistant", "content": reply})
        without.append({"role": "assistant", "content": fresh})


def test_edited_history_reuses_only_the_common_prefix(engine, demo):
    cache = PromptCacheState()
    messages = [{"role": "user", "content": "My name is Emma."}]
    reply, _ = chat(engine, demo, messages, cache)
    messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": "What is my name?"}]
    chat(engine, demo, messages, cache)
    edited = [{"role": "user", "content": "My name is Leo."}, *messages[1:]]
    reply, final = chat(engine, demo, edited, cache)
    fresh, _ = chat(engine, demo, edited)
    assert reply == fresh
    header = len(demo.tokenizer.encode("<|im_start|>user\nMy name is ", add_special_tokens=False))
    assert 0 < final.reused_tokens <= header + 1  # the cache was trimmed back to the first differing token


def test_template_change_falls_back_to_a_short_or_empty_prefix(engine, demo):
    cache = PromptCacheState()
    messages = [{"role": "user", "content": "Hello!"}]
    chat(engine, demo, messages, cache)
    reply, final = chat(engine, demo, messages, cache, template="llama2")
    fresh, _ = chat(engine, demo, messages, template="llama2")
    assert reply == fresh and final.reused_tokens == 0


def test_identical_prompt_keeps_one_token_to_feed_and_reset_forgets(engine, demo):
    cache = PromptCacheState()
    messages = [{"role": "user", "content": "Hello!"}]
    first, _ = chat(engine, demo, messages, cache)
    again, final = chat(engine, demo, messages, cache)
    assert again == first and final.reused_tokens == final.prompt_tokens - 1
    cache.reset()
    _, final = chat(engine, demo, messages, cache)
    assert final.reused_tokens == 0


def test_a_cache_belongs_to_one_model_load(engine, demo, toy_llama3):
    cache = PromptCacheState()
    chat(engine, demo, [{"role": "user", "content": "Hello!"}], cache)
    toy = engine.load(str(toy_llama3))
    _, final = chat(engine, toy, [{"role": "user", "content": "Hello!"}], cache)
    assert final.reused_tokens == 0


def test_a_cancelled_reply_still_leaves_a_reusable_cache(engine, demo):
    import threading

    from playground.prepare import ChatRequest
    from playground.settings import GenerationSettings

    cache = PromptCacheState()
    cancel = threading.Event()
    messages = ({"role": "user", "content": "Hello!"},)
    prepared = engine.prepare(demo, ChatRequest(messages=messages, settings=GenerationSettings(temperature=0)))
    for event in engine.stream(prepared, cancel=cancel, cache=cache):
        if event.generation_tokens >= 2:
            cancel.set()
    assert cache.tokens[: prepared.prompt_tokens] == list(prepared.token_ids)
    _, final = chat(engine, demo, list(messages), cache)
    assert final.reused_tokens == prepared.prompt_tokens - 1
