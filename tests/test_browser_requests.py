"""The Requests tab in Chromium, against ``mlx-playground serve`` (the page and the API on one port, a token set): a
request made with the real ``openai`` SDK appears in the tab with its exact prompt; Open in Chat loads it into the
chat and Regenerate reruns it with the same prompt; the token never reaches the page; an idle tab costs the server a
small request a second and nothing once it is closed.

``PLAYGROUND_WALK=DIR`` saves a screenshot at each step, to look at.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from conftest import CHROMIUM, DEMO_MODEL, ROOT

from playground.ports import free_port
from playground.tied import tied_popen

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
WALK = os.environ.get("PLAYGROUND_WALK")
TOKEN = "tok-Browser-Requests-51c2"
MESSAGES = [{"role": "system", "content": "Answer in uppercase."}, {"role": "user", "content": "What is 4 + 5?"}]
#: The timer's look at the log, at most this many milliseconds of the server's CPU (measured: about 3 ms).
MAX_LOOK_MS = 10.0


@pytest.fixture(scope="module")
def served():
    """``mlx-playground serve`` in a process of its own: yields (page URL, server pid)."""
    port = free_port()
    command = [sys.executable, "-m", "playground.cli", "serve", "--model", str(DEMO_MODEL), "--port", str(port),
               "--api-token", TOKEN]  # fmt: skip
    env = {**os.environ, "MLX_PLAYGROUND_API_TOKEN": ""}
    process = tied_popen(command, cwd=ROOT, env=env, stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(url, timeout=2)
            break
        except httpx.HTTPError:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
    yield url, process.pid
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(served[0])
    expect(page.locator("#model-summary")).to_contain_text("chatml", timeout=120_000)
    yield page
    context.close()


def snap(page, name):
    if WALK:
        Path(WALK).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(WALK) / f"{name}.png"), full_page=True)


def shown_prompt(page, pane):
    """The prompt panel's text as drawn (a newline shows as ↵ before it)."""
    return page.locator(f"#{pane} pre.pg-prompt").first.inner_text()


def exact_prompt():
    from playground.engine import Engine
    from playground.prepare import ChatRequest

    engine = Engine()
    loaded = engine.load(str(DEMO_MODEL), weights=False)
    return engine.prepare(loaded, ChatRequest(messages=tuple(MESSAGES))).text


def test_an_sdk_request_appears_with_its_exact_prompt_and_open_in_chat_reruns_it(page, served):
    sdk = openai.OpenAI(base_url=f"{served[0]}v1", api_key=TOKEN, max_retries=0)
    page.get_by_role("tab", name="Requests (API)").click()
    reply = sdk.chat.completions.create(model="demo-model", messages=MESSAGES, temperature=0, max_tokens=30)
    said = reply.choices[0].message.content
    expect(page.locator("#requests-list")).to_contain_text("demo-model", timeout=10_000)  # live: no click needed
    expect(page.locator("#requests-summary")).to_contain_text("/v1/chat/completions")
    drawn = exact_prompt().replace("\n", "↵\n")
    assert shown_prompt(page, "requests-prompt").strip() == drawn.strip()
    expect(page.locator("#requests-reply")).to_contain_text(said.strip())
    expect(page.locator("#requests-json")).to_contain_text('"Answer in uppercase."')
    snap(page, "requests-1-listed")
    assert TOKEN not in page.content()

    page.click("#requests-open")
    expect(page.locator("#chat-output")).to_contain_text(said.strip())
    expect(page.locator("#chat-output")).to_contain_text("What is 4 + 5?")
    assert page.locator("#system-prompt textarea").input_value() == "Answer in uppercase."
    assert page.locator("#temperature input[type=number]").input_value() == "0"
    snap(page, "requests-2-opened")
    page.click("#regenerate-button")
    expect(page.locator("#branch-label")).to_contain_text("2 / 2", timeout=60_000)
    expect(page.locator("#reply-stats")).to_contain_text("stop", timeout=60_000)
    expect(page.locator("#rendered-prompt")).not_to_contain_text("waiting")
    assert shown_prompt(page, "rendered-prompt").strip() == drawn.strip()  # the rerun sent the same prompt
    assert page.locator("#chat-output .message-row.bot-row").last.inner_text().strip().startswith(said.strip())
    snap(page, "requests-3-rerun")
    assert TOKEN not in page.content()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_requests_tab_costs_a_small_look_a_second_and_nothing_once_closed(page, served):
    url, pid = served
    config = httpx.get(f"{url}config").json()
    timer = next(c["id"] for c in config["components"] if c["type"] == "timer")
    look = next(i for i, d in enumerate(config["dependencies"]) if [timer, "tick"] in d["targets"])
    looks = []

    def seen(request):
        if "run/predict" in request.url and json.loads(request.post_data or "{}").get("fn_index") == look:
            looks.append(request.post_data)

    page.on("request", seen)
    page.wait_for_timeout(3000)
    assert looks == []  # the Chat tab: the timer does not run
    page.get_by_role("tab", name="Requests (API)").click()
    page.wait_for_timeout(10_000)
    assert 7 <= len(looks) <= 12  # one look a second
    page.get_by_role("tab", name="Chat").click()
    page.wait_for_timeout(1500)
    stopped = len(looks)
    page.wait_for_timeout(4000)
    assert len(looks) == stopped  # closed: no more looks
    page.goto("about:blank")  # the page's own events stay out of the measurement
    # What one idle look costs the server: the same request, replayed (nothing changed: the same number comes back).
    body = looks[-1]
    with httpx.Client() as http:
        answer = http.post(f"{url}gradio_api/run/predict", content=body, headers={"content-type": "application/json"})
        assert answer.json()["data"] == json.loads(body)["data"] and len(answer.content) < 400
        start = _cpu_seconds(pid)
        for _ in range(100):
            http.post(f"{url}gradio_api/run/predict", content=body, headers={"content-type": "application/json"})
        per_look_ms = (_cpu_seconds(pid) - start) * 10
    print(f"an idle look costs the server {per_look_ms:.1f} ms of CPU")
    assert per_look_ms < MAX_LOOK_MS
