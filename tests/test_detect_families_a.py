"""Detection of the 2025-26 families of group A (Qwen3, QwQ, DeepSeek R1/V3, GLM-4/4.5/4.6, Kimi K2) from metadata.

Folder shapes use the real model_type, added tokens with their real ids, tokenizer and generation_config EOS
settings. The traps: Kimi K2 has <|im_end|> but is not ChatML; DeepSeek-R1-Distill-Qwen says qwen2 and may carry
ChatML tokens; QwQ is qwen2 with <think> tokens; Qwen3 hybrid vs 2507 Instruct/Thinking by name; Qwen2.5 stays
qwen2.5; GLM-4 vs GLM-4.5/4.6 by model_type and name; DeepSeek V3 vs V3.1 vs R1 vs R1-0528 by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.detect import detect
from playground.families import registry
from playground.templates import render_family

GROUP = [
    "qwen3", "qwen3-instruct-2507", "qwen3-thinking-2507", "qwq", "deepseek-r1", "deepseek-r1-0528",
    "deepseek-r1-distill", "deepseek-v3", "deepseek-v3.1", "glm4", "glm4.5", "glm4.6", "kimi-k2",
]
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-templates"

# --- vocabularies (added tokens with their real ids) ---------------------------------------------------------
QWEN25 = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<tool_call>": 151657,
          "</tool_call>": 151658, "<|file_sep|>": 151664}
QWEN3 = {**QWEN25, "<tool_response>": 151665, "</tool_response>": 151666, "<think>": 151667, "</think>": 151668}
QWEN_TOK = {"eos_token": "<|im_end|>", "bos_token": None}
QWEN_GEN = {"eos_token_id": [151645, 151643]}
DISTILL_QWEN = {"<｜end▁of▁sentence｜>": 151643, "<｜User｜>": 151644, "<｜Assistant｜>": 151645,
                "<｜begin▁of▁sentence｜>": 151646, "<|EOT|>": 151647, "<think>": 151648, "</think>": 151649,
                "<tool_call>": 151657, "</tool_call>": 151658}
DISTILL_LLAMA = {"<｜begin▁of▁sentence｜>": 128000, "<｜end▁of▁sentence｜>": 128001, "<|start_header_id|>": 128006,
                 "<|end_header_id|>": 128007, "<|eom_id|>": 128008, "<|eot_id|>": 128009, "<｜User｜>": 128011,
                 "<｜Assistant｜>": 128012, "<think>": 128013, "</think>": 128014}
DS_TOK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}
DS_V3 = {"<｜begin▁of▁sentence｜>": 0, "<｜end▁of▁sentence｜>": 1, "<｜▁pad▁｜>": 2, "<think>": 128798,
         "</think>": 128799, "<｜User｜>": 128803, "<｜Assistant｜>": 128804, "<|EOT|>": 128805,
         "<｜tool▁calls▁begin｜>": 128806, "<｜tool▁calls▁end｜>": 128807, "<｜tool▁call▁begin｜>": 128808,
         "<｜tool▁call▁end｜>": 128809, "<｜tool▁outputs▁begin｜>": 128810, "<｜tool▁outputs▁end｜>": 128811,
         "<｜tool▁output▁begin｜>": 128812, "<｜tool▁output▁end｜>": 128813, "<｜tool▁sep｜>": 128814}
DS_V3_CONFIG = {"model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"]}
GLM4 = {"<|endoftext|>": 151329, "[MASK]": 151330, "[gMASK]": 151331, "[sMASK]": 151332, "<sop>": 151333,
        "<eop>": 151334, "<|system|>": 151335, "<|user|>": 151336, "<|assistant|>": 151337, "<|observation|>": 151338}
GLM45 = {**GLM4, "<think>": 151350, "</think>": 151351, "<tool_call>": 151352, "</tool_call>": 151353,
         "<tool_response>": 151354, "</tool_response>": 151355, "<arg_key>": 151356, "</arg_key>": 151357,
         "<arg_value>": 151358, "</arg_value>": 151359, "/nothink": 151360}
GLM_GEN = {"eos_token_id": [151329, 151336, 151338]}
GLM_EOS = ["<|user|>", "<|observation|>", "<|endoftext|>"]
KIMI = {"[BOS]": 163584, "[EOS]": 163585, "<|im_end|>": 163586, "<|im_user|>": 163587, "<|im_assistant|>": 163588,
        "<|start_header_id|>": 163590, "<|end_header_id|>": 163591, "[EOT]": 163593, "<|im_system|>": 163594,
        "<|tool_calls_section_begin|>": 163595, "<|tool_calls_section_end|>": 163596, "<|tool_call_begin|>": 163597,
        "<|tool_call_argument_begin|>": 163598, "<|tool_call_end|>": 163599, "<|im_middle|>": 163601,
        "[UNK]": 163838, "[PAD]": 163839}


def _decoder(tokens: dict[str, int]) -> dict:
    """added_tokens_decoder as tokenizer_config.json writes it (tiktoken models ship no tokenizer.json)."""
    return {str(i): {"content": t, "special": True} for t, i in tokens.items()}


def qwen3(model_type: str = "qwen3") -> dict:
    return dict(config={"model_type": model_type}, tokenizer_config=QWEN_TOK, generation_config=QWEN_GEN,
                vocab=["a", "b"], added=QWEN3)


def deepseek_v3() -> dict:
    return dict(config=DS_V3_CONFIG, tokenizer_config=DS_TOK, generation_config={"eos_token_id": 1}, vocab=["a"],
                added=DS_V3)


def glm45() -> dict:
    return dict(config={"model_type": "glm4_moe", "architectures": ["Glm4MoeForCausalLM"]},
                tokenizer_config={"eos_token": "<|endoftext|>"}, generation_config=GLM_GEN, vocab=["a"], added=GLM45)


def kimi(model_type: str = "kimi_k2") -> dict:
    return dict(config={"model_type": model_type, "architectures": ["DeepseekV3ForCausalLM"]},
                tokenizer_config={"bos_token": "[BOS]", "eos_token": "[EOS]", "added_tokens_decoder": _decoder(KIMI)},
                generation_config={"eos_token_id": 163586})


QWEN_EOS = ["<|im_end|>", "<|endoftext|>"]
DS_EOS = ["<｜end▁of▁sentence｜>"]

# name, metadata, expected preset, expected EOS list (no folder here ships a chat template)
CASES = [
    # Qwen3 hybrid vs 2507 Instruct / Thinking: the same vocabulary, told apart by name; model_type alone means hybrid.
    ("Qwen3-8B-4bit", qwen3(), "qwen3", QWEN_EOS),
    ("Qwen3-30B-A3B-4bit", qwen3("qwen3_moe"), "qwen3", QWEN_EOS),
    ("Qwen3-4B-Instruct-2507-4bit", qwen3(), "qwen3-instruct-2507", QWEN_EOS),
    ("Qwen3-235B-A22B-Instruct-2507-3bit", qwen3("qwen3_moe"), "qwen3-instruct-2507", QWEN_EOS),
    ("Qwen3-30B-A3B-Thinking-2507-8bit", qwen3("qwen3_moe"), "qwen3-thinking-2507", QWEN_EOS),
    ("Qwen3-4B-Thinking-2507-4bit", qwen3(), "qwen3-thinking-2507", QWEN_EOS),
    ("my-qwen3-finetune", qwen3(), "qwen3", QWEN_EOS),
    # QwQ: model_type qwen2 with <think>/</think> tokens (by name, and without a telling name).
    ("QwQ-32B-4bit", qwen3("qwen2"), "qwq", QWEN_EOS),
    ("my-reasoner", qwen3("qwen2"), "qwq", QWEN_EOS),
    # Qwen2.5 (no think tokens) stays qwen2.5.
    ("Qwen2.5-7B-Instruct-4bit",
     dict(config={"model_type": "qwen2"}, tokenizer_config=QWEN_TOK, generation_config=QWEN_GEN, vocab=["a"],
          added=QWEN25),
     "qwen2.5", QWEN_EOS),
    # DeepSeek-R1-Distill-Qwen: model_type qwen2, DeepSeek's tokens in Qwen's id range.
    ("DeepSeek-R1-Distill-Qwen-7B-4bit",
     dict(config={"model_type": "qwen2"}, tokenizer_config=DS_TOK,
          generation_config={"bos_token_id": 151646, "eos_token_id": 151643}, vocab=["a"], added=DISTILL_QWEN),
     "deepseek-r1-distill", DS_EOS),
    # ... also when Qwen's ChatML tokens are in the vocabulary too, with or without a telling name.
    ("DeepSeek-R1-Distill-Qwen-1.5B-4bit",
     dict(config={"model_type": "qwen2"}, tokenizer_config=DS_TOK, generation_config={"eos_token_id": 151643},
          vocab=["<|im_start|>", "<|im_end|>", "a"], added=DISTILL_QWEN),
     "deepseek-r1-distill", DS_EOS),
    ("distilled-reasoner",
     dict(config={"model_type": "qwen2"}, tokenizer_config=DS_TOK, generation_config={"eos_token_id": 151643},
          vocab=["<|im_start|>", "<|im_end|>", "a"], added=DISTILL_QWEN),
     "deepseek-r1-distill", DS_EOS),
    # DeepSeek-R1-Distill-Llama: model_type llama, Llama 3 header tokens next to DeepSeek's.
    ("DeepSeek-R1-Distill-Llama-8B-4bit",
     dict(config={"model_type": "llama"}, tokenizer_config=DS_TOK, generation_config={"eos_token_id": 128001},
          vocab=["a"], added=DISTILL_LLAMA),
     "deepseek-r1-distill", DS_EOS),
    # DeepSeek V3 family: one model_type and vocabulary; the name decides, the plain model_type means V3.
    ("DeepSeek-R1-4bit", deepseek_v3(), "deepseek-r1", DS_EOS),
    ("DeepSeek-R1-0528-4bit", deepseek_v3(), "deepseek-r1-0528", DS_EOS),
    ("DeepSeek-V3-0324-4bit", deepseek_v3(), "deepseek-v3", DS_EOS),
    ("DeepSeek-V3.1-4bit", deepseek_v3(), "deepseek-v3.1", DS_EOS),
    ("DeepSeek-V3.1-Terminus-3bit", deepseek_v3(), "deepseek-v3.1", DS_EOS),
    ("big-moe-checkpoint", deepseek_v3(), "deepseek-v3", DS_EOS),
    # GLM-4 (glm-4-9b-chat: model_type chatglm, tiktoken vocabulary in tokenizer_config.json only).
    ("glm-4-9b-chat",
     dict(config={"model_type": "chatglm", "architectures": ["ChatGLMModel"]},
          tokenizer_config={"eos_token": "<|endoftext|>", "added_tokens_decoder": _decoder(GLM4)},
          generation_config=GLM_GEN),
     "glm4", GLM_EOS),
    ("GLM-4-9B-0414-4bit",
     dict(config={"model_type": "glm4"}, tokenizer_config={"eos_token": "<|endoftext|>"}, generation_config=GLM_GEN,
          vocab=["a"], added=GLM4),
     "glm4", GLM_EOS),
    ("some-glm-chat",
     dict(config={"model_type": "chatglm"}, tokenizer_config={"eos_token": "<|endoftext|>",
                                                              "added_tokens_decoder": _decoder(GLM4)}),
     "glm4", GLM_EOS),
    # GLM-4.5 / 4.6: model_type glm4_moe, stop on <|user|> and <|observation|> as well as <|endoftext|>.
    ("GLM-4.5-Air-4bit", glm45(), "glm4.5", GLM_EOS),
    ("GLM-4.5-4bit", glm45(), "glm4.5", GLM_EOS),
    ("GLM-4.6-4bit", glm45(), "glm4.6", GLM_EOS),
    ("moe-glm-checkpoint", glm45(), "glm4.5", GLM_EOS),
    # Kimi K2: <|im_end|> (and <|im_user|>, <|im_assistant|>, <|im_middle|>) but not ChatML; DeepSeek-V3 architecture.
    ("Kimi-K2-Instruct-4bit", kimi(), "kimi-k2", ["<|im_end|>", "[EOS]"]),
    ("Kimi-K2-Instruct-0905-mlx-3bit", kimi(), "kimi-k2", ["<|im_end|>", "[EOS]"]),
    ("converted-moe", kimi("deepseek_v3"), "kimi-k2", ["<|im_end|>", "[EOS]"]),
]


@pytest.mark.parametrize(("name", "meta", "preset", "eos"), CASES, ids=[c[0] for c in CASES])
def test_detect_without_template(model_dir, name, meta, preset, eos):
    detection = detect(model_dir(name, **meta))
    assert (detection.preset, detection.template_source, list(detection.eos_tokens)) == (preset, "preset", eos)
    assert detection.family == preset and detection.reason
    vocab = {**meta.get("added", {}), **{t: i for i, t in enumerate(meta.get("vocab", []))}}
    vocab.update({v["content"]: int(k) for k, v in meta["tokenizer_config"].get("added_tokens_decoder", {}).items()})
    assert list(detection.eos_token_ids) == [vocab[t] for t in eos]


def test_every_preset_of_the_group_has_a_row():
    assert {c[2] for c in CASES} >= set(GROUP)


def test_kimi_is_not_chatml(model_dir):
    detection = detect(model_dir("converted-moe", **kimi("deepseek_v3")))
    assert detection.preset == "kimi-k2" and "<|im_user|>" in detection.reason


def _templates(preset: str) -> list[tuple[str, str]]:
    out = [("preset", registry().get(preset).template)]
    official = REFERENCE_DIR / f"{preset}.jinja"
    if official.is_file():
        out.append(("official", official.read_text(encoding="utf-8")))
    return out


# Each folder ships a template and a misleading name and model_type: the template's markers decide.
MISLEADING = {
    "qwen3": qwen3("qwen2"), "qwen3-instruct-2507": qwen3(), "qwen3-thinking-2507": qwen3(), "qwq": qwen3(),
    "deepseek-r1": deepseek_v3(), "deepseek-r1-0528": deepseek_v3(), "deepseek-r1-distill": deepseek_v3(),
    "deepseek-v3": deepseek_v3(), "deepseek-v3.1": deepseek_v3(), "glm4": glm45(), "glm4.5": glm45(),
    "glm4.6": glm45(), "kimi-k2": deepseek_v3(),
}
SHIPPED = [(p, kind, text) for p in GROUP for kind, text in _templates(p)]


@pytest.mark.parametrize(("preset", "kind", "template"), SHIPPED, ids=[f"{p}-{k}" for p, k, _ in SHIPPED])
@pytest.mark.parametrize("where", ["chat_template.jinja", "tokenizer_config.json"])
def test_shipped_template_is_classified_by_its_markers(model_dir, preset, kind, template, where):
    meta = {k: (dict(v) if isinstance(v, dict) else v) for k, v in MISLEADING[preset].items()}
    if where == "chat_template.jinja":
        meta["extra_files"] = {"chat_template.jinja": template}
    else:
        meta["tokenizer_config"] = {**meta["tokenizer_config"], "chat_template": template}
    detection = detect(model_dir("converted-model", **meta))
    assert (detection.preset, detection.template_source, detection.template_origin) == (preset, "model", where)


def test_official_templates_are_available_to_check():
    """Where the shared reference folder exists, every preset of the group is checked against its official text."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip("no shared reference-templates folder beside the checkout")
    assert all((REFERENCE_DIR / f"{p}.jinja").is_file() for p in GROUP)


# --- keywords and renderer parity ------------------------------------------------------------------------------
CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "reasoning_content": "A greeting.", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
           "properties": {"city": {"type": "string"}}}}}


def _call(preset: str) -> dict:
    arguments = '{"city": "Paris"}' if registry().get(preset).tool_arguments == "string" else {"city": "Paris"}
    return {"type": "function", "id": "call0A1b2", "function": {"name": "get_weather", "arguments": arguments}}


DECLARED = [(p, k.name) for p in GROUP for k in registry().get(p).kwargs]


@pytest.mark.parametrize(("preset", "keyword"), DECLARED, ids=[f"{p}-{k}" for p, k in DECLARED])
@pytest.mark.parametrize("tools", [None, [WEATHER]], ids=["chat", "tools"])
def test_passing_the_declared_default_changes_nothing(preset, keyword, tools):
    family = registry().get(preset)
    default = family.kwarg(keyword).default
    plain = render_family(family, CHAT, tools=tools).text
    assert render_family(family, CHAT, tools=tools, template_kwargs={keyword: default}).text == plain
    other = [v for v in ([True, False] if family.kwarg(keyword).type == "bool" else family.kwarg(keyword).choices)
             if v != default]
    assert any(render_family(family, CHAT, tools=tools, template_kwargs={keyword: v}).text != plain for v in other)


def test_thinking_controls_are_declared():
    controls = {p: registry().get(p).control("thinking") for p in GROUP}
    assert {p: c.name for p, c in controls.items() if c} == {
        "qwen3": "enable_thinking", "glm4.5": "enable_thinking", "glm4.6": "enable_thinking", "deepseek-v3.1": "thinking",
    }


def _parity_cases(preset: str) -> list[tuple[list[dict], bool, list | None]]:
    call = _call(preset)
    tool_turns = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call0A1b2", "content": '{"temperature": 18}'},
    ]
    return [(CHAT, True, None), (CHAT[:3], False, None), (tool_turns, True, [WEATHER])]


PARITY = [(p, i) for p in GROUP for i in range(3)]


@pytest.mark.parametrize(("preset", "index"), PARITY, ids=[f"{p}-{i}" for p, i in PARITY])
def test_our_environment_matches_transformers(preset, index):
    """Our preset rendered by transformers' own renderer gives the same text as ours."""
    from transformers.utils.chat_template_utils import render_jinja_template

    family = registry().get(preset)
    messages, agp, tools = _parity_cases(preset)[index]
    ours = render_family(family, messages, add_generation_prompt=agp, tools=tools).text
    theirs = render_jinja_template(
        [messages], tools=tools, chat_template=family.template, add_generation_prompt=agp,
        bos_token=family.bos_token, eos_token=family.eos_token,
    )[0][0]
    assert ours == theirs


# Behaviour the golden cases do not reach, with expected text produced by the official templates (transformers 5).
def test_glm4_reads_tools_from_a_message():
    messages = [
        {"role": "system", "content": "sys", "tools": [WEATHER, {"type": "python"}]},
        {"role": "user", "content": "hi", "metadata": "meta"},
    ]
    text = render_family(registry().get("glm4"), messages).text
    assert text.startswith("[gMASK]<sop><|system|>\n你是一个名为 ChatGLM 的人工智能助手。")
    assert '# 可用工具\n## get_weather\n\n{\n    "name": "get_weather",\n    "parameters": {' in text
    assert "在调用上述函数时，请使用 Json 格式表示调用的参数。\n## python\n\n当你向 `python` 发送包含 Python 代码" in text
    assert text.endswith("这些在线内容的访问将不会成功。<|system|>\nsys<|user|>meta\nhi<|assistant|>")


def test_kimi_renders_image_blocks_and_tool_returns():
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": "", "tool_calls": [_call("kimi-k2")]},
        {"role": "tool", "tool_call_id": "call0A1b2", "content": "sunny"},
    ]
    text = render_family(registry().get("kimi-k2"), messages, add_generation_prompt=False).text
    assert text == (
        "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>"
        "<|im_user|>user<|im_middle|><|media_start|>image<|media_content|><|media_pad|><|media_end|>\n"
        "What is this?<|im_end|><|im_assistant|>assistant<|im_middle|><|tool_calls_section_begin|>"
        '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}'
        "<|tool_call_end|><|tool_calls_section_end|><|im_end|>"
        "<|im_system|>tool<|im_middle|>## Return of call0A1b2\\nsunny<|im_end|>"
    )
