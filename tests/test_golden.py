"""Presets of 2025-26 families render byte-identically to their official templates (tests/golden/*.json).

The golden files were written by ``tests/golden/make_golden.py`` from the official templates rendered by
transformers; here OUR preset renders the same inputs. Cases where the official template raises must
raise in ours too.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from playground.errors import TemplateError
from playground.families import registry
from playground.templates import render_family

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(GOLDEN_DIR.glob("*.json"))}
ROWS = [(name, case) for name, data in GOLDEN.items() for case in data["cases"]]


def _render(name: str, inputs: dict, now: datetime):
    return render_family(
        registry().get(name),
        inputs["messages"],
        add_generation_prompt=inputs["add_generation_prompt"],
        tools=inputs["tools"],
        documents=inputs.get("documents"),
        template_kwargs=inputs["kwargs"],
        now=now,
        system_strategy="strict",  # the official template sees the messages as they are
    )


@pytest.mark.parametrize(("preset", "case"), ROWS, ids=[f"{p}-{c}" for p, c in ROWS])
def test_preset_matches_official_render(preset, case):
    data = GOLDEN[preset]
    inputs = data["cases"][case]
    now = datetime.fromisoformat(data["now"])
    if "error" in inputs:
        with pytest.raises(TemplateError):
            _render(preset, inputs, now)
        return
    assert _render(preset, inputs, now).text == inputs["expected"]


@pytest.mark.parametrize("preset", sorted(GOLDEN))
def test_golden_file_matches_the_preset(preset):
    """The golden file was made for this preset's tokens, and the preset records where its template came from."""
    data = GOLDEN[preset]
    family = registry().get(preset)
    assert (data["bos_token"], data["eos_token"]) == (family.bos_token, family.eos_token)
    assert {"repo", "path", "revision"} <= set(family.source), "record the official template's source in the TOML"
    rendered = [c for c in data["cases"].values() if "expected" in c]
    assert len(rendered) >= 10, "at least 10 cases that the official template renders"
