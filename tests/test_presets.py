"""Every preset renders byte-identically to its family's official template (table in preset_cases.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from preset_cases import CASES, EXPECTED, KEYWORD_CHAT, KEYWORD_NOW, KEYWORD_TOOLS

from playground.families import get_family, registry
from playground.templates import render_family

REQUIRED = [
    "chatml", "qwen2.5", "llama2", "llama3", "llama3.1", "llama3.2", "mistral", "mistral-v0.3", "phi3", "phi3.5",
    "gemma", "zephyr", "deepseek-coder", "deepseek", "command-r", "smollm2", "code", "generic",
]
TABLE = sorted(EXPECTED)
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def test_required_presets_exist_with_cases():
    names = registry().names()
    for name in REQUIRED:
        assert name in names
    for name in names:  # every preset has every case in the table, or golden renders (tests/test_golden.py)
        if (GOLDEN_DIR / f"{name}.json").is_file() or registry().get(name).encoder:
            continue  # an encoder preset is held against mlx-lm's encoder (tests/test_encoder_presets.py)
        assert {case for preset, case in EXPECTED if preset == name} == set(CASES), name


@pytest.mark.parametrize(("preset", "case"), TABLE, ids=[f"{p}-{c}" for p, c in TABLE])
def test_preset_renders_official_bytes(preset, case):
    messages, add_generation_prompt = CASES[case]
    rendered = render_family(
        registry().get(preset),
        messages,
        add_generation_prompt=add_generation_prompt,
        template_kwargs={"date_string": "26 Jul 2024"},
    )
    assert rendered.text == EXPECTED[(preset, case)]
    assert rendered.source == ("generic" if preset == "generic" else "preset")
    assert rendered.family == preset


@pytest.mark.parametrize("preset", sorted(n for n in registry().names() if not registry().get(n).encoder))
def test_our_environment_matches_transformers(preset):
    """Rendering our preset with transformers' own apply_chat_template machinery gives the same text."""
    from transformers.utils.chat_template_utils import render_jinja_template

    family = registry().get(preset)
    for case, (messages, agp) in CASES.items():
        if not family.system_role and any(m["role"] == "system" for m in messages):
            continue
        ours = render_family(family, messages, add_generation_prompt=agp, template_kwargs={"date_string": "1 Jan 2025"})
        theirs = render_jinja_template(
            [messages], chat_template=family.template, add_generation_prompt=agp,
            bos_token=family.bos_token, eos_token=family.eos_token, date_string="1 Jan 2025",
        )[0][0]
        assert ours.text == theirs, case


def test_gemma_system_role_strategies():
    gemma = registry().get("gemma")
    messages = CASES["system"][0]
    merged = render_family(gemma, messages)
    assert "You are a helpful assistant.\n\nHi" in merged.text
    assert any("merged" in w for w in merged.warnings)
    dropped = render_family(gemma, messages, system_strategy="drop")
    assert "helpful" not in dropped.text and any("dropped" in w for w in dropped.warnings)
    from playground.errors import TemplateRaisedError

    with pytest.raises(TemplateRaisedError, match="System role not supported"):
        render_family(gemma, messages, system_strategy="strict")


def test_llama32_uses_todays_date_by_default():

    rendered = render_family(registry().get("llama3.2"), CASES["single"][0])
    assert f"Today Date: {datetime.now().strftime('%d %b %Y')}\n\n" in rendered.text


def test_qwen25_tools_and_tool_calls():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny"},
    ]
    text = render_family(registry().get("qwen2.5"), messages, tools=tools).text
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}\n</tools>' in text
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in text
    assert "<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n" in text


KWARG_ROWS = [(f.name, k.name) for f in registry() for k in f.kwargs if k.default is not None and not f.encoder]


@pytest.mark.parametrize(("preset", "kwarg"), KWARG_ROWS, ids=[f"{p}-{k}" for p, k in KWARG_ROWS])
def test_a_declared_keyword_default_renders_like_no_keyword(preset, kwarg):
    """A preset's declared default is how its template behaves without the keyword (with and without tools)."""
    family = get_family(preset)
    default = family.kwarg(kwarg).default
    now = KEYWORD_NOW
    declared = [t["function"] for t in KEYWORD_TOOLS] if preset == "apertus" else KEYWORD_TOOLS  # Apertus reads bare functions
    for tools in (None, declared):
        plain = render_family(family, KEYWORD_CHAT, tools=tools, now=now).text
        assert render_family(family, KEYWORD_CHAT, tools=tools, now=now, template_kwargs={kwarg: default}).text == plain
