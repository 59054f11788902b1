"""Shared fixtures: offline Hugging Face settings, model-folder builders, the demo model."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from playground.backends.local.blas import ensure_fast_blas  # noqa: E402

ensure_fast_blas()

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = Path(os.environ.get("PLAYGROUND_TEST_MODEL") or ROOT / "assets" / "demo-model")


def write_model_dir(
    root: Path,
    name: str,
    *,
    config: dict | None = None,
    tokenizer_config: dict | None = None,
    generation_config: dict | None = None,
    vocab: list[str] = (),
    added: dict[str, int] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """A model folder with metadata only: config, tokenizer files (vocab + added tokens), extras."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if tokenizer_config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    if generation_config is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation_config))
    if vocab or added:
        tokenizer = {
            "version": "1.0",
            "added_tokens": [{"id": i, "content": t, "special": True} for t, i in (added or {}).items()],
            "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab)}, "merges": []},
        }
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    for file_name, text in (extra_files or {}).items():
        (folder / file_name).write_text(text)
    return folder


@pytest.fixture
def model_dir(tmp_path):
    """Factory: ``model_dir(name, **metadata)`` builds a metadata-only model folder."""

    def make(name: str, **kwargs) -> Path:
        return write_model_dir(tmp_path, name, **kwargs)

    return make


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty, private Hugging Face cache; ``add(repo_id, folder)`` puts a snapshot in it."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))

    def add(repo_id: str, source: Path, revision: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / revision
        snapshot.mkdir(parents=True)
        for item in source.iterdir():
            (snapshot / item.name).write_bytes(item.read_bytes())
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
        return snapshot

    add.path = cache
    return add


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module (the browser tests)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def engine():
    """One engine (model cache of two) shared by the runtime tests."""
    from playground.engine import Engine

    return Engine(max_models=2)


@pytest.fixture(scope="session")
def demo(engine):
    """The bundled demo model, loaded with EOS wiring."""
    if not DEMO_MODEL.is_dir():
        pytest.fail(f"demo model missing at {DEMO_MODEL}; run python assets/train_demo_model.py")
    return engine.load(str(DEMO_MODEL))


@pytest.fixture(scope="session")
def toy_llama3(tmp_path_factory):
    """A random-weight Llama-3-style model with no chat template."""
    from playground.toy import build_toy_model

    return build_toy_model(tmp_path_factory.mktemp("models") / "toy-llama3", style="llama3")


from playground.ports import free_port  # noqa: E402


@pytest.fixture(scope="session")
def toy_qwen3(tmp_path_factory):
    """A random-weight Qwen3 model (detected as the qwen3 preset) whose replies never stop by themselves: the
    special tokens are never picked, and its context is 32k tokens, so a reply runs as long as asked."""
    from toy_qwen3 import build_toy_qwen3

    return build_toy_qwen3(
        tmp_path_factory.mktemp("models") / "toy-qwen3", suppress_special=True, max_position_embeddings=32768
    )


@pytest.fixture(scope="session")
def toy_vision(tmp_path_factory):
    """The tiny random-weight Qwen2-VL (``full``), a copy whose vision_config lacks patch_size (``broken``: loads
    with a repair warning) and solid-colour test images (``red`` 64x64 px: 4 image tokens, ``blue`` 96x64 px: 6),
    as in test_vision.py. Skips without the vision extra (mlx-vlm)."""
    pytest.importorskip("mlx_vlm", reason="the vision extra (mlx-vlm) is not installed")
    from PIL import Image
    from toy_vision import build_toy_vision_model, copy_without_vision_fields

    root = tmp_path_factory.mktemp("toy-vision")
    full = build_toy_vision_model(root / "tiny-qwen2-vl")
    broken = copy_without_vision_fields(
        full, root / "tiny-qwen2-vl-no-patch-size", ("patch_size", "spatial_patch_size")
    )
    out = {"full": full, "broken": broken, "root": root}
    for name, colour, size in [("red", (255, 0, 0), (64, 64)), ("blue", (0, 0, 255), (96, 64))]:
        out[name] = root / f"{name}.png"
        Image.new("RGB", size, colour).save(out[name])
    return out


def launch_app(*, model: str = str(DEMO_MODEL), engine=None, **options):
    """Launch the real app on a free localhost port; returns (url, blocks). Close it with ``blocks.close()``."""
    from playground.ui.app import serve

    port = free_port()
    options.setdefault("queue_size", 32)
    blocks = serve(engine=engine, model=model, port=port, prevent_thread_lock=True, quiet=True, **options)
    return f"http://127.0.0.1:{port}/", blocks


def launch_app_process(*, model: str = str(DEMO_MODEL), max_batch: int = 8, max_models: int = 1, **options):
    """Launch the real app in its own process (so a client in this process never competes with the server for
    the GIL, like a browser and a server); returns (url, process). Stop it with ``process.terminate()``."""
    import sys
    import time
    import urllib.request

    from playground.tied import tied_popen

    port = free_port()
    code = (
        "import time; from playground.engine import Engine; from playground.ui.app import serve; "
        f"serve(engine=Engine(max_batch={max_batch}, max_models={max_models}), model={model!r}, port={port}, "
        f"prevent_thread_lock=True, quiet=True, **{options!r}); time.sleep(10 ** 6)"
    )
    process = tied_popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return url, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the app did not start (exit code {process.poll()})") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def server():
    """The real app, launched once on a free localhost port with the demo model."""
    url, blocks = launch_app()
    yield url
    blocks.close()


#: An imported conversation with every role the format allows: a tool call and its result, a system message
#: mid-conversation (the UI tests import it, send, and export it again).
IMPORTED = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": '{"temp": 21}'},
    {"role": "assistant", "content": "It is 21 degrees in Paris."},
    {"role": "system", "content": "Answer in uppercase."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "HELLO!"},
]


def ask(engine, loaded, messages=None, *, cache=None, cancel=None, template="auto", wire_eos=True, logprobs=0, **settings):
    """Prepare and generate one reply with the engine; returns (result, prepared)."""
    from playground.prepare import ChatRequest
    from playground.settings import GenerationSettings

    messages = messages or [{"role": "user", "content": "Hello!"}]
    request = ChatRequest(
        messages=tuple(messages), template=template, wire_eos=wire_eos, logprobs=logprobs,
        settings=GenerationSettings(**settings),
    )
    prepared = engine.prepare(loaded, request)
    return engine.generate(prepared, cache=cache, cancel=cancel), prepared


def reply_of(prepared, *pieces):
    """The finished ReplyState of a scripted reply streamed in ``pieces`` (Engine.reply's loop, no model)."""
    from playground.events import GenerationEvent
    from playground.reply import run_reply

    events = [GenerationEvent(p, None, prepared.prompt_tokens, i + 1, 0.0, 0.0, 0.0, 0.0) for i, p in enumerate(pieces)]
    events.append(GenerationEvent("", None, prepared.prompt_tokens, len(pieces), 0.0, 0.0, 0.0, 0.0, finish_reason="stop"))
    *_, state = run_reply(prepared, iter(events))
    return state


@pytest.fixture
def cli(capfd, monkeypatch):
    """Run ``mlx-playground ARGS`` in this process (no interpreter start-up): (exit code, stdout, stderr).

    ``env`` sets environment variables for the call; ``stdin`` is what the command reads from standard input.
    Commands whose behaviour is the process's own (BLAS loading, binding a port) are tested in a subprocess."""
    import io
    import sys

    from playground.cli import main

    def run(*args, env=None, stdin=None):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8"))
        capfd.readouterr()
        code = main([str(a) for a in args])
        out, err = capfd.readouterr()
        return code, out, err

    return run
