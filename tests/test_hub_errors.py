"""Hub failures become one clear error each (the Hub cannot be reached here, so its errors are simulated:
the one thing these tests mock)."""

from __future__ import annotations

import pytest

from playground.errors import ModelLoadError
from playground.models import resolve_model


def _raise(exc: Exception):
    """snapshot_download: not in the local cache, and the download fails with ``exc``."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    def download(*args, local_files_only=False, **kwargs):
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        raise exc

    return download


def _response(status: int):
    import httpx

    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/api/models/x"))


@pytest.mark.parametrize(
    ("make", "message", "hint"),
    [
        (lambda e: e.GatedRepoError("gated", response=_response(403)), "is gated on the Hugging Face Hub", "hf auth login"),
        (lambda e: e.RepositoryNotFoundError("missing", response=_response(404)), "does not exist on the Hugging Face Hub",
         "check the spelling"),
        (lambda e: e.LocalEntryNotFoundError("offline"), "the Hugging Face Hub is not reachable", "network connection"),
        (lambda e: OSError("disk full"), "could not download org/model: OSError: disk full", "network connection"),
    ],
)
def test_download_failures_are_one_clear_error(monkeypatch, hf_cache, make, message, hint):
    import huggingface_hub
    from huggingface_hub import errors

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _raise(make(errors)))
    with pytest.raises(ModelLoadError) as info:
        resolve_model("org/model")
    assert message in info.value.message and hint in (info.value.hint or "")


def test_offline_and_uncached_says_so(hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache and downloads are off"):
        resolve_model("org/uncached-model")


def test_a_model_served_elsewhere_downloads_no_weights(monkeypatch, hf_cache):
    """With a server backend only the metadata and tokenizer are needed: never the *.safetensors."""
    import huggingface_hub

    seen = {}

    def download(repo_id, *, local_files_only=False, allow_patterns=None, **kwargs):
        from huggingface_hub.errors import LocalEntryNotFoundError

        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        seen["patterns"] = allow_patterns
        raise OSError("stop here")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    with pytest.raises(ModelLoadError):
        resolve_model("org/huge-model", weights=False)
    assert "*.safetensors" not in seen["patterns"] and "*.json" in seen["patterns"]
    with pytest.raises(ModelLoadError):
        resolve_model("org/huge-model")
    assert "*.safetensors" in seen["patterns"]


@pytest.mark.slow
def test_a_download_does_not_hold_up_running_replies(monkeypatch, hf_cache, tmp_path):
    """Downloading a new model happens on the caller's thread: replies keep streaming meanwhile."""
    import shutil
    import threading
    import time

    import huggingface_hub
    from conftest import DEMO_MODEL

    from playground.engine import Engine
    from playground.prepare import ChatRequest
    from playground.settings import GenerationSettings

    copy = tmp_path / "downloaded"
    shutil.copytree(DEMO_MODEL, copy)
    started = threading.Event()

    def slow_download(repo_id, *, local_files_only=False, **kwargs):
        from huggingface_hub.errors import LocalEntryNotFoundError

        if local_files_only and not started.is_set():
            raise LocalEntryNotFoundError("not cached yet")
        if not local_files_only:
            started.set()
            time.sleep(2.0)
        return str(copy)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", slow_download)
    engine = Engine(max_models=2)
    demo = engine.load(str(DEMO_MODEL))
    loading = threading.Thread(target=lambda: engine.load("org/slow-model"))
    loading.start()
    started.wait(10)
    t0 = time.monotonic()
    request = ChatRequest(messages=({"role": "user", "content": "Hello!"},), wire_eos=False,
                          settings=GenerationSettings(temperature=0, max_tokens=40))
    result = engine.generate(engine.prepare(demo, request))
    took = time.monotonic() - t0
    loading.join(30)
    assert result.final.generation_tokens == 40 and took < 1.5  # not stuck behind the 2 s download
