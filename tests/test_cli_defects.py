"""The command line as a user would expect it (issue 19, defects 9, 10, 14, 15 and the presets listing of 16)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import DEMO_MODEL

from playground.cli import main


@pytest.fixture
def demo_copy(tmp_path):
    folder = tmp_path / "demo-copy"
    shutil.copytree(DEMO_MODEL, folder)
    return folder


def test_defect9_an_uncached_hub_id_is_refused_for_what_it_is(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps([{"role": "user", "content": "Hi"}]))
    render = ["render", "--model", "some-org/not-cached-model", "--messages", str(messages)]
    for command in (["detect", "some-org/not-cached-model"], render):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "this command reads only local models" in err and "HF_HUB_OFFLINE" not in err, err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["detect", "some-org/not-cached-model"]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err  # and when it is set, it says so


def test_defect9_two_user_turns_get_the_alternation_hint(tmp_path, capsys):
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]))
    assert main(["render", "--preset", "mistral", "--messages", str(messages)]) == 2
    err = capsys.readouterr().err
    assert "make user and assistant messages alternate" in err and "system role" not in err.split("hint:")[1]


def test_defect9_logprobs_without_json_are_shown(capsys):
    code = main(["generate", "--model", str(DEMO_MODEL), "--prompt", "Hi", "--max-tokens", "3", "--temp", "0",
                 "--logprobs", "3"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    lines = err.split("token probabilities")[1].strip().splitlines()[1:]
    assert len(lines) == 3 and all(re.match(r"\s+'.*' \d+\.\d%", line) for line in lines), err


def test_defect10_an_explicit_preset_is_reported_as_the_one_used(capsys):
    code = main(["generate", "--model", str(DEMO_MODEL), "--prompt", "Hi", "--max-tokens", "2", "--preset", "llama2",
                 "--json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and (data["preset"], data["template"], data["detected_preset"]) == ("llama2", "llama2", "chatml")
    assert data["warnings"] == ["using the llama2 preset; detection suggested chatml"]
    main(["generate", "--model", str(DEMO_MODEL), "--prompt", "Hi", "--max-tokens", "2", "--json"])
    auto = json.loads(capsys.readouterr().out)  # detection's choice: it says why
    assert auto["preset"] == "chatml" and auto["warnings"] == [
        "the model has no chat template: using the chatml preset instead"
    ]


def test_defect14_writing_another_familys_template_warns_which_eos_is_lost(demo_copy, capsys):
    assert main(["fix-template", str(demo_copy), "--preset", "llama2", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "detection says this model is chatml, but the template written is llama2's" in captured.err
    assert "<|im_end|> will no longer end replies" in captured.err and "--eos <|im_end|>" in captured.err
    assert main(["fix-template", str(demo_copy), "--preset", "chatml", "--dry-run"]) == 0
    assert "detection says" not in capsys.readouterr().err  # the detected family: nothing to say


def test_defect14_eos_before_the_folder_is_one_token(demo_copy, capsys):
    code = main(["fix-template", "--eos", "<|im_end|>", str(demo_copy), "--preset", "chatml", "--dry-run", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["eos_token_ids"] and report["folder"] == str(demo_copy)
    code = main(["fix-template", str(demo_copy), "--preset", "chatml", "--eos", "<|im_end|>", "--eos",
                 "<|endoftext|>", "--dry-run", "--json"])  # fmt: skip
    assert code == 0 and len(json.loads(capsys.readouterr().out)["eos_token_ids"]) == 2


def test_defect16_presets_are_grouped_by_family_newest_first(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    groups = [line[:-1] for line in lines if not line.startswith(" ")]
    assert groups == sorted(groups) and len(groups) == len(set(groups))
    qwen = lines[lines.index("qwen:") + 1 :]
    qwen = [line.split()[0] for line in qwen[: next(i for i, line in enumerate(qwen) if not line.startswith(" "))]]
    assert qwen.index("qwen3.5") < qwen.index("qwen3") < qwen.index("qwen2.5")
    llama = lines[lines.index("llama:") + 1 :]
    llama = [line.split()[0] for line in llama[: next(i for i, line in enumerate(llama) if not line.startswith(" "))]]
    assert llama.index("llama4") < llama.index("llama3.3") < llama.index("llama3.1") < llama.index("llama2")
