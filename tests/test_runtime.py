"""Real generation with mlx-lm on the demo model and a random-weight toy model (no mocks)."""

from __future__ import annotations

import threading

import pytest
from conftest import DEMO_MODEL, ask

from playground.errors import SettingsError
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

HELLO = [{"role": "user", "content": "Hello!"}]


def test_demo_model_detection_and_eos_wiring(demo):
    assert demo.detection.preset == "chatml" and demo.detection.template_source == "preset"
    assert demo.metadata.own_template is None  # shipped without a template, like a broken conversion
    assert {"<|im_end|>", "<|endoftext|>"} <= set(demo.eos(True).tokens)
    assert "<|im_end|>" not in demo.eos(False).tokens  # the tokenizer alone stops only on <|endoftext|>


def test_greedy_hello_gets_a_sensible_reply_that_stops_on_im_end(engine, demo):
    result, prepared = ask(engine, demo, temperature=0, max_tokens=60)
    assert prepared.text == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert "help" in result.text.lower() or "hello" in result.text.lower() or "hi" in result.text.lower(), result.text
    final = result.final
    assert (final.finish_reason, final.stop_token) == ("stop", "<|im_end|>")
    assert "<|im_end|>" not in result.text and final.generation_tokens < 60
    assert final.ttft_s > 0 and final.generation_tps > 0 and final.prompt_tokens == prepared.prompt_tokens


def test_eos_wiring_is_per_request_and_never_reloads(engine):
    # The session engine is shared with other tests that may have evicted the demo model: load it here.
    demo = engine.load(str(DEMO_MODEL))
    wired, _ = ask(engine, demo, temperature=0, max_tokens=60)
    unwired, prepared = ask(engine, demo, temperature=0, max_tokens=60, wire_eos=False)
    assert engine.load(str(DEMO_MODEL)) is demo  # same weights, same load
    assert "<|im_end|>" not in prepared.eos.tokens
    assert unwired.final.finish_reason == "length" and unwired.final.generation_tokens == 60
    assert unwired.text.startswith(wired.text) and "<|im_end|>" in unwired.text
    again, _ = ask(engine, demo, temperature=0, max_tokens=60)  # wiring back on: the tokenizer was not changed
    assert again.text == wired.text and again.final.stop_token == "<|im_end|>"


def test_demo_alias_and_folder_are_one_cache_entry(engine):
    demo = engine.load(str(DEMO_MODEL))
    assert engine.load("demo") is demo
    assert engine.load(str(DEMO_MODEL) + "/") is demo


def test_seeds_make_sampling_reproducible_and_unseeded_runs_report_their_seed(engine, demo):
    runs = {seed: ask(engine, demo, temperature=1.5, max_tokens=25, seed=seed)[0].text for seed in (1, 2, 3, 4)}
    assert ask(engine, demo, temperature=1.5, max_tokens=25, seed=1)[0].text == runs[1]
    assert len(set(runs.values())) > 1
    free, _ = ask(engine, demo, temperature=1.5, max_tokens=25)
    assert isinstance(free.final.seed, int)
    replay, _ = ask(engine, demo, temperature=1.5, max_tokens=25, seed=free.final.seed)
    assert replay.text == free.text  # the reported seed reproduces the run


def test_repetition_penalty_changes_a_repetitive_greedy_reply(engine, demo):
    plain, _ = ask(engine, demo, temperature=0, max_tokens=60, wire_eos=False)
    penalised, _ = ask(
        engine, demo, temperature=0, max_tokens=60, wire_eos=False, repetition_penalty=1.8, repetition_context_size=64
    )
    assert plain.text != penalised.text


def test_defaults_fill_unset_settings_and_say_where_they_came_from(engine, demo):
    _, prepared = ask(engine, demo, temperature=0.0, max_tokens=3)
    assert prepared.settings.temperature == 0.0 and prepared.settings.max_tokens == 3
    assert prepared.setting_sources["temperature"] == "you"
    assert prepared.setting_sources["top_p"] in ("model", "family", "default")


def test_generation_config_sampling_values_are_the_model_defaults(engine, tmp_path):
    import json
    import shutil

    folder = tmp_path / "with-defaults"
    shutil.copytree(DEMO_MODEL, folder)
    (folder / "generation_config.json").write_text(json.dumps({"temperature": 0.15, "top_p": 0.85, "do_sample": True}))
    loaded = engine.load(str(folder))
    prepared = engine.prepare(loaded, ChatRequest(messages=tuple(HELLO)))
    assert (prepared.settings.temperature, prepared.settings.top_p) == (0.15, 0.85)
    assert prepared.setting_sources["temperature"] == "model"


def test_stop_strings_end_the_reply_without_showing_them(engine, demo):
    full, _ = ask(engine, demo, temperature=0, max_tokens=60)
    word = full.text.split()[1]
    result, _ = ask(engine, demo, temperature=0, max_tokens=60, stop=(word,))
    assert word not in result.text and result.final.finish_reason == "stop" and result.final.stop_token == word
    assert full.text.startswith(result.text) and result.text


def test_cancel_ends_the_stream_within_one_step(engine, demo):
    cancel = threading.Event()
    prepared = engine.prepare(
        demo, ChatRequest(messages=tuple(HELLO), settings=GenerationSettings(temperature=0, max_tokens=200), wire_eos=False)
    )
    events = []
    for event in engine.stream(prepared, cancel=cancel):
        events.append(event)
        if event.generation_tokens >= 3:
            cancel.set()
    final = events[-1]
    assert final.finish_reason == "cancelled" and final.status == "done"
    assert 3 <= final.generation_tokens <= 5


def test_prompt_longer_than_context_is_refused_before_generating(engine, demo):
    long = [{"role": "user", "content": "Hello! " * 800}]
    with pytest.raises(SettingsError, match="context"):
        engine.prepare(demo, ChatRequest(messages=tuple(long)))


def test_max_tokens_beyond_context_is_lowered_with_a_warning(engine, demo):
    result, prepared = ask(engine, demo, temperature=0, max_tokens=5000)
    assert prepared.settings.max_tokens < 5000
    assert any("lowered" in w for w in prepared.warnings) and any("lowered" in w for w in result.final.warnings)


def test_toy_llama3_model_without_template(engine, toy_llama3):
    loaded = engine.load(str(toy_llama3))
    assert loaded.detection.preset == "llama3" and loaded.detection.template_source == "preset"
    assert {"<|eot_id|>", "<|end_of_text|>"} <= set(loaded.eos(True).tokens)
    assert "<|eot_id|>" not in loaded.eos(False).tokens  # the wiring is what adds the end-of-turn token
    result, prepared = ask(engine, loaded, temperature=0, max_tokens=8)
    assert prepared.text == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    bos = loaded.tokenizer.convert_tokens_to_ids("<|begin_of_text|>")
    assert list(prepared.token_ids).count(bos) == 1 and not prepared.bos_added
    assert result.final.finish_reason in ("stop", "length")
    if result.final.finish_reason == "stop":
        assert result.final.stop_token in loaded.eos(True).tokens
    else:
        assert result.final.generation_tokens == 8


def test_cached_mlx_models_are_listed_for_the_picker(hf_cache, model_dir):
    from playground.models import list_cached_models

    hf_cache("mlx-community/demo-copy-4bit", DEMO_MODEL)
    hf_cache("someone/tokenizer-only", model_dir("tok", tokenizer_config={"eos_token": "</s>"}, vocab=["a"]))
    assert list_cached_models() == ["mlx-community/demo-copy-4bit"]


def test_the_three_layers_agree(engine, demo):
    """Layer 1 (tokens the scheduler produced), layer 2 (typed events) and layer 3 (the joined result)."""
    prepared = engine.prepare(
        demo, ChatRequest(messages=tuple(HELLO), settings=GenerationSettings(temperature=0, max_tokens=30), logprobs=1)
    )
    events = list(engine.stream(prepared))
    result = engine.generate(prepared)
    assert result.text == "".join(e.text for e in events)
    assert result.final.finish_reason == "stop" and result.events == len(events)
    ids = [t.id for e in events for t in e.tokens]
    assert ids[-1] == demo.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert result.final.generation_tokens == len(ids)


def test_a_model_loaded_without_weights_prepares_but_cannot_generate_locally(engine, tmp_path):
    import shutil

    from playground.errors import GenerationError

    folder = tmp_path / "metadata-only"
    shutil.copytree(DEMO_MODEL, folder)
    meta_only = engine.load(str(folder), weights=False)
    assert meta_only.model is None and meta_only.num_parameters == 0
    prepared = engine.prepare(meta_only, ChatRequest(messages=tuple(HELLO)))
    assert prepared.prompt_tokens == 10 and "<|im_end|>" in prepared.eos.tokens
    with pytest.raises(GenerationError, match="without weights"):
        engine.generate(prepared)


def test_a_continuation_keeps_its_leading_space(engine, demo):
    """mlx-lm's detokenizers drop the first text's leading space: right for a new reply, wrong for a
    continuation ("4 + 5" + " = 9." must not become "4 + 5= 9.")."""
    question = [{"role": "user", "content": "What is 4 + 5?"}]
    full, _ = ask(engine, demo, question, temperature=0, max_tokens=20)
    head = full.text.split(" ")[0]  # e.g. "4"
    partial = [*question, {"role": "assistant", "content": head}]
    prepared = engine.prepare(
        demo,
        ChatRequest(messages=tuple(partial), continue_final=True, settings=GenerationSettings(temperature=0, max_tokens=20)),
    )
    continued = engine.generate(prepared)
    assert head + continued.text == full.text
    raw = engine.prepare(
        demo, ChatRequest(raw_prompt=prepared.text, settings=GenerationSettings(temperature=0, max_tokens=20))
    )
    assert engine.generate(raw).text == continued.text
