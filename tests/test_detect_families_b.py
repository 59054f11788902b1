"""Detection of the 2025-26 families of group B (Gemma 3, Llama 3.3/4, Phi-4, Mistral Small 3.x, Devstral,
Ministral 3, gpt-oss, SmolLM3, Granite 3.3/4) from metadata alone, as a table; plus their template keywords."""

from __future__ import annotations

from datetime import datetime
from unittest import mock

import pytest
from preset_cases import KEYWORD_CHAT as CHAT
from preset_cases import KEYWORD_NOW as NOW
from preset_cases import KEYWORD_TOOLS as TOOLS

from playground.detect import detect
from playground.families import get_family
from playground.templates import render_family

GROUP = [
    "gemma3", "llama3.3", "llama4", "phi4", "phi4-mini", "mistral-small-3", "mistral-small-3.2", "devstral",
    "ministral3-reasoning", "gpt-oss", "smollm3", "granite3.3", "granite4",
]

# Added tokens with their real ids (vocabularies trimmed to what detection reads).
SPM = ["<unk>", "<s>", "</s>", "▁the", "▁a"]
GEMMA3 = {
    "<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4, "<start_of_turn>": 105, "<end_of_turn>": 106,
    "<start_of_image>": 255999, "<end_of_image>": 256000, "<image_soft_token>": 262144,
}
GEMMA2_VOCAB = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"t{i}" for i in range(102)] + ["<start_of_turn>", "<end_of_turn>"]
LLAMA31 = {
    "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|eot_id|>": 128009,
}
LLAMA4 = {
    "<|begin_of_text|>": 200000, "<|end_of_text|>": 200001, "<|fim_prefix|>": 200002, "<|fim_middle|>": 200003,
    "<|fim_suffix|>": 200004, "<|header_start|>": 200005, "<|header_end|>": 200006, "<|eom|>": 200007,
    "<|eot|>": 200008, "<|step|>": 200009,
}
PHI4 = {
    "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
    "<|im_start|>": 100264, "<|im_end|>": 100265, "<|im_sep|>": 100266, "<|endofprompt|>": 100276,
    "<|dummy_85|>": 100349,
}
PHI4_MINI = {
    "<|endoftext|>": 199999, "<|endofprompt|>": 200018, "<|assistant|>": 200019, "<|end|>": 200020,
    "<|user|>": 200021, "<|system|>": 200022, "<|tool|>": 200023, "<|/tool|>": 200024, "<|tool_call|>": 200025,
    "<|/tool_call|>": 200026, "<|tool_response|>": 200027, "<|tag|>": 200028,
}
PHI35 = {"<|endoftext|>": 32000, "<|assistant|>": 32001, "<|system|>": 32006, "<|end|>": 32007, "<|user|>": 32010}
TEKKEN = {  # Mistral's tekken tokenizer (Mistral Small 3 / 3.1, Devstral 2505)
    "<unk>": 0, "<s>": 1, "</s>": 2, "[INST]": 3, "[/INST]": 4, "[AVAILABLE_TOOLS]": 5, "[/AVAILABLE_TOOLS]": 6,
    "[TOOL_RESULTS]": 7, "[/TOOL_RESULTS]": 8, "[TOOL_CALLS]": 9, "[IMG]": 10, "<pad>": 11, "[IMG_BREAK]": 12,
    "[IMG_END]": 13, "[PREFIX]": 14, "[MIDDLE]": 15, "[SUFFIX]": 16, "[SYSTEM_PROMPT]": 17, "[/SYSTEM_PROMPT]": 18,
    "[TOOL_CONTENT]": 19,
}
TEKKEN_CALLS = {**TEKKEN, "[ARGS]": 32, "[CALL_ID]": 33}  # Mistral Small 3.2, Devstral 2507
TEKKEN_THINK = {**TEKKEN_CALLS, "[THINK]": 34, "[/THINK]": 35}  # Magistral 2507+, Ministral 3
GPT_OSS = {
    "<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
    "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012,
    "<|endofprompt|>": 200018,
}
SMOLLM3 = {
    "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<think>": 128002, "</think>": 128003,
    "<|im_start|>": 128011, "<|im_end|>": 128012, "<tool_call>": 128015, "</tool_call>": 128016,
}
GRANITE3 = {
    "<|end_of_text|>": 0, "<fim_prefix>": 1, "<fim_middle>": 2, "<fim_suffix>": 3, "<|start_of_role|>": 49152,
    "<|end_of_role|>": 49153, "<|tool_call|>": 49154, "<|start_of_cite|>": 49155, "<|end_of_cite|>": 49156,
}
GRANITE4 = {"<|end_of_text|>": 100257, "<|start_of_role|>": 100264, "<|end_of_role|>": 100265, "<|tool_call|>": 100269}

GEMMA3_VISION = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
                 "text_config": {"model_type": "gemma3_text"}, "vision_config": {"model_type": "siglip_vision_model"}}
MISTRAL3 = {"model_type": "mistral3", "architectures": ["Mistral3ForConditionalGeneration"],
            "text_config": {"model_type": "mistral"}, "vision_config": {"model_type": "pixtral"}}
MISTRAL = {"model_type": "mistral", "architectures": ["MistralForCausalLM"]}
TK_MISTRAL = {"eos_token": "</s>", "bos_token": "<s>"}


def _meta(config, tokenizer_config, added, generation_eos=None, vocab=("a",)):
    meta = dict(config=config, tokenizer_config=tokenizer_config, vocab=list(vocab), added=added)
    if generation_eos is not None:
        meta["generation_config"] = {"eos_token_id": generation_eos}
    return meta


# name, metadata, expected preset, expected EOS list (no chat template: tokens / name / model_type decide)
CASES = [
    # Gemma 3: 4B+ (vision config) and 1B (gemma3_text); <start_of_image> tells it from Gemma 2
    ("gemma-3-4b-it-4bit", _meta(GEMMA3_VISION, {"eos_token": "<eos>", "bos_token": "<bos>"}, GEMMA3, [1, 106]),
     "gemma3", ["<end_of_turn>", "<eos>"]),
    ("gemma-3-1b-it-4bit",
     _meta({"model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"]}, {"eos_token": "<eos>", "bos_token": "<bos>"},
           GEMMA3, [1, 106]),
     "gemma3", ["<end_of_turn>", "<eos>"]),
    ("a-small-vision-finetune", _meta(GEMMA3_VISION, {"eos_token": "<eos>"}, GEMMA3, [1, 106]),
     "gemma3", ["<end_of_turn>", "<eos>"]),
    ("gemma-2-9b-it-4bit",  # trap: Gemma 2 stays with the gemma preset
     dict(config={"model_type": "gemma2"}, tokenizer_config={"eos_token": "<eos>", "bos_token": "<bos>"},
          generation_config={"eos_token_id": [1, 107]}, vocab=GEMMA2_VOCAB),
     "gemma", ["<end_of_turn>", "<eos>"]),
    # Llama 3.3 has Llama 3.1's tokens: the name decides
    ("Llama-3.3-70B-Instruct-4bit", _meta({"model_type": "llama"}, {"eos_token": "<|eot_id|>"}, LLAMA31, [128001, 128008, 128009]),
     "llama3.3", ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]),
    ("Meta-Llama-3.1-70B-Instruct-4bit", _meta({"model_type": "llama"}, {"eos_token": "<|eot_id|>"}, LLAMA31, [128001, 128008, 128009]),
     "llama3.1", ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]),
    # Llama 4
    ("Llama-4-Scout-17B-16E-Instruct-4bit",
     _meta({"model_type": "llama4", "text_config": {"model_type": "llama4_text"}},
           {"eos_token": "<|eot|>", "bos_token": "<|begin_of_text|>"}, LLAMA4, [200001, 200007, 200008]),
     "llama4", ["<|eot|>", "<|eom|>", "<|end_of_text|>"]),
    ("some-moe-chat", _meta({"model_type": "llama4"}, {"eos_token": "<|eot|>"}, LLAMA4),
     "llama4", ["<|eot|>", "<|eom|>", "<|end_of_text|>"]),
    # Phi-4: ChatML tokens plus <|im_sep|> is not ChatML
    ("phi-4-4bit", _meta({"model_type": "phi3", "architectures": ["Phi3ForCausalLM"]},
                         {"eos_token": "<|im_end|>", "bos_token": "<|endoftext|>"}, PHI4, 100265),
     "phi4", ["<|im_end|>", "<|endoftext|>"]),
    ("my-reasoning-finetune", _meta({"model_type": "phi3"}, {"eos_token": "<|im_end|>"}, PHI4),
     "phi4", ["<|im_end|>", "<|endoftext|>"]),
    # Phi-4-mini (phi3 model_type, <|tool_call|>) vs Phi-3.5
    ("Phi-4-mini-instruct-4bit", _meta({"model_type": "phi3"}, {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"},
                                       PHI4_MINI, [200020, 199999]),
     "phi4-mini", ["<|end|>", "<|endoftext|>"]),
    ("tiny-tool-caller", _meta({"model_type": "phi3"}, {"eos_token": "<|endoftext|>"}, PHI4_MINI, [200020, 199999]),
     "phi4-mini", ["<|end|>", "<|endoftext|>"]),
    ("Phi-3.5-mini-instruct-4bit", _meta({"model_type": "phi3"}, {"eos_token": "<|endoftext|>"}, PHI35, vocab=SPM),
     "phi3.5", ["<|end|>", "<|endoftext|>"]),
    # Mistral's tekken family: the name decides, then model_type, then the tokens ([CALL_ID], [THINK])
    ("Mistral-Small-24B-Instruct-2501-4bit", _meta(MISTRAL, TK_MISTRAL, TEKKEN), "mistral-small-3", ["</s>"]),
    ("Mistral-Small-3.1-24B-Instruct-2503-4bit", _meta(MISTRAL3, TK_MISTRAL, TEKKEN), "mistral-small-3", ["</s>"]),
    ("pixtral-style-finetune", _meta(MISTRAL3, TK_MISTRAL, TEKKEN), "mistral-small-3", ["</s>"]),
    ("Mistral-Small-3.2-24B-Instruct-2506-4bit", _meta(MISTRAL3, TK_MISTRAL, TEKKEN_CALLS), "mistral-small-3.2", ["</s>"]),
    ("Devstral-Small-2505-4bit", _meta(MISTRAL, TK_MISTRAL, TEKKEN), "devstral", ["</s>"]),
    ("Devstral-Small-2507-4bit", _meta(MISTRAL, TK_MISTRAL, TEKKEN_CALLS), "devstral", ["</s>"]),
    ("Ministral-3-14B-Reasoning-2512-4bit", _meta(MISTRAL3, TK_MISTRAL, TEKKEN_THINK), "ministral3-reasoning", ["</s>"]),
    ("Magistral-Small-2509-4bit", _meta(MISTRAL, TK_MISTRAL, TEKKEN_THINK), "ministral3-reasoning", ["</s>"]),
    ("Mistral-7B-Instruct-v0.3-4bit",  # trap: v0.3 has no [SYSTEM_PROMPT]
     dict(config=MISTRAL, tokenizer_config={"eos_token": "</s>"}, vocab=SPM + ["[INST]", "[/INST]", "[AVAILABLE_TOOLS]"]),
     "mistral-v0.3", ["</s>"]),
    # gpt-oss: harmony tokens
    ("gpt-oss-20b-MXFP4-Q8", _meta({"model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"]},
                                   {"eos_token": "<|return|>", "bos_token": "<|startoftext|>", "pad_token": "<|endoftext|>"},
                                   GPT_OSS, [200002, 199999, 200012]),
     "gpt-oss", ["<|return|>", "<|call|>", "<|endoftext|>"]),
    ("an-open-weights-model", _meta({"model_type": "gpt_oss"}, {"eos_token": "<|return|>"}, GPT_OSS),
     "gpt-oss", ["<|return|>", "<|call|>", "<|endoftext|>"]),
    # SmolLM3: ChatML and <think> tokens, like Qwen3: the name or model_type decides
    ("SmolLM3-3B-4bit", _meta({"model_type": "smollm3"}, {"eos_token": "<|im_end|>", "bos_token": None}, SMOLLM3, 128012),
     "smollm3", ["<|im_end|>", "<|end_of_text|>"]),
    ("my-small-model", _meta({"model_type": "smollm3"}, {"eos_token": "<|im_end|>"}, SMOLLM3, 128012),
     "smollm3", ["<|im_end|>", "<|end_of_text|>"]),
    ("SmolLM2-1.7B-Instruct",  # trap: SmolLM2 keeps its preset
     dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|im_end|>", "bos_token": "<|im_start|>"},
          vocab=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"]),
     "smollm2", ["<|im_end|>", "<|endoftext|>"]),
    # Granite 3.3 (granite) vs Granite 4 (granitemoehybrid): same role tokens
    ("granite-3.3-8b-instruct-4bit", _meta({"model_type": "granite"}, {"eos_token": "<|end_of_text|>", "bos_token": "<|end_of_text|>"},
                                           GRANITE3, 0),
     "granite3.3", ["<|end_of_text|>"]),
    ("ibm-finetune", _meta({"model_type": "granite"}, {"eos_token": "<|end_of_text|>"}, GRANITE3, 0),
     "granite3.3", ["<|end_of_text|>"]),
    ("granite-4.0-h-tiny-4bit", _meta({"model_type": "granitemoehybrid"}, {"eos_token": "<|end_of_text|>"}, GRANITE4, 100257),
     "granite4", ["<|end_of_text|>"]),
    ("granite-4.0-micro-4bit", _meta({"model_type": "granite"}, {"eos_token": "<|end_of_text|>"}, GRANITE4, 100257),
     "granite4", ["<|end_of_text|>"]),
    ("hybrid-mamba-chat", _meta({"model_type": "granitemoehybrid"}, {"eos_token": "<|end_of_text|>"}, GRANITE4, 100257),
     "granite4", ["<|end_of_text|>"]),
]


@pytest.mark.parametrize(("name", "meta", "preset", "eos"), CASES, ids=[c[0] for c in CASES])
def test_detect_without_template(model_dir, name, meta, preset, eos):
    detection = detect(model_dir(name, **meta))
    assert (detection.preset, detection.template_source, list(detection.eos_tokens)) == (preset, "preset", eos)
    assert detection.reason and any("no chat template" in w for w in detection.warnings)


# A model folder that ships its template (our preset's text carries the same markers as the official one).
OWN_TEMPLATE = [
    ("gemma-3-12b-it", "gemma3", _meta(GEMMA3_VISION, {"eos_token": "<eos>"}, GEMMA3)),
    ("Llama-3.3-70B-Instruct", "llama3.3", _meta({"model_type": "llama"}, {"eos_token": "<|eot_id|>"}, LLAMA31)),
    ("Llama-4-Maverick-17B-128E-Instruct", "llama4", _meta({"model_type": "llama4"}, {"eos_token": "<|eot|>"}, LLAMA4)),
    ("phi-4", "phi4", _meta({"model_type": "phi3"}, {"eos_token": "<|im_end|>"}, PHI4)),
    ("Phi-4-mini-instruct", "phi4-mini", _meta({"model_type": "phi3"}, {"eos_token": "<|endoftext|>"}, PHI4_MINI)),
    ("Mistral-Small-24B-Instruct-2501", "mistral-small-3", _meta(MISTRAL, TK_MISTRAL, TEKKEN)),
    ("Mistral-Small-3.2-24B-Instruct-2506", "mistral-small-3.2", _meta(MISTRAL3, TK_MISTRAL, TEKKEN_CALLS)),
    ("Devstral-Small-2505", "devstral", _meta(MISTRAL, TK_MISTRAL, TEKKEN)),
    ("Ministral-3-14B-Reasoning-2512", "ministral3-reasoning", _meta(MISTRAL3, TK_MISTRAL, TEKKEN_THINK)),
    ("gpt-oss-120b", "gpt-oss", _meta({"model_type": "gpt_oss"}, {"eos_token": "<|return|>"}, GPT_OSS)),
    ("SmolLM3-3B", "smollm3", _meta({"model_type": "smollm3"}, {"eos_token": "<|im_end|>"}, SMOLLM3)),
    ("granite-3.3-2b-instruct", "granite3.3", _meta({"model_type": "granite"}, {"eos_token": "<|end_of_text|>"}, GRANITE3)),
    ("granite-4.0-h-small", "granite4", _meta({"model_type": "granitemoehybrid"}, {"eos_token": "<|end_of_text|>"}, GRANITE4)),
]


@pytest.mark.parametrize(("name", "preset", "meta"), OWN_TEMPLATE, ids=[c[0] for c in OWN_TEMPLATE])
def test_own_template_is_classified(model_dir, name, preset, meta):
    folder = model_dir(name, extra_files={"chat_template.jinja": get_family(preset).template}, **meta)
    detection = detect(folder)
    assert (detection.preset, detection.template_source, detection.template_origin) == (preset, "model", "chat_template.jinja")
    assert "ships its own chat template" in detection.reason


@pytest.mark.parametrize(("name", "preset"), [("Meta-Llama-3.1-8B-Instruct", "llama3.1"), ("Llama-3.3-70B-Instruct", "llama3.3"),
                                              ("some-chat-model", "llama3.1")])
def test_llama31_and_33_ship_the_same_template_so_the_name_decides(model_dir, name, preset):
    assert get_family("llama3.3").match.template_markers == get_family("llama3.1").match.template_markers
    folder = model_dir(name, config={"model_type": "llama"}, vocab=["a"], added=LLAMA31,
                       tokenizer_config={"chat_template": get_family("llama3.3").template, "eos_token": "<|eot_id|>"})
    assert detect(folder).preset == preset


def test_phi4_is_not_chatml(model_dir):
    detection = detect(model_dir("some-14b-chat", **_meta({"model_type": "phi3"}, {"eos_token": "<|im_end|>"}, PHI4)))
    assert detection.preset == "phi4" and "<|im_sep|>" in detection.reason


# ---------------------------------------------------------------------------------------------- keywords



def test_every_group_preset_declares_its_formats():
    for name in GROUP:
        family = get_family(name)
        assert family.source.get("repo") and family.source.get("revision"), name
        assert family.eos_token in family.eos_tokens, name
    assert get_family("gpt-oss").control("effort").name == "reasoning_effort"
    assert get_family("smollm3").control("thinking").name == "enable_thinking"
    assert get_family("granite3.3").control("thinking").name == "thinking"


def test_keyword_values_change_the_prompt():
    gpt = get_family("gpt-oss")
    assert "Reasoning: high\n" in render_family(gpt, CHAT, now=NOW, template_kwargs={"reasoning_effort": "high"}).text
    assert "Current date: 2026-01-15\n" in render_family(gpt, CHAT, now=NOW).text
    smol = get_family("smollm3")
    off = render_family(smol, CHAT, now=NOW, template_kwargs={"enable_thinking": False}).text
    assert "Reasoning Mode: /no_think" in off and off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n")
    granite = get_family("granite3.3")
    assert "<response></response>" in render_family(granite, CHAT, now=NOW, template_kwargs={"thinking": True}).text
    assert "Today's Date: January 15, 2026." in render_family(granite, CHAT, now=NOW).text


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102 - the pinned clock transformers' strftime_now reads
        return NOW


SAMPLES = {
    "system": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "chat": CHAT,
    "reply": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " Hello! "}],
}


@pytest.mark.parametrize("preset", GROUP)
def test_transformers_renders_our_preset_identically(preset):
    from transformers.utils import chat_template_utils as ctu

    family = get_family(preset)
    for case, messages in SAMPLES.items():
        for agp, tools in ((True, None), (False, None), (True, TOOLS)):
            ours = render_family(family, messages, add_generation_prompt=agp, tools=tools, now=NOW).text
            with mock.patch.object(ctu, "datetime", _FixedClock):
                theirs = ctu.render_jinja_template(
                    [messages], tools=tools, chat_template=family.template, add_generation_prompt=agp,
                    bos_token=family.bos_token, eos_token=family.eos_token,
                )[0][0]
            assert ours == theirs, (case, agp, tools is not None)
