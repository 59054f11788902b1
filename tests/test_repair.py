"""fix-template on a copy of the demo model: mlx-lm then sees the template and the EOS ids."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import DEMO_MODEL

from playground.cli import main
from playground.detect import detect


@pytest.fixture
def broken_copy(tmp_path):
    folder = tmp_path / "demo-copy"
    shutil.copytree(DEMO_MODEL, folder)
    return folder


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_fix_template_repairs_the_folder_for_mlx_lm(broken_copy, capsys):
    import mlx_lm

    before = snapshot(broken_copy)
    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--eos", "<|im_end|>", "--dry-run"]) == 0
    assert snapshot(broken_copy) == before  # a dry run writes nothing
    assert "would change: chat_template.jinja, tokenizer_config.json, generation_config.json" in capsys.readouterr().out

    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--eos", "<|im_end|>"]) == 0
    out = capsys.readouterr().out
    assert "verified with mlx-lm" in out and "<|im_start|>user\nHello!<|im_end|>" in out
    assert (broken_copy / "tokenizer_config.json.bak").read_bytes() == before["tokenizer_config.json"]

    _, tokenizer = mlx_lm.load(str(broken_copy))
    assert tokenizer.has_chat_template
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hello!"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in tokenizer.eos_token_ids  # from generation_config.json
    assert json.loads((broken_copy / "generation_config.json").read_text())["eos_token_id"] == [
        tokenizer.convert_tokens_to_ids("<|im_end|>")
    ]
    detection = detect(broken_copy)
    assert (detection.template_source, detection.template_origin) == ("model", "chat_template.jinja")

    fixed = snapshot(broken_copy)
    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--eos", "<|im_end|>"]) == 0
    assert "nothing (already fixed)" in capsys.readouterr().out
    assert snapshot(broken_copy) == fixed  # idempotent: no changes, no new backups


def test_fix_template_refuses_bad_input(broken_copy, tmp_path, capsys):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}")
    before = snapshot(broken_copy)
    assert main(["fix-template", str(broken_copy), "--template", str(bad)]) == 2
    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--eos", "<|nope|>"]) == 2
    assert main(["fix-template", str(tmp_path / "missing"), "--preset", "chatml"]) == 2
    err = capsys.readouterr().err
    assert "syntax error" in err and "<|nope|> are not in the vocabulary" in err and "does not exist" in err
    assert snapshot(broken_copy) == before  # nothing was touched


def test_a_template_without_system_role_is_verified_with_a_sample_it_accepts(broken_copy, capsys):
    """The old fix-template wrote gemma's template, then failed verification on the system message."""
    before = snapshot(broken_copy)
    assert main(["fix-template", str(broken_copy), "--preset", "gemma", "--keep-eos"]) == 0
    out = capsys.readouterr().out
    assert "verified with mlx-lm" in out and "<start_of_turn>user" in out
    assert snapshot(broken_copy) != before


def test_a_folder_that_is_not_a_model_is_refused_before_anything_is_written(tmp_path, capsys):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    assert main(["fix-template", str(folder), "--preset", "chatml"]) == 2
    assert "is not a model folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_failure_after_writing_restores_every_file(broken_copy, monkeypatch, capsys):
    import playground.repair as repair
    from playground.errors import ModelLoadError

    before = snapshot(broken_copy)

    def fail(*args, **kwargs):
        raise ModelLoadError("simulated failure while verifying on disk")

    monkeypatch.setattr(repair, "verify_on_disk", fail)
    assert main(["fix-template", str(broken_copy), "--preset", "chatml"]) == 2
    assert "simulated failure" in capsys.readouterr().err
    assert snapshot(broken_copy) == before  # backups restored, new files removed, no .bak left behind


def test_the_familys_eos_is_written_by_default_so_plain_mlx_lm_stops(broken_copy, capsys):
    import mlx_lm

    assert main(["fix-template", str(broken_copy), "--preset", "chatml"]) == 0
    capsys.readouterr()
    model, tokenizer = mlx_lm.load(str(broken_copy))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in tokenizer.eos_token_ids
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hello!"}], tokenize=False,
                                           add_generation_prompt=True)
    reply = mlx_lm.generate(model, tokenizer, prompt, max_tokens=60)
    assert "<|im_end|>" not in reply and len(tokenizer.encode(reply)) < 60  # plain mlx-lm now stops


def test_keep_eos_leaves_generation_config_alone(broken_copy, capsys):
    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--keep-eos"]) == 0
    assert "generation_config.json" not in capsys.readouterr().out
    assert not (broken_copy / "generation_config.json").exists() or "eos_token_id" not in json.loads(
        (broken_copy / "generation_config.json").read_text()
    )
    assert main(["fix-template", str(broken_copy), "--preset", "chatml", "--keep-eos", "--eos", "<|im_end|>"]) == 2
