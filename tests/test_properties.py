"""Property-based tests: random conversations and metadata only ever raise our own error types."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground.detect import ModelMetadata, detect_metadata, read_metadata
from playground.errors import PlaygroundError
from playground.families import registry
from playground.messages import validate_messages
from playground.templates import render_family

PRESETS = registry().names()
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
message = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": text})
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(PRESETS), messages=st.lists(message, min_size=1, max_size=6),
       add_generation_prompt=st.booleans(), strategy=st.sampled_from(["merge", "drop", "strict"]))
def test_rendering_random_conversations(preset, messages, add_generation_prompt, strategy):
    try:
        rendered = render_family(registry().get(preset), messages, add_generation_prompt=add_generation_prompt,
                                 system_strategy=strategy)
    except PlaygroundError:
        return
    assert isinstance(rendered.text, str)
    if rendered.segments:
        assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(rendered.text)


@settings(max_examples=300, deadline=None)
@given(data=json_value)
def test_validating_random_json(data):
    try:
        result = validate_messages(data)
    except PlaygroundError:
        return
    assert all(isinstance(m["content"], str) for m in result)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    name=text,
    config=st.dictionaries(st.sampled_from(["model_type", "architectures", "hidden_size", "x"]), json_value, max_size=3),
    tokens=st.one_of(st.none(), st.dictionaries(text, st.integers(0, 10**6), max_size=6)),
    own=st.one_of(st.none(), text),
    eos_ids=st.lists(st.integers(-5, 10**6), max_size=3),
)
def test_detection_on_random_metadata(name, config, tokens, own, eos_ids):
    meta = ModelMetadata(name=name, config=config, own_template=own or None, own_template_origin="x" if own else None,
                         token_ids=tokens, eos_token="</s>", generation_eos_ids=tuple(eos_ids))
    detection = detect_metadata(meta)
    assert detection.preset in PRESETS and detection.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=json_value, tokenizer_config=json_value, generation=json_value)
def test_reading_random_metadata_files(tmp_path, config, tokenizer_config, generation):
    for name, value in (("config.json", config), ("tokenizer_config.json", tokenizer_config),
                        ("generation_config.json", generation)):
        (tmp_path / name).write_text(json.dumps(value))
    with contextlib.suppress(PlaygroundError):
        detect_metadata(read_metadata(tmp_path))
