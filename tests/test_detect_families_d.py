"""Detection of the batch-B families (Nemotron Nano v2, Seed-OSS, Granite 4.1, Hermes, Command R7B, MiniCPM5,
Step 3.5, Apertus, Solar Open) from metadata alone: folders holding only config.json and tokenizer_config.json (no
weights, no tokenizer.json), named as the community names its conversions, with each family's real model_type and
architectures and its special tokens in ``added_tokens_decoder``; plus the presets' keywords and reply formats.
"""

from __future__ import annotations

import json

import pytest
from preset_cases import KEYWORD_CHAT as CHAT
from preset_cases import KEYWORD_NOW as NOW
from preset_cases import KEYWORD_TOOLS as TOOLS

from playground.detect import detect
from playground.families import get_family
from playground.templates import render_family

GROUP = [
    "nemotron-nano-v2",
    "seed-oss",
    "granite4.1",
    "hermes",
    "command-r7b",
    "minicpm5",
    "step3.5",
    "apertus",
    "solar-open",
]

# Added tokens (content -> id) as the families' tokenizer_config.json lists them, trimmed to what detection reads.
NEMOTRON = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<SPECIAL_10>": 10,
    "<SPECIAL_11>": 11,
    "<SPECIAL_12>": 12,
    "<think>": 13,
    "</think>": 14,
    "<TOOLCALL>": 15,
    "</TOOLCALL>": 16,
}
SEED = {
    "<seed:bos>": 0,
    "<seed:pad>": 1,
    "<seed:eos>": 2,
    "<seed:think>": 7,
    "</seed:think>": 8,
    "<seed:cot_budget_reflect>": 9,
    "</seed:cot_budget_reflect>": 10,
    "<seed:tool_call>": 11,
    "</seed:tool_call>": 12,
}
GRANITE4 = {"<|end_of_text|>": 100257, "<|start_of_role|>": 100264, "<|end_of_role|>": 100265, "<|tool_call|>": 100269}
LLAMA31 = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|eom_id|>": 128008, "<|eot_id|>": 128009}
HERMES3 = {
    **LLAMA31,
    "<tool_call>": 128002,
    "<tool_response>": 128003,
    "<tools>": 128004,
    "</tool_call>": 128011,
    "</tool_response>": 128013,
    "</tools>": 128014,
    "<|im_start|>": 128038,
    "<|im_end|>": 128039,
}
HERMES2_MISTRAL = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<|im_end|>": 32000,
    "<|im_start|>": 32001,
    "<tool_call>": 32002,
    "<tool_response>": 32003,
    "</tool_call>": 32004,
    "</tool_response>": 32005,
}
COHERE2 = {
    "<PAD>": 0,
    "<BOS_TOKEN>": 5,
    "<EOS_TOKEN>": 6,
    "<|START_OF_TURN_TOKEN|>": 255000,
    "<|END_OF_TURN_TOKEN|>": 255001,
    "<|USER_TOKEN|>": 255006,
    "<|CHATBOT_TOKEN|>": 255007,
    "<|SYSTEM_TOKEN|>": 255008,
    "<|START_THINKING|>": 255019,
    "<|END_THINKING|>": 255020,
    "<|START_RESPONSE|>": 255021,
    "<|END_RESPONSE|>": 255022,
    "<|START_ACTION|>": 255023,
    "<|END_ACTION|>": 255024,
}
COHERE1 = {k: v for k, v in COHERE2.items() if "THINKING" not in k and "ACTION" not in k and "RESPONSE" not in k}
MINICPM = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<|im_end|>": 73440,
    "<|im_start|>": 73441,
    "<think>": 73448,
    "</think>": 73449,
}
STEP = {"<|im_start|>": 128000, "<|im_end|>": 128001, "<think>": 128002, "</think>": 128003, "<tool_call>": 128004}
APERTUS = {
    "<unk>": 0,
    "<s>": 1,
    "</s>": 2,
    "<pad>": 3,
    "<|system_start|>": 61,
    "<|system_end|>": 62,
    "<|developer_start|>": 63,
    "<|developer_end|>": 64,
    "<|user_start|>": 65,
    "<|user_end|>": 66,
    "<|assistant_start|>": 67,
    "<|assistant_end|>": 68,
    "<|inner_prefix|>": 69,
    "<|inner_suffix|>": 70,
    "<|tools_prefix|>": 71,
    "<|tools_suffix|>": 72,
}
SOLAR = {
    "<|begin|>": 20,
    "<|end|>": 21,
    "<|think|>": 22,
    "<|content|>": 23,
    "<|flush|>": 24,
    "<|calls|>": 25,
    "<|tool_calls|>": 30,
    "<|tool_call:begin|>": 31,
    "<|tool_call:end|>": 32,
}

NEMOTRON_CFG = {"model_type": "nemotron_h", "architectures": ["NemotronHForCausalLM"]}
SEED_CFG = {"model_type": "seed_oss", "architectures": ["SeedOssForCausalLM"]}
GRANITE_CFG = {"model_type": "granite", "architectures": ["GraniteForCausalLM"]}
LLAMA_CFG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
MISTRAL_CFG = {"model_type": "mistral", "architectures": ["MistralForCausalLM"]}
COHERE2_CFG = {"model_type": "cohere2", "architectures": ["Cohere2ForCausalLM"]}
STEP_CFG = {"model_type": "step3p5", "architectures": ["Step3p5ForCausalLM"]}
APERTUS_CFG = {"model_type": "apertus", "architectures": ["ApertusForCausalLM"]}
SOLAR_CFG = {"model_type": "solar_open", "architectures": ["SolarOpenForCausalLM"]}


def _tokenizer(added: dict[str, int], eos: str, bos: str | None = None, **extra) -> dict:
    """A tokenizer_config.json: its added tokens, EOS and BOS, and anything else (a chat template)."""
    decoder = {str(i): {"content": t, "special": True} for t, i in added.items()}
    return {"added_tokens_decoder": decoder, "eos_token": eos, "bos_token": bos, **extra}


def _meta(config: dict, tokenizer_config: dict) -> dict:
    return {"config": config, "tokenizer_config": tokenizer_config}


HERMES3_TOK = _tokenizer(HERMES3, "<|im_end|>", "<|begin_of_text|>")
NEMOTRON_EOS = ["<SPECIAL_12>", "</s>"]

# name, metadata, expected preset, expected EOS list (no chat template: tokens, name and model_type decide)
CASES = [
    (
        "NVIDIA-Nemotron-Nano-9B-v2-4bit",
        _meta(NEMOTRON_CFG, _tokenizer(NEMOTRON, "<SPECIAL_12>", "<s>")),
        "nemotron-nano-v2",
        NEMOTRON_EOS,
    ),
    (
        "NVIDIA-Nemotron-Nano-12B-v2-8bit",
        _meta(NEMOTRON_CFG, _tokenizer(NEMOTRON, "<SPECIAL_12>", "<s>")),
        "nemotron-nano-v2",
        NEMOTRON_EOS,
    ),
    ("model", _meta(NEMOTRON_CFG, _tokenizer(NEMOTRON, "<SPECIAL_12>", "<s>")), "nemotron-nano-v2", NEMOTRON_EOS),
    (
        "Seed-OSS-36B-Instruct-4bit",
        _meta(SEED_CFG, _tokenizer(SEED, "<seed:eos>", "<seed:bos>")),
        "seed-oss",
        ["<seed:eos>"],
    ),
    ("model", _meta(SEED_CFG, _tokenizer(SEED, "<seed:eos>", "<seed:bos>")), "seed-oss", ["<seed:eos>"]),
    # Granite 4.1 shares Granite 4's tokenizer and the dense Granite architecture: only the name tells them apart
    (
        "granite-4.1-8b-4bit",
        _meta(GRANITE_CFG, _tokenizer(GRANITE4, "<|end_of_text|>", "<|end_of_text|>")),
        "granite4.1",
        ["<|end_of_text|>"],
    ),
    (
        "granite-4.1-3b-instruct-mlx-8bit",
        _meta(GRANITE_CFG, _tokenizer(GRANITE4, "<|end_of_text|>")),
        "granite4.1",
        ["<|end_of_text|>"],
    ),
    (
        "granite-4.0-micro-4bit",
        _meta(GRANITE_CFG, _tokenizer(GRANITE4, "<|end_of_text|>")),
        "granite4",
        ["<|end_of_text|>"],
    ),  # trap: Granite 4.0 keeps its preset
    # Hermes: ChatML and <tool_call> tokens in a Llama 3.1 (or Mistral) vocabulary; the name decides
    ("Hermes-3-Llama-3.1-8B-4bit", _meta(LLAMA_CFG, HERMES3_TOK), "hermes", ["<|im_end|>", "<|end_of_text|>"]),
    ("Hermes-3-Llama-3.2-3B-8bit", _meta(LLAMA_CFG, HERMES3_TOK), "hermes", ["<|im_end|>", "<|end_of_text|>"]),
    (
        "Hermes-2-Pro-Mistral-7B-4bit",
        _meta(MISTRAL_CFG, _tokenizer(HERMES2_MISTRAL, "<|im_end|>", "<s>")),
        "hermes",
        ["<|im_end|>"],
    ),
    (
        "OpenHermes-2.5-Mistral-7B-4bit",  # trap: OpenHermes 2.5 is the chatml preset's model
        _meta(MISTRAL_CFG, _tokenizer({"<s>": 1, "</s>": 2, "<|im_end|>": 32000, "<|im_start|>": 32001}, "<|im_end|>")),
        "chatml",
        ["<|im_end|>", "</s>"],
    ),
    (
        "c4ai-command-r7b-12-2024-4bit",
        _meta(COHERE2_CFG, _tokenizer(COHERE2, "<|END_OF_TURN_TOKEN|>", "<BOS_TOKEN>")),
        "command-r7b",
        ["<|END_OF_TURN_TOKEN|>", "<EOS_TOKEN>"],
    ),
    (
        "model",
        _meta(COHERE2_CFG, _tokenizer(COHERE2, "<|END_OF_TURN_TOKEN|>", "<BOS_TOKEN>")),
        "command-r7b",
        ["<|END_OF_TURN_TOKEN|>", "<EOS_TOKEN>"],
    ),
    (
        "c4ai-command-r-08-2024-4bit",  # trap: Command R keeps its preset
        _meta(
            {"model_type": "cohere", "architectures": ["CohereForCausalLM"]},
            _tokenizer(COHERE1, "<|END_OF_TURN_TOKEN|>", "<BOS_TOKEN>"),
        ),
        "command-r",
        ["<|END_OF_TURN_TOKEN|>", "<EOS_TOKEN>"],
    ),
    # MiniCPM5 is a Llama-architecture model with Qwen3's ChatML and <think> tokens: the name decides
    (
        "MiniCPM5-1B-8bit",
        _meta(LLAMA_CFG, _tokenizer(MINICPM, "<|im_end|>", "<s>")),
        "minicpm5",
        ["<|im_end|>", "</s>"],
    ),
    ("Step-3.5-Flash-4bit", _meta(STEP_CFG, _tokenizer(STEP, "<|im_end|>")), "step3.5", ["<|im_end|>"]),
    ("model", _meta(STEP_CFG, _tokenizer(STEP, "<|im_end|>")), "step3.5", ["<|im_end|>"]),
    (
        "Apertus-8B-Instruct-2509-4bit",
        _meta(APERTUS_CFG, _tokenizer(APERTUS, "<|assistant_end|>", "<s>")),
        "apertus",
        ["<|assistant_end|>", "</s>"],
    ),
    (
        "model",
        _meta(APERTUS_CFG, _tokenizer(APERTUS, "<|assistant_end|>", "<s>")),
        "apertus",
        ["<|assistant_end|>", "</s>"],
    ),
    (
        "Solar-Open-100B-4bit",
        _meta(SOLAR_CFG, _tokenizer(SOLAR, "<|flush|>")),
        "solar-open",
        ["<|flush|>", "<|calls|>"],
    ),
    ("model", _meta(SOLAR_CFG, _tokenizer(SOLAR, "<|flush|>")), "solar-open", ["<|flush|>", "<|calls|>"]),
]


@pytest.mark.parametrize(("name", "meta", "preset", "eos"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_detect_from_metadata_alone(model_dir, name, meta, preset, eos):
    folder = model_dir(name, **meta)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tokenizer_config.json"]
    detection = detect(folder)
    assert (detection.preset, detection.template_source, list(detection.eos_tokens)) == (preset, "preset", eos)
    assert detection.reason


# A folder whose tokenizer_config.json carries a chat template (our preset's text has the official markers).
OWN_TEMPLATE = [
    ("NVIDIA-Nemotron-Nano-9B-v2", "nemotron-nano-v2", NEMOTRON_CFG, NEMOTRON, "<SPECIAL_12>"),
    ("Seed-OSS-36B-Instruct", "seed-oss", SEED_CFG, SEED, "<seed:eos>"),
    ("granite-4.1-30b", "granite4.1", GRANITE_CFG, GRANITE4, "<|end_of_text|>"),
    ("c4ai-command-r7b-12-2024", "command-r7b", COHERE2_CFG, COHERE2, "<|END_OF_TURN_TOKEN|>"),
    ("MiniCPM5-1B", "minicpm5", LLAMA_CFG, MINICPM, "<|im_end|>"),
    ("Step-3.5-Flash", "step3.5", STEP_CFG, STEP, "<|im_end|>"),
    ("Apertus-70B-Instruct-2509", "apertus", APERTUS_CFG, APERTUS, "<|assistant_end|>"),
    ("Solar-Open-100B", "solar-open", SOLAR_CFG, SOLAR, "<|flush|>"),
    ("model", "seed-oss", SEED_CFG, SEED, "<seed:eos>"),
    ("model", "apertus", APERTUS_CFG, APERTUS, "<|assistant_end|>"),
]


@pytest.mark.parametrize(
    ("name", "preset", "config", "added", "eos"), OWN_TEMPLATE, ids=[f"{c[0]}-{c[1]}" for c in OWN_TEMPLATE]
)
def test_own_template_is_classified(model_dir, name, preset, config, added, eos):
    tokenizer_config = _tokenizer(added, eos, chat_template=get_family(preset).template)
    detection = detect(model_dir(name, config=config, tokenizer_config=tokenizer_config))
    assert (detection.preset, detection.template_source, detection.template_origin) == (
        preset,
        "model",
        "tokenizer_config.json",
    )


HERMES_DEFAULT = (
    "{{bos_token}}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_hermes3_with_its_named_templates_is_hermes(model_dir):
    """Hermes ships named templates; detection reads the 'default' one (plain ChatML), which fits the name."""
    templates = [
        {"name": "default", "template": HERMES_DEFAULT},
        {"name": "tool_use", "template": get_family("hermes").template},
    ]
    tokenizer_config = {**HERMES3_TOK, "chat_template": templates}
    detection = detect(model_dir("Hermes-3-Llama-3.1-8B-4bit", config=LLAMA_CFG, tokenizer_config=tokenizer_config))
    assert detection.preset == "hermes"


def test_granite4_and_41_templates_tie_on_markers_and_the_name_decides(model_dir):
    # Granite 4.1's template is 4.0's without the default system message: the same markers, so the name decides.
    assert get_family("granite4.1").match.template_markers == get_family("granite4").match.template_markers
    tokenizer_config = _tokenizer(GRANITE4, "<|end_of_text|>", chat_template=get_family("granite4").template)
    detection = detect(model_dir("granite-4.1-8b-4bit", config=GRANITE_CFG, tokenizer_config=tokenizer_config))
    assert detection.preset == "granite4.1"
    detection = detect(model_dir("granite-4.0-h-tiny", config=GRANITE_CFG, tokenizer_config=tokenizer_config))
    assert detection.preset == "granite4"


# ---------------------------------------------------------------------------------------------- keywords, formats



@pytest.mark.parametrize("preset", GROUP)
def test_every_group_preset_declares_its_source_eos_and_formats(preset):
    family = get_family(preset)
    assert {"repo", "path", "revision", "note"} <= set(family.source)
    assert family.eos_token in family.eos_tokens
    assert family.match.name_patterns and (family.match.template_markers or family.match.special_tokens)
    assert all(marker in family.template for marker in family.match.template_markers)


def test_keywords_drive_the_controls_and_the_prompt():
    seed = get_family("seed-oss")
    assert seed.kwarg("thinking_budget").type == "int" and seed.control("thinking") is None
    budget = render_family(seed, CHAT, now=NOW, template_kwargs={"thinking_budget": 1024}).text
    assert "thinking budget, which is 1024" in budget and "every 256 tokens" in budget
    assert render_family(seed, CHAT, now=NOW, template_kwargs={"thinking_budget": 0}).text.endswith("</seed:think>")
    assert get_family("minicpm5").control("thinking").name == "enable_thinking"
    minicpm = {
        v: render_family(
            get_family("minicpm5"), CHAT, template_kwargs=({} if v is None else {"enable_thinking": v})
        ).text
        for v in (None, True, False)
    }
    assert minicpm[None].endswith("assistant\n") and minicpm[True].endswith("assistant\n<think>\n")
    assert minicpm[False].endswith("assistant\n<think>\n\n</think>\n\n")
    apertus = get_family("apertus")
    assert (
        "Deliberation: enabled" in render_family(apertus, CHAT, now=NOW, template_kwargs={"enable_thinking": True}).text
    )
    solar = get_family("solar-open")
    assert solar.control("effort").name == "reasoning_effort"
    low = render_family(solar, CHAT, now=NOW, template_kwargs={"reasoning_effort": "low"}).text
    assert low.endswith("<|begin|>assistant<|think|><|end|><|begin|>assistant")
    cr7b = render_family(get_family("command-r7b"), CHAT, tools=TOOLS, template_kwargs={"enable_citations": True}).text
    assert "## Grounding" in cr7b


def test_hermes_without_tools_is_its_default_chatml():
    """Hermes ships a plain ChatML 'default' template beside 'tool_use'; transformers uses it when no tools are given."""
    text = render_family(get_family("hermes"), [{"role": "system", "content": "Be brief."}, *CHAT]).text
    assert text == (
        "<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    with_tools = render_family(get_family("hermes"), CHAT, tools=TOOLS).text
    assert with_tools.startswith("<|begin_of_text|><|im_start|>system\nYou are a function calling AI model.")


def test_nemotron_flags_switch_reasoning_without_a_keyword():
    family = get_family("nemotron-nano-v2")
    assert not family.kwargs
    on = render_family(family, CHAT).text
    off = render_family(family, [{"role": "system", "content": "/no_think"}, *CHAT]).text
    assert on.endswith("<SPECIAL_11>Assistant\n<think>\n") and off.endswith("<SPECIAL_11>Assistant\n<think></think>")
    assert "/no_think" not in off


def test_presets_json_and_markdown_list_the_group(capsys):
    from playground.cli import main

    assert main(["presets", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    for name in GROUP:
        entry, family = listed[name], get_family(name)
        assert (entry["eos_tokens"], entry["reasoning"], entry["tool_calls"]) == (
            list(family.eos_tokens),
            family.reasoning,
            family.tool_calls,
        )
        assert entry["source"]["revision"] == family.source["revision"]
    budget = next(k for k in listed["seed-oss"]["template_kwargs"] if k["name"] == "thinking_budget")
    assert (budget["type"], budget["default"]) == ("int", -1)
    assert main(["presets", "--markdown"]) == 0
    table = capsys.readouterr().out
    assert all(f"| `{name}` |" in table for name in GROUP)
