"""The openai backend against real mlx_lm.server processes on loopback: one process, and two ranks under
``mlx.launch --backend ring`` (MLX's distributed serving, here on one machine). Both serve the demo model;
at temperature 0 they must give the same prompt and the same reply as the local backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import httpx
import pytest
from conftest import DEMO_MODEL
from servers import BOS_TEMPLATE, MlxServer, bos_model, think_model

from playground.backends._remote import SERVER_STOP
from playground.backends.spec import BackendSpec
from playground.engine import Engine
from playground.errors import BackendError
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

GREEDY = GenerationSettings(temperature=0.0, max_tokens=60)
CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "Your name is Nova."},
        {"role": "user", "content": "My name is Emma."},
        {"role": "assistant", "content": "Nice to meet you, Emma!"},
        {"role": "user", "content": "What is my name?"},
    ],
]


@pytest.fixture(scope="module", params=["single", "ring"])
def server(request, tmp_path_factory):
    """mlx_lm.server on the demo model: one process, or two ranks under mlx.launch (ring backend, 127.0.0.1).
    Module-scoped and parametrized, so pytest runs every test of one server before starting the next, and
    the ring's ranks (which poll each other while idle) live only while their tests run."""
    started = MlxServer(DEMO_MODEL, tmp_path_factory.mktemp("server"), ranks=2 if request.param == "ring" else 1)
    try:
        started.wait_ready(timeout=90)
        print(f"\n{request.param} mlx_lm.server ready after {started.startup_s:.1f} s")
        yield started
    finally:
        started.stop()


single_only = pytest.mark.parametrize("server", ["single"], indirect=True)


def remote_engine(base_url: str, **spec) -> Engine:
    return Engine(backend=BackendSpec(kind="openai", base_url=base_url, **spec))


def request_for(messages, **changes) -> ChatRequest:
    return ChatRequest(messages=tuple(messages), settings=changes.pop("settings", GREEDY), **changes)


def test_check_reports_the_server(server):
    engine = remote_engine(server.base_url)
    report = engine.backend().check()
    assert report["server"] == "mlx_lm.server"
    assert report["reachable"] and report["latency_ms"] >= 0
    assert report["models"] == [str(DEMO_MODEL.resolve())]
    assert report["model"] is None  # the server's own --model is used
    assert report["capabilities"]["removes_thinking"] is True
    assert "api_key" not in json.dumps(report)


def test_same_prompt_and_reply_as_local(server, engine, demo):
    # the ring's steps are slow on 2 shared cores: one short and one multi-turn conversation there
    for messages in CONVERSATIONS if server.ranks == 1 else [CONVERSATIONS[0], CONVERSATIONS[2]]:
        check_same_as_local(server, engine, demo, messages)


def check_same_as_local(server, engine, demo, messages):
    request = request_for(messages)
    local = engine.generate(engine.prepare(demo, request))
    remote = remote_engine(server.base_url)
    loaded = remote.load(str(DEMO_MODEL))
    assert not loaded.has_weights  # only metadata and the tokenizer for a server backend
    prepared = remote.prepare(loaded, request)
    assert prepared.text == engine.prepare(demo, request).text
    body = remote.backend().plan(prepared)[0]
    assert body["prompt"] == prepared.text and "<|im_end|>" in body["stop"]
    events = list(remote.stream(prepared))
    final = events[-1]
    text = "".join(e.text for e in events)
    assert text == local.text and text.strip()
    assert (final.finish_reason, local.final.finish_reason) == ("stop", "stop")
    assert local.final.stop_token == "<|im_end|>" and final.stop_token == SERVER_STOP
    assert final.prompt_tokens == local.final.prompt_tokens
    assert final.generation_tokens == local.final.generation_tokens  # the server counts the EOS token too
    assert final.source == "openai:mlx_lm.server" and final.ttft_s > 0
    assert not any("prompt tokens where the playground counts" in w for w in final.warnings)  # same tokens
    assert events[0].status == "prefill" and final.status == "done"
    assert sum(1 for e in events if e.status == "generating") >= 1


def test_streaming_and_reused_prompt_tokens(server):
    remote = remote_engine(server.base_url)
    loaded = remote.load(str(DEMO_MODEL))
    request = request_for(CONVERSATIONS[2])
    first = remote.generate(remote.prepare(loaded, request))
    follow = request.replace(
        messages=(*request.messages, {"role": "assistant", "content": first.text}, {"role": "user", "content": "Hi"})
    )
    second = remote.generate(remote.prepare(loaded, follow))
    assert second.final.reused_tokens >= first.final.prompt_tokens - 1  # the server's prompt cache
    assert second.events > 2


def test_without_wired_eos_the_server_runs_on(server, engine, demo):
    """The demo tokenizer's EOS is <|endoftext|>: only the wired <|im_end|> (sent as a stop string) stops it."""
    request = request_for(CONVERSATIONS[0], settings=GenerationSettings(temperature=0.0, max_tokens=30), wire_eos=False)
    remote = remote_engine(server.base_url)
    prepared = remote.prepare(remote.load(str(DEMO_MODEL)), request)
    assert remote.backend().plan(prepared)[0]["stop"] == ["<|endoftext|>"]
    result = remote.generate(prepared)
    local = engine.generate(engine.prepare(demo, request))
    assert result.final.finish_reason == local.final.finish_reason == "length"
    assert "<|im_end|>" in result.text and result.text == local.text
    wired = remote.generate(remote.prepare(remote.load(str(DEMO_MODEL)), request.replace(wire_eos=True)))
    assert wired.final.finish_reason == "stop" and "<|im_end|>" not in wired.text


def test_stop_closes_the_stream_and_the_server_stays_healthy(server):
    remote = remote_engine(server.base_url)
    loaded = remote.load(str(DEMO_MODEL))
    long_request = request_for(
        [{"role": "user", "content": "Tell me a joke."}],
        settings=GenerationSettings(temperature=0.0, max_tokens=400),
        wire_eos=False,  # runs on to the token limit unless stopped
    )
    cancel = threading.Event()
    events = []
    for event in remote.stream(remote.prepare(loaded, long_request), cancel=cancel):
        events.append(event)
        if event.status == "generating" and sum(e.status == "generating" for e in events) == 3:
            cancel.set()
    final = events[-1]
    assert final.finish_reason == "cancelled" and final.generation_tokens < 400
    assert server.healthy()
    again = remote.generate(remote.prepare(loaded, request_for(CONVERSATIONS[0])))  # the next request works
    assert again.final.finish_reason == "stop" and again.text.startswith("H")
    # closing the stream from the consumer's side (the browser went away) works the same, also for a seeded,
    # sampled request: its seed is not sent, since mlx_lm.server would serve it alone, and a distributed
    # mlx_lm.server hangs when such a request is stopped
    seeded = long_request.replace(settings=GenerationSettings(temperature=0.8, seed=7, max_tokens=400))
    prepared = remote.prepare(loaded, seeded)
    body, _, notes, _ = remote.backend().plan(prepared)
    assert "seed" not in body and any("seed (7) is not sent" in n for n in notes)
    stream = remote.stream(prepared)
    for event in stream:
        if event.status == "generating":
            break
    stream.close()
    assert server.healthy()
    assert remote.generate(remote.prepare(loaded, request_for(CONVERSATIONS[0]))).text == again.text


@single_only
def test_user_stop_strings_cut_like_local(server, engine, demo):
    """mlx_lm.server stops on a stop string only when its own tokens are generated and otherwise removes the
    match from the text and runs on: "w can" (inside " How can") would vanish. It is applied here instead."""
    request = request_for(CONVERSATIONS[0], settings=GenerationSettings(temperature=0.0, max_tokens=60, stop=("w can",)))
    local = engine.generate(engine.prepare(demo, request))
    remote = remote_engine(server.base_url)
    prepared = remote.prepare(remote.load(str(DEMO_MODEL)), request)
    body, _, notes, _ = remote.backend().plan(prepared)
    assert "w can" not in body["stop"] and any("applied here" in n for n in notes)
    result = remote.generate(prepared)
    assert result.text == local.text == "Hi! Ho"
    assert result.final.stop_token == local.final.stop_token == "w can"


@single_only
def test_logprobs_match_the_local_backend(server, engine, demo):
    request = request_for(CONVERSATIONS[1], logprobs=3)
    local = engine.generate(engine.prepare(demo, request))
    remote = remote_engine(server.base_url)
    prepared = remote.prepare(remote.load(str(DEMO_MODEL)), request)
    body = remote.backend().plan(prepared)[0]
    assert (body["logprobs"], body["top_logprobs"], body["stream"]) == (True, 3, False)
    result = remote.generate(prepared)
    assert result.text == local.text
    assert [t.id for t in result.tokens] == [t.id for t in local.tokens]
    assert [t.text for t in result.tokens] == [t.text for t in local.tokens]
    for ours, theirs in zip(local.tokens, result.tokens):
        assert abs(ours.logprob - theirs.logprob) < 0.05
        assert [a.id for a in ours.top] == [a.id for a in theirs.top]
    assert any("not streamed" in w for w in result.final.warnings)
    many = remote.prepare(remote.load(str(DEMO_MODEL)), request.replace(logprobs=15))
    assert remote.backend().plan(many)[0]["top_logprobs"] == 11
    assert any("at most 11 alternatives" in n for n in remote.backend().prompt_notes(many))


@single_only
def test_a_prompt_starting_with_bos_does_not_get_two(server, tmp_path):
    """mlx_lm.server tokenizes completions with special tokens: our BOS is stripped so it adds the only one."""
    folder = bos_model(tmp_path)
    remote = remote_engine(server.base_url, served_model=str(folder))  # mlx_lm.server loads it on demand
    loaded = remote.load(str(folder))
    request = request_for(CONVERSATIONS[0], template="custom", custom_template=BOS_TEMPLATE)
    prepared = remote.prepare(loaded, request)
    assert prepared.text.startswith("<|endoftext|><|im_start|>") and prepared.token_ids[:2] == (0, 1)
    body, plan, notes, _ = remote.backend().plan(prepared)
    assert body["prompt"] == prepared.text[len("<|endoftext|>") :] and body["model"] == str(folder)
    assert any("without the leading <|endoftext|>" in n for n in notes)
    result = remote.generate(prepared)
    assert not any("prompt tokens where the playground counts" in w for w in result.final.warnings)
    local = Engine()
    local_result = local.generate(local.prepare(local.load(str(folder)), request))
    assert result.text == local_result.text
    # the trap itself: the unstripped prompt gets a second BOS on the server
    raw = httpx.post(
        f"{server.base_url}/completions",
        json={"model": str(folder), "prompt": prepared.text, "max_tokens": 1, "temperature": 0},
        timeout=60,
    ).json()
    assert raw["usage"]["prompt_tokens"] == prepared.prompt_tokens + 1


@single_only
def test_mlx_server_removing_think_text_is_warned(server, tmp_path):
    folder = think_model(tmp_path)
    remote = remote_engine(server.base_url, served_model=str(folder))
    # Qwen3's template: its generation prompt leaves the think block to the model (Qwen3.5's opens it)
    request = request_for(CONVERSATIONS[0], template="qwen3")
    prepared = remote.prepare(remote.load(str(folder)), request)
    notes = remote.backend().prompt_notes(prepared)
    assert any("removes the text between <think> and </think>" in n for n in notes)  # before sending
    result = remote.generate(prepared)
    local = Engine()
    local_text = local.generate(local.prepare(local.load(str(folder)), request)).text
    assert local_text.startswith("<think>") and "</think>" in local_text
    assert result.text == local_text.split("</think>", 1)[1]  # the server dropped the think block
    assert any("removed part of the reply" in w for w in result.final.warnings)  # and we noticed


@single_only
def test_a_server_that_does_not_know_the_model_is_one_error(server, tmp_path):
    remote = remote_engine(server.base_url, served_model=str(tmp_path / "no-such-model"))
    prepared = remote.prepare(remote.load(str(DEMO_MODEL)), request_for(CONVERSATIONS[0]))
    with pytest.raises(BackendError) as info:
        remote.generate(prepared)
    assert "could not load" in info.value.message and "--served-model" in info.value.hint
    assert server.healthy()


@single_only
def test_cli_generate_with_the_openai_backend_matches_local(server, engine, demo):
    local = engine.generate(engine.prepare(demo, request_for([{"role": "user", "content": "Hello!"}])))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MLX_PLAYGROUND_API_KEY": "sk-never-printed-42"}
    args = ["generate", "--backend", "openai", "--base-url", server.base_url, "--model", str(DEMO_MODEL)]
    proc = subprocess.run(
        [sys.executable, "-m", "playground.cli", *args, "--prompt", "Hello!", "--temp", "0", "--max-tokens", "60", "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["text"] == local.text
    assert data["source"] == "openai:mlx_lm.server" and data["stop_token"] == SERVER_STOP
    assert data["backend"] == f"openai server at {server.base_url}"
    assert "sk-never-printed-42" not in proc.stdout + proc.stderr
