"""Images in a real browser (issue 14): Debian Chromium driven by Playwright against the app launched on the tiny
random Qwen2-VL (``toy_vision`` in conftest.py), as a user would use it.

Attach an image in the Message box, see its placeholder as one chip with its token count in the prompt, Send, see
the thumbnail and the streamed reply; an image for a text-only model is refused inline and stays in the box;
Compare sends one image to every column. And the security fix: files of the working directory cannot be
fetched through the server's file route, while the images of an imported conversation (copied into the
session's private folder) still show.
"""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import DEMO_MODEL, ROOT, launch_app_process
from test_browser import (
    bot_text,
    close_page,
    fill,
    import_conversation,
    load_model,
    model_status,
    open_page,
    prompt_panel,
    rows,
    stats,
    wait_finished,
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.fixture(scope="module")
def app_server(toy_vision):
    url, process = launch_app_process(model=str(toy_vision["full"]), max_models=2)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def page(browser, app_server):
    page = open_page(browser, app_server, ready="images (mlx-vlm)")  # the header says the model reads images
    yield page
    close_page(page)


def attach(page, elem_id, path):
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def image_loaded(locator):
    """The <img> has been fetched and decoded (a broken image has no natural width)."""
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


# ---------------------------------------------------------------------------------------------- chat


def test_attach_an_image_see_its_chip_send_see_the_thumbnail_and_the_streamed_reply(page, toy_vision):
    status = model_status(page)
    expect(status).to_contain_text("Vision: a vision-language model (qwen2_vl), run with mlx-vlm")
    fill(page, "max-tokens", "1000")  # long enough to arrive in several updates
    page.uncheck("#logprobs-toggle input")
    attach(page, "chat-input", toy_vision["red"])
    page.fill("#chat-input textarea", "What colour is this?")
    chip = prompt_panel(page).locator(".pg-img")
    expect(chip).to_have_text(re.compile(r"<\|image_pad\|>\s*×4"))  # one chip with its token count
    expect(prompt_panel(page)).to_contain_text("image 1: 64×64 px → 4 image tokens")
    expect(prompt_panel(page)).to_contain_text("<|vision_start|>")
    page.evaluate(  # count the streamed updates of the reply
        """() => { window.pgUpdates = new Set(); new MutationObserver(() => {
             const bots = document.querySelectorAll('#chat-output .bot-row');
             if (bots.length) window.pgUpdates.add(bots[bots.length - 1].innerText.length); })
           .observe(document.getElementById('chat-output'), {subtree: true, childList: true, characterData: true}); }"""
    )
    page.click("#send-button")
    thumbnail = page.locator("#chat-output .user-row img").first
    expect(thumbnail).to_be_visible(timeout=30_000)
    wait_finished(page)
    assert image_loaded(thumbnail)
    assert stats(page).inner_text().strip().startswith(("stop", "length"))
    assert bot_text(page).strip()
    assert page.evaluate("window.pgUpdates.size") >= 2  # it streamed
    assert page.input_value("#chat-input textarea") == ""
    expect(page.locator("#chat-input img")).to_have_count(0)  # the attachment went with the message
    expect(page.locator("#chat-output .user-row").last).to_have_text("What colour is this?")
    expect(prompt_panel(page)).to_contain_text("The prompt of the last request")
    expect(prompt_panel(page).locator(".pg-img")).to_have_count(1)


def test_an_image_for_a_text_only_model_is_refused_inline_and_stays_in_the_box(page, toy_vision):
    load_model(page, DEMO_MODEL)
    attach(page, "chat-input", toy_vision["red"])
    page.fill("#chat-input textarea", "What colour is this?")
    expect(prompt_panel(page)).to_contain_text("is a text-only model: it cannot read images")
    page.click("#send-button")
    expect(page.locator("#chat-error")).to_contain_text("is a text-only model: it cannot read images")
    assert page.input_value("#chat-input textarea") == "What colour is this?"
    expect(page.locator("#chat-input img")).to_have_count(1)  # the attached image is still there
    expect(rows(page)).to_have_count(0)


# ---------------------------------------------------------------------------------------------- compare


def test_compare_with_an_image_sends_it_to_every_column(page, toy_vision):
    page.get_by_role("tab", name="Compare templates and settings").click()
    page.fill("#compare-input textarea", "What colour is this?")
    attach(page, "compare-image", toy_vision["red"])
    expect(page.locator("#compare-image img")).to_be_visible()
    fill(page, "compare-max-tokens", "12")
    page.locator("#compare-template-2 input").fill("auto")  # both columns on the model's own template
    page.locator("#compare-template-2 input").press("Enter")
    page.click("#compare-run")
    for column in (1, 2):
        expect(page.locator(f"#compare-stats-{column}")).to_have_text(re.compile(r"^\s*(stop|length)"), timeout=60_000)
        prompt = page.locator(f"#compare-prompt-{column}")
        expect(prompt.locator(".pg-img")).to_have_text(re.compile(r"<\|image_pad\|>\s*×4"))
        expect(prompt).to_contain_text("4 image tokens")
        assert page.locator(f"#compare-output-{column} .bot-row").first.inner_text().strip()
    expect(page.locator("#compare-error")).to_have_text("")


# ---------------------------------------------------------------------------------------------- security


def test_working_directory_files_cannot_be_fetched_but_imported_images_show(page, app_server, toy_vision):
    for target in (ROOT / "README.md", "README.md", ROOT / "tests" / "conftest.py", ROOT / "pyproject.toml"):
        response = httpx.get(f"{app_server}gradio_api/file={target}", timeout=10)
        assert response.status_code == 403, (target, response.status_code)
    # A conversation that refers to a non-image file is refused inline, and nothing is shown or served.
    import_conversation(page, [{"role": "user", "content": [{"type": "image", "image": str(ROOT / "README.md")}]}])
    expect(page.locator("#chat-error")).to_contain_text("is not an image")
    expect(rows(page)).to_have_count(0)
    # One with a real image (any image file on the server) shows it, from the session's private copy.
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": str(toy_vision["blue"])}, {"type": "text", "text": "And?"}],
        },
        {"role": "assistant", "content": "Blue."},
    ]
    import_conversation(page, messages)
    expect(page.locator("#chat-error")).to_have_text("")
    thumbnail = page.locator("#chat-output .user-row img").first
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    source = thumbnail.get_attribute("src")
    served = httpx.get(source if source.startswith("http") else app_server.rstrip("/") + source, timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == toy_vision["blue"].read_bytes()
    assert str(toy_vision["blue"]) not in source  # a copy, not the file itself
    fill(page, "max-tokens", "8")
    page.click("#regenerate-button")  # and the model gets the image
    wait_finished(page)
    expect(page.locator("#chat-error")).to_have_text("")
    expect(prompt_panel(page)).to_contain_text("6 image tokens")
    assert httpx.get(f"{app_server}gradio_api/file={ROOT / 'README.md'}", timeout=10).status_code == 403
