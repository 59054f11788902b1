"""Detection of the 2026 families of group C (Gemma 4, Qwen3.5, Qwen3-Coder, GLM-4.7, MiniMax-M2, Kimi K2 Thinking,
LFM2 / LFM2.5, Nemotron 3 Nano) from metadata alone: folders holding only config.json and tokenizer_config.json (no
weights, no tokenizer.json, no chat template), named as the community names its conversions, with the real
model_type / architectures and the added tokens at their real ids (tokenizer_config.json's added_tokens_decoder).
Also: a folder that ships the official template (or ours) is classified by its markers, whatever its name says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from preset_cases import KEYWORD_CHAT as CHAT
from preset_cases import KEYWORD_NOW as NOW
from preset_cases import KEYWORD_TOOLS as TOOLS

from playground.detect import detect
from playground.families import get_family
from playground.templates import render_family

GROUP = [
    "gemma4",
    "qwen3.5",
    "qwen3-coder",
    "glm4.7",
    "minimax-m2",
    "kimi-k2-thinking",
    "lfm2",
    "lfm2.5",
    "nemotron3-nano",
]
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-templates"

# --- vocabularies: added tokens with their real ids --------------------------------------------------------------
GEMMA4 = {
    "<pad>": 0,
    "<eos>": 1,
    "<bos>": 2,
    "<unk>": 3,
    "<mask>": 4,
    "<|tool>": 46,
    "<tool|>": 47,
    "<|tool_call>": 48,
    "<tool_call|>": 49,
    "<|tool_response>": 50,
    "<tool_response|>": 51,
    '<|"|>': 52,
    "<|think|>": 98,
    "<|channel>": 100,
    "<channel|>": 101,
    "<|turn>": 105,
    "<turn|>": 106,
}
QWEN35 = {
    "<|endoftext|>": 248044,
    "<|im_start|>": 248045,
    "<|im_end|>": 248046,
    "<|vision_start|>": 248053,
    "<|vision_end|>": 248054,
    "<|image_pad|>": 248056,
    "<|video_pad|>": 248057,
    "<tool_call>": 248058,
    "</tool_call>": 248059,
    "<tool_response>": 248066,
    "</tool_response>": 248067,
    "<think>": 248068,
    "</think>": 248069,
}
QWEN3 = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<tool_response>": 151665,
    "</tool_response>": 151666,
    "<think>": 151667,
    "</think>": 151668,
}
GLM47 = {
    "<|endoftext|>": 154820,
    "[MASK]": 154821,
    "[gMASK]": 154822,
    "[sMASK]": 154823,
    "<sop>": 154824,
    "<eop>": 154825,
    "<|system|>": 154826,
    "<|user|>": 154827,
    "<|assistant|>": 154828,
    "<|observation|>": 154829,
    "<think>": 154841,
    "</think>": 154842,
    "<tool_call>": 154843,
    "</tool_call>": 154844,
    "<arg_key>": 154847,
    "</arg_key>": 154848,
    "<arg_value>": 154849,
    "</arg_value>": 154850,
}
MINIMAX = {
    "]!p~[": 200000,
    "]~b]": 200019,
    "[e~[": 200020,
    "]!d~[": 200021,
    "]~!b[": 200034,
    "<think>": 200050,
    "</think>": 200051,
    "<minimax:tool_call>": 200052,
    "</minimax:tool_call>": 200053,
}
KIMI = {
    "[BOS]": 163584,
    "[EOS]": 163585,
    "<|im_end|>": 163586,
    "<|im_user|>": 163587,
    "<|im_assistant|>": 163588,
    "<|im_system|>": 163594,
    "<|tool_calls_section_begin|>": 163595,
    "<|tool_calls_section_end|>": 163596,
    "<|tool_call_begin|>": 163597,
    "<|tool_call_argument_begin|>": 163598,
    "<|tool_call_end|>": 163599,
    "<|im_middle|>": 163601,
    "<think>": 163606,
    "</think>": 163607,
}
LFM = {
    "<|pad|>": 0,
    "<|startoftext|>": 1,
    "<|endoftext|>": 2,
    "<|im_start|>": 6,
    "<|im_end|>": 7,
    "<|tool_list_start|>": 10,
    "<|tool_list_end|>": 11,
    "<|tool_call_start|>": 12,
    "<|tool_call_end|>": 13,
    "<|tool_response_start|>": 14,
    "<|tool_response_end|>": 15,
}
LFM_THINK = {**LFM, "<think>": 64400, "</think>": 64401}
NEMOTRON3 = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<|im_start|>": 10,
    "<|im_end|>": 11,
    "<think>": 12,
    "</think>": 13,
    "<tool_call>": 14,
    "</tool_call>": 15,
}


def _meta(config: dict, tokens: dict[str, int], **tokenizer_config) -> dict:
    """config.json and tokenizer_config.json only (tiktoken-style: the added tokens are all the vocabulary we read)."""
    decoder = {str(i): {"content": t, "special": True} for t, i in tokens.items()}
    return dict(config=config, tokenizer_config={**tokenizer_config, "added_tokens_decoder": decoder})


GEMMA4_CONFIG = {
    "model_type": "gemma4",
    "architectures": ["Gemma4ForConditionalGeneration"],
    "text_config": {"model_type": "gemma4_text"},
    "vision_config": {"model_type": "gemma4_vision"},
}
QWEN35_CONFIG = {
    "model_type": "qwen3_5",
    "architectures": ["Qwen3_5ForConditionalGeneration"],
    "text_config": {"model_type": "qwen3_5_text"},
    "vision_config": {"model_type": "qwen3_5"},
}
QWEN35_MOE_CONFIG = {
    "model_type": "qwen3_5_moe",
    "architectures": ["Qwen3_5MoeForConditionalGeneration"],
    "text_config": {"model_type": "qwen3_5_moe_text"},
}
QWEN_TOK = {"eos_token": "<|im_end|>", "bos_token": None}
GLM_TOK = {"eos_token": "<|endoftext|>"}
KIMI_TOK = {"bos_token": "[BOS]", "eos_token": "[EOS]"}
LFM_TOK = {"bos_token": "<|startoftext|>", "eos_token": "<|im_end|>"}

GEMMA4_EOS = ["<turn|>", "<|tool_response>", "<eos>"]
QWEN_EOS = ["<|im_end|>", "<|endoftext|>"]
GLM_EOS = ["<|endoftext|>", "<|user|>", "<|observation|>"]
KIMI_EOS = ["<|im_end|>", "[EOS]"]

# name, metadata, expected preset, expected EOS list
CASES = [
    ("gemma-4-e2b-it-4bit", _meta(GEMMA4_CONFIG, GEMMA4, bos_token="<bos>", eos_token="<eos>"), "gemma4", GEMMA4_EOS),
    ("gemma-4-31b-it-8bit", _meta(GEMMA4_CONFIG, GEMMA4, bos_token="<bos>", eos_token="<eos>"), "gemma4", GEMMA4_EOS),
    (
        "gemma-4-26b-a4b-it-text-4bit",
        _meta({"model_type": "gemma4_text", "architectures": ["Gemma4ForCausalLM"]}, GEMMA4, eos_token="<eos>"),
        "gemma4",
        GEMMA4_EOS,
    ),
    ("model", _meta(GEMMA4_CONFIG, GEMMA4, eos_token="<eos>"), "gemma4", GEMMA4_EOS),
    ("Qwen3.5-4B-MLX-4bit", _meta(QWEN35_CONFIG, QWEN35, **QWEN_TOK), "qwen3.5", QWEN_EOS),
    ("Qwen3.5-35B-A3B-4bit", _meta(QWEN35_MOE_CONFIG, QWEN35, **QWEN_TOK), "qwen3.5", QWEN_EOS),
    ("model", _meta(QWEN35_CONFIG, QWEN35, **QWEN_TOK), "qwen3.5", QWEN_EOS),
    (
        "Qwen3-Coder-30B-A3B-Instruct-4bit",
        _meta({"model_type": "qwen3_moe", "architectures": ["Qwen3MoeForCausalLM"]}, QWEN3, **QWEN_TOK),
        "qwen3-coder",
        QWEN_EOS,
    ),
    (
        "Qwen3-Coder-480B-A35B-Instruct-MLX-3bit",
        _meta({"model_type": "qwen3_moe"}, QWEN3, **QWEN_TOK),
        "qwen3-coder",
        QWEN_EOS,
    ),
    (
        "GLM-4.7-Flash-4bit",
        _meta({"model_type": "glm4_moe_lite", "architectures": ["Glm4MoeLiteForCausalLM"]}, GLM47, **GLM_TOK),
        "glm4.7",
        GLM_EOS,
    ),
    (
        "GLM-4.7-mlx-3bit",
        _meta({"model_type": "glm4_moe", "architectures": ["Glm4MoeForCausalLM"]}, GLM47, **GLM_TOK),
        "glm4.7",
        GLM_EOS,
    ),
    ("model", _meta({"model_type": "glm4_moe_lite"}, GLM47, **GLM_TOK), "glm4.7", GLM_EOS),
    (
        "MiniMax-M2-4bit",
        _meta(
            {"model_type": "minimax_m2", "architectures": ["MiniMaxM2ForCausalLM"]},
            MINIMAX,
            bos_token="]~!b[",
            eos_token="[e~[",
        ),
        "minimax-m2",
        ["[e~["],
    ),
    ("model", _meta({"model_type": "minimax_m2"}, MINIMAX, eos_token="[e~["), "minimax-m2", ["[e~["]),
    (
        "Kimi-K2-Thinking-4bit",
        _meta({"model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"]}, KIMI, **KIMI_TOK),
        "kimi-k2-thinking",
        KIMI_EOS,
    ),
    (
        "LFM2-8B-A1B-4bit",
        _meta({"model_type": "lfm2_moe", "architectures": ["Lfm2MoeForCausalLM"]}, LFM, **LFM_TOK),
        "lfm2",
        ["<|im_end|>"],
    ),
    (
        "LFM2-1.2B-8bit",
        _meta({"model_type": "lfm2", "architectures": ["Lfm2ForCausalLM"]}, LFM, **LFM_TOK),
        "lfm2",
        ["<|im_end|>"],
    ),
    ("model", _meta({"model_type": "lfm2_moe"}, LFM, **LFM_TOK), "lfm2", ["<|im_end|>"]),
    (
        "LFM2.5-1.2B-Instruct-MLX-4bit",
        _meta({"model_type": "lfm2", "architectures": ["Lfm2ForCausalLM"]}, LFM, **LFM_TOK),
        "lfm2.5",
        ["<|im_end|>"],
    ),
    ("LFM2.5-1.2B-Thinking-8bit", _meta({"model_type": "lfm2"}, LFM_THINK, **LFM_TOK), "lfm2.5", ["<|im_end|>"]),
    (
        "NVIDIA-Nemotron-3-Nano-30B-A3B-4bit",
        _meta(
            {"model_type": "nemotron_h", "architectures": ["NemotronHForCausalLM"]},
            NEMOTRON3,
            bos_token="<s>",
            eos_token="<|im_end|>",
        ),
        "nemotron3-nano",
        ["<|im_end|>", "</s>"],
    ),
    (
        "model",
        _meta({"model_type": "nemotron_h"}, NEMOTRON3, eos_token="<|im_end|>"),
        "nemotron3-nano",
        ["<|im_end|>", "</s>"],
    ),
]
IDS = [f"{c[0]}-{c[2]}" for c in CASES]


@pytest.mark.parametrize(("name", "meta", "preset", "eos"), CASES, ids=IDS)
def test_detect_from_metadata_only(model_dir, name, meta, preset, eos):
    folder = model_dir(name, **meta)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tokenizer_config.json"]
    detection = detect(folder)
    assert (detection.preset, detection.template_source, list(detection.eos_tokens)) == (preset, "preset", eos)
    assert detection.reason
    tokens = {v["content"]: int(k) for k, v in meta["tokenizer_config"]["added_tokens_decoder"].items()}
    assert list(detection.eos_token_ids) == [tokens[t] for t in eos]


def test_every_preset_of_the_group_has_a_row():
    assert {c[2] for c in CASES} == set(GROUP)


def _templates(preset: str) -> list[tuple[str, str]]:
    out = [("preset", get_family(preset).template)]
    official = REFERENCE_DIR / f"{preset}.jinja"
    if official.is_file():
        out.append(("official", official.read_text(encoding="utf-8")))
    return out


# A folder that ships a template, with a name and model_type that say nothing (or something else).
MISLEADING = {
    "gemma4": _meta({"model_type": "gemma3"}, {"<bos>": 2, "<eos>": 1}),
    "qwen3.5": _meta({"model_type": "qwen2"}, QWEN3, **QWEN_TOK),
    "qwen3-coder": _meta({"model_type": "qwen3"}, QWEN3, **QWEN_TOK),
    "glm4.7": _meta({"model_type": "glm4_moe"}, GLM47, **GLM_TOK),
    "minimax-m2": _meta({"model_type": "mixtral"}, MINIMAX, eos_token="[e~["),
    "kimi-k2-thinking": _meta({"model_type": "deepseek_v3"}, KIMI, **KIMI_TOK),
    "lfm2": _meta({"model_type": "llama"}, LFM, **LFM_TOK),
    "lfm2.5": _meta({"model_type": "lfm2_moe"}, LFM, **LFM_TOK),
    "nemotron3-nano": _meta({"model_type": "qwen3"}, QWEN3, **QWEN_TOK),
}
SHIPPED = [(p, kind, text) for p in GROUP for kind, text in _templates(p)]


@pytest.mark.parametrize(("preset", "kind", "template"), SHIPPED, ids=[f"{p}-{k}" for p, k, _ in SHIPPED])
def test_shipped_template_is_classified_by_its_markers(model_dir, preset, kind, template):
    meta = MISLEADING[preset]
    folder = model_dir("converted-model", extra_files={"chat_template.jinja": template}, **meta)
    detection = detect(folder)
    assert (detection.preset, detection.template_source) == (preset, "model")


def test_official_templates_are_available_to_check():
    if not REFERENCE_DIR.is_dir():
        pytest.skip("no shared reference-templates folder beside the checkout")
    assert all((REFERENCE_DIR / f"{p}.jinja").is_file() for p in GROUP)


# --- keywords and renderer parity ----------------------------------------------------------------------------------


def test_every_group_preset_declares_its_formats_and_sources():
    for name in GROUP:
        family = get_family(name)
        assert family.source.get("repo") and family.source.get("revision"), name
        assert family.eos_token in family.eos_tokens, name
    unverified = {n for n in GROUP if "UNVERIFIED" in get_family(n).source.get("note", "")}
    assert unverified == {"glm4.7", "lfm2"}  # as sources.json marks them
    assert {get_family(n).control("thinking").name for n in GROUP if get_family(n).control("thinking")} == {
        "enable_thinking"
    }


@pytest.mark.parametrize("preset", GROUP)
def test_transformers_renders_our_preset_identically(preset):
    from transformers.utils import chat_template_utils as ctu

    family = get_family(preset)
    samples = [CHAT, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]]
    for messages in samples:
        for agp, tools in ((True, None), (False, None), (True, TOOLS)):
            ours = render_family(family, messages, add_generation_prompt=agp, tools=tools, now=NOW).text
            theirs = ctu.render_jinja_template(
                [messages],
                tools=tools,
                chat_template=family.template,
                add_generation_prompt=agp,
                bos_token=family.bos_token,
                eos_token=family.eos_token,
            )[0][0]
            assert ours == theirs, (agp, tools is not None)
