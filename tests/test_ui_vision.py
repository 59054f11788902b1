"""Images in the UI, handler by handler: the tiny random Qwen2-VL (``toy_vision`` in conftest.py) in the chat and
in Compare, the status of a vision model (and of a repaired one), clear refusals (a text-only model, a server
backend, no mlx-vlm), and the session's private copies of every image a message refers to (imports included):
nothing but checked images is ever handed to the page."""

from __future__ import annotations

import base64
import gc
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import DEMO_MODEL, ROOT
from test_ui_handlers import req, values

from playground.engine import Engine
from playground.ui import views
from playground.ui.app import PlaygroundApp
from playground.ui.compare import COLUMNS, column_key
from playground.ui.images import FOLDER_PREFIX, SessionImages

pytestmark = pytest.mark.timeout(120)
PAD = "&lt;|image_pad|&gt;"


@pytest.fixture(scope="module")
def vengine():
    return Engine(max_models=3)


@pytest.fixture(scope="module")
def app(vengine, toy_vision):
    return PlaygroundApp(vengine, default_model=str(toy_vision["full"]))


def with_image(text, *images, **overrides):
    return values(**overrides) | {"message": {"text": text, "files": [{"path": str(p)} for p in images]}}


def stream(app, r):
    return list(app.chat.stream(r))


def in_session_folder(app, r, path):
    folder = app.core.session(r).images.folder
    return Path(path).parent == folder and Path(path).is_file()


# ---------------------------------------------------------------------------------------------- status, prompt


def test_the_status_says_it_is_a_vision_model_and_shows_the_repair_warning(app, toy_vision):
    r = req()
    status = app.panel.page_load(r, **values())["status"]
    assert "**Vision:** a vision-language model (qwen2_vl), run with mlx-vlm" in status
    assert "`<|image_pad|>` tokens" in status
    status = app.panel.load(r, model=str(toy_vision["broken"]), **values())["status"]
    assert "**Vision:**" in status and "lacks patch_size, spatial_patch_size" in status and "patch_size=16" in status


def test_the_prompt_panel_shows_each_image_as_one_chip_with_its_token_count(app, toy_vision):
    shown = app.chat.preview(req(), **with_image("What colour is this?", toy_vision["red"], toy_vision["blue"]))["prompt"]
    assert "10 image tokens" in shown
    assert f'class="pg-tok pg-img" title="4 image tokens: the image as the model sees it">{PAD}' in shown
    assert f'{PAD}<sub class="pg-count">×4</sub>' in shown and f'{PAD}<sub class="pg-count">×6</sub>' in shown
    assert "image 1: 64×64 px → 4 image tokens (&lt;|image_pad|&gt; ×4)" in shown
    assert "image 2: 96×64 px → 6 image tokens" in shown


def test_send_with_an_image_shows_the_thumbnail_and_streams_a_reply(app, toy_vision):
    r = req()
    accepted = app.chat.submit(r, **with_image("What colour is this?", toy_vision["red"]))
    chat = accepted["chat"]
    assert accepted["chat_error"] == "" and accepted["message"] == {"text": "", "files": []}
    assert "×4" in accepted["prompt"]
    path = chat[0]["content"]["path"]
    assert in_session_folder(app, r, path) and path != str(toy_vision["red"])  # the session's checked copy
    assert Path(path).read_bytes() == Path(toy_vision["red"]).read_bytes()
    assert chat[1] == {"role": "user", "content": "What colour is this?"}
    updates = stream(app, r)
    assert len(updates) > 1  # streamed
    final = updates[-1]
    assert final["chat"][-1]["role"] == "assistant" and final["chat"][-1]["content"] and final["chat_error"] == ""
    assert final["stats"].startswith(("**stop**", "**length**"))


# ---------------------------------------------------------------------------------------------- refusals


def test_an_image_for_a_text_only_model_is_refused_and_the_message_stays(vengine, toy_vision):
    app = PlaygroundApp(vengine, default_model=str(DEMO_MODEL))
    r = req()
    accepted = app.chat.submit(r, **with_image("What colour is this?", toy_vision["red"]))
    assert "is a text-only model: it cannot read images" in accepted["chat_error"]
    assert set(accepted) == {"chat_error"}  # the box keeps the text and the image
    assert app.core.session(r).conversation == []
    assert "text-only model" in app.chat.preview(r, **with_image("What colour is this?", toy_vision["red"]))["prompt"]


def test_an_image_on_a_server_backend_is_refused_before_sending(app, toy_vision):
    r = req()
    fields = with_image("What colour is this?", toy_vision["red"], backend="openai", base_url="http://127.0.0.1:9/v1")
    shown = app.chat.preview(r, **fields)["prompt"]
    assert "×4" in shown and "images need the local backend" in shown
    accepted = app.chat.submit(r, **fields)
    assert "images need the local backend" in accepted["chat_error"] and "message" not in accepted


@pytest.mark.slow
def test_without_mlx_vlm_the_page_says_which_command_installs_it(toy_vision, monkeypatch):
    from playground.vision import runtime

    monkeypatch.setattr(runtime, "mlx_vlm_available", lambda: False)
    app = PlaygroundApp(Engine(max_models=1), default_model=str(DEMO_MODEL))
    r = req()
    outputs = app.panel.load(r, model=str(toy_vision["full"]), **values())
    command = runtime.install_command()
    error = outputs["model_error"]
    assert "needs mlx-vlm" in error and views.esc(command) in error  # the Load error
    server = values(backend="openai", base_url="http://127.0.0.1:9/v1")
    outputs = app.panel.load(r, model=str(toy_vision["full"]), **server)  # a server backend loads text only
    assert outputs["model_error"] == "" and f"Install it with: `{command}`" in outputs["status"]
    shown = app.chat.preview(r, **with_image("Hi", toy_vision["red"], **server))["prompt"]
    assert "images need mlx-vlm" in shown and views.esc(command) in shown


# ---------------------------------------------------------------------------------------------- compare


def test_compare_sends_the_same_image_to_every_column(app, toy_vision):
    columns = {}
    for index in range(1, COLUMNS + 1):
        columns |= {
            column_key("template", index): "auto",
            column_key("temperature", index): "0",
            column_key("repetition_penalty", index): "1.0" if index == 1 else "1.3",
            column_key("enable_thinking", index): True,
            column_key("backend", index): "local",
        }
    fields = {k: v for k, v in values().items() if k not in ("message", "temperature", "repetition_penalty", "seed")}
    fields |= {"max_tokens": "8", "system": "", "compare_message": "What colour is this?", "third": False, "seed": "1"}
    outputs = list(app.compare.run(req(), compare_image=str(toy_vision["red"]), **fields, **columns))
    final = outputs[-1]
    assert final["compare_error"] == "" and "identical prompts" in final["compare_diff"]
    for index in (1, 2):
        prompt, reply, stats = (final[f"compare_{name}_{index}"] for name in ("prompt", "chat", "stats"))
        assert "pg-img" in prompt and "×4" in prompt and "4 image tokens" in prompt
        assert reply and stats.startswith(("**stop**", "**length**"))


# ---------------------------------------------------------------------------------------------- the session's copies


def png_bytes():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_imported_conversation_gets_checked_copies_of_its_images(app, toy_vision, tmp_path):
    import json

    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": str(toy_vision["red"])}, {"type": "text", "text": "Hi"}],
        },
        {"role": "assistant", "content": "Red."},
        {"role": "user", "content": [{"type": "image", "path": data_uri}, {"type": "text", "text": "And this?"}]},
    ]
    r = req()
    out = app.chat.import_conversation(json.dumps(messages), r)
    chat = out["chat"]
    assert out["chat_error"] == ""
    images = [item["content"]["path"] for item in chat if isinstance(item["content"], dict)]
    assert len(images) == 2 and all(in_session_folder(app, r, p) for p in images)
    exported = json.loads(app.chat.export_conversation(r)["conversation_json"])
    assert [
        b["image"] for m in exported if isinstance(m["content"], list) for b in m["content"] if b["type"] == "image"
    ] == images
    again = app.chat.import_conversation(app.chat.export_conversation(r)["conversation_json"], r)
    assert again["chat_error"] == ""  # re-importing its own copies


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (str(ROOT / "README.md"), "is not an image"),
        ("/no/such/image.png", "does not exist"),
        (str(ROOT / "tests"), "is not a file"),
        ("https://example.com/cat.png", "is a URL: the playground never downloads anything"),
        ("data:text/plain;base64,aGk=", "is not a base64 image data URI"),
    ],
    ids=["not-an-image", "missing", "folder", "url", "data-not-image"],
)
def test_an_import_referring_to_anything_but_an_image_is_refused_inline(app, image, expected):
    import json

    r = req()
    app.chat.import_conversation(json.dumps([{"role": "user", "content": "kept"}]), r)
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Hi"}]}]
    outputs = app.chat.import_conversation(json.dumps(messages), r)
    assert expected in outputs["chat_error"] and "message 1:" in outputs["chat_error"]
    assert "chat" not in outputs and app.core.session(r).conversation == [{"role": "user", "content": "kept"}]


def test_session_folders_are_private_and_removed_with_the_session(tmp_path):
    images = SessionImages()
    source = tmp_path / "a.png"
    source.write_bytes(png_bytes())
    copy = Path(images.localize(str(source)))
    root = copy.parent.parent
    assert root.name.startswith(f"{FOLDER_PREFIX}{os.getpid()}-") and root.parent == Path(tempfile.gettempdir())
    assert copy.parent.stat().st_mode & 0o077 == 0 and root.stat().st_mode & 0o077 == 0
    assert images.localize(str(copy)) == str(copy) and images.localize(str(source)) == str(copy)  # no second copy
    images.cleanup()
    assert not copy.parent.exists() and root.is_dir()
    other = SessionImages()
    folder = Path(other.localize(str(source))).parent
    del other  # a session dropped without cleanup: its folder goes with it
    gc.collect()
    assert not folder.exists()


def test_folders_left_by_processes_that_are_gone_are_removed(tmp_path, monkeypatch):
    import playground.ui.images as images

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(images, "_root", None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{FOLDER_PREFIX}{dead.stdout.strip()}-abc"
    alive = tmp_path / f"{FOLDER_PREFIX}1-abc"  # pid 1 runs
    other = tmp_path / "something-else"
    for folder in (stale, alive, other):
        folder.mkdir()
    root = images.images_root()
    assert root.parent == tmp_path and not stale.exists() and alive.exists() and other.exists()


def test_a_playground_reachable_from_other_machines_refuses_server_image_paths(vengine, toy_vision):
    """Exposed (--host 0.0.0.0 / --share), an imported path would let a visitor display any image the server can
    read: only uploads and data: URIs are accepted then."""
    import json

    exposed = PlaygroundApp(vengine, default_model=str(toy_vision["full"]))
    exposed.core.exposed = True
    r = req()
    by_path = [{"role": "user", "content": [{"type": "image", "image": str(toy_vision["red"])}]}]
    outputs = exposed.chat.import_conversation(json.dumps(by_path), r)
    assert "reachable from other machines" in outputs["chat_error"] and exposed.core.session(r).conversation == []
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    inline = [{"role": "user", "content": [{"type": "image", "image": data_uri}, {"type": "text", "text": "Hi"}]}]
    assert exposed.chat.import_conversation(json.dumps(inline), r)["chat_error"] == ""
