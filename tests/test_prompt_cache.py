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


# ---------------------------------------------------------------------------------------------- the shared pool

SYSTEM = {"role": "system", "content": "Your name is Kim. " * 12 + "Answer in uppercase."}


def system_tokens(engine, demo) -> int:
    from playground.prepare import ChatRequest

    alone = engine.prepare(demo, ChatRequest(messages=(SYSTEM,), add_generation_prompt=False))
    return alone.prompt_tokens


def test_sessions_share_a_long_system_prompt_through_the_pool(engine, demo):
    from playground.backends.local.prompt_cache import SharedPromptCache

    pool = SharedPromptCache()
    first, second = PromptCacheState(shared=pool), PromptCacheState(shared=pool)
    chat(engine, demo, [SYSTEM, {"role": "user", "content": "What is 3 + 4?"}], first)
    asked = [SYSTEM, {"role": "user", "content": "What is my name?"}]
    reply, final = chat(engine, demo, asked, second)  # another session: its own cache is empty
    fresh, fresh_final = chat(engine, demo, asked)
    assert reply == fresh and fresh_final.reused_tokens == 0
    assert final.reused_tokens >= system_tokens(engine, demo)  # the system prompt was not prefilled again
    assert len(pool) == 2 and pool.nbytes > 0


def test_requests_reuse_the_pool_directly_and_identical_prompts_feed_one_token(engine, demo):
    from playground.backends.local.prompt_cache import SharedPromptCache

    pool = SharedPromptCache()
    questions = ["What is 3 + 4?", "What is 2 + 2?", "What is 3 + 4?"]
    finals = []
    for question in questions:
        asked = [SYSTEM, {"role": "user", "content": question}]
        reply, final = chat(engine, demo, asked, pool)
        assert reply == chat(engine, demo, asked)[0]
        finals.append(final)
    assert finals[0].reused_tokens == 0
    assert finals[1].reused_tokens >= system_tokens(engine, demo)
    assert finals[2].reused_tokens == finals[2].prompt_tokens - 1  # the whole prompt was cached: one token is fed


@pytest.mark.slow
def test_the_pool_is_bounded_in_bytes_and_zero_turns_it_off(engine, demo):
    from playground.backends.local.prompt_cache import SharedPromptCache

    one = SharedPromptCache()
    chat(engine, demo, [SYSTEM, {"role": "user", "content": "Hello!"}], one)
    size = one.nbytes
    small = SharedPromptCache(max_bytes=size + size // 2)  # room for one such entry, not two
    for question in ["Hello!", "What is 3 + 4?", "What is my name?"]:
        chat(engine, demo, [SYSTEM, {"role": "user", "content": question}], small)
        assert small.nbytes <= small.max_bytes and len(small) == 1
    _, final = chat(engine, demo, [SYSTEM, {"role": "user", "content": "What is my name?"}], small)
    assert final.reused_tokens > 0  # the newest entry was kept
    off = SharedPromptCache(max_bytes=0)
    for _ in range(2):
        _, final = chat(engine, demo, [SYSTEM, {"role": "user", "content": "Hello!"}], off)
        assert final.reused_tokens == 0 and len(off) == 0


def test_columns_decoded_in_one_batch_share_the_pool_and_reply_as_alone(engine, demo):
    import threading

    from playground.backends.local.prompt_cache import SharedPromptCache

    pool = SharedPromptCache()
    chat(engine, demo, [SYSTEM, {"role": "user", "content": "Hello!"}], pool)  # an earlier run left the prefix
    questions = ["What is 3 + 4?", "What is my name?", "What is 2 + 2?"]
    expected = [chat(engine, demo, [SYSTEM, {"role": "user", "content": q}])[0] for q in questions]
    results: list = [None] * len(questions)

    def run(index):
        results[index] = chat(engine, demo, [SYSTEM, {"role": "user", "content": questions[index]}], pool)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r[0] for r in results] == expected
    assert all(r[1].reused_tokens >= system_tokens(engine, demo) for r in results)
