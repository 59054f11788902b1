"""The server backends against stub servers on loopback that replay request/response shapes taken from the
servers' documentation: vLLM (its OpenAI-compatible server's protocol), llama.cpp (tools/server/README.md),
Ollama (docs/api.md, openapi.yaml), a plain OpenAI-compatible server, and failures (HTTP 500, 401, an
unreachable port, a stream cut short). None of those servers can run here; mlx_lm.server, which can, is
tested for real in test_backends_mlx_server.py. The playground's metadata model is the demo model, so the
replayed replies are the demo model's tokens."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import DEMO_MODEL
from servers import BOS_TEMPLATE, Reply, StubServer, bos_model
from tokenizers import Tokenizer

from playground.backends._remote import SERVER_STOP
from playground.backends.spec import BackendSpec
from playground.cli import main
from playground.engine import Engine
from playground.errors import BackendError
from playground.ports import free_port
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

pytestmark = pytest.mark.timeout(60)

HELLO = ChatRequest(
    messages=({"role": "user", "content": "Hello!"},), settings=GenerationSettings(temperature=0.0, max_tokens=60)
)
PROMPT = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
_VOCAB = Tokenizer.from_file(str(DEMO_MODEL / "tokenizer.json"))
#: The demo model's greedy reply to "Hello!" as (text, token id), then <|im_end|>; "Hello" is an alternative.
REPLY = [(piece, _VOCAB.token_to_id(piece.replace(" ", "Ġ")))
         for piece in ["Hi", "!", " How", " can", " I", " help", " you", " today", "?"]]
HELLO_ID = _VOCAB.token_to_id("Hello")
IM_END_ID = _VOCAB.token_to_id("<|im_end|>")
TEXT = "".join(t for t, _ in REPLY)


def engine_for(kind, url, **spec):
    return Engine(backend=BackendSpec(kind=kind, base_url=url, **spec))


def run(engine, request=HELLO, **kwargs):
    prepared = engine.prepare(engine.load(str(DEMO_MODEL)), request)
    return prepared, list(engine.stream(prepared, **kwargs))


def text_of(events):
    return "".join(e.text for e in events)


# ---------------------------------------------------------------------------------------------- vLLM

VLLM_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "demo-model",
            "object": "model",
            "created": 1735142223,
            "owned_by": "vllm",
            "root": "/models/demo-model",
            "parent": None,
            "max_model_len": 512,
            "permission": [],
        }
    ],
}


def vllm_chunk(text, *, finish=None, stop_reason=None, logprobs=None):
    return {
        "id": "cmpl-4b4b1e5f",
        "object": "text_completion",
        "created": 1735142223,
        "model": "demo-model",
        "choices": [
            {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish, "stop_reason": stop_reason}
        ],
        "usage": None,
    }


def vllm_completion(body):
    """vLLM streams one chunk per token; with logprobs, OpenAI's legacy shape (``token_id:N`` strings when
    return_tokens_as_token_ids is set); the finish chunk names the stop token id; usage comes last."""
    events = []
    for text, token_id in REPLY:
        logprobs = None
        if body.get("logprobs"):
            logprobs = {
                "text_offset": [0],
                "token_logprobs": [-0.25],
                "tokens": [f"token_id:{token_id}"],
                "top_logprobs": [{f"token_id:{token_id}": -0.25, f"token_id:{HELLO_ID}": -1.5}],
            }
        events.append(vllm_chunk(text, logprobs=logprobs))
    events.append(vllm_chunk("", finish="stop", stop_reason=IM_END_ID))
    usage = {"prompt_tokens": 10, "total_tokens": 20, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 8}}
    events.append({**vllm_chunk(""), "choices": [], "usage": usage})
    events.append("[DONE]")
    return Reply.sse(events)


@pytest.fixture
def vllm():
    with StubServer(
        {
            ("GET", "/v1/models"): Reply.json(VLLM_MODELS),
            ("GET", "/version"): Reply.json({"version": "0.10.1"}),
            ("POST", "/v1/completions"): vllm_completion,
        }
    ) as stub:
        yield stub


def test_vllm_request_and_reply(vllm):
    engine = engine_for("openai", f"{vllm.url}/v1")
    report = engine.backend().check()
    assert (report["server"], report["version"], report["models"]) == ("vllm", "0.10.1", ["demo-model"])
    prepared, events = run(engine)
    body = vllm.posts("/v1/completions")[0]
    assert body["prompt"] == PROMPT and body["add_special_tokens"] is False  # the exact text, nothing added
    assert body["stop_token_ids"] == list(prepared.eos.ids) and "<|im_end|>" in body["stop"]
    assert body["skip_special_tokens"] is False and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["top_p"], body["top_k"], body["min_p"], body["repetition_penalty"]) == (
        0.0, 0.9, 20, 0.0, 1.0,
    )  # every setting explicit (top_p/top_k: the demo model's defaults, as resolved here), so vLLM applies none of its own
    assert "model" not in body  # vLLM then uses the model it serves
    final = events[-1]
    assert text_of(events) == TEXT
    assert (final.finish_reason, final.stop_token) == ("stop", "<|im_end|>")  # vLLM's stop_reason, named
    assert (final.generation_tokens, final.reused_tokens, final.source) == (10, 8, "openai:vllm")


def test_vllm_logprobs_are_streamed_with_token_ids(vllm):
    engine = engine_for("openai", f"{vllm.url}/v1")
    _, events = run(engine, HELLO.replace(logprobs=2))
    body = vllm.posts("/v1/completions")[0]
    assert (body["logprobs"], body["return_tokens_as_token_ids"], body["stream"]) == (2, True, True)
    tokens = [t for e in events for t in e.tokens]
    assert [t.id for t in tokens] == [i for _, i in REPLY]
    assert [t.text for t in tokens] == [t for t, _ in REPLY]
    assert tokens[0].logprob == -0.25 and [a.id for a in tokens[0].top] == [REPLY[0][1], HELLO_ID]
    assert sum(1 for e in events if e.tokens) > 1  # streamed, not in one piece


def test_vllm_gets_bos_written_out_with_special_tokens_off(vllm, tmp_path):
    folder = bos_model(tmp_path)
    engine = engine_for("openai", f"{vllm.url}/v1")
    prepared = engine.prepare(engine.load(str(folder)), HELLO)
    assert prepared.bos_added  # the tokenizer adds <|endoftext|>; vLLM is told not to, so it is written out
    body, _, notes, _ = engine.backend().plan(prepared)
    assert body["prompt"] == "<|endoftext|>" + PROMPT and body["add_special_tokens"] is False
    assert any("add_special_tokens off" in n for n in notes)


def test_vllm_unknown_model_is_one_error(vllm):
    error = {"error": {"message": "The model `nope` does not exist.", "type": "NotFoundError", "param": None, "code": 404}}
    vllm.routes[("POST", "/v1/completions")] = Reply.json(error, status=404)
    engine = engine_for("openai", f"{vllm.url}/v1", served_model="nope")
    with pytest.raises(BackendError) as info:
        run(engine)
    assert "does not know the model nope" in info.value.message
    assert "demo-model" in info.value.hint  # the names the server lists
    with pytest.raises(BackendError, match="does not serve a model named 'nope'"):
        engine.backend().check()


# ---------------------------------------------------------------------------------------------- llama.cpp

LLAMA_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "../models/demo-model.gguf",
            "object": "model",
            "created": 1735142223,
            "owned_by": "llamacpp",
            "meta": {"vocab_type": 2, "n_vocab": 512, "n_ctx_train": 512, "n_embd": 160, "n_params": 1353120},
        }
    ],
}


def llama_chunk(text, *, finish=None, logprobs=None, **extra):
    return {
        "choices": [{"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}],
        "created": 1735142223,
        "id": "chatcmpl-ecQULm0WqPrftUqjPZO1CFYeDjGZNbDu",
        "model": "../models/demo-model.gguf",
        "system_fingerprint": "b5460-1a2b3c4d",
        "object": "text_completion",
        **extra,
    }


def llama_completion(verbose: bool):
    def reply(body):
        events = []
        for text, token_id in REPLY:
            logprobs = None
            if body.get("n_probs"):
                entry = {"id": token_id, "token": text, "bytes": list(text.encode()), "logprob": -0.5}
                alt = {"id": HELLO_ID, "token": "Hello", "bytes": list(b"Hello"), "logprob": -2.0}
                logprobs = {"content": [{**entry, "top_logprobs": [dict(entry), alt]}]}
            events.append(llama_chunk(text, logprobs=logprobs))
        timings = {
            "cache_n": 9, "prompt_n": 1, "prompt_ms": 30.958, "prompt_per_token_ms": 30.958,
            "prompt_per_second": 32.3, "predicted_n": 10, "predicted_ms": 188.9,
            "predicted_per_token_ms": 18.89, "predicted_per_second": 52.9,
        }
        usage = {"completion_tokens": 10, "prompt_tokens": 10, "total_tokens": 20, "prompt_tokens_details": {"cached_tokens": 9}}
        extra = {"timings": timings, "usage": usage}
        if verbose:  # llama-server --verbose adds its /completion fields
            extra["__verbose"] = {"stop_type": "word", "stopping_word": "<|im_end|>", "tokens_cached": 9}
        events.append(llama_chunk("", finish="stop", **extra))
        events.append("[DONE]")
        return Reply.sse(events)

    return reply


@pytest.fixture
def llama():
    with StubServer(
        {
            ("GET", "/v1/models"): Reply.json(LLAMA_MODELS),
            ("GET", "/props"): Reply.json({"build_info": "b5460-1a2b3c4d", "model_path": "../models/demo-model.gguf",
                                           "total_slots": 1, "default_generation_settings": {"n_ctx": 512}}),
            ("POST", "/v1/completions"): llama_completion(verbose=True),
        }
    ) as stub:
        yield stub


def test_llama_cpp_request_and_reply(llama, tmp_path):
    engine = engine_for("openai", f"{llama.url}/v1")
    report = engine.backend().check()
    assert (report["server"], report["version"]) == ("llama.cpp", "b5460-1a2b3c4d")
    assert report["details"]["model_path"] == "../models/demo-model.gguf"
    prepared, events = run(engine, HELLO.replace(logprobs=2))
    body = llama.posts("/v1/completions")[0]
    assert body["prompt"] == PROMPT and body["n_probs"] == 2
    # llama.cpp samples with top-k 40, min-p 0.05 and its own repeat penalty unless told otherwise
    assert (body["top_k"], body["min_p"], body["repeat_penalty"], body["repeat_last_n"]) == (20, 0.0, 1.0, 20)
    assert body["cache_prompt"] is True and "<|im_end|>" in body["stop"]
    final = events[-1]
    assert text_of(events) == TEXT
    assert (final.finish_reason, final.stop_token) == ("stop", "<|im_end|>")  # stopping_word
    assert final.reused_tokens == 9  # usage.prompt_tokens_details.cached_tokens, timings.cache_n
    assert final.generation_tps == 52.9 and final.prompt_tps == 32.3  # the server's own timings
    tokens = [t for e in events for t in e.tokens]
    assert [t.id for t in tokens] == [i for _, i in REPLY] and [a.id for a in tokens[0].top] == [REPLY[0][1], HELLO_ID]
    # a prompt starting with BOS: llama.cpp adds BOS itself (add_bos_token), so ours is stripped
    folder = bos_model(tmp_path)
    bos_engine = engine_for("openai", f"{llama.url}/v1")
    request = HELLO.replace(template="custom", custom_template=BOS_TEMPLATE)
    bos_prepared = bos_engine.prepare(bos_engine.load(str(folder)), request)
    body, _, notes, _ = bos_engine.backend().plan(bos_prepared)
    assert bos_prepared.text.startswith("<|endoftext|>") and body["prompt"] == PROMPT
    assert any("without the leading <|endoftext|>" in n for n in notes)


def test_llama_cpp_without_verbose_says_the_server_stopped(llama):
    llama.routes[("POST", "/v1/completions")] = llama_completion(verbose=False)
    _, events = run(engine_for("openai", f"{llama.url}/v1"))
    assert (events[-1].stop_token, events[-1].reused_tokens) == (None, 9) and SERVER_STOP in events[-1].warnings


# ---------------------------------------------------------------------------------------------- Ollama


def ollama_generate(body):
    """/api/generate streams NDJSON; the last object has done_reason, counts and durations (ns)."""
    items = []
    for text, _ in REPLY:
        item = {"model": "demo", "created_at": "2025-10-17T23:14:07.414671Z", "response": text, "done": False}
        if body.get("logprobs"):
            entry = {"token": text, "logprob": -0.5, "bytes": list(text.encode())}
            alt = {"token": "Hello", "logprob": -2.0, "bytes": list(b"Hello")}
            item["logprobs"] = [{**entry, "top_logprobs": [dict(entry), alt]}]
        items.append(item)
    items.append(
        {
            "model": "demo", "created_at": "2025-10-17T23:14:07.514671Z", "response": "", "done": True,
            "done_reason": "stop", "total_duration": 174560334, "load_duration": 101397084,
            "prompt_eval_count": 10, "prompt_eval_duration": 13074791, "eval_count": 10, "eval_duration": 52479709,
        }
    )
    return Reply.ndjson(items)


@pytest.fixture
def ollama():
    tags = {"models": [{"name": "demo:latest", "model": "demo:latest", "size": 2700000, "digest": "sha256:0f1e",
                        "details": {"format": "gguf", "family": "llama", "parameter_size": "1.35M"}}]}
    with StubServer(
        {
            ("GET", "/api/version"): Reply.json({"version": "0.12.6"}),
            ("GET", "/api/tags"): Reply.json(tags),
            ("POST", "/api/generate"): ollama_generate,
        }
    ) as stub:
        yield stub


def test_ollama_request_and_reply(ollama):
    engine = engine_for("ollama", ollama.url)
    report = engine.backend().check()
    assert (report["server"], report["version"], report["model"]) == ("ollama", "0.12.6", "demo:latest")
    prepared, events = run(engine, HELLO.replace(logprobs=2))
    body = ollama.posts("/api/generate")[0]
    assert (body["model"], body["prompt"], body["raw"], body["stream"]) == ("demo:latest", PROMPT, True, True)
    options = body["options"]
    assert (options["temperature"], options["top_k"], options["repeat_penalty"], options["num_predict"]) == (
        0.0, 20, 1.0, prepared.settings.max_tokens,
    )  # ours (top-k 20 from the demo model's generation_config.json); Ollama's own are top-k 40, repeat penalty 1.1
    assert "<|im_end|>" in options["stop"] and "num_ctx" not in options
    assert (body["logprobs"], body["top_logprobs"]) == (True, 2)
    final = events[-1]
    assert text_of(events) == TEXT
    assert (final.finish_reason, final.stop_token, final.source) == ("stop", None, "ollama")
    assert SERVER_STOP in final.warnings  # the explanation is a note: a stop token is a token or nothing
    assert final.generation_tokens == 10 and round(final.generation_tps, 1) == round(10 / 0.052479709, 1)
    tokens = [t for e in events for t in e.tokens]
    assert [t.id for t in tokens] == [i for _, i in REPLY]  # ids looked up in the tokenizer
    assert [a.id for a in tokens[0].top] == [REPLY[0][1], HELLO_ID]


def test_ollama_reasoning_field_is_put_back_between_think_tags(ollama):
    items = [
        {"model": "demo", "response": "", "thinking": "The user greets me.", "done": False},
        {"model": "demo", "response": "Hi!", "done": False},
        {"model": "demo", "response": "", "done": True, "done_reason": "stop", "eval_count": 3},
    ]
    ollama.routes[("POST", "/api/generate")] = Reply.ndjson(items)
    _, events = run(engine_for("ollama", ollama.url))
    assert text_of(events) == "<think>The user greets me.</think>Hi!"
    assert any("reasoning separately" in w for w in events[-1].warnings)


def test_ollama_missing_model_is_one_error(ollama):
    ollama.routes[("POST", "/api/generate")] = Reply.json({"error": "model 'llama9' not found"}, status=404)
    engine = engine_for("ollama", ollama.url, served_model="llama9")
    with pytest.raises(BackendError) as info:
        run(engine)
    assert "does not have the model 'llama9'" in info.value.message
    assert "ollama pull llama9" in info.value.hint and "demo:latest" in info.value.hint
    with pytest.raises(BackendError, match="has no model 'llama9'"):
        engine.backend().check()


def test_ollama_long_prompts_get_a_larger_context(ollama):
    request = HELLO.replace(settings=GenerationSettings(temperature=0.0, max_tokens=400))
    engine = engine_for("ollama", ollama.url)
    prepared = engine.prepare(engine.load(str(DEMO_MODEL)), request)
    assert "num_ctx" not in engine.backend().plan(prepared)[0]["options"]  # 10 + 400 tokens fit Ollama's default


# ---------------------------------------------------------------------------------------------- any OpenAI server


def generic_completion(chunks, *, finish="stop", delay=0.0, done=True):
    events = [{"object": "text_completion", "choices": [{"index": 0, "text": c, "finish_reason": None}]} for c in chunks]
    if finish:
        events.append({"object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": finish}]})
    if done:
        events.append("[DONE]")
    return Reply.sse(events, delay=delay)


@pytest.fixture
def generic():
    models = {"object": "list", "data": [{"id": "demo-model", "object": "model", "owned_by": "organization_owner"}]}
    with StubServer(
        {
            ("GET", "/v1/models"): Reply.json(models),
            ("POST", "/v1/completions"): generic_completion([t for t, _ in REPLY]),
        }
    ) as stub:
        yield stub


def test_generic_server_gets_the_openai_shape(generic):
    engine = engine_for("openai", f"{generic.url}/v1", api_key="sk-test-123")
    assert engine.backend().check()["server"] == "openai-compatible"
    _, events = run(engine, HELLO.replace(logprobs=8))
    body = generic.posts("/v1/completions")[0]
    assert body["model"] == "demo-model"  # the one model the server lists
    assert body["logprobs"] == 5  # the OpenAI API's limit
    assert "add_special_tokens" not in body and "repetition_penalty" not in body  # neutral values: not sent
    assert body["top_k"] == 20  # the demo model's default, sent with a note that the server may ignore it
    assert any("top_k are not part of the OpenAI API" in w for w in events[-1].warnings)
    headers = [h for m, p, h, _ in generic.requests if p == "/v1/completions"][0]
    assert headers["Authorization"] == "Bearer sk-test-123"
    final = events[-1]
    assert text_of(events) == TEXT and final.stop_token is None and SERVER_STOP in final.warnings
    assert any("at most 5 alternatives" in w for w in final.warnings)
    assert any("estimated" in w for w in final.warnings)  # no usage reported
    assert any("sent no token probabilities" in w for w in final.warnings)


def test_stop_strings_the_server_ignores_are_cut_here(generic):
    generic.routes[("POST", "/v1/completions")] = generic_completion(["Hi! How", " are you?<|im", "_end|>", "garbage"])
    _, events = run(engine_for("openai", f"{generic.url}/v1"))
    assert text_of(events) == "Hi! How are you?"
    assert (events[-1].finish_reason, events[-1].stop_token) == ("stop", "<|im_end|>")


def test_cancel_mid_stream_closes_it(generic):
    generic.routes[("POST", "/v1/completions")] = generic_completion(["word "] * 200, delay=0.01)
    cancel = threading.Event()
    seen = []
    engine = engine_for("openai", f"{generic.url}/v1")
    prepared = engine.prepare(engine.load(str(DEMO_MODEL)), HELLO)
    for event in engine.stream(prepared, cancel=cancel):
        seen.append(event)
        if len(seen) == 3:
            cancel.set()
    assert seen[-1].finish_reason == "cancelled" and len(seen) < 10


def test_a_stream_cut_short_is_an_error(generic):
    generic.routes[("POST", "/v1/completions")] = generic_completion(["Hi"], finish=None, done=False)
    with pytest.raises(BackendError, match="ended the stream before the reply was complete"):
        run(engine_for("openai", f"{generic.url}/v1"))


def test_http_500_is_one_error(generic):
    error = {"error": {"message": "CUDA out of memory", "type": "server_error"}}
    generic.routes[("POST", "/v1/completions")] = Reply.json(error, status=500)
    with pytest.raises(BackendError) as info:
        run(engine_for("openai", f"{generic.url}/v1"))
    assert info.value.message == "the server failed (HTTP 500: CUDA out of memory)"
    assert "server's log" in info.value.hint


def test_a_refused_api_key_is_never_shown(generic):
    generic.routes[("POST", "/v1/completions")] = Reply.json({"error": "invalid key sk-secret-9"}, status=401)
    with pytest.raises(BackendError) as info:
        run(engine_for("openai", f"{generic.url}/v1", api_key="sk-secret-9"))
    assert "sk-secret-9" not in info.value.one_line() and "***" in info.value.message
    assert "--api-key" in info.value.hint


@pytest.mark.slow
def test_an_unreachable_server_is_one_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = engine_for("openai", url)
    with pytest.raises(BackendError) as info:
        engine.backend().check()
    assert info.value.message.startswith(f"cannot reach the server at {url}/models")
    assert "running" in info.value.hint
    with pytest.raises(BackendError, match="cannot reach"):
        run(engine)
    notes = engine.backend().prompt_notes(engine.prepare(engine.load(str(DEMO_MODEL)), HELLO))
    assert notes and notes[0].startswith("the server cannot be used yet: cannot reach")  # a note, not a crash


def test_backend_spec_is_checked():
    assert BackendSpec(kind="openai").base_url == "http://127.0.0.1:8080/v1"
    assert BackendSpec(kind="ollama").base_url == "http://127.0.0.1:11434"
    assert "sk-1" not in repr(BackendSpec(kind="openai", api_key="sk-1"))
    with pytest.raises(BackendError, match="unknown backend 'vllm'"):
        BackendSpec(kind="vllm")
    with pytest.raises(BackendError, match="not an http:// or https:// URL"):
        BackendSpec(kind="openai", base_url="localhost:8080")
    with pytest.raises(BackendError, match="needs a server backend"):
        BackendSpec(base_url="http://127.0.0.1:8080/v1")


def test_a_remote_default_backend_loads_no_weights():
    engine = engine_for("openai", "http://127.0.0.1:9/v1")
    loaded = engine.load(str(DEMO_MODEL))
    assert not loaded.has_weights and loaded.tokenizer is not None


# ---------------------------------------------------------------------------------------------- the CLI


def cli(capsys, *args):
    code = main(["generate", "--model", str(DEMO_MODEL), "--prompt", "Hello!", "--temp", "0", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_cli_unreachable_server_is_error_and_hint(capsys):
    code, out, err = cli(capsys, "--backend", "openai", "--base-url", f"http://127.0.0.1:{free_port()}/v1")
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err
    assert lines[-2].startswith("error: cannot reach the server at") and lines[-1].startswith("hint: ")


def test_cli_server_error_is_error_and_hint(capsys, generic, monkeypatch):
    monkeypatch.setenv("MLX_PLAYGROUND_API_KEY", "sk-from-env-7")
    generic.routes[("POST", "/v1/completions")] = Reply.json({"error": "boom"}, status=500)
    code, out, err = cli(capsys, "--backend", "openai", "--base-url", f"{generic.url}/v1", "--json")
    assert code == 2 and "error: the server failed (HTTP 500: boom)" in err and "\nhint: " in err
    headers = [h for m, p, h, _ in generic.requests if p == "/v1/completions"][0]
    assert headers["Authorization"] == "Bearer sk-from-env-7"  # the key from the environment
    assert "sk-from-env-7" not in out + err


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--base-url", "http://127.0.0.1:8080/v1"], "error: --base-url needs a server backend"),
        (["--backend", "openai", "--base-url", "ftp://host/v1"], "is not an http:// or https:// URL"),
        (["--backend", "tgi"], "error: argument --backend: invalid choice"),
    ],
)
def test_cli_bad_backend_options(capsys, args, pattern):
    code, _, err = cli(capsys, *args)
    assert code == 2 and pattern in err and "hint:" in err


def test_cli_ollama_json(capsys, ollama):
    code, out, err = cli(capsys, "--backend", "ollama", "--base-url", ollama.url, "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert (data["text"], data["source"], data["backend"]) == (TEXT, "ollama", f"ollama server at {ollama.url}")


def test_ollama_with_several_models_needs_a_name(ollama):
    tags = {"models": [{"name": "demo:latest"}, {"name": "qwen2.5:7b"}]}
    ollama.routes[("GET", "/api/tags")] = Reply.json(tags)
    engine = engine_for("ollama", ollama.url)
    report = engine.backend().check()  # the connection works; the model is still to be chosen
    assert report["model"] is None and "--served-model" in report["notes"][0]
    with pytest.raises(BackendError, match="several models and none was named") as info:
        run(engine)
    assert "demo:latest, qwen2.5:7b" in info.value.hint


def test_the_engine_keeps_a_bounded_number_of_server_connections_and_closes_the_rest():
    from playground.backends.spec import BackendSpec
    from playground.engine import MAX_BACKENDS, Engine

    engine = Engine()
    first = engine.backend(BackendSpec(kind="openai", base_url="http://127.0.0.1:9/v1"))
    for port in range(10, 10 + MAX_BACKENDS):
        engine.backend(BackendSpec(kind="openai", base_url=f"http://127.0.0.1:{port}/v1"))
    assert first.http._client.is_closed  # the least recently used was closed when it was dropped
    assert len(engine._backends) == MAX_BACKENDS
