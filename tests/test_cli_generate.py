"""`mlx-playground generate`: streaming, --json, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import DEMO_MODEL


def run_process(*args, env=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "playground.cli", *args], capture_output=True, text=True, timeout=300, env=full_env
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_generate_json_on_the_default_demo_model(cli):
    code, out, err = cli("generate", "--prompt", "Hello!", "--temp", "0", "--max-tokens", "40", "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    required = {"prompt", "text", "finish_reason", "stop_token", "prompt_tokens", "generation_tokens", "ttft_s",
                "generation_tps", "template_source", "family", "preset", "eos_tokens", "warnings"}
    assert required <= set(data)
    assert data["prompt"] == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert (data["finish_reason"], data["stop_token"], data["preset"]) == ("stop", "<|im_end|>", "chatml")
    assert any("no chat template" in w for w in data["warnings"])


def test_generate_streams_text_and_reports_stats(cli):
    code, out, err = cli("generate", "--model", str(DEMO_MODEL), "--prompt", "What is the capital of France?",
                         "--system", "You are a helpful assistant.", "--temp", "0", "--max-tokens", "40")
    assert code == 0, err
    assert out.strip() and "<|im_end|>" not in out
    assert "[stop (<|im_end|>)" in err


@pytest.fixture
def broken_models(tmp_path):
    no_weights = tmp_path / "no-weights"
    shutil.copytree(DEMO_MODEL, no_weights)
    for f in no_weights.glob("*.safetensors"):
        f.unlink()
    bad_config = tmp_path / "bad-config"
    shutil.copytree(DEMO_MODEL, bad_config)
    (bad_config / "config.json").write_text("{oops")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(DEMO_MODEL, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00not a safetensors file")
    unknown_type = tmp_path / "unknown-type"
    shutil.copytree(DEMO_MODEL, unknown_type)
    config = json.loads((unknown_type / "config.json").read_text())
    (unknown_type / "config.json").write_text(json.dumps({**config, "model_type": "transmogrifier"}))
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(DEMO_MODEL, no_tokenizer)
    (no_tokenizer / "tokenizer.json").unlink()
    vision = tmp_path / "vision"
    shutil.copytree(DEMO_MODEL, vision)
    # a vision model of a type mlx-vlm does not know (without mlx-vlm installed: the install hint)
    vision_config = {**config, "model_type": "transmogrifier_vl", "vision_config": {"hidden_size": 8}}
    (vision / "config.json").write_text(json.dumps(vision_config))
    return {p.name: str(p) for p in (no_weights, bad_config, corrupt, unknown_type, no_tokenizer, vision)}


@pytest.mark.parametrize(
    ("model", "pattern"),
    [
        ("/definitely/not/here", "neither a folder nor a Hub repo id"),
        ("no-weights", "no weights"),
        ("bad-config", "config.json .* not valid JSON"),
        ("corrupt", "corrupt or truncated weights"),
        ("unknown-type", "transmogrifier"),
        ("no-tokenizer", "no tokenizer files"),
        ("vision", "vision-language model"),
        ("mlx-community/Some-Model-4bit", "not in the local Hugging Face cache"),
    ],
)
def test_bad_models_give_one_clear_line(broken_models, model, pattern, cli):
    import re

    code, out, err = cli("generate", "--model", broken_models.get(model, model), "--prompt", "hi", "--max-tokens", "5")
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and lines[0].startswith("error: ") and re.search(pattern, lines[0]), err
    assert lines[1].startswith("hint: ")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--temp", "-1"], "temperature must be a number in"),
        (["--top-p", "0"], r"top_p must be a number in \(0.0, 1.0\]"),
        (["--max-tokens", "0"], "max_tokens must be an integer in"),
        (["--repetition-penalty", "0"], "repetition_penalty"),
        (["--top-k", "-3"], "top_k"),
    ],
)
def test_invalid_settings_name_the_field_and_range(args, pattern, cli):
    import re

    code, _, err = cli("generate", "--prompt", "hi", *args)
    assert code == 2 and re.search(pattern, err.splitlines()[0]), err


@pytest.mark.slow  # a process of its own: BLAS loading, binding a port
def test_doctor_reports_blas():
    code, out, _ = run_process("doctor", "--json")
    data = json.loads(out)
    assert code == 0 and "blas" in data and data["demo model"].endswith("demo-model")
    if sys.platform.startswith("linux") and os.path.exists("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"):
        assert data["blas"].startswith("openblas")
    code, out, _ = run_process("doctor", "--json", env={"MLX_PLAYGROUND_NO_BLAS": "1"})
    assert json.loads(out)["blas"].startswith("reference")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--auth", "alice"], "--auth must look like USER:PASSWORD"),
        (["--port", "70000"], "argument --port: must be at least 1 and at most 65535, got 70000"),
        (["--queue-size", "0"], "argument --queue-size: must be at least 1, got 0"),
        (["--max-batch", "x"], "argument --max-batch: 'x' is not a whole number"),
        (["--memory-limit", "-2"], "argument --memory-limit: must be more than 0"),
        (["--model", "/nope"], "model '/nope' is neither a folder nor a Hub repo id"),
    ],
)
@pytest.mark.slow  # a process of its own: BLAS loading, binding a port
def test_serve_rejects_bad_options_before_starting(args, pattern):
    code, _, err = run_process("serve", *args)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert pattern in lines[-2] and lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), err


def test_default_host_is_localhost():
    from playground.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.share, args.auth) == ("127.0.0.1", 7860, False, None)


@pytest.mark.slow  # a process of its own: BLAS loading, binding a port
def test_busy_port_is_one_clear_line():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_process("serve", "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_generate_logprobs_json_shape(cli):
    code, out, err = cli("generate", "--prompt", "Hello!", "--temp", "0", "--max-tokens", "40", "--logprobs", "3", "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    tokens = data["tokens"]
    assert tokens[-1]["text"] == "<|im_end|>" and tokens[-1]["id"] == tokens[-1]["top"][0]["id"]
    assert "".join(t["text"] for t in tokens[:-1]) == data["text"]
    for token in tokens:
        assert set(token) == {"text", "id", "logprob", "top", "eos_logprob"}
        assert len(token["top"]) == 3 and [t["logprob"] for t in token["top"]] == sorted(
            (t["logprob"] for t in token["top"]), reverse=True
        )
        assert set(token["top"][0]) == {"text", "id", "logprob"}
    assert data["content"] == data["text"] and data["reasoning"] is None and data["tool_calls"] == []


def test_generate_raw_sends_the_text_byte_for_byte(cli):
    from playground.engine import Engine
    from playground.prepare import ChatRequest

    text = "<|im_start|>user\nWhat is 4 + 5?<|im_end|>\n<|im_start|>assistant\n"
    code, out, err = cli("generate", "--raw", "--prompt", text, "--temp", "0", "--max-tokens", "30", "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert data["prompt"] == text and data["template_source"] == "raw" and data["bos_added"] is False
    assert any("no template and no BOS token added" in w for w in data["warnings"])
    engine = Engine()
    loaded = engine.load("demo")
    prepared = engine.prepare(loaded, ChatRequest(raw_prompt=text))
    assert list(prepared.token_ids) == loaded.tokenizer.encode(text, add_special_tokens=False)
    chat = engine.prepare(loaded, ChatRequest(messages=({"role": "user", "content": "What is 4 + 5?"},)))
    assert chat.text == text  # raw mode with the rendered text: the same bytes as the chat path
    assert data["text"] and "9" in data["text"]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--prompt", ""], "--prompt is empty"),
        (["--prompt", "hi", "--stop", ""], "stop strings must be non-empty"),
        (["--raw", "--messages", "x.json"], "--raw sends one text exactly as given"),
        (["--prompt", "hi", "--logprobs", "50"], "argument --logprobs: must be at least 0 and at most 20"),
        (["--prompt", "hi", "--max-tokens", "lots"], "argument --max-tokens: invalid int value"),
    ],
)
def test_generate_argument_errors_are_one_line_with_a_hint(args, pattern, cli):
    code, out, err = cli("generate", *args)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err and out == "", err
    assert pattern in lines[-2] and lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), err


def test_generate_prints_warnings_without_json(cli):
    code, _, err = cli("generate", "--prompt", "Hi", "--temp", "0", "--max-tokens", "1100")  # context: 1024
    assert code == 0 and "warning: the model has no chat template" in err and "max tokens lowered" in err
