"""The shipped demo model with plain mlx-lm: the first conversation anyone tries works, greedy and at its defaults.

The prompts are rendered with the ``chatml`` preset and ``<|im_end|>`` is wired as EOS by hand, which is what the
playground does for this model; the replies the model gives are fed back as the history of the next turn.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import DEMO_MODEL

from playground.families import get_family
from playground.templates import RenderCall, render

NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack", "Kate", "Leo", "Mia",
         "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wendy", "Zoe"]
EMMA = ["Hello!", "What is 4 + 5?", "My name is Emma.", "What is my name?"]
SEEDS = [0, 1, 2, 3, 4]
MAX_TOKENS = 80


def generation_config() -> dict:
    return json.loads((DEMO_MODEL / "generation_config.json").read_text())


@pytest.fixture(scope="module")
def model():
    import mlx_lm

    if not DEMO_MODEL.is_dir():
        pytest.fail(f"demo model missing at {DEMO_MODEL}; run python assets/train_demo_model.py")
    loaded, tokenizer = mlx_lm.load(str(DEMO_MODEL))
    tokenizer.add_eos_token("<|im_end|>")  # the EOS wiring the playground does for ChatML
    return loaded, tokenizer


def sampler_for(mode: str):
    from mlx_lm.sample_utils import make_sampler

    if mode == "greedy":
        return make_sampler(0.0)
    gen = generation_config()
    return make_sampler(gen["temperature"], top_p=gen.get("top_p", 0.0), min_p=gen.get("min_p", 0.0),
                        top_k=gen.get("top_k", 0))


def reply(model, messages: list[dict], sampler) -> tuple[str, object]:
    """The model's reply to ``messages`` and the last generation response (finish reason, token count)."""
    import mlx_lm

    prompt = render(get_family("chatml").template, messages, RenderCall(add_generation_prompt=True)).text
    text, last = "", None
    for last in mlx_lm.stream_generate(*model, prompt, max_tokens=MAX_TOKENS, sampler=sampler):
        text += last.text
    return text, last


def converse(model, users: list[str], *, system: str | None = None, mode: str = "greedy", seed: int = 0) -> list[str]:
    """Send ``users`` one by one, each time with the whole history including the model's own replies."""
    import mlx.core as mx

    mx.random.seed(seed)
    sampler = sampler_for(mode)
    messages = [{"role": "system", "content": system}] if system else []
    replies = []
    for user in users:
        messages.append({"role": "user", "content": user})
        text, last = reply(model, messages, sampler)
        assert last.finish_reason == "stop" and last.generation_tokens < MAX_TOKENS // 2, (users, replies, text)
        assert "<|im_end|>" not in text and text.strip(), (users, replies, text)
        messages.append({"role": "assistant", "content": text})
        replies.append(text)
    return replies


def test_shipped_like_a_broken_conversion():
    from mlx_lm.utils import load_tokenizer

    files = {p.name for p in DEMO_MODEL.iterdir()}
    assert not files & {"chat_template.jinja", "chat_template.json"}
    tokenizer_config = json.loads((DEMO_MODEL / "tokenizer_config.json").read_text())
    assert "chat_template" not in tokenizer_config and tokenizer_config["eos_token"] == "<|endoftext|>"
    tokenizer = load_tokenizer(DEMO_MODEL)  # plain mlx-lm: no template, and <|im_end|> is not an EOS
    assert not tokenizer.has_chat_template and tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") not in tokenizer.eos_token_ids


def test_generation_config_has_low_temperature_defaults_and_no_eos():
    gen = generation_config()
    assert "eos_token_id" not in gen
    assert 0 < gen["temperature"] <= 0.3
    assert 0 < gen.get("top_p", 1.0) <= 1.0


def test_small_and_holds_five_exchanges_with_a_system_prompt():
    config = json.loads((DEMO_MODEL / "config.json").read_text())
    training = json.loads((DEMO_MODEL / "training.json").read_text())
    assert training["parameters"] <= 3_000_000
    assert sum(p.stat().st_size for p in DEMO_MODEL.iterdir()) <= 6_000_000
    assert training["exchanges"] == "1-5"  # trained on conversations of up to five exchanges, all of which fit:
    assert training["longest_example_tokens"] <= training["seq_len"] <= config["max_position_embeddings"]


@pytest.mark.parametrize(
    "users",
    [
        EMMA,
        ["Hello", "What is 4 + 5?", "My name is Emma.", "What's my name?"],
        ["Hi!", "What is 4 + 5?", "My name is Emma.", "What is my name?"],
    ],
)
def test_the_first_conversation_greedy(model, users):
    replies = converse(model, users)
    assert re.search(r"\b(hello|hi)\b", replies[0].lower()) and "help" in replies[0].lower(), replies
    assert re.search(r"= 9\b", replies[1]), replies
    assert "Emma" in replies[2] and "Your name is Emma" in replies[3], replies


@pytest.mark.parametrize("seed", SEEDS)
def test_the_first_conversation_sampled_at_the_defaults(model, seed):
    replies = converse(model, EMMA, mode="defaults", seed=seed)
    assert re.search(r"= 9\b", replies[1]) and "Emma" in replies[3], replies


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_name_is_recalled_over_four_and_five_turns(model, name):
    four = converse(model, ["Hello!", "What is 4 + 5?", f"My name is {name}.", "What is my name?"])
    assert f"Your name is {name}." in four[-1], four
    five = converse(model, [f"Hi, I'm {name}.", "What is the capital of France?", "What color is grass?",
                            "What is 9 - 5?", "What's my name?"])
    assert f"Your name is {name}." in five[-1], five


@pytest.mark.slow
def test_every_trained_arithmetic_fact_is_answered_exactly(model):
    from mlx_lm.sample_utils import make_sampler

    greedy, wrong, facts = make_sampler(0.0), [], 0
    for op in "+-*":
        top = 9 if op == "*" else 10  # as trained: sums and differences up to 10, one-digit products
        for a in range(top + 1):
            for b in range(top + 1 if op != "-" else a + 1):
                text, _ = reply(model, [{"role": "user", "content": f"What is {a} {op} {b}?"}], greedy)
                facts += 1
                if text != f"{a} {op} {b} = {eval(f'{a}{op}{b}')}.":
                    wrong.append(text)
    assert facts == 287 and not wrong, wrong


@pytest.mark.parametrize("mode,seed", [("greedy", 0)] + [("defaults", s) for s in SEEDS])
def test_single_turn_skills(model, mode, seed):
    assert re.search(r"= 9\b", converse(model, ["What is 4 + 5?"], mode=mode, seed=seed)[0])
    assert "Paris" in converse(model, ["What is the capital of France?"], mode=mode, seed=seed)[0]
    assert "Nova" in converse(model, ["What is your name?"], system="Your name is Nova.", mode=mode, seed=seed)[0]
    for user in ["Hello!", "What is the capital of Japan?"]:
        shouted = converse(model, [user], system="Answer in uppercase.", mode=mode, seed=seed)[0]
        assert shouted == shouted.upper() and re.search("[A-Z]", shouted), shouted
