"""``render --model`` against what transformers and plain mlx-lm do with the same model folder (offline
tokenizers built here): the tokenizer's ``bos_token: null``, and the ``enable_thinking`` mlx-lm adds."""

from __future__ import annotations

import json

import pytest

from playground.cli import main
from playground.families import get_family
from playground.toy import STYLES, write_word_tokenizer

CHAT = [{"role": "user", "content": "Hi"}]


def llama3_folder(root, bos: object) -> str:
    """A Llama 3 model folder without a chat template; ``bos`` is written into tokenizer_config.json as is."""
    specials, _, eos = STYLES["llama3"]
    folder = root / "Meta-Llama-3-8B-Instruct"
    write_word_tokenizer(folder, ["Hi"], specials, 50, bos_token="<|begin_of_text|>", eos_token=eos)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    if bos is ...:
        config.pop("bos_token")
    else:
        config["bos_token"] = bos
    path.write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return str(folder)


def transformers_render(folder: str, template: str) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer.apply_chat_template(CHAT, chat_template=template, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize(("bos", "starts"), [(None, "<|start_header_id|>"), ("<|begin_of_text|>", "<|begin_of_text|>")])
def test_render_model_follows_the_tokenizers_bos(tmp_path, capsysbinary, bos, starts):
    folder = llama3_folder(tmp_path, bos)
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(CHAT))
    assert main(["render", "--model", folder, "--messages", str(chat)]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert out == transformers_render(folder, get_family("llama3").template)
    assert out.startswith(starts)


def test_a_tokenizer_that_names_no_bos_keeps_the_familys(tmp_path, capsysbinary):
    """Conversions that dropped the bos_token key (not null: absent) keep the family preset's BOS."""
    folder = llama3_folder(tmp_path, ...)
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(CHAT))
    assert main(["render", "--model", folder, "--messages", str(chat)]) == 0
    assert capsysbinary.readouterr().out.decode().startswith("<|begin_of_text|><|start_header_id|>user")


# ---------------------------------------------------------------------------------------------- plain mlx-lm


def chat_folder(root, name: str, template: str, specials: list[str]) -> str:
    """A model folder whose own chat template is ``template``, with a ChatML vocabulary plus ``specials``."""
    folder = root / name
    write_word_tokenizer(folder, ["Hi"], specials, 60, eos_token="<|im_end|>")
    (folder / "chat_template.jinja").write_text(template)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    return str(folder)


def mlx_lm_render(folder: str) -> str:
    """What plain mlx-lm sends for CHAT: its own tokenizer wrapper's apply_chat_template, keywords left unset."""
    from pathlib import Path

    from mlx_lm.tokenizer_utils import load

    return load(Path(folder)).apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)


CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# template, extra vocabulary, whether plain mlx-lm renders another prompt
MLX_LM_CASES = [
    pytest.param("qwen3", [], True, id="reads-enable_thinking-no-think-tokens"),
    pytest.param("qwen3", ["<think>", "</think>"], False, id="reads-enable_thinking-think-tokens"),
    pytest.param("chatml", [], False, id="does-not-read-it"),
]


@pytest.mark.parametrize(("preset", "extra", "differs"), MLX_LM_CASES)
def test_render_json_reports_the_prompt_plain_mlx_lm_would_send(tmp_path, capsys, preset, extra, differs):
    folder = chat_folder(tmp_path, "Qwen3-0.6B", get_family(preset).template, CHATML + extra)
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(CHAT))
    assert main(["render", "--model", folder, "--messages", str(chat), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    theirs = mlx_lm_render(folder)
    assert (data["prompt"] != theirs) == differs
    if differs:
        assert data["mlx_lm_prompt"] == theirs and "enable_thinking=False" in data["mlx_lm_note"]
        assert theirs.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    else:
        assert (data["mlx_lm_prompt"], data["mlx_lm_note"]) == (None, None)
    assert main(["render", "--model", folder, "--messages", str(chat)]) == 0
    err = capsys.readouterr().err
    assert ("warning: plain mlx-lm, given this template, would send another prompt" in err) == differs


def test_prepared_chat_carries_plain_mlx_lms_prompt(tmp_path, engine):
    from playground.prepare import ChatRequest

    folder = chat_folder(tmp_path, "Qwen3-0.6B", get_family("qwen3").template, CHATML)
    loaded = engine.load(folder, weights=False)
    prepared = engine.prepare(loaded, ChatRequest(messages=tuple(CHAT)))
    assert prepared.mlx_lm_prompt == mlx_lm_render(folder) != prepared.text
    assert prepared.mlx_lm_note in prepared.warnings and prepared.summary()["mlx_lm_note"] == prepared.mlx_lm_note
    chosen = engine.prepare(loaded, ChatRequest(messages=tuple(CHAT), template_kwargs={"enable_thinking": False}))
    assert (chosen.mlx_lm_prompt, chosen.text) == (None, prepared.mlx_lm_prompt)
