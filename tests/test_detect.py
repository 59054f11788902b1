"""Detection from real-world folder shapes (metadata only), as a table of cases."""

from __future__ import annotations

import json

import pytest

from playground.detect import detect
from playground.errors import DetectionError
from playground.families import get_family

SPM = ["<unk>", "<s>", "</s>", "▁the", "▁a"]
LLAMA3_ADDED = {
    "<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007, "<|reserved_special_token_4|>": 128008, "<|eot_id|>": 128009,
}
LLAMA31_ADDED = {**LLAMA3_ADDED, "<|eom_id|>": 128008}
del LLAMA31_ADDED["<|reserved_special_token_4|>"]
GEMMA_VOCAB = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"t{i}" for i in range(102)] + ["<start_of_turn>", "<end_of_turn>"]
DS = {"<｜begin▁of▁sentence｜>": 32013, "<｜end▁of▁sentence｜>": 32014, "<|EOT|>": 32021}

# name, metadata, expected preset, template source, expected EOS list
CASES = [
    (
        "Qwen2.5-0.5B-Instruct-4bit",  # MLX conversion that lost its template
        dict(config={"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]},
             tokenizer_config={"eos_token": "<|im_end|>", "bos_token": None},
             generation_config={"eos_token_id": [151645, 151643]},
             vocab=["a", "b"], added={"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}),
        "qwen2.5", "preset", ["<|im_end|>", "<|endoftext|>"],
    ),
    (
        "OpenHermes-2.5-Mistral-7B",  # ChatML tokens on a Mistral model
        dict(config={"model_type": "mistral"}, tokenizer_config={"eos_token": "<|im_end|>", "bos_token": "<s>"},
             vocab=SPM, added={"<|im_end|>": 32000, "<|im_start|>": 32001}),
        "chatml", "preset", ["<|im_end|>", "</s>"],
    ),
    (
        "Meta-Llama-3-8B-Instruct",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|end_of_text|>", "bos_token": "<|begin_of_text|>"},
             generation_config={"eos_token_id": [128001, 128009]}, vocab=["a"], added=LLAMA3_ADDED),
        "llama3", "preset", ["<|eot_id|>", "<|end_of_text|>"],
    ),
    (
        "Meta-Llama-3.1-8B-Instruct-4bit",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|eot_id|>"},
             generation_config={"eos_token_id": [128001, 128008, 128009]}, vocab=["a"], added=LLAMA31_ADDED),
        "llama3.1", "preset", ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"],
    ),
    (
        "Llama-3.2-1B-Instruct-4bit",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|eot_id|>"}, vocab=["a"], added=LLAMA31_ADDED),
        "llama3.2", "preset", ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"],
    ),
    (
        "Llama-2-7b-chat-mlx",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "</s>", "bos_token": "<s>"}, vocab=SPM),
        "llama2", "preset", ["</s>"],
    ),
    (
        "Mistral-7B-Instruct-v0.2",
        dict(config={"model_type": "mistral"}, tokenizer_config={"eos_token": "</s>", "bos_token": "<s>"}, vocab=SPM),
        "mistral", "preset", ["</s>"],
    ),
    (
        "Mistral-7B-Instruct-v0.3-4bit",
        dict(config={"model_type": "mistral"}, tokenizer_config={"eos_token": "</s>"},
             vocab=SPM + ["[INST]", "[/INST]", "[AVAILABLE_TOOLS]"]),
        "mistral-v0.3", "preset", ["</s>"],
    ),
    (
        "Phi-3-mini-4k-instruct",
        dict(config={"model_type": "phi3"}, tokenizer_config={"eos_token": "<|endoftext|>", "bos_token": "<s>"},
             generation_config={"eos_token_id": [32000, 32001, 32007]}, vocab=SPM,
             added={"<|endoftext|>": 32000, "<|assistant|>": 32001, "<|system|>": 32006, "<|end|>": 32007, "<|user|>": 32010}),
        "phi3", "preset", ["<|end|>", "<|endoftext|>", "<|assistant|>"],
    ),
    (
        "Phi-3.5-mini-instruct-4bit",
        dict(config={"model_type": "phi3"}, tokenizer_config={"eos_token": "<|endoftext|>"}, vocab=SPM,
             added={"<|endoftext|>": 32000, "<|assistant|>": 32001, "<|end|>": 32007, "<|user|>": 32010}),
        "phi3.5", "preset", ["<|end|>", "<|endoftext|>"],
    ),
    (
        "gemma-2-2b-it",
        dict(config={"model_type": "gemma2"}, tokenizer_config={"eos_token": "<eos>", "bos_token": "<bos>"},
             generation_config={"eos_token_id": [1, 107]}, vocab=GEMMA_VOCAB),
        "gemma", "preset", ["<end_of_turn>", "<eos>"],
    ),
    (
        "deepseek-coder-6.7b-instruct",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|EOT|>", "bos_token": "<｜begin▁of▁sentence｜>"},
             vocab=["a"], added=DS),
        "deepseek-coder", "preset", ["<|EOT|>", "<｜end▁of▁sentence｜>"],
    ),
    (
        "deepseek-llm-7b-chat",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<｜end▁of▁sentence｜>"},
             vocab=["a"], added={"<｜begin▁of▁sentence｜>": 100000, "<｜end▁of▁sentence｜>": 100001}),
        "deepseek", "preset", ["<｜end▁of▁sentence｜>"],
    ),
    (
        "sqlcoder-7b-2",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "</s>"}, vocab=SPM),
        "code", "preset", ["</s>"],
    ),
    (
        "starcoder2-3b",
        dict(config={"model_type": "starcoder2"}, tokenizer_config={"eos_token": "<|endoftext|>"}, vocab=["<|endoftext|>", "a"]),
        "code", "preset", ["<|endoftext|>"],
    ),
    (
        "SmolLM2-1.7B-Instruct",
        dict(config={"model_type": "llama"}, tokenizer_config={"eos_token": "<|im_end|>", "bos_token": "<|im_start|>"},
             vocab=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"]),
        "smollm2", "preset", ["<|im_end|>", "<|endoftext|>"],
    ),
    (
        "Qwen2-1.5B-Instruct",
        dict(config={"model_type": "qwen2"}, tokenizer_config={"eos_token": "<|im_end|>"},
             vocab=["a"], added={"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}),
        "qwen2", "preset", ["<|im_end|>", "<|endoftext|>"],
    ),
    (
        "c4ai-command-r-v01-4bit",
        dict(config={"model_type": "cohere"}, tokenizer_config={"eos_token": "<|END_OF_TURN_TOKEN|>"},
             vocab=["<BOS_TOKEN>", "<EOS_TOKEN>"], added={"<|START_OF_TURN_TOKEN|>": 255000, "<|END_OF_TURN_TOKEN|>": 255001}),
        "command-r", "preset", ["<|END_OF_TURN_TOKEN|>", "<EOS_TOKEN>"],
    ),
    (
        "my-finetune-7b",  # no model_type, no telling name: the size hint
        dict(config={"hidden_size": 4096}, tokenizer_config={"eos_token": "</s>"}, vocab=SPM),
        "llama2", "preset", ["</s>"],
    ),
    (
        "gpt2",
        dict(config={"model_type": "gpt2"}, tokenizer_config={"eos_token": "<|endoftext|>"}, vocab=["<|endoftext|>", "a"]),
        "generic", "generic", ["<|endoftext|>"],
    ),
]


@pytest.mark.parametrize(("name", "meta", "preset", "source", "eos"), CASES, ids=[c[0] for c in CASES])
def test_detect_folder_shapes(model_dir, name, meta, preset, source, eos):
    detection = detect(model_dir(name, **meta))
    assert (detection.preset, detection.template_source, list(detection.eos_tokens)) == (preset, source, eos)
    assert detection.family == preset and detection.reason
    assert detection.model_name == name


def test_chatml_tokens_win_over_model_type(model_dir):
    detection = detect(model_dir("OpenHermes-2.5-Mistral-7B", **CASES[1][1]))
    assert "special tokens <|im_start|>, <|im_end|>" in detection.reason
    assert "model_type 'mistral'" in detection.reason


def test_size_hint_reason_says_it_is_a_guess(model_dir):
    detection = detect(model_dir("my-finetune-7b", **CASES[-2][1]))
    assert "'7b'" in detection.reason and "guess" in detection.reason


def test_own_template_in_tokenizer_config_is_used_and_classified(model_dir):
    template = get_family("llama3.1").template
    folder = model_dir(
        "some-chat-model",
        config={"model_type": "llama"},
        tokenizer_config={"chat_template": template, "eos_token": "<|eot_id|>"},
        vocab=["a"], added=LLAMA31_ADDED,
    )
    detection = detect(folder)
    assert (detection.template_source, detection.template_origin, detection.preset) == ("model", "tokenizer_config.json", "llama3.1")
    assert "ships its own chat template" in detection.reason


@pytest.mark.parametrize(
    ("file_name", "content", "origin"),
    [
        ("chat_template.jinja", get_family("gemma").template, "chat_template.jinja"),
        ("chat_template.json", json.dumps({"chat_template": get_family("gemma").template}), "chat_template.json"),
    ],
)
def test_sidecar_templates(model_dir, file_name, content, origin):
    folder = model_dir("gemma-finetune", config={"model_type": "gemma2"}, tokenizer_config={"eos_token": "<eos>"},
                       vocab=GEMMA_VOCAB, extra_files={file_name: content})
    detection = detect(folder)
    assert (detection.template_source, detection.template_origin, detection.preset) == ("model", origin, "gemma")


def test_named_template_list_uses_default(model_dir):
    folder = model_dir("cohere-like", config={"model_type": "cohere"},
                       tokenizer_config={"chat_template": [{"name": "tool_use", "template": "x"},
                                                           {"name": "default", "template": get_family("command-r").template}]})
    detection = detect(folder)
    assert detection.template_source == "model" and detection.preset == "command-r"


def test_unknown_own_template_keeps_model_source(model_dir):
    folder = model_dir("weird-7b", config={"model_type": "mistral"},
                       tokenizer_config={"chat_template": "{% for m in messages %}>> {{ m.content }}\n{% endfor %}"}, vocab=SPM)
    detection = detect(folder)
    assert detection.template_source == "model" and detection.preset == "mistral"
    assert "format we do not know" in detection.reason


def test_hub_id_from_local_cache(model_dir, hf_cache):
    source = model_dir("src", **CASES[0][1])
    hf_cache("mlx-community/Qwen2.5-0.5B-Instruct-4bit", source)
    detection = detect("mlx-community/Qwen2.5-0.5B-Instruct-4bit")
    assert detection.preset == "qwen2.5" and detection.model_name == "mlx-community/Qwen2.5-0.5B-Instruct-4bit"


@pytest.mark.parametrize(
    ("target", "pattern"),
    [
        ("mlx-community/not-downloaded", "not in the local Hugging Face cache"),
        ("./no/such/folder", "neither a folder nor a Hub repo id"),
    ],
)
def test_missing_models(hf_cache, target, pattern):
    with pytest.raises(DetectionError, match=pattern) as info:
        detect(target)
    assert info.value.hint


def test_broken_config_json(model_dir):
    folder = model_dir("broken", vocab=SPM)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(DetectionError, match="config.json .* is not valid JSON"):
        detect(folder)
