"""Real browser tests: Debian Chromium driven by Playwright against the running app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#model-status >> text=EOS tokens", timeout=120_000)
    yield page
    context.close()


def shot(page, name, full_page=False):
    """Screenshots for the README: written when PLAYGROUND_SCREENSHOTS names a folder."""
    folder = os.environ.get("PLAYGROUND_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=full_page)


def choose(page, elem_id, label):
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=label, exact=True).click()


def test_chat_streams_a_reply_beside_the_exact_prompt(page):
    prompt = page.locator("#rendered-prompt")
    page.fill("#chat-input textarea", "Hello!")
    sync_api.expect(prompt).to_contain_text("<|im_start|>user", timeout=30_000)
    sync_api.expect(prompt).to_contain_text("Hello!")
    page.click("#send-button")
    sync_api.expect(page.locator("#reply-stats")).to_contain_text("<|im_end|>", timeout=60_000)
    bubbles = page.locator("#chat-output .message-row, #chat-output [data-testid='bot']")
    sync_api.expect(page.locator("#chat-output")).to_contain_text("help", timeout=10_000)
    assert bubbles.count() >= 1
    assert page.input_value("#chat-input textarea") == ""
    shot(page, "chat.png")


def test_switching_the_template_to_llama2_changes_the_prompt(page):
    page.fill("#chat-input textarea", "Hello!")
    sync_api.expect(page.locator("#rendered-prompt")).to_contain_text("<|im_start|>user", timeout=30_000)
    choose(page, "template-choice", "preset: llama2")
    sync_api.expect(page.locator("#rendered-prompt")).to_contain_text("[INST]", timeout=30_000)
    sync_api.expect(page.locator("#rendered-prompt")).not_to_contain_text("<|im_start|>")


def test_sliders_are_there_and_settable(page):
    page.fill("#temperature input[type='number']", "0.3")
    page.press("#temperature input[type='number']", "Enter")
    assert page.input_value("#temperature input[type='number']") == "0.3"
    assert page.locator("#repetition-penalty input[type='range']").count() == 1


def test_compare_two_columns(page):
    page.get_by_role("tab", name="Compare templates and settings").click()
    page.fill("#compare-input textarea", "Hello!")
    page.click("#compare-run")
    sync_api.expect(page.locator("#compare-stats-2")).to_contain_text("tokens", timeout=90_000)
    first = page.input_value("#compare-output-1 textarea")
    second = page.input_value("#compare-output-2 textarea")
    assert first.strip() and second.strip()
    sync_api.expect(page.locator("#compare-prompt-2")).to_contain_text("[INST]")
    sync_api.expect(page.locator("#compare-diff")).to_contain_text("only in column 1")
    shot(page, "compare.png", full_page=True)
