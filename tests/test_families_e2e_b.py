"""Seed-OSS end to end: a tiny random-weight model of mlx-lm's ``seed_oss`` architecture with Seed's special tokens
and no chat template (a broken conversion), built here; detected, prompted with its thinking budget, generated from,
and its replies parsed and written back into the history the way Seed's template wants them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import reply_of

from playground.errors import PlaygroundError
from playground.parsing import parse_reply
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

SEED_TOKENS = [
    "<seed:bos>", "<seed:pad>", "<seed:eos>", "<seed:think>", "</seed:think>", "<seed:cot_budget_reflect>",
    "</seed:cot_budget_reflect>", "<seed:tool_call>", "</seed:tool_call>",
]  # fmt: skip
WORDS = ["user", "assistant", "system", "Hello!", "Hi", "the", "a", "is", "answer", "think"]
HELLO = ({"role": "user", "content": "Hello!"},)


def build_toy_seed_oss(folder: Path) -> Path:
    """A random-weight Seed-OSS (mlx-lm ``seed_oss``) with a word-level tokenizer, without a chat template."""
    from mlx_lm.models import seed_oss

    from playground.toy import save_random_model, write_word_tokenizer

    tok = write_word_tokenizer(
        folder, WORDS, SEED_TOKENS, 256, bos_token="<seed:bos>", eos_token="<seed:eos>", pad_token="<seed:pad>"
    )
    config = {
        "model_type": "seed_oss",
        "architectures": ["SeedOssForCausalLM"],
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000000.0,
        "vocab_size": len(tok.get_vocab()),
        "max_position_embeddings": 4096,
        "attention_bias": True,
        "tie_word_embeddings": True,
        "eos_token_id": tok.token_to_id("<seed:eos>"),
    }
    return save_random_model(folder, seed_oss, config, seed=0)


@pytest.fixture(scope="module")
def seed(engine, tmp_path_factory):
    folder = build_toy_seed_oss(tmp_path_factory.mktemp("models") / "Seed-OSS-36B-Instruct-toy-4bit")
    return engine.load(str(folder))


def test_it_loads_and_is_detected_as_seed_oss_with_its_eos_wired(seed):
    assert (seed.detection.preset, seed.detection.template_source) == ("seed-oss", "preset")
    assert seed.metadata.model_type == "seed_oss"
    assert "<seed:eos>" in seed.eos(True).tokens


def test_the_thinking_budget_changes_the_prompt_and_bad_values_are_refused(engine, seed):
    plain = engine.prepare(seed, ChatRequest(messages=HELLO))
    none = engine.prepare(seed, ChatRequest(messages=HELLO, template_kwargs={"thinking_budget": 0}))
    budget = engine.prepare(seed, ChatRequest(messages=HELLO, template_kwargs={"thinking_budget": 512}))
    assert plain.text == "<seed:bos>user\nHello!<seed:eos><seed:bos>assistant\n"
    assert none.text.endswith("</seed:cot_budget_reflect>\n</seed:think>") and none.text.startswith(
        "<seed:bos>system\n"
    )
    assert "thinking budget, which is 512" in budget.text and "every 128 tokens" in budget.text
    assert (plain.reasoning, plain.tool_calls) == ("seed", "seed")
    with pytest.raises(PlaygroundError, match="thinking_budget must be a whole number"):
        engine.prepare(seed, ChatRequest(messages=HELLO, template_kwargs={"thinking_budget": "lots"}))


def test_it_generates_and_the_reply_is_parsed_per_family(engine, seed):
    settings = GenerationSettings(temperature=0, max_tokens=8)
    prepared = engine.prepare(seed, ChatRequest(messages=HELLO, settings=settings))
    events = list(engine.stream(prepared))
    assert events[-1].finish_reason in ("stop", "length") and events[-1].generation_tokens <= 8
    parser = prepared.parser()
    for event in events:
        parser.feed(event.text)
    parser.finish()
    result = parser.result()
    assert result.raw == "".join(e.text for e in events) and result.raw
    assert result == parse_reply(result.raw, "seed", "seed", prompt=prepared.text)  # streamed = parsed whole


def test_reasoning_and_calls_go_back_into_the_history_as_seeds_template_writes_them(engine, seed):
    prepared = engine.prepare(seed, ChatRequest(messages=HELLO))
    reply = (
        "<seed:think>The user greets me.</seed:think>\nHi! <seed:tool_call>\n<function=wave>\n"
        "<parameter=hand>left</parameter>\n</function>\n</seed:tool_call>"
    )
    message = reply_of(prepared, reply).message()
    assert (message["reasoning_content"], message["content"]) == ("The user greets me.", "Hi!")
    assert message["tool_calls"][0]["function"] == {"name": "wave", "arguments": {"hand": "left"}}
    history = (*HELLO, message, {"role": "tool", "content": "waved"})
    nxt = engine.prepare(seed, ChatRequest(messages=history))
    assert (
        "<seed:bos>assistant\n<seed:think>The user greets me.</seed:think>\nHi!\n\n<seed:tool_call>\n<function=wave>\n"
        "<parameter=hand>left</parameter>\n</function>\n</seed:tool_call><seed:eos><seed:bos>tool\nwaved<seed:eos>"
    ) in nxt.text
