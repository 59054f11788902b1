"""Vision-language models (issue 14): detection, config repair, images in the prompt, generation, clear errors.

The model is a tiny random-weight Qwen2-VL built here (``tests/toy_vision.py``) whose vision tower uses
16-pixel patches; ``broken`` is a copy whose ``vision_config`` lacks ``patch_size`` (mlx-vlm would assume
14 and fail on the weights' shapes). Test images are solid-colour squares made with PIL.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading

import pytest

from playground.errors import MessagesError, ModelLoadError
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

GREEDY = GenerationSettings(temperature=0, max_tokens=12)
DROPPED = ("patch_size", "spatial_patch_size")


# ---------------------------------------------------------------------------------------------- the tiny model

pytest.importorskip("mlx_vlm", reason="the vision extra (mlx-vlm) is not installed")


@pytest.fixture(scope="session")
def vision_models(tmp_path_factory):
    """The tiny Qwen2-VL, a broken copy (no patch_size) and test images."""
    from PIL import Image
    from toy_vision import build_toy_vision_model, copy_without_vision_fields

    root = tmp_path_factory.mktemp("vision")
    full = build_toy_vision_model(root / "tiny-qwen2-vl")
    broken = copy_without_vision_fields(full, root / "tiny-qwen2-vl-no-patch-size", DROPPED)
    images = {}
    for name, colour, size in [("red", (255, 0, 0), (64, 64)), ("green", (0, 255, 0), (64, 64)),
                               ("blue", (0, 0, 255), (96, 64))]:
        images[name] = root / f"{name}.png"
        Image.new("RGB", size, colour).save(images[name])
    return {"full": full, "broken": broken, "root": root, **{k: str(v) for k, v in images.items()}}


@pytest.fixture(scope="session")
def vengine():
    from playground.engine import Engine

    return Engine(max_models=3)


@pytest.fixture(scope="session")
def full(vengine, vision_models):
    return vengine.load(str(vision_models["full"]))


@pytest.fixture(scope="session")
def broken(vengine, vision_models):
    return vengine.load(str(vision_models["broken"]))


def ask(images=(), text="What colour is this?", **changes):
    return ChatRequest(messages=({"role": "user", "content": text},), images=tuple(images), settings=GREEDY, **changes)


def test_load_detects_and_loads_with_mlx_vlm(full):
    assert full.detection.vision and full.vision is not None and full.has_weights
    assert full.vision.image_token == "<|image_pad|>" and full.vision.placeholders == ("<|image_pad|>",)
    summary = full.summary()
    assert summary["vision"] is True and not summary["warnings"]
    assert full.detection.template_source == "model" and "<|im_end|>" in full.eos().tokens


def test_missing_patch_size_is_repaired_on_load_with_a_warning(broken, vision_models):
    (note,) = broken.notes
    assert "lacks patch_size, spatial_patch_size" in note and "patch_size=16" in note
    assert "preprocessor_config.json" in note and "mlx-vlm's default 14" in note
    assert note in broken.summary()["warnings"]
    assert [r.field for r in broken.vision.repairs] == list(DROPPED)
    on_disk = json.loads((vision_models["broken"] / "config.json").read_text())
    assert "patch_size" not in on_disk["vision_config"]  # the folder is never changed on load


def test_prompt_shows_placeholders_exactly_as_the_processor_expands_them(vengine, full, vision_models):
    prepared = vengine.prepare(full, ask([vision_models["red"], vision_models["blue"]]))
    pad = "<|image_pad|>"
    red = f"<|vision_start|>{pad * 4}<|vision_end|>"  # 64x64 px, 16 px patches, 2x2 merge: 4 tokens
    blue = f"<|vision_start|>{pad * 6}<|vision_end|>"  # 96x64 px: 6 tokens
    assert prepared.text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        f"<|im_start|>user\n{red}{blue}What colour is this?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prepared.image_tokens == 10 and prepared.vision.image_tokens == 10
    assert [(i.width, i.height, i.tokens) for i in prepared.vision.images] == [(64, 64, 4), (96, 64, 6)]
    spans = prepared.vision.spans
    assert [(s.token, s.count, s.image) for s in spans] == [(pad, 4, 0), (pad, 6, 1)]
    assert all(prepared.text[s.start : s.end] == pad * s.count for s in spans)
    # the text is exactly what is tokenized: its ids are the ids generation uses
    ids = full.tokenizer.encode(prepared.text, add_special_tokens=False)
    assert tuple(ids) == prepared.token_ids and prepared.prompt_tokens == len(ids)
    assert prepared.token_ids.count(full.vision.image_token_id) == 10
    assert prepared.summary()["images"]["image_tokens"] == 10
    assert prepared.rendered.segments[-1].end == len(prepared.text)  # segments moved onto the expanded text


def test_image_blocks_in_messages_are_the_same_as_request_images(vengine, full, vision_models):
    blocks = [{"type": "image", "image": vision_models["red"]}, {"type": "text", "text": "What colour is this?"}]
    a = vengine.prepare(full, ChatRequest(messages=({"role": "user", "content": blocks},), settings=GREEDY))
    b = vengine.prepare(full, ask([vision_models["red"]]))
    assert a.text == b.text and a.token_ids == b.token_ids


def test_generate_greedy_repaired_copy_answers_like_the_full_model(vengine, full, broken, vision_models):
    request = ask([vision_models["red"]])
    reply = vengine.generate(vengine.prepare(full, request))
    repaired = vengine.generate(vengine.prepare(broken, request))
    assert reply.text and reply.text == repaired.text
    assert reply.final.finish_reason == "length" and reply.final.generation_tokens == GREEDY.max_tokens
    assert reply.final.prompt_tokens == vengine.prepare(full, request).prompt_tokens
    green = vengine.generate(vengine.prepare(full, ask([vision_models["green"]])))
    assert green.text != reply.text  # the picture reaches the model


def test_stream_events_stop_tokens_and_cancel(vengine, full, vision_models):
    prepared = vengine.prepare(full, ask([vision_models["red"]]).replace(settings=dataclasses.replace(GREEDY, max_tokens=40)))
    events = list(vengine.stream(prepared))
    assert events[0].status in ("queued", "prefill") and events[-1].done and events[-1].status == "done"
    text = "".join(e.text for e in events)
    stop = text[3:5]
    stopped = vengine.generate(vengine.prepare(full, ask([vision_models["red"]]).replace(
        settings=dataclasses.replace(GREEDY, max_tokens=40, stop=(stop,)))))
    assert stopped.final.finish_reason == "stop" and stopped.text == text[: text.find(stop)]
    cancel = threading.Event()
    seen = []
    for event in vengine.stream(prepared, cancel=cancel):
        seen.append(event)
        if event.text:
            cancel.set()
    assert seen[-1].finish_reason == "cancelled" and seen[-1].generation_tokens < 40


def test_logprobs_and_text_only_requests_on_a_vision_model(vengine, full):
    prepared = vengine.prepare(full, ask(logprobs=3))
    assert prepared.vision is None and prepared.image_tokens == 0
    result = vengine.generate(prepared)
    assert result.text and len(result.tokens) == GREEDY.max_tokens and len(result.tokens[0].top) == 3


def test_kv_cache_reuse_across_turns_gives_identical_replies(vengine, full, vision_models):
    from playground.backends.local.prompt_cache import PromptCacheState

    def conversation(cache):
        blocks = [{"type": "image", "image": vision_models["red"]}, {"type": "text", "text": "What colour?"}]
        messages = [{"role": "user", "content": blocks}]
        out = []
        for turn in range(3):
            result = vengine.generate(vengine.prepare(full, ChatRequest(messages=tuple(messages), settings=GREEDY)),
                                      cache=cache)
            out.append((result.text, result.final.reused_tokens))
            messages += [{"role": "assistant", "content": result.text}, {"role": "user", "content": f"And {turn}?"}]
        return out

    with_cache = conversation(PromptCacheState())
    without = conversation(None)
    assert [t for t, _ in with_cache] == [t for t, _ in without]
    assert with_cache[0][1] == 0 and all(reused > 0 for _, reused in with_cache[1:])


def test_a_new_image_in_a_later_turn_prefills_from_scratch(vengine, full, vision_models):
    from playground.backends.local.prompt_cache import PromptCacheState

    cache = PromptCacheState()
    first = [{"role": "user", "content": [{"type": "image", "image": vision_models["red"]}, {"type": "text", "text": "Hi"}]}]
    reply = vengine.generate(vengine.prepare(full, ChatRequest(messages=tuple(first), settings=GREEDY)), cache=cache)
    second = first + [{"role": "assistant", "content": reply.text},
                      {"role": "user", "content": [{"type": "image", "image": vision_models["green"]}, {"type": "text", "text": "And?"}]}]
    prepared = vengine.prepare(full, ChatRequest(messages=tuple(second), settings=GREEDY))
    cached = vengine.generate(prepared, cache=cache)
    assert cached.final.reused_tokens == 0 and cached.text == vengine.generate(prepared).text


# ---------------------------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("image", "pattern"),
    [
        ("https://example.com/cat.jpg", "is a URL: the playground never downloads"),
        ("/definitely/not/here.png", "does not exist"),
    ],
)
def test_urls_and_missing_files_are_refused(vengine, full, image, pattern):
    with pytest.raises(MessagesError, match=pattern) as info:
        vengine.prepare(full, ask([image]))
    assert info.value.hint


def test_not_an_image_and_raw_mode(vengine, full, vision_models):
    bad = vision_models["root"] / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(MessagesError, match="could not be read"):
        vengine.prepare(full, ask([str(bad)]))
    with pytest.raises(MessagesError, match="raw mode sends text only"):
        vengine.prepare(full, ask([vision_models["red"]], raw_prompt="hello"))


def test_an_image_for_a_text_only_model_is_one_clear_error(engine, toy_llama3, vision_models):
    loaded = engine.load(str(toy_llama3))
    with pytest.raises(MessagesError, match="is a text-only model: it cannot read images") as info:
        engine.prepare(loaded, ask([vision_models["red"]]))
    assert "vision-language model" in info.value.hint


def test_a_template_without_image_placeholders_is_refused(vengine, full, vision_models):
    with pytest.raises(MessagesError, match="put no image placeholder") as info:
        vengine.prepare(full, ask([vision_models["red"]], template="chatml"))
    assert "template" in info.value.hint
    typed = ask([vision_models["red"]], text="<|image_pad|> twice")
    with pytest.raises(MessagesError, match="2 × <|image_pad|> but 1 image"):
        vengine.prepare(full, typed)


def test_shape_error_without_a_repair_names_patch_size(vision_models, tmp_path):
    from playground.models import load_model

    folder = shutil.copytree(vision_models["broken"], tmp_path / "no-preprocessor")
    (folder / "preprocessor_config.json").unlink()  # nothing says 16, and qwen2_vl's known value is 14
    with pytest.raises(ModelLoadError) as info:
        load_model(str(folder))
    assert "vision-language model" in info.value.message and "patch_embed" in info.value.message
    assert "patch_size to 16" in info.value.hint


def test_without_mlx_vlm_the_message_says_how_to_install_it(vision_models, monkeypatch):
    from playground.models import load_model
    from playground.vision import runtime

    monkeypatch.setattr(runtime, "mlx_vlm_available", lambda: False)
    with pytest.raises(ModelLoadError, match="needs mlx-vlm") as info:
        load_model(str(vision_models["full"]))
    assert "-m pip install" in info.value.hint and "[vision]" in info.value.hint
    text_only = load_model(str(vision_models["full"]), weights=False)  # a server backend still gets text
    assert text_only.vision is None and "without mlx-vlm" in text_only.notes[0]
    with pytest.raises(ModelLoadError, match="images need mlx-vlm"):
        from playground.prepare import prepare

        prepare(text_only, ask([vision_models["red"]]))


def test_fix_template_writes_the_repaired_config_with_a_backup(vision_models, tmp_path, vengine):
    from playground.models import load_model
    from playground.repair import fix_vision_config

    folder = shutil.copytree(vision_models["broken"], tmp_path / "to-fix")
    dry = fix_vision_config(folder, dry_run=True)
    assert [r.field for r in dry.repairs] == list(DROPPED) and not (folder / "config.json.bak").exists()
    report = fix_vision_config(folder)
    assert report.backups == ["config.json.bak"] and report.to_dict()["changed"] == ["config.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["vision_config"]["patch_size"] == 16 and config["vision_config"]["spatial_patch_size"] == 16
    assert "patch_size" not in json.loads((folder / "config.json.bak").read_text())["vision_config"]
    assert fix_vision_config(folder).repairs == []  # running again changes nothing
    assert load_model(str(folder)).notes == ()


# ---------------------------------------------------------------------------------------------- command line


def cli(capfd, *args):
    from playground.cli import main

    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_error(code, err, pattern):
    import re

    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2, err
    assert lines[0].startswith("error: ") and re.search(pattern, lines[0]), err
    assert lines[1].startswith("hint: "), err


@pytest.fixture
def chat_file(tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "user", "content": "What colour is this?"}]))
    return path


def test_cli_render_image_shows_the_expanded_placeholders(capfd, vision_models, chat_file, vengine, full):
    code, out, err = cli(capfd, "render", "--model", vision_models["full"], "--messages", chat_file,
                         "--image", vision_models["red"], "--image", vision_models["blue"])
    assert code == 0, err
    assert out == vengine.prepare(full, ask([vision_models["red"], vision_models["blue"]])).text
    assert f"<|vision_start|>{'<|image_pad|>' * 4}<|vision_end|>" in out
    assert f"note: image 1 ({vision_models['red']}, 64x64): 4 image tokens (<|image_pad|> ×4)" in err
    assert "note: image 2" in err and "6 image tokens" in err and "note: 10 image tokens in all" in err
    code, out, err = cli(capfd, "render", "--model", vision_models["full"], "--messages", chat_file,
                         "--image", vision_models["red"], "--json")
    data = json.loads(out)
    assert code == 0 and data["image_tokens"] == 4 and data["images"][0]["tokens"] == 4
    assert data["spans"][0]["count"] == 4 and data["prompt"].count("<|image_pad|>") == 4


def test_cli_generate_image_on_the_broken_copy(capfd, vision_models, vengine, full):
    args = ["--prompt", "What colour is this?", "--image", vision_models["red"], "--temp", "0", "--max-tokens", "12"]
    code, out, err = cli(capfd, "generate", "--model", vision_models["broken"], *args, "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert any("lacks patch_size" in w and "patch_size=16" in w for w in data["warnings"])
    assert data["image_tokens"] == 4 and data["finish_reason"] == "length"
    assert data["text"] == vengine.generate(vengine.prepare(full, ask([vision_models["red"]]))).text
    code, out, err = cli(capfd, "generate", "--model", vision_models["broken"], *args)
    assert code == 0 and out.strip() == data["text"]
    assert "warning: config.json's vision_config lacks patch_size" in err and "note: 4 image tokens in all" in err


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["generate", "--prompt", "hi", "--image", "https://example.com/cat.jpg"], "is a URL: the playground never"),
        (["generate", "--prompt", "hi", "--image", "/no/such/image.png"], "does not exist"),
        (["render", "--preset", "chatml", "--image", "{red}"], "render --image needs --model"),
        (["generate", "--model", "{full}", "--prompt", "hi", "--image", "{red}", "--raw"], "raw mode sends text only"),
    ],
)
def test_cli_image_errors_are_one_line(capfd, vision_models, chat_file, args, pattern):
    args = [a.format(**{k: str(v) for k, v in vision_models.items()}) for a in args]
    if args[0] == "render":
        args += ["--messages", str(chat_file)]
    code, _, err = cli(capfd, *args)
    one_error(code, err, pattern)


def test_cli_image_for_a_text_only_model(capfd, toy_llama3, vision_models, chat_file):
    code, _, err = cli(capfd, "generate", "--model", toy_llama3, "--prompt", "hi", "--image", vision_models["red"])
    one_error(code, err, "is a text-only model: it cannot read images")
    code, _, err = cli(capfd, "render", "--model", toy_llama3, "--messages", chat_file, "--image", vision_models["red"])
    one_error(code, err, "is a text-only model")


def test_cli_detect_and_fix_template_vision_config(capfd, vision_models, tmp_path):
    code, out, _ = cli(capfd, "detect", vision_models["broken"])
    assert code == 0 and "vision      yes: config.json has a vision_config (loads with mlx-vlm)" in out
    code, out, _ = cli(capfd, "detect", vision_models["broken"], "--json")
    assert json.loads(out)["vision"] is True
    folder = shutil.copytree(vision_models["broken"], tmp_path / "fix-me")
    code, out, _ = cli(capfd, "fix-template", folder, "--vision-config", "--dry-run")
    assert code == 0 and out.startswith("vision_config: would write patch_size = 16 (from preprocessor_config.json)")
    code, out, _ = cli(capfd, "fix-template", folder, "--vision-config")
    assert code == 0 and "wrote patch_size = 16" in out and "backups: config.json.bak" in out
    code, out, _ = cli(capfd, "fix-template", folder, "--vision-config")
    assert code == 0 and out.strip() == "vision_config: nothing to repair"
    code, _, err = cli(capfd, "fix-template", folder)
    one_error(code, err, "needs --preset, --template or --vision-config")


def test_images_are_refused_on_a_server_backend(vengine, full, vision_models):
    """A server would get the expanded prompt text without the images: refuse, do not degrade silently."""
    from playground.backends.spec import BackendSpec
    from playground.errors import BackendError

    prepared = vengine.prepare(
        full, ask([vision_models["red"]], backend=BackendSpec(kind="openai", base_url="http://127.0.0.1:9/v1"))
    )
    with pytest.raises(BackendError, match="images need the local backend"):
        vengine.generate(prepared)
