"""Real browser tests: Debian Chromium driven by Playwright, as a new user would use the playground.

One browser and one server for the module (the demo model; batches of two requests, so a third one queues);
each test gets a fresh page (a new session). Tests that need a long reply load the random-weight Qwen3 toy
model, whose replies never stop by themselves. ``PLAYGROUND_SCREENSHOTS=assets/screenshots`` writes the README
screenshots (chat.png, compare.png, token-view.png); ``PLAYGROUND_BROWSER_URL`` points the tests at a running
server instead (to check an older version of the UI).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import CHROMIUM, IMPORTED, launch_app_process

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
FINISHED = re.compile(r"^\s*(stop|length|cancelled|error)")
LONG = "20000"  # max tokens for replies that are stopped by the test
SCREENSHOTS = ("chat.png", "compare.png", "token-view.png")


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app_server():
    """The module's server, in its own process (or PLAYGROUND_BROWSER_URL's)."""
    external = os.environ.get("PLAYGROUND_BROWSER_URL")
    if external:
        yield external
        return
    url, process = launch_app_process(max_batch=2, max_models=3, queue_size=64)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, url, ready="chatml"):
    """A new page (a new session) once the model panel says ``ready``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url)
    expect(header(page)).to_contain_text(ready, timeout=120_000)
    return page


def header(page):
    """The one-line model header (an older page: its status panel)."""
    return page.locator("#model-summary, #model-status").first


def model_status(page):
    """The model's details (a click away, under the header)."""
    details = page.locator("#model-details > .label-wrap, #model-details button").first
    if details.count() and not page.locator("#model-status").is_visible():
        details.click()
    return page.locator("#model-status")


def close_page(page):
    """Stop whatever the page started (so nothing keeps running into the next test), then close it."""
    page.evaluate("['stop-button', 'compare-stop', 'notebook-stop'].forEach(id => document.getElementById(id)?.click())")
    page.wait_for_timeout(300)
    page.context.close()


@pytest.fixture
def page(browser, app_server):
    page = open_page(browser, app_server)
    yield page
    close_page(page)


# ---------------------------------------------------------------------------------------------- helpers


def box(page, elem_id):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def fill(page, elem_id, value):
    box(page, elem_id).fill(value)


def send(page, text):
    page.fill("#chat-input textarea", text)
    page.click("#send-button")


def stats(page):
    return page.locator("#reply-stats")


def wait_finished(page, timeout=60_000):
    expect(stats(page)).to_have_text(FINISHED, timeout=timeout)


def rows(page):
    return page.locator("#chat-output .message-row")


def bot_text(page):
    return page.locator("#chat-output .message-row.bot-row").last.inner_text()


def load_model(page, path):
    picker = page.locator("#model-picker input")
    picker.fill(str(path))
    picker.press("Enter")
    page.click("#load-button")
    page.wait_for_function(
        "(name) => { const el = document.getElementById('model-summary') || document.getElementById('model-status');"
        " const text = el.textContent;"
        " return text.includes(name) && !text.includes('picked but not loaded'); }",
        arg=Path(path).name,
        timeout=60_000,
    )


def choose(page, elem_id, option):
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def open_accordion(page, title, inside):
    """Open an accordion (unless it is open: a click would close it)."""
    if not page.locator(inside).first.is_visible():
        page.get_by_text(title, exact=True).first.click()
    expect(page.locator(inside).first).to_be_visible()


def prompt_panel(page):
    return page.locator("#rendered-prompt")


def import_conversation(page, messages):
    open_accordion(page, "Conversation JSON (export / import)", "#import-button")
    editor = page.locator("#conversation-json .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(json.dumps(messages))
    page.click("#import-button")


def token_count(text):
    return int(re.search(r"· (\d+) tokens", text).group(1))


def start_long_reply(page, toy, text="Hello!"):
    """Load the toy model and start a reply that only Stop ends."""
    load_model(page, toy)
    fill(page, "max-tokens", LONG)
    if page.locator("#logprobs-toggle input").count():  # token probabilities are not needed here
        page.uncheck("#logprobs-toggle input")
    send(page, text)
    expect(stats(page)).to_contain_text("generating", timeout=60_000)


def overlay_free(page, elem_id):
    """True when the middle of #elem_id is not covered by anything else (a modal, a toast)."""
    return page.evaluate(
        """(id) => { const el = document.getElementById(id); el.scrollIntoView({block: "center"});
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 30));
        return el.contains(hit); }""",
        elem_id,
    )


# ---------------------------------------------------------------------------------------------- the first conversation


def first_conversation(page, shots=None):
    for number, text in enumerate(["Hello", "What is 4 + 5?", "My name is Emma.", "What is my name?"], start=1):
        send(page, text)
        expect(rows(page)).to_have_count(2 * number, timeout=60_000)
        wait_finished(page)
        assert page.input_value("#chat-input textarea") == ""
    if shots is not None:
        page.fill("#chat-input textarea", "And my age?")  # the panel shows the prompt Send will send
        expect(prompt_panel(page)).to_contain_text("And my age?")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / "chat.png"))
        page.fill("#chat-input textarea", "")


def test_the_first_conversation_on_the_demo_model(page, shots):
    first_conversation(page, shots)
    texts = [r.inner_text() for r in rows(page).all()]
    assert texts[0::2] == ["Hello", "What is 4 + 5?", "My name is Emma.", "What is my name?"]
    assert all(t.strip() for t in texts[1::2])
    # At the model's own defaults (temperature 0.2), with the history the template renders:
    assert "4 + 5 = 9." in texts[3] and "Your name is Emma." in texts[7], texts
    assert stats(page).inner_text().strip().startswith("stop <|im_end|>")
    expect(prompt_panel(page)).to_contain_text("The prompt of the last request")
    expect(prompt_panel(page)).to_contain_text("What is my name?")


# ---------------------------------------------------------------------------------------------- issue 10


def test_symptom1_text_typed_while_a_reply_streams_stays_and_send_while_busy_is_refused(page, toy_qwen3):
    start_long_reply(page, toy_qwen3)
    page.click("#chat-input textarea")
    page.keyboard.type("my next question")
    before = len(bot_text(page))
    page.wait_for_function(  # several streamed updates land while the text is in the box
        "(n) => { const rows = document.querySelectorAll('#chat-output .bot-row');"
        " return rows.length && rows[rows.length - 1].innerText.length > n + 200; }",
        arg=before,
        timeout=60_000,
    )
    assert page.input_value("#chat-input textarea") == "my next question"
    page.click("#send-button")
    expect(page.locator("#chat-error")).to_contain_text("A reply is still being generated")
    assert page.input_value("#chat-input textarea") == "my next question"
    expect(rows(page)).to_have_count(2)
    page.click("#stop-button")
    expect(stats(page)).to_have_text(re.compile(r"^\s*cancelled · \d+ tokens"), timeout=30_000)
    expect(page.locator("#chat-error")).to_have_text("")  # the notice went with the reply
    page.click("#send-button")  # now the kept text is sent
    expect(page.locator("#chat-output .user-row").last).to_have_text("my next question")
    assert page.input_value("#chat-input textarea") == ""
    page.click("#stop-button")
    wait_finished(page)


def test_stop_mid_stream_then_the_chat_goes_on(page, toy_qwen3):
    start_long_reply(page, toy_qwen3)
    page.click("#stop-button")
    expect(stats(page)).to_have_text(re.compile(r"^\s*cancelled · \d+ tokens"), timeout=30_000)
    assert token_count(stats(page).inner_text()) < int(LONG)
    partial = bot_text(page)
    time.sleep(1)
    assert bot_text(page) == partial  # nothing more arrives
    send(page, "Hello again")  # and the chat goes on
    expect(stats(page)).to_contain_text("generating", timeout=30_000)
    page.click("#stop-button")
    wait_finished(page)
    expect(rows(page)).to_have_count(4)


def test_symptom2_clear_while_streaming(page, toy_qwen3):
    start_long_reply(page, toy_qwen3)
    page.click("#clear-button")
    expect(rows(page)).to_have_count(0)
    time.sleep(1.5)
    expect(rows(page)).to_have_count(0)  # the stream does not refill the chat
    expect(stats(page)).to_have_text(re.compile(r"^\s*$"))  # an update sent before the Clear may land after it
    fill(page, "max-tokens", "5")
    send(page, "Hello")
    wait_finished(page)
    expect(rows(page)).to_have_count(2)
    assert rows(page).first.inner_text() == "Hello"


def test_symptom2_stop_while_queued(page, browser, app_server, toy_qwen3):
    others = [open_page(browser, app_server) for _ in range(2)]
    try:
        for other in others:  # two long replies fill the batch (two at a time on this server)
            start_long_reply(other, toy_qwen3)
        send(page, "Hello!")
        expect(stats(page)).to_contain_text("queued: position 1", timeout=30_000)
        page.click("#stop-button")
        expect(stats(page)).to_have_text(re.compile(r"^\s*cancelled before (the first token|it started)"), timeout=30_000)
        time.sleep(0.5)
        expect(rows(page)).to_have_count(1)  # the message stays; no empty reply is left behind
        for other in others:
            expect(stats(other)).to_contain_text("generating")
    finally:
        for other in others:
            other.click("#stop-button")
            wait_finished(other)
            close_page(other)
    fill(page, "max-tokens", "10")
    page.click("#regenerate-button")  # the stopped message gets its reply on request
    wait_finished(page)
    expect(rows(page)).to_have_count(2)


def test_symptom2_compare_has_its_own_stop(page, toy_qwen3):
    load_model(page, toy_qwen3)
    page.get_by_role("tab", name="Compare templates and settings").click()
    fill(page, "compare-max-tokens", LONG)
    page.click("#compare-run")
    for column in (1, 2):
        expect(page.locator(f"#compare-stats-{column}")).to_contain_text("generating", timeout=60_000)
    page.click("#compare-stop")
    for column in (1, 2):
        column_stats = page.locator(f"#compare-stats-{column}")
        expect(column_stats).to_have_text(re.compile(r"^\s*cancelled · \d+ tokens .*seed \d+"), timeout=30_000)
        assert token_count(column_stats.inner_text()) < int(LONG)


def stop_tokens_line(page):
    """What the one-line model header says replies stop on."""
    return page.locator("#model-summary").inner_text().split("stops on", 1)[1].split("·")[0]


def test_symptom3_the_model_panel_describes_exactly_what_the_next_request_uses(page):
    status = model_status(page)
    assert "<|im_end|>" in stop_tokens_line(page)
    page.uncheck("#eos-wiring input")
    page.wait_for_timeout(1500)
    assert "<|im_end|>" not in stop_tokens_line(page)  # not used any more: not listed any more
    expect(status).to_contain_text(re.compile(r"Stops on: <\|endoftext\|> \(wiring off"))
    fill(page, "max-tokens", "60")
    fill(page, "temperature", "0.3")
    send(page, "Hello")
    expect(stats(page)).to_have_text(re.compile(r"^\s*length · 60 tokens"), timeout=60_000)  # ran on past <|im_end|>
    page.check("#eos-wiring input")
    expect(status).to_contain_text(re.compile(r"Stops on: <\|endoftext\|> <\|im_end\|>"))
    # A model picked but not loaded is not used, and the panel says so.
    picker = page.locator("#model-picker input")
    picker.fill("/no/such/model")
    picker.press("Enter")
    expect(status).to_contain_text("/no/such/model is picked but not loaded: requests still use")
    expect(page.locator("#model-summary")).to_contain_text("/no/such/model is picked but not loaded")
    page.fill("#chat-input textarea", "Hi")
    expect(prompt_panel(page)).to_contain_text("<|im_start|>user")
    # A failed Load says why, puts the model in use back in the picker, and every action still works.
    page.click("#load-button")
    error = page.locator("#model-error")
    expect(error).to_contain_text("Could not load /no/such/model", timeout=30_000)
    expect(picker).not_to_have_value("/no/such/model")
    time.sleep(1.5)
    expect(error).to_contain_text("Could not load /no/such/model")  # not wiped by the panel's refresh
    expect(status).not_to_contain_text("picked but not loaded")
    assert box(page, "temperature").input_value() == "0.3" and box(page, "max-tokens").input_value() == "60"
    page.click("#send-button")
    expect(stats(page)).to_have_text(re.compile(r"^\s*stop <\|im_end\|>"), timeout=60_000)
    picker.fill("demo")
    picker.press("Enter")
    page.click("#load-button")
    expect(error).to_have_text("", timeout=30_000)  # the next good Load clears it
    assert box(page, "temperature").input_value() == "0.3" and box(page, "max-tokens").input_value() == "60"


def test_symptom5_tool_and_mid_conversation_system_messages_are_shown_and_round_trip(page):
    import_conversation(page, IMPORTED)
    chat = page.locator("#chat-output")
    expect(chat).to_contain_text("Tool call: get_weather")
    expect(chat).to_contain_text("Tool result: get_weather")
    expect(chat).to_contain_text("System message")
    expect(chat).to_contain_text("Answer in uppercase.")
    assert page.input_value("#system-prompt textarea") == "You are a helpful assistant."
    send(page, "What is my name?")
    wait_finished(page)
    assert page.locator("#chat-error").inner_text().strip() == ""
    page.click("#export-button")
    editor = page.locator("#conversation-json .cm-content")
    expect(editor).to_contain_text("What is my name?")
    exported = json.loads(editor.inner_text())
    assert exported[: len(IMPORTED)] == IMPORTED
    assert [m["role"] for m in exported[len(IMPORTED):]] == ["user", "assistant"]


def test_symptom6_the_prompt_panel_shows_the_last_request_or_the_next_one(page):
    panel = prompt_panel(page)
    page.wait_for_timeout(1000)
    assert "<|im_start|>" not in panel.inner_text()  # nothing would be sent yet: no prompt is shown
    page.fill("#chat-input textarea", "Hello")
    expect(panel).to_contain_text("The prompt Send will send")
    expect(panel).to_contain_text("Hello")
    page.click("#send-button")
    wait_finished(page)
    reply = bot_text(page)
    expect(panel).to_contain_text("The prompt of the last request")
    text = panel.locator("pre").inner_text()
    assert reply not in text and text.rstrip().endswith("assistant↵")  # what was sent, no extra turn
    page.fill("#chat-input textarea", "What")
    expect(panel).to_contain_text("The prompt Send will send")
    expect(panel).to_contain_text(reply)


def test_symptom7_errors_show_inline_and_go_away_on_the_next_good_action(page):
    fill(page, "seed", "abc")
    send(page, "Hello")
    error = page.locator("#chat-error")
    expect(error).to_contain_text("seed must be a number, got 'abc'")
    assert overlay_free(page, "chat-input") and overlay_free(page, "chat-output")
    assert page.locator(".toast-body, .modal").count() == 0
    assert page.input_value("#chat-input textarea") == "Hello"  # the message is kept
    assert box(page, "seed").input_value() == "abc"  # refused, never changed
    expect(rows(page)).to_have_count(0)
    fill(page, "seed", "5")
    page.click("#send-button")
    expect(error).to_have_text("")
    wait_finished(page)
    expect(rows(page)).to_have_count(2)


def test_symptom8_enter_sends_and_shift_enter_adds_a_line(page):
    textarea = page.locator("#chat-input textarea")
    textarea.click()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert textarea.input_value() == "line one\nline two"
    page.keyboard.press("Enter")
    sent = page.locator("#chat-output .user-row").first
    expect(sent).to_contain_text("line two", timeout=30_000)
    assert sent.inner_text().strip() == "line one\nline two"  # the line break is kept and shown
    assert textarea.input_value() == ""
    wait_finished(page)
    assert "Enter sends, Shift+Enter adds a line" in textarea.get_attribute("placeholder")


def compare_three_columns(page, shots=None):
    page.get_by_role("tab", name="Compare templates and settings").click()
    assert not page.locator("#compare-template-3").is_visible()  # column 3's controls hidden while it is off
    page.check("#compare-third input")
    expect(page.locator("#compare-template-3")).to_be_visible()
    choose(page, "compare-template-3", "gemma")
    fill(page, "compare-max-tokens", "4000")  # more than the demo model's 1,024-token context
    page.click("#compare-run")
    for column in (1, 2, 3):
        expect(page.locator(f"#compare-stats-{column}")).to_have_text(FINISHED, timeout=90_000)
    if shots is not None:
        page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_symptom9_compare_diff_keeps_tokens_whole_and_settings_have_one_rule(page, shots):
    compare_three_columns(page, shots)
    diff = page.locator("#compare-diff")
    expect(diff).to_contain_text("only in column 3")
    text = diff.inner_text()
    assert "<|im_start|>" in text and "<start_of_turn>" in text
    assert "<|im_start|_of_turn>" not in text and "_of_turn>" not in text.replace("<start_of_turn>", "").replace(
        "<end_of_turn>", "")
    chips = {chip.inner_text() for chip in diff.locator(".pg-tok").all()}
    assert chips <= {"<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<|endoftext|>"}
    seeds = {re.search(r"seed (\d+)", page.locator(f"#compare-stats-{c}").inner_text()).group(1) for c in (1, 2, 3)}
    assert len(seeds) == 1  # empty seed box: one random seed for every column, shown
    expect(page.locator("#compare-prompt-1")).to_contain_text("max tokens lowered from 4000")
    page.uncheck("#compare-third input")
    expect(page.locator("#compare-template-3")).to_be_hidden()


# ---------------------------------------------------------------------------------------------- issue 11


def token_view(page, shots=None):
    """A reply with its token view; with ``shots``, a screenshot of it with the alternatives of its least likely
    token open."""
    fill(page, "temperature", "0.8")
    fill(page, "seed", "4")
    send(page, "Hello!")
    wait_finished(page)
    view = page.locator("#token-probs")
    expect(view.locator(".pg-t").first).to_be_visible()
    if shots is not None:
        probabilities = [float(t.get_attribute("data-p")) for t in view.locator(".pg-t").all()]
        view.locator(".pg-t").nth(probabilities.index(min(probabilities))).click()
        area = page.locator(".pg-overflow-visible").first  # the accordion holding the token view
        scroll = page.evaluate("window.scrollY")
        box_ = area.bounding_box()
        clip = {"x": box_["x"] - 8, "y": box_["y"] + scroll - 8, "width": box_["width"] + 16, "height": box_["height"] + 40}
        page.screenshot(path=str(shots / "token-view.png"), full_page=True, clip=clip)
        page.mouse.move(5, 5)
        page.evaluate("document.activeElement.blur()")  # close the alternatives again
    return view


def test_the_token_view_shows_probabilities_alternatives_and_the_eos_chart(page, shots):
    view = token_view(page, shots)
    tokens = view.locator(".pg-t")
    assert tokens.count() >= 3
    assert "background: hsla(" in tokens.first.get_attribute("style").replace("background:", "background: ")
    second = tokens.nth(1)
    popup = second.locator(".pg-alt")
    assert not popup.is_visible()
    second.hover()
    expect(popup).to_be_visible()
    assert popup.locator("tr").count() >= 2 and "%" in popup.inner_text() and "P(EOS)" in popup.inner_text()
    page.mouse.move(5, 5)
    expect(popup).to_be_hidden()
    second.click()  # click (focus) keeps the alternatives open
    page.mouse.move(5, 5)
    expect(popup).to_be_visible()
    popup.scroll_into_view_if_needed()
    clipped = page.evaluate(  # the popup is not cut off by the accordion it sits in
        """(el) => { const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + 4, r.bottom - 3); return !el.contains(hit); }""",
        popup.element_handle(),
    )
    assert not clipped
    chart = view.locator(".pg-eos-chart")
    expect(chart).to_contain_text("P(EOS) at each step")
    assert chart.locator("svg polyline").count() == 1
    assert view.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1")  # long replies wrap


def test_regenerate_keeps_one_user_turn_and_both_replies(page):
    fill(page, "temperature", "1.5")
    fill(page, "seed", "1")
    send(page, "Hello!")
    wait_finished(page)
    first = bot_text(page)
    fill(page, "seed", "2")
    page.click("#regenerate-button")
    expect(page.locator("#branch-label")).to_contain_text("Alternative 2 / 2", timeout=60_000)
    wait_finished(page)
    expect(rows(page)).to_have_count(2)
    second = bot_text(page)
    page.click("#branch-prev")
    expect(page.locator("#branch-label")).to_contain_text("Alternative 1 / 2")
    expect(page.locator("#chat-output .bot-row").last).to_have_text(first)
    page.click("#branch-next")
    expect(page.locator("#branch-label")).to_contain_text("Alternative 2 / 2")
    expect(page.locator("#chat-output .bot-row").last).to_have_text(second)
    expect(rows(page)).to_have_count(2)


def test_edit_an_earlier_message_and_continue_a_cut_reply(page):
    fill(page, "temperature", "0")
    for number, text in enumerate(["Hello", "My name is Emma."], start=1):
        send(page, text)
        expect(rows(page)).to_have_count(2 * number, timeout=60_000)
        wait_finished(page)
    page.locator("#chat-output button[aria-label='Edit']").nth(1).click()
    page.locator("#chat-output textarea").fill("My name is Oliver.")
    page.locator("#chat-output button[aria-label='Submit']").click()
    expect(page.locator("#branch-label")).to_contain_text("Alternative 2 / 2", timeout=60_000)
    wait_finished(page)
    expect(rows(page)).to_have_count(4)
    expect(page.locator("#chat-output .user-row").nth(1)).to_have_text("My name is Oliver.")
    # Continue a reply cut by the token limit.
    fill(page, "max-tokens", "3")
    send(page, "What is 4 + 5?")
    expect(stats(page)).to_have_text(re.compile(r"^\s*length · 3 tokens"), timeout=60_000)
    cut = bot_text(page)
    page.click("#max-tokens-reset")  # back to the model's value
    expect(box(page, "max-tokens")).to_have_value("512")
    page.click("#continue-button")
    expect(stats(page)).to_have_text(re.compile(r"^\s*stop"), timeout=60_000)
    expect(rows(page)).to_have_count(6)
    continued = bot_text(page)
    assert continued.startswith(cut) and len(continued) > len(cut)


def test_notebook_runs_stops_and_appends(page, toy_qwen3):
    page.get_by_role("tab", name="Notebook (raw text)").click()
    fill(page, "temperature", "0")
    page.click("#notebook-run")
    expect(page.locator("#notebook-stats")).to_have_text(re.compile(r"^\s*stop"), timeout=60_000)
    continuation = page.locator("#notebook-output mark").inner_text().replace("↵", "")
    assert continuation.strip()
    page.click("#notebook-append")
    expect(box(page, "notebook-input")).to_have_value(re.compile(re.escape(continuation.strip()) + r"$"))
    load_model(page, toy_qwen3)
    fill(page, "max-tokens", LONG)
    page.uncheck("#logprobs-toggle input")
    page.click("#notebook-run")
    expect(page.locator("#notebook-stats")).to_contain_text("generating", timeout=60_000)
    page.click("#notebook-stop")
    expect(page.locator("#notebook-stats")).to_have_text(re.compile(r"^\s*cancelled · \d+ tokens"), timeout=30_000)
    assert token_count(page.locator("#notebook-stats").inner_text()) < int(LONG)


# ---------------------------------------------------------------------------------------------- issue 9: thinking


def test_qwen3_enable_thinking_changes_the_prompt_and_reasoning_is_shown_collapsed(page, toy_qwen3):
    load_model(page, toy_qwen3)
    status = model_status(page)
    expect(status).to_contain_text("special tokens <|im_start|>, <|im_end|>, <think>, </think>")
    thinking = page.locator("#enable-thinking")
    expect(thinking).to_be_visible()
    panel = prompt_panel(page)
    page.fill("#chat-input textarea", "Hello!")
    expect(panel).to_contain_text("<|im_start|>assistant")
    assert "</think>" not in panel.inner_text()
    page.uncheck("#enable-thinking input")
    expect(panel).to_contain_text(re.compile(r"<\|im_start\|>assistant↵\s*<think>↵\s*↵\s*</think>↵\s*↵"))
    expect(status).to_contain_text("enable_thinking=False")
    page.check("#enable-thinking input")
    expect(panel).not_to_contain_text("</think>")
    page.fill("#chat-input textarea", "")
    # An imported reply with reasoning_content: the reasoning is shown as a collapsed "Thinking" block.
    import_conversation(page, [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Two and two make four."},
    ])
    chat = page.locator("#chat-output")
    expect(chat).to_contain_text("Thinking")
    expect(chat.get_by_text("Two and two make four.")).to_be_hidden()
    # A reply that opened a think block, continued by the model: its words stream into the reasoning.
    import_conversation(page, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nLet me"}])
    expect(chat).not_to_contain_text("Thinking")
    fill(page, "max-tokens", "8")
    page.click("#continue-button")
    wait_finished(page)
    reply = page.locator("#chat-output .bot-row").last
    expect(reply).to_contain_text("Thinking")
    expect(reply.get_by_text(re.compile("^Let me"))).to_be_hidden()  # collapsed once done
    reply.get_by_text("Thinking").click()
    expect(reply.get_by_text(re.compile("^Let me"))).to_be_visible()


# ---------------------------------------------------------------------------------------------- other defects


def test_the_chatbots_own_trash_button_clears_the_conversation(page):
    send(page, "Hello")
    wait_finished(page)
    reply = bot_text(page)
    page.locator("#chat-output button[aria-label='Clear']").click()
    expect(rows(page)).to_have_count(0)
    page.fill("#chat-input textarea", "Hi")
    expect(prompt_panel(page)).to_contain_text("The prompt Send will send")
    expect(prompt_panel(page)).not_to_contain_text(reply)  # the server's conversation is cleared too


def test_saved_settings_survive_a_page_reload(page):
    open_accordion(page, "Saved settings", "#saved-save")
    page.fill("#system-prompt textarea", "Be brief.")
    fill(page, "temperature", "0.2")
    fill(page, "saved-name", "brief")
    page.click("#saved-save")
    expect(page.locator("#saved-message")).to_contain_text('Saved "brief"')
    page.reload()
    expect(header(page)).to_contain_text("chatml", timeout=60_000)
    open_accordion(page, "Saved settings", "#saved-save")
    page.click("#saved-choice input")
    page.get_by_role("option", name="brief", exact=True).click()
    page.click("#saved-apply")
    expect(page.locator("#saved-message")).to_contain_text('Applied "brief"')
    assert page.input_value("#system-prompt textarea") == "Be brief." and box(page, "temperature").input_value() == "0.2"
    page.click("#saved-export")
    expect(page.locator("#saved-command")).to_contain_text("mlx-playground generate")
    expect(page.locator("#saved-command")).to_contain_text("--temp 0.2")


# ---------------------------------------------------------------------------------------------- README screenshots


def test_the_readme_screenshots_can_be_refreshed(browser, app_server, shots):
    """``PLAYGROUND_SCREENSHOTS=assets/screenshots python -m pytest tests/test_browser.py`` writes them (the tests
    above take them; any missing here, e.g. when run alone, is taken now)."""
    for name, take in (("chat.png", first_conversation), ("compare.png", compare_three_columns),
                       ("token-view.png", token_view)):
        if not (shots / name).exists():
            page = open_page(browser, app_server)
            try:
                take(page, shots)
            finally:
                close_page(page)
    for name in SCREENSHOTS:
        data = (shots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
