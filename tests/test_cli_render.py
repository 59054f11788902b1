"""The render/detect/presets commands, as a user runs them."""

from __future__ import annotations

import json

import pytest
from preset_cases import CASES, EXPECTED

from playground.cli import main


@pytest.fixture
def messages_file(tmp_path):
    def write(messages, name="messages.json"):
        path = tmp_path / name
        path.write_text(json.dumps(messages) if not isinstance(messages, str) else messages)
        return str(path)

    return write


@pytest.mark.parametrize("preset", ["qwen2.5", "llama3.1", "gemma", "mistral-v0.3", "phi3"])
def test_render_json_reproduces_official_bytes(capsysbinary, messages_file, preset):
    messages, _ = CASES["multi_turn"]
    date = ["--date-string", "26 Jul 2024"] if preset == "llama3.1" else []
    code = main(["render", "--preset", preset, "--messages", messages_file(messages), "--json", *date])
    data = json.loads(capsysbinary.readouterr().out.decode("utf-8"))
    assert code == 0
    assert data["prompt"] == EXPECTED[(preset, "multi_turn")]
    assert (data["source"], data["family"], data["warnings"]) == ("preset", preset, [])


def test_render_prints_prompt_exactly_without_newline(capsysbinary, messages_file):
    messages, agp = CASES["no_generation_prompt"]
    assert main(["render", "--preset", "llama2", "--messages", messages_file(messages), "--no-generation-prompt"]) == 0
    assert capsysbinary.readouterr().out.decode("utf-8") == EXPECTED[("llama2", "no_generation_prompt")]


def test_render_token_overrides_and_stdin(cli):
    code, out, _ = cli(*["render", "--preset", "llama2", "--messages", "-", "--bos-token", "<BOS>", "--eos-token", "<EOS>",
                        "--no-generation-prompt"], stdin=json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]))
    assert (code, out) == (0, "<BOS>[INST] a [/INST] b <EOS>")


def test_render_with_model_folder_and_custom_template(model_dir, messages_file, capsys):
    folder = model_dir("Qwen2.5-1.5B-Instruct", config={"model_type": "qwen2"}, tokenizer_config={"eos_token": "<|im_end|>"},
                       vocab=["a"], added={"<|im_start|>": 1, "<|im_end|>": 2})
    path = messages_file([{"role": "user", "content": "Hi"}])
    assert main(["render", "--model", str(folder), "--messages", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "preset" and data["family"] == "qwen2.5"
    assert data["prompt"].startswith("<|im_start|>system\nYou are Qwen")
    assert any("no chat template" in w for w in data["warnings"])
    template = folder / "t.jinja"
    template.write_text("{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}")
    assert main(["render", "--template", str(template), "--messages", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["prompt"], data["source"]) == ("user=Hi;", "custom")


@pytest.mark.parametrize(
    ("args", "messages", "pattern"),
    [
        (["--preset", "llama9"], [{"role": "user", "content": "x"}], "unknown preset 'llama9'.*\nhint: valid presets: .*chatml"),
        (["--preset", "chatml"], {"role": "user"}, "must be a JSON list"),
        (["--preset", "chatml"], "[{\"role\": \"user\", ", "not valid JSON"),
        (["--preset", "chatml"], [{"role": ["wizard"], "content": "x"}], "role must be non-empty text"),
        (["--preset", "gemma", "--system-strategy", "strict"], [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
         "System role not supported"),
        (["--preset", "llama2"], [{"role": "assistant", "content": "x"}], "roles must alternate"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(messages_file, args, messages, pattern, cli):
    import re

    code, out, err = cli(*["render", *args, "--messages", messages_file(messages)])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(pattern, err), err


def test_template_syntax_error_names_the_line(tmp_path, messages_file, cli):
    template = tmp_path / "bad.jinja"
    template.write_text("{% for m in messages %}\n{{ m.content }\n{% endfor %}")
    code, _, err = cli(*["render", "--template", str(template), "--messages", messages_file([{"role": "user", "content": "x"}])])
    assert code == 2 and "syntax error at line 2" in err


def test_detect_and_presets_json(model_dir, cli):
    folder = model_dir("gemma-2-2b-it", config={"model_type": "gemma2"}, tokenizer_config={"eos_token": "<eos>"},
                       vocab=["<eos>", "<start_of_turn>", "<end_of_turn>"])
    code, out, _ = cli(*["detect", str(folder), "--json"])
    data = json.loads(out)
    assert code == 0
    assert {"family", "preset", "reason", "template_source", "eos_tokens", "bos_token"} <= set(data)
    assert data["preset"] == "gemma" and data["eos_tokens"] == ["<end_of_turn>", "<eos>"]
    code, out, _ = cli(*["presets", "--json"])
    presets = {p["name"]: p for p in json.loads(out)}
    assert presets["gemma"]["system_role"] is False and presets["qwen2.5"]["defaults"]["repetition_penalty"] == 1.2
    code, out, err = cli(*["detect", "/no/such/model"])
    assert code == 2 and err.startswith("error: ")


def test_tools_template_kwargs_and_a_pinned_clock(tmp_path, messages_file, capsysbinary):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]))
    chat = messages_file([{"role": "user", "content": "Weather in Paris?"}])
    assert main(["render", "--preset", "qwen3", "--messages", chat, "--tools", str(tools),
                 "--template-kwargs", '{"enable_thinking": false}']) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert "<tools>" in out and '"name": "get_weather"' in out
    assert out.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert main(["render", "--preset", "gpt-oss", "--messages", chat, "--now", "2026-01-15T09:30:00",
                 "--template-kwargs", '{"reasoning_effort": "high"}']) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert "Current date: 2026-01-15" in out and "Reasoning: high" in out


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--template-kwargs", "{nope"], r"--template-kwargs is not valid JSON.*\nhint: give a JSON object"),
        (["--template-kwargs", "[1, 2]"], r"--template-kwargs must be a JSON object, got list"),
        (["--template-kwargs", '{"messages": 1}'], r"template keyword 'messages' is set by the playground itself"),
        (["--template-kwargs", '{"enable_thinking": "no"}'], r"enable_thinking must be true or false"),
        (["--now", "yesterday"], r"--now must look like YYYY-MM-DDTHH:MM:SS"),
        (["--tools", "/no/such/tools.json"], r"tools file /no/such/tools.json does not exist"),
        (["--model", "demo", "--preset", "chatml"], r"argument --preset: not allowed with argument --model"),
    ],
)
def test_template_option_errors_are_one_line(messages_file, args, pattern, cli):
    import re

    chat = messages_file([{"role": "user", "content": "x"}])
    preset = [] if "--model" in args else ["--preset", "qwen3"]
    code, out, err = cli(*["render", *preset, *args, "--messages", chat])
    assert code == 2 and out == "" and re.search(pattern, err), err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")


def test_render_accepts_the_demo_alias_and_detect_refuses_a_folder_without_config(tmp_path, messages_file, capsys):
    assert main(["render", "--model", "demo", "--messages", messages_file([{"role": "user", "content": "Hi"}])]) == 0
    assert capsys.readouterr().out == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert main(["detect", "demo"]) == 0
    assert "chatml" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_detect_prints_warnings_on_stderr(capfd):
    assert main(["detect", "demo"]) == 0
    out, err = capfd.readouterr()
    assert "warning:" not in out and "warning: the model has no chat template" in err
