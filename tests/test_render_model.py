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
