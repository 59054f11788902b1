"""The API beside the page: one port, the page's template choice for a model used by API requests, the KV cache
shared between a chat session and API requests; ``serve --api-only`` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from conftest import DEMO_MODEL, ROOT, launch_app
from gradio_client import Client

from playground.api.service import ApiService
from playground.engine import Engine
from playground.ports import free_port

SYSTEM = "Your name is Kim. " * 12 + "Answer in uppercase."


@pytest.fixture(scope="module")
def page_and_api():
    engine = Engine()
    service = ApiService(engine, default_model=str(DEMO_MODEL))
    url, blocks = launch_app(engine=engine, api=service)
    yield url, service
    blocks.close()


def test_the_page_and_the_api_share_one_port(page_and_api):
    url, _ = page_and_api
    assert "<html" in httpx.get(url).text.lower()
    models = httpx.get(f"{url}v1/models").json()
    assert [m["id"] for m in models["data"]] == ["demo-model"]
    assert httpx.get(f"{url}v1/nothing").json()["error"]["code"] == "not_found"


def test_api_requests_render_with_the_template_chosen_in_the_page(page_and_api):
    url, service = page_and_api
    sdk = openai.OpenAI(base_url=f"{url}v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Hello!"}]
    sdk.chat.completions.create(model="demo-model", messages=messages, max_tokens=2)
    assert service.log.records()[0].prepared.text.startswith("<|im_start|>user")  # auto: the detected chatml
    page = Client(url, verbose=False)
    page.predict(api_name="/page_load")  # fills the session's template choices, as opening the page does
    prompt = page.predict(message={"text": "Hello!", "files": []}, template="llama2", api_name="/prompt_preview")
    assert "[INST]" in prompt
    sdk.chat.completions.create(model="demo-model", messages=messages, max_tokens=2)
    record = service.log.records()[0]
    assert record.prepared.text.startswith("<s>[INST]") or record.prepared.text.startswith("[INST]")
    assert record.prepared.template.name == "llama2"
    assert "rendered as chosen in the page: template 'llama2'" in record.notes
    page.predict(message={"text": "Hello!", "files": []}, template="auto", api_name="/prompt_preview")
    sdk.chat.completions.create(model="demo-model", messages=messages, max_tokens=2)
    record = service.log.records()[0]  # the page is back on the model's own rendering: nothing to note
    assert record.prepared.text.startswith("<|im_start|>user") and not record.notes


def test_a_chat_session_and_api_requests_share_the_kv_cache(page_and_api):
    url, _ = page_and_api
    page = Client(url, verbose=False)
    page.predict(message={"text": "What is 3 + 4?", "files": []}, system=SYSTEM, temperature="0", api_name="/send")
    page.predict(api_name="/stream")
    sdk = openai.OpenAI(base_url=f"{url}v1", api_key="unused", max_retries=0)
    reply = sdk.chat.completions.create(
        model="demo-model",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is my name?"}],
        max_tokens=5,
    )
    assert reply.usage.prompt_tokens_details.cached_tokens > 40  # the page's chat left the long system prompt


def _serve(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "playground.cli", "serve", "--model", str(DEMO_MODEL), *args]
    env = {**os.environ, "MLX_PLAYGROUND_API_TOKEN": ""}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # the command in a process of its own, binding a port
def test_serve_api_only_with_a_token():
    port = free_port()
    process = _serve("--api-only", "--port", str(port), "--api-token", "tok-123")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                refused = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.2)
        assert refused.status_code == 401
        headers = {"Authorization": "Bearer tok-123"}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=headers).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 404  # no page
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "tok-123" not in err and f"http://127.0.0.1:{port}/v1 (Bearer token required)" in err


def test_serve_api_only_refuses_share(cli):
    code, _, err = cli("serve", "--api-only", "--share")
    assert code == 2 and "error: --share needs the page: it cannot go with --api-only" in err and "hint:" in err


def test_a_disconnect_through_the_pages_server_cancels_too(page_and_api):
    """Gradio's middlewares (CORS, compression) sit in front of the API routes: a client going away still cancels."""
    from playground.engine import ChatSetup

    url, service = page_and_api
    engine = service.engine
    loaded = engine.load(str(DEMO_MODEL))
    engine.set_chat_setup(loaded, ChatSetup(wire_eos=False))  # like a broken conversion: the reply runs on
    body = {"prompt": "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", "max_tokens": 20000}
    try:
        with (
            httpx.Client(timeout=30) as http,
            http.stream("POST", f"{url}v1/completions", json={**body, "stream": True}) as r,
        ):
            lines = r.iter_lines()
            assert [next(lines) for _ in range(8)]
        deadline = time.monotonic() + 30
        while service.log.records()[0].status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        engine.set_chat_setup(loaded, ChatSetup())
    stats = service.log.records()[0].stats
    assert stats["finish_reason"] == "cancelled" and 0 < stats["generation_tokens"] < 20000
