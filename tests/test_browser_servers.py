"""Server backends in a real browser (issue 12, item 5): ``mlx-playground --backend openai --base-url ... --model DIR``
chats in Chromium with the server's tokens beside the playground's exact prompt, identical to local generation at
temperature 0, against a real ``mlx_lm.server`` on loopback: one process, and two ranks under ``mlx.launch
--backend ring`` (tests/servers.py). Each server (and the playground in front of it) starts once for its tests.

Also: Stop mid-stream (the server stays healthy and the next request works), a local Compare column beside a
server column on the same prompt, an unreachable URL (one inline message; the UI keeps serving), and the API key
the playground was started with, used for its server but never shown anywhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import httpx
import pytest
from conftest import DEMO_MODEL, ROOT, ask
from servers import MlxServer
from test_browser import (
    bot_text,
    box,
    close_page,
    fill,
    header,
    open_accordion,
    open_page,
    prompt_panel,
    rows,
    send,
    stats,
    token_count,
    wait_finished,
)

from playground.ports import free_port
from playground.tied import tied_popen

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

KEY = "sk-browser-never-shown-5d1e"
HELLO = [{"role": "user", "content": "Hello!"}]
SECOND = "What is the capital of France?"
BACKEND = "Model details and generation backend"


@pytest.fixture(scope="module", params=["single", "ring"])
def mlx_server(request, tmp_path_factory):
    """mlx_lm.server on the demo model: one process, or two ranks under mlx.launch (ring backend, 127.0.0.1)."""
    started = MlxServer(DEMO_MODEL, tmp_path_factory.mktemp("server"), ranks=2 if request.param == "ring" else 1)
    try:
        yield started.wait_ready(timeout=90)
    finally:
        started.stop()


@pytest.fixture(scope="module")
def playground(mlx_server, tmp_path_factory):
    """``mlx-playground --backend openai --base-url URL --model DEMO`` (the API key from the environment), in its own
    process with its output in a log file; yields (url, log path)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("playground") / "serve.log"
    command = [sys.executable, "-m", "playground.cli", "--backend", "openai", "--base-url", mlx_server.base_url,
               "--model", str(DEMO_MODEL), "--port", str(port), "--max-models", "2"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MLX_PLAYGROUND_API_KEY": KEY}
    with open(log_path, "wb") as log:
        process = tied_popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the playground did not start:\n{log_path.read_text()}") from None
            time.sleep(0.2)
    yield url, log_path
    process.terminate()
    process.wait(timeout=30)
    assert KEY not in log_path.read_text(errors="replace")  # never logged


@pytest.fixture
def page(browser, playground, mlx_server):
    page = open_page(browser, playground[0], ready=f"openai {mlx_server.base_url}")  # the header names the backend
    yield page
    assert KEY not in page.content()  # never shown
    close_page(page)


def local(engine, demo, messages, **settings):
    """The local backend's greedy reply (the reference)."""
    result, _ = ask(engine, demo, messages, **{"temperature": 0.0, "max_tokens": 60, **settings})
    return result.text


single_only = pytest.mark.parametrize("mlx_server", ["single"], indirect=True)


# ---------------------------------------------------------------------------------------------- chat


def test_chat_with_the_servers_tokens_beside_our_exact_prompt_identical_to_local(page, mlx_server, engine, demo):
    fill(page, "temperature", "0")
    fill(page, "max-tokens", "60")
    page.fill("#chat-input textarea", "Hello!")
    panel = prompt_panel(page)
    expect(panel).to_contain_text(f"Tokens from openai server at {mlx_server.base_url}")
    expect(panel).to_contain_text("mlx_lm.server returns token probabilities only with the whole reply")
    expect(panel).to_contain_text(re.compile(r"<\|im_start\|>user↵\s*Hello!<\|im_end\|>↵\s*<\|im_start\|>assistant↵"))
    page.click("#send-button")
    wait_finished(page)
    expected = local(engine, demo, HELLO)
    assert bot_text(page).strip() == expected.strip() and expected.strip()
    assert stats(page).inner_text().strip().startswith("stop") and "openai:mlx_lm.server" in stats(page).inner_text()
    assert page.locator("#token-probs .pg-t").count() >= token_count(stats(page).inner_text()) - 1  # its tokens
    expect(panel).to_contain_text("The prompt of the last request")
    expect(panel).to_contain_text("Tokens from openai server")
    if mlx_server.ranks == 1:  # a second turn (the ring's steps are slow on 2 shared cores: one turn there)
        send(page, SECOND)
        expect(rows(page)).to_have_count(4)
        wait_finished(page)
        history = [*HELLO, {"role": "assistant", "content": expected}, {"role": "user", "content": SECOND}]
        assert bot_text(page).strip() == local(engine, demo, history).strip()


def test_stop_mid_stream_then_the_server_answers_the_next_request(page, mlx_server, engine, demo):
    page.uncheck("#eos-wiring input")  # the reply runs on to the token limit unless stopped
    page.uncheck("#logprobs-toggle input")  # streamed (mlx_lm.server sends probabilities only with the whole reply)
    fill(page, "temperature", "0")
    fill(page, "max-tokens", "400")
    send(page, "Tell me a joke.")
    expect(stats(page)).to_contain_text("generating", timeout=60_000)
    page.click("#stop-button")
    expect(stats(page)).to_have_text(re.compile(r"^\s*cancelled · \d+ tokens"), timeout=30_000)
    assert token_count(stats(page).inner_text()) < 400
    assert mlx_server.healthy()
    page.click("#clear-button")
    page.check("#eos-wiring input")
    fill(page, "max-tokens", "60")
    send(page, "Hello!")
    wait_finished(page)
    assert stats(page).inner_text().strip().startswith("stop")
    assert bot_text(page).strip() == local(engine, demo, HELLO).strip()


# ---------------------------------------------------------------------------------------------- compare


@single_only
def test_compare_a_local_column_beside_the_server_on_the_same_prompt(page, engine, demo):
    page.get_by_role("tab", name="Compare templates and settings").click()
    page.locator("#compare-backend-1").get_by_label("local").check()  # columns start on the server
    page.locator("#compare-template-2 input").fill("auto")
    page.locator("#compare-template-2 input").press("Enter")
    page.uncheck("#compare-logprobs input")
    page.fill("#compare-input textarea", "Hello!")
    page.click("#compare-run")
    for column in (1, 2):
        expect(page.locator(f"#compare-stats-{column}")).to_have_text(re.compile(r"^\s*stop"), timeout=60_000)
    assert page.locator("#compare-stats-1").inner_text().strip().endswith("local")
    assert "openai:mlx_lm.server" in page.locator("#compare-stats-2").inner_text()
    expect(page.locator("#compare-diff")).to_contain_text("column 1 and column 2: identical prompts")
    expect(page.locator("#compare-prompt-2")).to_contain_text("Tokens from openai server")
    replies = [page.locator(f"#compare-output-{c} .bot-row").first.inner_text() for c in (1, 2)]
    assert replies[0] == replies[1] == local(engine, demo, HELLO, max_tokens=64) and replies[0].strip()


# ---------------------------------------------------------------------------------------------- errors, secrets


@single_only
def test_an_unreachable_url_is_one_inline_error_and_the_ui_keeps_serving(page, mlx_server, playground):
    open_accordion(page, BACKEND, "#backend-test")
    expect(box(page, "backend-key")).to_have_value("")  # the key given at start is not in the page
    url = box(page, "backend-url")
    url.fill(f"http://127.0.0.1:{free_port()}/v1")
    url.press("Tab")
    expect(header(page)).not_to_contain_text(mlx_server.base_url)  # the page has taken the new URL (as a user sees)
    page.click("#backend-test")
    report = page.locator("#backend-report")
    expect(report).to_contain_text("cannot reach the server at")
    expect(report.locator(".pg-error")).to_have_count(1)
    page.fill("#chat-input textarea", "Hello!")
    expect(prompt_panel(page)).to_contain_text("the server cannot be used yet: cannot reach the server")
    page.click("#send-button")
    error = page.locator("#chat-error")
    expect(error).to_contain_text("cannot reach the server at")
    expect(error.locator(".pg-error")).to_have_count(1)
    assert stats(page).inner_text().strip().startswith("error")
    expect(rows(page)).to_have_count(0)  # no unanswered turn and no empty reply:
    expect(page.locator("#chat-input textarea")).to_have_value("Hello!")  # the message is back in the box
    url.fill(mlx_server.base_url)  # back to the server: it works again
    url.press("Tab")
    page.click("#backend-test")
    expect(report).to_contain_text(f"Connected to mlx_lm.server at {mlx_server.base_url}")
    expect(report).to_contain_text(str(DEMO_MODEL))
    fill(page, "temperature", "0")
    page.click("#send-button")  # the message kept in the box, sent again
    wait_finished(page)
    expect(error).to_have_text("")
    expect(rows(page)).to_have_count(2)
    # Nothing the page exports holds the key.
    open_accordion(page, "Saved settings", "#saved-export")
    page.click("#saved-export")
    expect(page.locator("#saved-command")).to_contain_text("--backend openai")
    exported = page.locator("#saved-json").inner_text() + page.locator("#saved-command").inner_text()
    assert "MLX_PLAYGROUND_API_KEY" in exported and KEY not in exported
    config = httpx.get(f"{playground[0]}config", timeout=10).text
    assert KEY not in config
