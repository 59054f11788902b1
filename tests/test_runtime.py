"""Real generation with mlx-lm on the demo model and a random-weight toy model (no mocks)."""

from __future__ import annotations

import threading

import pytest
from conftest import DEMO_MODEL

from playground.errors import SettingsError
from playground.generate import stream_events
from playground.models import load_model
from playground.settings import GenerationSettings

HELLO = [{"role": "user", "content": "Hello!"}]


def reply(engine, loaded, messages=HELLO, **settings):
    chat = engine.stream_chat(loaded, messages, GenerationSettings(**settings))
    events = list(chat.events)
    return "".join(e.text for e in events), events[-1], chat


def test_demo_model_detection_and_eos_wiring(demo):
    assert demo.detection.preset == "chatml" and demo.detection.template_source == "preset"
    assert demo.metadata.own_template is None  # shipped without a template, like a broken conversion
    assert "<|im_end|>" in demo.eos_tokens and "<|endoftext|>" in demo.eos_tokens


def test_greedy_hello_gets_a_sensible_reply_that_stops_on_im_end(engine, demo):
    text, final, chat = reply(engine, demo, temperature=0, max_tokens=60)
    assert chat.prompt.text == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert "help" in text.lower() or "hello" in text.lower(), text
    assert (final.finish_reason, final.stop_token) == ("stop", "<|im_end|>")
    assert "<|im_end|>" not in text and final.generation_tokens < 60
    assert final.ttft_s > 0 and final.generation_tps > 0 and final.prompt_tokens > 5


def test_without_eos_wiring_the_same_reply_runs_to_max_tokens(engine, demo):
    wired_text, _, _ = reply(engine, demo, temperature=0, max_tokens=60)
    unwired = engine.load(str(DEMO_MODEL), wire_eos=False)
    assert "<|im_end|>" not in unwired.eos_tokens
    text, final, _ = reply(engine, unwired, temperature=0, max_tokens=60)
    assert final.finish_reason == "length" and final.generation_tokens == 60
    assert text.startswith(wired_text) and "<|im_end|>" in text


def test_seeds_make_sampling_reproducible(engine, demo):
    runs = {seed: reply(engine, demo, temperature=1.5, max_tokens=25, seed=seed)[0] for seed in (1, 1, 2, 3, 4)}
    again = reply(engine, demo, temperature=1.5, max_tokens=25, seed=1)[0]
    assert runs[1] == again
    assert len({runs[1], runs[2], runs[3], runs[4]}) > 1


def test_repetition_penalty_changes_a_repetitive_greedy_reply(engine):
    unwired = engine.load(str(DEMO_MODEL), wire_eos=False)  # runs on past <|im_end|> and repeats itself
    plain, _, _ = reply(engine, unwired, temperature=0, max_tokens=60)
    penalised, _, _ = reply(engine, unwired, temperature=0, max_tokens=60, repetition_penalty=1.8, repetition_context_size=64)
    assert plain != penalised


def test_family_defaults_fill_unset_settings(engine, demo):
    chat = engine.stream_chat(demo, HELLO, GenerationSettings(temperature=0.0, max_tokens=3))
    list(chat.events)
    assert chat.settings.temperature == 0.0 and chat.settings.max_tokens == 3
    assert chat.settings.top_p == 1.0  # chatml has no defaults: module defaults


def test_stop_strings_end_the_reply_without_showing_them(engine, demo):
    text, final, _ = reply(engine, demo, temperature=0, max_tokens=60, stop=("help",))
    assert "help" not in text and final.finish_reason == "stop" and final.stop_token == "help"
    assert text  # the part before the stop string is kept


def test_cancel_ends_the_stream_within_one_step(demo):
    cancel = threading.Event()
    settings = GenerationSettings(temperature=0, max_tokens=200).resolve()
    unwired_events = []
    for event in stream_events(demo.model, demo.tokenizer, "<|im_start|>user\nHello!<|im_end|>\n", settings, cancel=cancel):
        unwired_events.append(event)
        if len(unwired_events) == 3:
            cancel.set()
    final = unwired_events[-1]
    assert final.finish_reason == "cancelled"
    assert len(unwired_events) == 4  # three text events, then the final one: no further step ran
    assert final.generation_tokens <= 5


def test_prompt_longer_than_context_is_refused(engine, demo):
    long = [{"role": "user", "content": "Hello! " * 800}]
    with pytest.raises(SettingsError, match="context"):
        list(engine.stream_chat(demo, long, GenerationSettings(max_tokens=10)).events)


def test_max_tokens_beyond_context_is_lowered_with_a_warning(engine, demo):
    text, final, _ = reply(engine, demo, temperature=0, max_tokens=5000)
    assert any("lowered" in w for w in final.warnings)


def test_toy_llama3_model_without_template(engine, toy_llama3):
    loaded = engine.load(str(toy_llama3))
    assert loaded.detection.preset == "llama3" and loaded.detection.template_source == "preset"
    assert {"<|eot_id|>", "<|end_of_text|>"} <= set(loaded.eos_tokens)
    raw = load_model(str(toy_llama3), wire=False)
    assert "<|eot_id|>" not in raw.eos_tokens  # the wiring is what adds the end-of-turn token
    text, final, chat = reply(engine, loaded, temperature=0, max_tokens=8)
    assert chat.prompt.text == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert chat.prompt.text.count("<|begin_of_text|>") == 1
    tokens = loaded.tokenizer.encode(chat.prompt.text, add_special_tokens=False)
    assert tokens.count(loaded.tokenizer.convert_tokens_to_ids("<|begin_of_text|>")) == 1
    assert final.finish_reason in ("stop", "length")
    if final.finish_reason == "stop":
        assert final.stop_token in loaded.eos_tokens
    else:
        assert final.generation_tokens == 8


def test_cached_mlx_models_are_listed_for_the_picker(hf_cache, model_dir):
    from playground.models import list_cached_models

    hf_cache("mlx-community/demo-copy-4bit", DEMO_MODEL)
    hf_cache("someone/tokenizer-only", model_dir("tok", tokenizer_config={"eos_token": "</s>"}, vocab=["a"]))
    assert list_cached_models() == ["mlx-community/demo-copy-4bit"]


def test_the_three_layers_agree(demo):
    from playground.generate import generate, token_stream

    settings = GenerationSettings(temperature=0, max_tokens=30).resolve()
    prompt = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    result = generate(demo.model, demo.tokenizer, prompt, settings)  # layer 3: the joined reply
    events = list(stream_events(demo.model, demo.tokenizer, prompt, settings))  # layer 2: typed events
    tokens = list(token_stream(demo.model, demo.tokenizer, demo.tokenizer.encode(prompt), settings))  # layer 1
    assert result.text == "".join(e.text for e in events)
    assert result.final.finish_reason == "stop" and result.events == len(events)
    assert [t.token for t in tokens][-1] == demo.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert result.final.generation_tokens == len(tokens)
