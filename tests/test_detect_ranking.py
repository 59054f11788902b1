"""Ranked detection evidence: the name and model_type name the family, template markers and special tokens
confirm it or pick among its variants; each decision names its rule and what it overruled. Detection works
on metadata alone (the two small JSON files of a Hub repo) and says what loading still needs.

Folders are named as the community names its conversions; the traps are the issue-20 cases where markers
used to outvote the name and model_type.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_detect_families_c import QWEN3  # Qwen3's special tokens and ids

from playground.cli import main
from playground.detect import detect
from playground.errors import ModelLoadError
from playground.models import load_model

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-templates"


def reference(name: str) -> str:
    path = REFERENCE_DIR / f"{name}.jinja"
    if not path.is_file():
        pytest.skip(f"no shared reference template {name}.jinja beside the checkout")
    return path.read_text(encoding="utf-8")


def _decoder(tokens: dict[str, int]) -> dict:
    return {str(i): {"content": t, "special": True} for t, i in tokens.items()}


LLAMA31 = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": 128009,
}
# Hermes 3 (a Llama 3.1 fine-tune) put ChatML's and its tool tokens in Llama's reserved slots.
HERMES3 = {
    **LLAMA31,
    "<tool_call>": 128002,
    "</tool_call>": 128013,
    "<tool_response>": 128014,
    "</tool_response>": 128015,
    "<|im_start|>": 128038,
    "<|im_end|>": 128039,
}
SMOLLM3 = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<think>": 128002,
    "</think>": 128003,
    "<|im_start|>": 128011,
    "<|im_end|>": 128012,
    "<tool_call>": 128015,
    "</tool_call>": 128016,
}
GEMMA4 = {
    "<pad>": 0,
    "<eos>": 1,
    "<bos>": 2,
    "<unk>": 3,
    "<|tool>": 46,
    "<tool|>": 47,
    "<|tool_call>": 48,
    "<tool_call|>": 49,
    "<|tool_response>": 50,
    "<tool_response|>": 51,
    "<|turn>": 105,
    "<turn|>": 106,
    "<|think|>": 98,
    "<|channel>": 100,
    "<channel|>": 101,
}
QWEN_TOK = {"eos_token": "<|im_end|>", "bos_token": None}


def hermes3() -> dict:
    return dict(
        config={"model_type": "llama", "architectures": ["LlamaForCausalLM"]},
        tokenizer_config={
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|im_end|>",
            "added_tokens_decoder": _decoder(HERMES3),
        },
        generation_config={"eos_token_id": 128039},
        extra_files={"chat_template.jinja": reference("hermes")},
    )


def qwen3_family(model_type: str, template: str | None) -> dict:
    meta = dict(
        config={"model_type": model_type},
        generation_config={"eos_token_id": [151645, 151643]},
        tokenizer_config={**QWEN_TOK, "added_tokens_decoder": _decoder(QWEN3)},
    )
    if template:
        meta["extra_files"] = {"chat_template.jinja": reference(template)}
    return meta


def smollm3_abridged() -> dict:
    """SmolLM3 with an abridged template (the /system_override lines cut, as some copies ship it)."""
    text = "\n".join(line for line in reference("smollm3").splitlines() if "/system_override" not in line)
    return dict(
        config={"model_type": "smollm3"},
        tokenizer_config={"eos_token": "<|im_end|>", "added_tokens_decoder": _decoder(SMOLLM3)},
        extra_files={"chat_template.jinja": text},
    )


def gemma4(template: bool) -> dict:
    meta = dict(
        config={"model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"]},
        tokenizer_config={"bos_token": "<bos>", "eos_token": "<eos>", "added_tokens_decoder": _decoder(GEMMA4)},
        generation_config={"eos_token_id": [1, 106]},
    )
    if template:
        meta["extra_files"] = {"chat_template.jinja": reference("gemma4")}
    return meta


# name, folder builder, expected preset, the rule expected to decide it
TRAPS = [
    # The name says Hermes; the ChatML template with <tool_call> used to make it Qwen3-2507.
    pytest.param("Hermes-3-Llama-3.1-8B-4bit", hermes3, "hermes", "name"),
    # The name says Llama 3.1 but the template is Hermes' ChatML: no Llama preset fits it, Hermes does (and the
    # vocabulary has Hermes' tokens and no <think>, so never Qwen3-2507).
    pytest.param("Llama-3.1-8B-function-calling", hermes3, "hermes", "template markers", id="llama-named-hermes"),
    # Named Qwen3-Coder, model_type qwen3_moe: its template used to match only ChatML's marker.
    pytest.param(
        "Qwen3-Coder-30B-A3B-Instruct-4bit", lambda: qwen3_family("qwen3_moe", "qwen3-coder"), "qwen3-coder", "name"
    ),
    pytest.param(
        "model",
        lambda: qwen3_family("qwen3_moe", "qwen3-coder"),
        "qwen3-coder",
        "template markers",
        id="qwen3-coder-model",
    ),
    # A SmolLM3 copy whose abridged template carries only SmolLM2's markers.
    pytest.param("SmolLM3-3B-4bit", smollm3_abridged, "smollm3", "name"),
    pytest.param("model", smollm3_abridged, "smollm3", "model_type", id="smollm3-model"),
    # Qwen3.5 ships a template with QwQ's markers.
    pytest.param("Qwen3.5-4B-4bit", lambda: qwen3_family("qwen3_5", "qwen3.5"), "qwen3.5", "name"),
    pytest.param("model", lambda: qwen3_family("qwen3_5", None), "qwen3.5", "model_type", id="qwen3.5-model"),
    # model_type gemma4 and no telling name.
    pytest.param("model", lambda: gemma4(False), "gemma4", "model_type", id="gemma4-model"),
    pytest.param("gemma-4-31b-it-4bit", lambda: gemma4(True), "gemma4", "name"),
    # A folder named just "model": model_type and the vocabulary decide.
    pytest.param("model", lambda: qwen3_family("qwen3", None), "qwen3", "special tokens", id="qwen3-model"),
    pytest.param(
        "model",
        lambda: qwen3_family("qwen3", "qwen3-instruct-2507"),
        "qwen3-instruct-2507",
        "template markers",
        id="qwen3-2507-model",
    ),
]


@pytest.mark.parametrize(("name", "build", "preset", "rule"), TRAPS)
def test_traps(model_dir, name, build, preset, rule):
    detection = detect(model_dir(name, **build()))
    assert (detection.preset, detection.rule) == (preset, rule), detection.reason


def test_a_template_no_preset_of_the_named_family_fits_overrules_the_name(model_dir):
    detection = detect(model_dir("Llama-3.1-8B-function-calling", **hermes3()))
    family_step = detection.decisions[0]
    assert family_step.step == "family" and family_step.rule == "template markers"
    assert any("Llama 3.1" in o for o in detection.overruled), detection.overruled
    assert any("model_type 'llama'" in o for o in detection.overruled)
    assert "overrules" in detection.reason


def test_name_outranks_model_type_for_distills(model_dir):
    tokens = {
        **LLAMA31,
        "<｜begin▁of▁sentence｜>": 128000,
        "<｜end▁of▁sentence｜>": 128001,
        "<｜User｜>": 128011,
        "<｜Assistant｜>": 128012,
        "<think>": 128013,
        "</think>": 128014,
    }
    folder = model_dir(
        "DeepSeek-R1-Distill-Llama-8B",
        config={"model_type": "llama"},
        tokenizer_config={"eos_token": "<｜end▁of▁sentence｜>", "added_tokens_decoder": _decoder(tokens)},
    )
    detection = detect(folder)
    assert (detection.preset, detection.decisions[0].rule) == ("deepseek-r1-distill", "name")
    assert detection.overruled == ("model_type 'llama' (llama presets): fine-tunes keep their base architecture",)


# ---------------------------------------------------------------------------------------------- metadata only

SMALL_FILES = {
    "two JSON files": dict(
        config={"model_type": "qwen3"}, tokenizer_config={**QWEN_TOK, "added_tokens_decoder": _decoder(QWEN3)}
    ),
    "config.json only": dict(config={"model_type": "qwen3"}),
}


@pytest.mark.parametrize("shape", SMALL_FILES)
def test_engine_detects_metadata_only_folders_and_says_what_loading_needs(model_dir, shape):
    folder = model_dir("Qwen3-8B", **SMALL_FILES[shape])
    detection = detect(folder)
    assert detection.preset == "qwen3"
    gaps = [w for w in detection.warnings if w.startswith("not loadable yet")]
    assert any("no tokenizer files (tokenizer.json" in w for w in gaps), detection.warnings
    assert any("no weights (*.safetensors)" in w for w in gaps)
    with pytest.raises(ModelLoadError, match="has no weights") as info:
        load_model(folder, allow_download=False)
    assert info.value.hint
    with pytest.raises(ModelLoadError, match="has no tokenizer files") as info:
        load_model(folder, weights=False, allow_download=False)
    assert info.value.hint


@pytest.mark.parametrize("shape", SMALL_FILES)
def test_cli_detects_metadata_only_folders(model_dir, capsys, shape):
    folder = model_dir("Qwen3-8B", **SMALL_FILES[shape])
    assert main(["detect", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "qwen3" in out and "warning: not loadable yet: no tokenizer files" in err
    assert main(["detect", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["preset"] == "qwen3" and data["rule"] == "name"
    assert any(w.startswith("not loadable yet: no weights") for w in data["warnings"])


def test_cli_shows_the_rules_and_what_they_overruled(model_dir, capsys):
    folder = model_dir("Llama-3.1-8B-function-calling", **hermes3())
    assert main(["detect", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["step"] for d in data["decisions"]] == ["family", "preset"]
    assert data["decisions"][0]["rule"] == "template markers" and data["overruled"]
    assert main(["detect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "family rule template markers" in " ".join(out.split()) and "overruled" in out


# ---------------------------------------------------------------------------------------------- the 2026 wave


def _vocab(*tokens: str) -> dict[str, int]:
    return {t: 1000 + i for i, t in enumerate(tokens)}


QWEN35 = _vocab(
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
)
GLM47 = _vocab(
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
)
MINIMAX = _vocab("]~!b[", "]~b]", "[e~[", "<think>", "</think>", "<minimax:tool_call>", "</minimax:tool_call>")
KIMI = _vocab(
    "[BOS]",
    "[EOS]",
    "<|im_end|>",
    "<|im_user|>",
    "<|im_assistant|>",
    "<|im_system|>",
    "<|im_middle|>",
    "<think>",
    "</think>",
    "<|tool_calls_section_begin|>",
    "<|tool_calls_section_end|>",
)
LFM = _vocab(
    "<|startoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|tool_list_start|>",
    "<|tool_list_end|>",
    "<|tool_call_start|>",
    "<|tool_call_end|>",
    "<|tool_response_start|>",
    "<|tool_response_end|>",
)
NEMOTRON3 = _vocab("<s>", "</s>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>")
NEMOTRON2 = _vocab("<s>", "</s>", "<SPECIAL_10>", "<SPECIAL_11>", "<SPECIAL_12>", "<think>", "</think>", "<TOOLCALL>")
SEED = _vocab("<seed:bos>", "<seed:eos>", "<seed:pad>", "<seed:think>", "</seed:think>", "<seed:tool_call>")
GRANITE41 = _vocab("<|end_of_text|>", "<|start_of_role|>", "<|end_of_role|>", "<|tool_call|>")
HERMES2 = {
    **_vocab("<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>"),
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|eot_id|>": 128009,
}
COMMAND_R7B = _vocab(
    "<BOS_TOKEN>",
    "<EOS_TOKEN>",
    "<|START_OF_TURN_TOKEN|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|START_ACTION|>",
    "<|END_ACTION|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
)
MINICPM = _vocab("<s>", "</s>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
STEP = _vocab("<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>")
APERTUS = _vocab(
    "<s>",
    "</s>",
    "<|system_start|>",
    "<|system_end|>",
    "<|developer_start|>",
    "<|developer_end|>",
    "<|user_start|>",
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|inner_prefix|>",
    "<|inner_suffix|>",
    "<|tools_prefix|>",
    "<|tools_suffix|>",
)
SOLAR = _vocab("<|begin|>", "<|end|>", "<|content|>", "<|think|>", "<|flush|>", "<|calls|>", "<|tool_calls|>")


def folder_of(model_type: str | None, tokens: dict[str, int], eos: str) -> dict:
    config = {"model_type": model_type} if model_type else {"hidden_size": 2048}
    return dict(config=config, tokenizer_config={"eos_token": eos, "added_tokens_decoder": _decoder(tokens)})


# name (as the community names its conversions, or just "model"), model_type, vocabulary, EOS, expected preset
WAVE = [
    ("Qwen3.5-27B-4bit", "qwen3_5", QWEN35, "<|im_end|>", "qwen3.5"),
    ("model", "qwen3_5_moe", QWEN35, "<|im_end|>", "qwen3.5"),
    ("Qwen3-Coder-480B-A35B-Instruct-3bit", "qwen3_moe", QWEN3, "<|im_end|>", "qwen3-coder"),
    ("GLM-4.7-Flash-4bit", "glm4_moe_lite", GLM47, "<|endoftext|>", "glm4.7"),
    ("model", "glm4_moe_lite", GLM47, "<|endoftext|>", "glm4.7"),
    ("MiniMax-M2-4bit", "minimax_m2", MINIMAX, "[e~[", "minimax-m2"),
    ("model", "minimax_m2", MINIMAX, "[e~[", "minimax-m2"),
    ("Kimi-K2-Thinking-mlx-3bit", "kimi_k2", KIMI, "[EOS]", "kimi-k2-thinking"),
    ("LFM2-8B-A1B-4bit", "lfm2_moe", LFM, "<|im_end|>", "lfm2"),
    ("model", "lfm2_moe", LFM, "<|im_end|>", "lfm2"),
    ("LFM2.5-1.2B-Instruct-MLX-8bit", "lfm2", LFM, "<|im_end|>", "lfm2.5"),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B-4bit", "nemotron_h", NEMOTRON3, "<|im_end|>", "nemotron3-nano"),
    ("NVIDIA-Nemotron-Nano-9B-v2-4bit", "nemotron_h", NEMOTRON2, "<SPECIAL_12>", "nemotron-nano-v2"),
    ("model", "nemotron_h", NEMOTRON2, "<SPECIAL_12>", "nemotron-nano-v2"),
    ("Seed-OSS-36B-Instruct-4bit", "seed_oss", SEED, "<seed:eos>", "seed-oss"),
    ("model", "seed_oss", SEED, "<seed:eos>", "seed-oss"),
    ("granite-4.1-8b-4bit", "granite", GRANITE41, "<|end_of_text|>", "granite4.1"),
    ("Hermes-2-Pro-Llama-3-8B-4bit", "llama", HERMES2, "<|im_end|>", "hermes"),
    ("Hermes-3-Llama-3.2-3B-4bit", "llama", HERMES3, "<|im_end|>", "hermes"),
    ("c4ai-command-r7b-12-2024-4bit", "cohere2", COMMAND_R7B, "<|END_OF_TURN_TOKEN|>", "command-r7b"),
    ("model", "cohere2", COMMAND_R7B, "<|END_OF_TURN_TOKEN|>", "command-r7b"),
    ("MiniCPM5-1B-4bit", "minicpm", MINICPM, "<|im_end|>", "minicpm5"),
    ("Step-3.5-Flash-4bit", "step3p5", STEP, "<|im_end|>", "step3.5"),
    ("model", "step3p5", STEP, "<|im_end|>", "step3.5"),
    ("Apertus-8B-Instruct-2509-4bit", "apertus", APERTUS, "<|assistant_end|>", "apertus"),
    ("model", "apertus", APERTUS, "<|assistant_end|>", "apertus"),
    ("Solar-Open-100B-4bit", "solar_open", SOLAR, "<|flush|>", "solar-open"),
    ("model", None, SOLAR, "<|flush|>", "solar-open"),
]


@pytest.mark.parametrize(("name", "model_type", "tokens", "eos", "preset"), WAVE, ids=[f"{w[0]}-{w[4]}" for w in WAVE])
def test_the_2026_wave_from_metadata_alone(model_dir, name, model_type, tokens, eos, preset):
    """Only config.json and tokenizer_config.json (added tokens), as a Hub repo's two small files."""
    detection = detect(model_dir(name, **folder_of(model_type, tokens, eos)))
    assert (detection.preset, detection.template_source) == (preset, "preset"), detection.reason
    assert eos in detection.eos_tokens and all(isinstance(i, int) for i in detection.eos_token_ids)
