"""The playground surface in Chromium (issue 19): the layout at 1400x900, each slider's effect on the next request,
and the side views that follow what is on screen.

Run alone or with the other browser tests (one server for the module, the demo model; the Qwen3 toy model for
replies that only Stop ends). ``PLAYGROUND_WALK=DIR`` saves a screenshot at each step of the walks below, to look
at; ``PLAYGROUND_BROWSER_URL`` points them at another running server (to see them fail on an older page).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_browser import (
    FINISHED,
    app_server,  # noqa: F401 - the module's server
    bot_text,
    box,
    close_page,
    fill,
    import_conversation,
    load_model,
    model_status,
    open_accordion,
    open_page,
    prompt_panel,
    rows,
    send,
    start_long_reply,
    stats,
    wait_finished,
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
WALK = os.environ.get("PLAYGROUND_WALK")


@pytest.fixture
def page(browser, app_server):  # noqa: F811
    page = open_page(browser, app_server)
    yield page
    close_page(page)


def snap(page, name):
    """A screenshot to look at (with PLAYGROUND_WALK=DIR)."""
    if WALK:
        Path(WALK).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(WALK) / f"{name}.png"))


def in_view(page, selector):
    """The element's box lies inside the viewport (no scrolling needed)."""
    rect = page.locator(selector).first.bounding_box()
    view = page.viewport_size
    assert rect is not None, selector
    inside = rect["x"] >= 0 and rect["y"] >= 0 and rect["x"] + rect["width"] <= view["width"]
    assert inside and rect["y"] + rect["height"] <= view["height"], (selector, rect, view)
    return rect


def slide(page, elem_id, value):
    """Move a slider's range input (as a drag ends: input, then change)."""
    page.locator(f"#{elem_id} input[type=range]").fill(str(value))


# ---------------------------------------------------------------------------------------------- layout


def test_at_1400x900_the_slider_the_conversation_the_box_and_the_prompt_are_on_one_screen(page):
    send(page, "Hello")
    wait_finished(page)
    page.fill("#chat-input textarea", "What is my name?")
    expect(prompt_panel(page)).to_contain_text("The prompt Send will send")
    snap(page, "layout-1400x900")
    assert page.evaluate("window.scrollY") == 0
    temperature = in_view(page, "#temperature input[type=range]")
    chat, box_, prompt = (in_view(page, s) for s in ("#chat-output", "#chat-input", "#rendered-prompt"))
    assert temperature["x"] + temperature["width"] <= chat["x"] <= prompt["x"]  # sidebar | conversation | prompt
    assert chat["height"] >= 300 and box_["y"] > chat["y"] + chat["height"] - 1
    header = page.locator("#model-header").bounding_box()
    assert header["height"] <= 60 and header["y"] < 40  # the model header is one line
    clipped = page.evaluate(  # the sidebar scrolls as a whole: no section of it is squeezed
        """() => [...document.querySelectorAll('#settings-sidebar > *')]
        .filter(el => el.scrollHeight > el.clientHeight + 2).map(el => el.id || el.className)"""
    )
    assert not clipped, clipped
    summary = page.locator("#model-summary").inner_text()
    assert all(word in summary for word in ("demo-model", "chatml", "template", "stops on", "local")), summary


def test_narrow_windows_stack_the_panes_with_the_conversation_first(page):
    page.set_viewport_size({"width": 760, "height": 900})
    page.wait_for_timeout(500)
    snap(page, "layout-760")
    chat = page.locator("#chat-output").bounding_box()
    prompt = page.locator("#rendered-prompt").bounding_box()
    sidebar = page.locator("#settings-sidebar").bounding_box()
    assert prompt["y"] >= chat["y"] + chat["height"] - 1  # the prompt below the conversation
    assert sidebar["y"] >= chat["y"] + chat["height"] - 1  # the settings below it too
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # nothing runs off


# ---------------------------------------------------------------------------------------------- sliders


def test_each_slider_starts_at_the_value_in_use_says_where_it_comes_from_and_resets(page):
    expect(box(page, "temperature")).to_have_value("0.2")  # the demo model's generation_config.json
    expect(page.locator("#temperature")).to_contain_text("generation_config.json")
    expect(box(page, "max-tokens")).to_have_value("512")
    expect(page.locator("#max-tokens")).to_contain_text("the playground's")
    assert page.locator("#repetition-penalty input[type=range]").count() == 1
    for name in ("top-p", "min-p", "top-k", "repetition-context-size", "presence-penalty", "frequency-penalty"):
        assert page.locator(f"#{name} input[type=range]").count() == 1, name
        assert page.locator(f"#{name}-reset").count() == 1, name
    slide(page, "temperature", "1.3")
    line = page.locator("#settings-line")
    expect(line).to_contain_text("temperature 1.3 ·")  # moving it updates the settings line at once
    page.click("#temperature-reset")
    expect(box(page, "temperature")).to_have_value("0.2")
    expect(line).to_contain_text("temperature 0.2 (model)")


def exported_command(page):
    open_accordion(page, "Saved settings", "#saved-export")
    page.click("#saved-export")
    command = page.locator("#saved-command")
    expect(command).to_contain_text("mlx-playground generate")
    return command.inner_text()


@pytest.mark.parametrize(
    ("elem_id", "value", "flag"),
    [
        ("temperature", "1.35", "--temp 1.35"),
        ("top-p", "0.5", "--top-p 0.5"),
        ("min-p", "0.1", "--min-p 0.1"),
        ("top-k", "7", "--top-k 7"),
        ("repetition-penalty", "1.3", "--repetition-penalty 1.3"),
        ("repetition-context-size", "64", "--repetition-context-size 64"),
        ("presence-penalty", "0.5", "--presence-penalty 0.5"),
        ("frequency-penalty", "0.25", "--frequency-penalty 0.25"),
        ("max-tokens", "5", "--max-tokens 5"),
    ],
)
def test_a_moved_slider_is_what_the_next_request_uses(page, elem_id, value, flag):
    slide(page, elem_id, value)
    name = elem_id.replace("-", "_")
    expect(page.locator("#settings-line")).to_contain_text(f"{name} {value}")
    open_accordion(
        page, "Copy as code: an mlx-lm script for the next generation (follows the settings)", "#lab-snippet"
    )
    expect(page.locator("#lab-snippet")).to_contain_text(value)  # copy-as-code follows at once
    send(page, "Hello")
    wait_finished(page)
    if elem_id == "max-tokens":
        expect(stats(page)).to_have_text(re.compile(r"^\s*length · 5 tokens"))
    assert flag in exported_command(page)  # the run the page made, reproduced with the slider's value


def test_compare_columns_have_their_own_temperature_and_repetition_penalty_sliders(page):
    page.get_by_role("tab", name="Compare templates and settings").click()
    for column in (1, 2):
        for name in ("temperature", "repetition-penalty"):
            expect(page.locator(f"#compare-{name}-{column} input[type=range]")).to_be_visible()
    expect(page.locator("#settings-sidebar")).to_be_hidden()  # Compare takes none of the sidebar's settings
    choose_auto = page.locator("#compare-template-2 input")
    choose_auto.click()
    page.get_by_role("option", name="auto (own template or detected preset)").click()
    slide(page, "compare-temperature-2", "1.8")
    fill(page, "compare-seed", "3")
    fill(page, "compare-max-tokens", "30")
    page.click("#compare-run")
    for column in (1, 2):
        expect(page.locator(f"#compare-stats-{column}")).to_have_text(FINISHED, timeout=60_000)
    replies = [page.locator(f"#compare-output-{c} .bot-row").first.inner_text() for c in (1, 2)]
    assert replies[0] != replies[1]  # the same prompt and seed: only column 2's temperature differs
    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#settings-sidebar")).to_be_visible()


# ---------------------------------------------------------------------------------------------- stale views


def test_defect2_a_failed_request_puts_the_message_back_and_leaves_no_unanswered_turn(page):
    open_accordion(page, "Model details and generation backend", "#backend-test")
    page.get_by_label("openai").check()
    fill(page, "backend-url", "http://127.0.0.1:9/v1")
    page.locator("#backend-url input, #backend-url textarea").first.blur()
    send(page, "What is 4 + 5?")
    error = page.locator("#chat-error")
    expect(error).to_contain_text("your message is back in the box", timeout=30_000)
    expect(page.locator("#chat-input textarea")).to_have_value("What is 4 + 5?")
    expect(rows(page)).to_have_count(0)  # no unanswered turn
    snap(page, "defect2-failed-request")
    page.get_by_label("local").first.check()
    page.click("#send-button")
    wait_finished(page)
    expect(rows(page)).to_have_count(2)  # one user turn, answered


def regenerate(page):
    fill(page, "seed", "1")
    fill(page, "temperature", "1.5")
    send(page, "Hello!")
    wait_finished(page)
    first = stats(page).inner_text()
    fill(page, "seed", "2")
    page.click("#regenerate-button")
    expect(page.locator("#branch-label")).to_contain_text("Alternative 2 / 2", timeout=60_000)
    wait_finished(page)
    return first


def test_defect3_undo_after_regenerate_clears_the_alternatives_stats_and_token_view(page):
    regenerate(page)
    page.locator("#chat-output button[aria-label='Undo']").last.click()
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#branch-row")).to_be_hidden()
    expect(stats(page)).to_have_text("")
    expect(page.locator("#token-probs")).to_contain_text("No token probabilities yet")
    expect(page.locator("#chat-input textarea")).to_have_value("Hello!")
    snap(page, "defect3-undo-after-regenerate")


def test_defect4_each_alternative_shows_its_own_stats(page):
    first = regenerate(page)
    second = stats(page).inner_text()
    assert "seed 1" in first and "seed 2" in second
    page.click("#branch-prev")
    expect(page.locator("#branch-label")).to_contain_text("Alternative 1 / 2")
    expect(stats(page)).to_contain_text("seed 1")
    page.click("#branch-next")
    expect(stats(page)).to_contain_text("seed 2")


def test_defect5_clear_with_text_in_the_box_shows_the_prompt_of_that_text(page):
    send(page, "Hello")
    wait_finished(page)
    page.fill("#chat-input textarea", "What is my name?")
    page.click("#clear-button")
    expect(rows(page)).to_have_count(0)
    expect(prompt_panel(page)).to_contain_text("The prompt Send will send")
    expect(prompt_panel(page)).to_contain_text("What is my name?")
    expect(prompt_panel(page)).not_to_contain_text("Type a message")


def test_defect6_typing_while_a_reply_streams_shows_the_request_being_answered(page, toy_qwen3):
    start_long_reply(page, toy_qwen3)
    page.click("#chat-input textarea")
    page.keyboard.type("my next question")
    panel = prompt_panel(page)
    expect(panel).to_contain_text("The prompt of the request being answered")
    expect(panel).to_contain_text("sent after this reply")
    assert "my next question" not in panel.inner_text()
    snap(page, "defect6-typing-while-streaming")
    page.click("#stop-button")
    wait_finished(page)
    expect(panel).to_contain_text("The prompt Send will send")  # the reply ended: the real next prompt
    expect(panel).to_contain_text("my next question")


def test_defect7_an_import_ending_with_a_user_turn_says_regenerate_answers_it(page):
    import_conversation(page, [{"role": "user", "content": "What is 4 + 5?"}])
    expect(rows(page)).to_have_count(1)
    expect(prompt_panel(page)).to_contain_text("The prompt Regenerate will send")
    expect(prompt_panel(page)).to_contain_text("What is 4 + 5?")
    page.click("#send-button")
    expect(page.locator("#chat-error")).to_contain_text("press Regenerate to answer it")
    snap(page, "defect7-import-then-send")
    page.click("#regenerate-button")
    wait_finished(page)
    expect(rows(page)).to_have_count(2)


def test_defect8_replies_can_be_shown_verbatim(page):
    import_conversation(page, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "4.\n<b>x</b>"}])
    reply = page.locator("#chat-output .bot-row").last
    expect(reply.locator("b")).to_have_count(1)  # Markdown / HTML: bold
    page.check("#reply-verbatim input")
    expect(reply.locator("pre.pg-verbatim")).to_have_text("4.\n<b>x</b>")
    expect(reply.locator("b")).to_have_count(0)
    snap(page, "defect8-verbatim")


def test_defect13_a_bad_setting_marks_its_box_and_keeps_the_panels(page):
    send(page, "Hello")
    wait_finished(page)
    page.fill("#chat-input textarea", "Bye")
    expect(prompt_panel(page)).to_contain_text("The prompt Send will send")
    fill(page, "seed", "abc")
    panel = prompt_panel(page)
    expect(panel).to_contain_text("seed must be a number")
    expect(panel.locator(".pg-stale")).to_contain_text("Bye")  # the last prompt shown stays, under the error
    expect(page.locator("#seed.pg-invalid")).to_have_count(1)
    expect(model_status(page)).to_contain_text("Stops on:")  # the status lines stay
    expect(page.locator("#model-summary")).to_contain_text("seed must be a number")
    snap(page, "defect13-bad-setting")
    fill(page, "seed", "7")
    expect(page.locator("#seed.pg-invalid")).to_have_count(0)
    expect(panel.locator(".pg-stale")).to_have_count(0)


def test_defect16_the_page_speaks_words_its_chart_has_axes_and_the_lab_names_an_unchanged_preset(page):
    page.click("#load-button")  # Gradio's status tracker announces the end of a step that shows progress
    seen = set()
    for _ in range(40):
        seen.update(re.findall(r"common\.\w+", page.evaluate("document.body.innerText")))
        page.wait_for_timeout(100)
    assert not seen  # no untranslated Gradio key ("common.complete")
    send(page, "Hello")
    wait_finished(page)
    chart = page.locator("#token-probs .pg-eos-chart")
    expect(chart.locator(".pg-eos-y")).to_contain_text("100%")
    expect(chart.locator(".pg-eos-x")).to_contain_text("step 1")
    page.get_by_role("tab", name="Template lab").click()
    page.click("#lab-load")
    expect(page.locator("#lab-output")).to_contain_text("template: chatml (the preset, unchanged)")


def test_the_chat_toolbar_never_covers_a_message(page):
    for text in ("Hello", "What is 4 + 5?", "My name is Emma.", "What is my name?", "Thanks"):
        send(page, text)
        wait_finished(page)
    page.locator("#chat-output .bubble-wrap").evaluate("(el) => { el.scrollTop = 37; }")
    covered = page.evaluate(
        """() => { const chat = document.getElementById('chat-output');
        const bars = [...chat.querySelectorAll('.icon-button-wrapper.top-panel, label.float')];
        const rows = [...chat.querySelectorAll('.message-row')];
        return bars.some(bar => { const b = bar.getBoundingClientRect(); return rows.some(row => {
          const r = row.getBoundingClientRect(); const top = chat.querySelector('.bubble-wrap').getBoundingClientRect().top;
          const visible = r.bottom > top && r.top < b.bottom; const shown = Math.max(r.top, top);
          return visible && shown < b.bottom && r.right > b.left && r.left < b.right; }); }); }"""
    )
    assert not covered


# ---------------------------------------------------------------------------------------------- a new user's walk


def test_a_new_user_walks_the_page(browser, app_server, toy_qwen3):  # noqa: F811
    """Stop while queued, Clear mid-stream, a bad model then recovery, import then send; screenshots to look at."""
    page = open_page(browser, app_server)
    others = [open_page(browser, app_server) for _ in range(2)]
    try:
        for other in others:  # two long replies fill the batch (two at a time on this server)
            start_long_reply(other, toy_qwen3)
        send(page, "Hello!")
        expect(stats(page)).to_contain_text("queued: position 1", timeout=30_000)
        snap(page, "walk-queued")
        page.click("#stop-button")
        expect(stats(page)).to_have_text(re.compile(r"^\s*cancelled before"), timeout=30_000)
        snap(page, "walk-stopped-while-queued")
    finally:
        for other in others:
            close_page(other)
    load_model(page, toy_qwen3)
    fill(page, "max-tokens", "4096")
    page.uncheck("#logprobs-toggle input")
    send(page, "Tell me a story")
    expect(stats(page)).to_contain_text("generating", timeout=60_000)
    page.click("#clear-button")
    expect(rows(page)).to_have_count(0)
    page.wait_for_timeout(1000)
    expect(rows(page)).to_have_count(0)
    snap(page, "walk-cleared-mid-stream")
    picker = page.locator("#model-picker input")
    picker.fill("/no/such/model")
    picker.press("Enter")
    page.click("#load-button")
    expect(page.locator("#model-error")).to_contain_text("Could not load /no/such/model", timeout=30_000)
    snap(page, "walk-bad-model")
    picker.fill("demo")
    picker.press("Enter")
    page.click("#load-button")
    expect(page.locator("#model-error")).to_have_text("", timeout=60_000)
    expect(page.locator("#model-summary")).to_contain_text("demo-model")
    import_conversation(page, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
    send(page, "What is 4 + 5?")
    wait_finished(page)
    expect(rows(page)).to_have_count(4)
    snap(page, "walk-import-then-send")
    assert bot_text(page).strip()
    close_page(page)


def test_an_idle_page_sends_nothing(page):
    """An open page that nobody touches asks the server nothing (Gradio once kept firing the sliders' change
    events, about 15 a second, each preparing the prompt again)."""
    page.wait_for_timeout(3000)  # the page's load and what follows it
    events = []
    page.on("request", lambda r: events.append(r.url) if r.method == "POST" and "queue/join" in r.url else None)
    page.wait_for_timeout(5000)
    assert events == []
    slide(page, "temperature", 0.55)  # an edit still updates what the page shows
    expect(page.locator("#settings-line")).to_contain_text("temperature 0.55")
