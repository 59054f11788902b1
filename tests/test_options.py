"""One options table: a setting declared once in playground.options reaches the CLI, the page, saved settings, the
exported command line, copy-as-code and the server backends' request fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playground.options import OPTIONS, command_args, get_option, server_fields
from playground.settings import GenerationSettings

ROOT = Path(__file__).resolve().parents[1]

# A new setting, added to the table before anything else is imported (as adding one to options.py does).
ADD_A_SETTING = r"""
import json, sys
from playground import options
options.OPTIONS.append(options.Option(
    "xtc_probability", float, 0.0, 1.0, 0.0, "--xtc-probability", "XTC probability",
    "Exclude the top choices with this probability.", slider=(0.0, 1.0, 0.01), neutral=0.0,
    server={"vllm": "xtc_probability", "llama.cpp": "xtc_probability"},
))
from playground.cli.parser import build_parser
from playground.cli.requests import settings_from_args
from playground.engine import Engine
from playground.prepare import ChatRequest
from playground.snippet import mlx_lm_snippet
from playground.ui.app import PlaygroundApp, build_blocks
from playground.ui.inputs import ChatInputs
from playground.ui.saved import SAVED_FIELDS, generate_command

args = build_parser().parse_args(["generate", "--prompt", "Hi", "--xtc-probability", "0.3"])
settings = settings_from_args(args)
engine = Engine()
app = PlaygroundApp(engine, default_model=sys.argv[1])
page = build_blocks(app)
on_page = [b for b in page.blocks.values() if getattr(b, "elem_id", None) == "xtc-probability"]
from_page = ChatInputs.from_values({"xtc_probability": "0.25"}).settings()
prepared = engine.prepare(sys.argv[1], ChatRequest(messages=({"role": "user", "content": "Hi"},), settings=settings))
print(json.dumps({
    "cli": settings.xtc_probability,
    "page": [type(b).__name__ for b in on_page],
    "page_value": from_page.xtc_probability,
    "saved": "xtc_probability" in SAVED_FIELDS,
    "export": generate_command(prepared, "demo", 1),
    "snippet": mlx_lm_snippet(prepared),
    "vllm": options.server_fields("vllm", prepared.settings.to_dict()),
}))
"""


@pytest.mark.slow  # a fresh interpreter: the setting is added before anything reads the table
def test_a_setting_added_to_the_table_reaches_every_edge():
    proc = subprocess.run(
        [sys.executable, "-c", ADD_A_SETTING, str(ROOT / "assets" / "demo-model")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["cli"] == 0.3 and found["page_value"] == 0.25 and found["saved"]
    assert len(found["page"]) == 1  # one control on the page, made from the table
    assert "--xtc-probability 0.3" in found["export"]
    assert "xtc_probability = 0.3" in found["snippet"]  # no mlx-lm argument: said, not dropped
    assert found["vllm"]["xtc_probability"] == 0.3


def test_every_option_is_a_settings_field_with_its_flag_and_range():
    fields = set(GenerationSettings.__dataclass_fields__)
    for option in OPTIONS:
        assert option.name in fields and option.flag.startswith("--")
        low, high, step = option.slider
        assert option.low <= low < high <= option.high and step > 0
        assert option.default is None or option.low <= option.default <= option.high  # None: unset is off


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("mlx_lm.server", {"temperature": 0.5, "top_k": 0, "min_p": 0.0, "repetition_context_size": 20}),
        ("openai-compatible", {"temperature": 0.5}),  # extensions only when they do something
        ("ollama", {"temperature": 0.5, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "repeat_last_n": 20}),
    ],
)
def test_server_fields_come_from_the_table(kind, expected):
    settings = GenerationSettings(temperature=0.5).resolve()
    fields = server_fields(kind, settings.to_dict())
    assert {k: v for k, v in fields.items() if k in expected} == expected
    if kind != "ollama":
        assert "num_predict" not in fields and fields["max_tokens"] == settings.max_tokens


def test_the_exported_flags_reproduce_the_settings():
    from playground.cli.parser import build_parser
    from playground.cli.requests import settings_from_args

    settings = GenerationSettings(temperature=0.3, top_k=7, presence_penalty=0.5).resolve()
    args = build_parser().parse_args(["generate", "--prompt", "Hi", *command_args(settings.to_dict())])
    assert settings_from_args(args) == settings


def test_a_bad_value_names_the_option_its_range_and_what_to_do():
    option = get_option("top_p")
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0\.0, 1\.0\], got 0") as caught:
        option.check(0)
    assert caught.value.hint == "choose a top_p within the range"
