"""The UI's server backends, handler by handler, against stub servers on loopback (fast; the real mlx_lm.server
and the two-rank ring are driven through the browser in test_browser_servers.py).

Covered: Test connection (what the server reports, and every failure as one inline message), the prompt
panel's notes on what the backend does to the prompt before sending it (BOS stripped, stop strings,
think-text removal, logprob limits), where tokens come from (status, stats, Compare columns), server errors
during a reply (inline; the UI keeps serving), and the API key, which never appears in anything shown or
exported and is sent only to the server it was given for.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import DEMO_MODEL
from servers import BOS_TEMPLATE, Reply, StubServer, bos_model, think_model
from test_ui_handlers import CHAT_DEFAULTS, req, values

from playground.backends.spec import BackendSpec
from playground.engine import Engine
from playground.ports import free_port
from playground.ui.app import PlaygroundApp
from playground.ui.compare import COLUMNS, column_key

pytestmark = pytest.mark.timeout(60)

MODEL = str(DEMO_MODEL)
KEY = "sk-test-never-shown-7f3a"
REPLY = ["Hi", "!", " How", " can", " I", " help", " you", " today", "?"]


def completion_chunks(body, text=REPLY):
    """mlx_lm.server's stream: one chunk per token, then the finish chunk with usage."""
    events = [{"choices": [{"index": 0, "text": t, "finish_reason": None}]} for t in text]
    usage = {"prompt_tokens": 10, "completion_tokens": len(text) + 1, "total_tokens": 20}
    events.append({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}], "usage": usage})
    events.append("[DONE]")
    return Reply.sse(events)


def mlx_stub(model=MODEL, completions=completion_chunks):
    """A stub that the backend takes for mlx_lm.server (its Server header, /health, /v1/models)."""
    stub = StubServer(
        {
            ("GET", "/v1/models"): Reply.json({"object": "list", "data": [{"id": model, "object": "model"}]}),
            ("GET", "/health"): Reply.json({"status": "ok"}),
            ("POST", "/v1/completions"): completions,
        }
    )
    stub.httpd.RequestHandlerClass.server_version = "BaseHTTP/0.6"
    stub.httpd.RequestHandlerClass.sys_version = "Python/3.11"
    return stub


@pytest.fixture
def mlx():
    with mlx_stub() as stub:
        yield stub


@pytest.fixture(scope="module")
def app(engine):
    return PlaygroundApp(engine, default_model=MODEL)


def server_values(stub, text=None, **overrides):
    return values(text, backend="openai", base_url=f"{stub.url}/v1", **overrides)


def run_chat(app, r, text, **overrides):
    accepted = app.chat.submit(r, **{**overrides, "message": {"text": text, "files": []}})
    return accepted, list(app.chat.stream(r))


def authorization(stub):
    return [headers.get("Authorization") for _, path, headers, _ in stub.requests]


# ---------------------------------------------------------------------------------------------- test connection


def test_test_connection_shows_what_the_server_reports(app, mlx):
    shown = app.panel.test_connection(req(), **server_values(mlx))["backend_report"]
    assert f"Connected to mlx_lm.server at {mlx.url}/v1" in shown
    assert MODEL in shown and "whole reply only (not streamed)" in shown  # its models, how we adapt
    local = app.panel.test_connection(req(), **values())["backend_report"]
    assert "Local: tokens are generated in this process" in local and "mlx" in local


@pytest.mark.parametrize(
    ("routes", "overrides", "expected"),
    [
        (None, {}, "cannot reach the server at"),
        ({("GET", "/v1/models"): Reply.json({"error": "bad key " + KEY}, status=401)}, {"api_key": KEY}, "refused"),
        (
            {("GET", "/v1/models"): Reply.json({"data": [{"id": "other-model", "owned_by": "me"}]})},
            {"served_model": "missing-model"},
            "does not serve a model named &#x27;missing-model&#x27;",
        ),
    ],
    ids=["unreachable", "401", "unknown-model"],
)
@pytest.mark.slow
def test_test_connection_problems_are_one_inline_message_without_the_key(app, routes, overrides, expected):
    if routes is None:
        url = f"http://127.0.0.1:{free_port()}/v1"
        shown = app.panel.test_connection(req(), **values(backend="openai", base_url=url, **overrides))["backend_report"]
    else:
        with StubServer(routes) as stub:
            shown = app.panel.test_connection(req(), **server_values(stub, **overrides))["backend_report"]
    assert 'class="pg-error"' in shown and expected in shown and KEY not in shown and "--" not in shown
    assert shown.count("pg-error") == 1


@pytest.mark.slow
def test_test_connection_needs_a_url_and_never_shows_credentials_in_it(app):
    shown = app.panel.test_connection(req(), **values(backend="openai", base_url=""))["backend_report"]
    assert "needs a server URL" in shown
    url = f"http://user:{KEY}@127.0.0.1:{free_port()}/v1"
    shown = app.panel.test_connection(req(), **values(backend="openai", base_url=url))["backend_report"]
    assert "cannot reach" in shown and KEY not in shown and "***@127.0.0.1" in shown


# ---------------------------------------------------------------------------------------------- the prompt panel


def test_the_prompt_panel_says_where_tokens_come_from_and_what_the_server_gets(app, mlx):
    r = req()
    local = app.chat.preview(r, **values("Hello!"))["prompt"]
    assert "Tokens from" not in local  # the local backend sends exactly what is shown
    shown = app.chat.preview(r, **server_values(mlx, "Hello!", stop="w can"))["prompt"]
    assert f"Tokens from openai server at {mlx.url}/v1" in shown
    assert "returns token probabilities only with the whole reply" in shown  # logprobs on (the default)
    assert "stop strings are applied here, not by mlx_lm.server" in shown
    quiet = app.chat.preview(r, **server_values(mlx, "Hello!", logprobs=False))["prompt"]
    assert "sent exactly as shown" in quiet and "token probabilities" not in quiet


@pytest.mark.slow
def test_the_prompt_panel_names_the_bos_the_server_adds_and_the_think_text_it_removes(engine, tmp_path):
    bos, think = bos_model(tmp_path), think_model(tmp_path)
    app = PlaygroundApp(engine, default_model=str(bos))
    r = req()
    app.lab.use(BOS_TEMPLATE, r)  # a template that writes the BOS token itself, as Llama's do
    with mlx_stub(model=str(bos)) as stub:
        shown = app.chat.preview(r, **server_values(stub, "Hello!", logprobs=False, template="custom"))["prompt"]
        assert "sent to mlx_lm.server without the leading &lt;|endoftext|&gt;" in shown
        assert "the model still gets one &lt;|endoftext|&gt;, not two" in shown
    app = PlaygroundApp(engine, default_model=str(think))
    with mlx_stub(model=str(think)) as stub:
        shown = app.chat.preview(req(), **server_values(stub, "Hello!", logprobs=False))["prompt"]
        assert "mlx_lm.server removes the text between &lt;think&gt; and &lt;/think&gt;" in shown


@pytest.mark.slow
def test_an_unreachable_server_is_one_note_and_is_not_asked_at_every_keystroke(app):
    url = f"http://127.0.0.1:{free_port()}/v1"
    r = req()
    started = time.monotonic()
    shown = app.chat.preview(r, **values("Hello!", backend="openai", base_url=url))["prompt"]
    first = time.monotonic() - started
    assert "the server cannot be used yet: cannot reach the server" in shown
    assert "Hello!" in shown and "pg-prompt" in shown  # the prompt itself is still shown
    started = time.monotonic()
    again = app.chat.preview(r, **values("Hello!!", backend="openai", base_url=url))["prompt"]
    assert "cannot be used yet" in again and time.monotonic() - started < min(first, 0.5)


# ---------------------------------------------------------------------------------------------- chatting


def test_chat_on_a_server_streams_its_tokens_and_says_where_they_came_from(app, mlx):
    r = req()
    status = app.panel.describe(r, model=MODEL, **server_values(mlx))["status"]
    assert f"tokens from: openai server at {mlx.url}/v1" in status
    accepted, updates = run_chat(app, r, "Hello!", **{**server_values(mlx), "logprobs": False})
    assert accepted["chat_error"] == "" and "Tokens from openai server" in accepted["prompt"]
    chat, stats, error = (updates[-1][name] for name in ("chat", "stats", "chat_error"))
    assert chat[-1]["content"] == "".join(REPLY) and error == ""
    assert "openai:mlx_lm.server" in stats
    body = mlx.posts("/v1/completions")[-1]
    assert body["prompt"] == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert body["temperature"] == 0.0 and "<|im_end|>" in body["stop"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.json({"error": "boom"}, status=500), "the server failed (HTTP 500: boom)"),
        (Reply.json({"error": "model not found"}, status=404), "could not load its default model"),
        (Reply.sse([{"choices": [{"text": "Hi", "finish_reason": None}]}]), "ended the stream before the reply"),
    ],
    ids=["500", "unknown-model", "cut-short"],
)
def test_server_errors_during_a_reply_are_one_inline_message_and_the_ui_keeps_serving(app, reply, expected):
    with mlx_stub(completions=lambda body: reply) as stub:
        r = req()
        accepted, updates = run_chat(app, r, "Hello!", **{**server_values(stub), "logprobs": False})
        assert accepted["chat_error"] == ""
        error = updates[-1]["chat_error"]
        assert expected in error and error.count('class="pg-error"') == 1
    _, updates = run_chat(app, r, "Hello!", **values())  # the same session goes on, locally
    assert updates[-1]["chat_error"] == "" and updates[-1]["stats"].startswith("**stop**")


def test_compare_puts_a_local_column_beside_a_server_column_on_the_same_prompt(app, mlx):
    columns = {}
    for index in range(1, COLUMNS + 1):
        columns.update(
            {
                column_key("template", index): "auto",
                column_key("temperature", index): "0",
                column_key("repetition_penalty", index): "1.0",
                column_key("enable_thinking", index): True,
                column_key("backend", index): "local" if index == 1 else "server",
            }
        )
    outputs = list(
        app.compare.run(
            req(),
            wire_eos=CHAT_DEFAULTS["wire_eos"],
            backend="openai",
            base_url=f"{mlx.url}/v1",
            api_key="",
            served_model="",
            logprobs=False,
            max_tokens="20",
            system="",
            compare_message="Hello!",
            third=False,
            seed="1",
            **columns,
        )
    )
    final = outputs[-1]
    prompt1, stats1, prompt2, reply2, stats2 = (
        final[f"compare_{name}"] for name in ("prompt_1", "stats_1", "prompt_2", "chat_2", "stats_2")
    )
    assert "identical prompts" in final["compare_diff"] and final["compare_error"] == ""
    assert "Tokens from" not in prompt1 and "Tokens from openai server" in prompt2
    assert stats1.rstrip().endswith("local") and "openai:mlx_lm.server" in stats2
    assert reply2 == [{"role": "assistant", "content": "".join(REPLY)}]
    assert mlx.posts("/v1/completions")[-1]["prompt"] == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"


def test_a_server_column_needs_a_server_in_the_panel(app):
    columns = {column_key("backend", 1): "server", column_key("template", 1): "auto"}
    panel = {k: v for k, v in values().items() if k in ("wire_eos", "backend", "base_url", "api_key", "served_model")}
    outputs = list(app.compare.run(req(), **panel, compare_message="Hello!", third=False, **columns))
    error = outputs[-1]["compare_error"]
    assert "column 1: it asks for the server, but the model panel&#x27;s backend is local" in error


# ---------------------------------------------------------------------------------------------- the API key


def test_the_key_given_at_start_goes_only_to_its_server_and_is_never_shown(mlx, tmp_path):
    engine = Engine(backend=BackendSpec(kind="openai", base_url=f"{mlx.url}/v1", api_key=KEY))
    app = PlaygroundApp(engine, default_model=MODEL)
    r = req()
    fields = {**values(), "backend": "openai", "base_url": f"{mlx.url}/v1", "api_key": ""}  # the page's empty box
    shown = [app.panel.page_load(r, **fields)["status"], app.panel.test_connection(r, **fields)["backend_report"]]
    shown.append(app.chat.preview(r, **{**fields, "message": {"text": "Hello!", "files": []}})["prompt"])
    accepted, updates = run_chat(app, r, "Hello!", **{**fields, "logprobs": False})
    shown += [str(accepted), str(updates)]
    shown += list(app.saved.export(r, **fields).values())
    shown.append(app.chat.snippet(r, **fields)["snippet"])
    assert set(authorization(mlx)) == {f"Bearer {KEY}"}  # the key was used for its server
    assert not any(KEY in text for text in shown)
    assert "export MLX_PLAYGROUND_API_KEY=" in shown[-2]  # the command reads it from the environment
    with mlx_stub() as other:  # another URL typed into the page never gets the key
        fields = {**fields, "base_url": f"{other.url}/v1"}
        app.panel.test_connection(r, **fields)
        run_chat(app, req(), "Hello!", **{**fields, "logprobs": False})
        assert other.requests and set(authorization(other)) == {None}


def test_a_key_typed_into_the_page_is_sent_and_masked_where_a_server_echoes_it(app):
    echo = Reply.json({"error": f"invalid key {KEY}"}, status=401)
    with mlx_stub(completions=lambda body: echo) as stub:
        r = req()
        fields = {**server_values(stub), "api_key": KEY, "logprobs": False}
        accepted, updates = run_chat(app, r, "Hello!", **fields)
        error = updates[-1]["chat_error"]
        assert "refused the request (HTTP 401: invalid key ***)" in error and KEY not in json.dumps(str(updates))
        assert f"Bearer {KEY}" in authorization(stub)
