"""Several sessions at once through the HTTP API: each sees only its own conversation; the queue limit refuses
extra requests with a message (and the refused sessions recover); loading a model mid-generation does not
break a reply that is running."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import launch_app
from gradio_client import Client
from test_ui_api import call, message, text_of

from playground.engine import Engine
from playground.ui.app import STREAM

pytestmark = pytest.mark.slow


def wait_until_generating(job, timeout=60):
    deadline = time.time() + timeout
    while not any("generating" in str(dict(zip(STREAM, update))["stats"]) for update in job.outputs()):
        assert time.time() < deadline and not job.done(), "the reply never started"
        time.sleep(0.02)


def test_parallel_sessions_each_see_only_their_own_conversation(server):
    names = ["Alice", "Bob", "Carol", "David"]
    results, errors = {}, []
    start = threading.Barrier(len(names))

    def session(name):
        try:
            client = Client(server, verbose=False)
            start.wait()
            finals = []
            for text in (f"My name is {name}.", "What is my name?"):
                sent = call(client, "/send", message=message(text), temperature="0", max_tokens="30")
                # never refused: another session being busy is not this one's
                assert sent["chat_error"] == "", sent["chat_error"]
                finals.append(call(client, "/stream"))
            results[name] = (finals, json.loads(client.predict(api_name="/export")))
        except Exception as exc:  # reported below
            errors.append(f"{name}: {exc!r}")

    threads = [threading.Thread(target=session, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert set(results) == set(names)
    for name, (finals, exported) in results.items():
        assert [m["role"] for m in exported] == ["user", "assistant", "user", "assistant"], exported
        assert [m["content"] for m in exported if m["role"] == "user"] == [f"My name is {name}.", "What is my name?"]
        shown = [text_of(item) for item in finals[-1]["chat"]]
        assert len(shown) == 4 and shown[0] == f"My name is {name}."
        everything = json.dumps(exported) + json.dumps(shown)
        assert not [other for other in names if other != name and f"My name is {other}" in everything]
        assert finals[-1]["stats"].startswith("**stop**")


def test_the_queue_limit_refuses_extra_requests_and_the_refused_sessions_recover():
    url, blocks = launch_app(engine=Engine(max_batch=1), queue_size=1, concurrency=1)
    try:
        clients = [Client(url, verbose=False) for _ in range(4)]
        for client in clients:
            sent = call(client, "/send", message=message("Hello!"), wire_eos=False, max_tokens="450")
            assert sent["chat_error"] == ""
        jobs = [client.submit(api_name="/stream") for client in clients]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(dict(zip(STREAM, job.result(timeout=120)))["stats"])
            except Exception as exc:
                outcomes.append(f"refused: {exc}")
        assert any(o.startswith("**length**") for o in outcomes), outcomes
        refused = [c for c, o in zip(clients, outcomes) if o.startswith("refused")]
        assert refused and all("queue is full" in o.lower() for o in outcomes if o.startswith("refused")), outcomes
        # A refused session's request was accepted but never streamed: Stop releases it, then it works again.
        client = refused[0]
        assert "still being generated" in call(client, "/send", message=message("Hi"))["chat_error"]
        assert client.predict(api_name="/stop") == "**cancelled** before it started · 0 tokens"
        assert call(client, "/send", message=message("Hi"), max_tokens="20")["chat_error"] == ""
        assert call(client, "/stream")["stats"].startswith("**")
    finally:
        blocks.close()


def test_loading_a_model_mid_generation_does_not_break_the_running_reply(toy_qwen3, toy_llama3):
    url, blocks = launch_app(model=str(toy_qwen3), engine=Engine(max_models=1))
    try:
        settings = dict(temperature="0", max_tokens="2500", logprobs=False)
        a, b = Client(url, verbose=False), Client(url, verbose=False)
        call(a, "/send", message=message("Hello!"), **settings)
        reference = call(a, "/stream")
        assert reference["stats"].startswith("**length** · 2500 tokens")
        a.predict(api_name="/clear")
        call(a, "/send", message=message("Hello!"), **settings)
        job = a.submit(api_name="/stream")
        wait_until_generating(job)
        loaded = call(b, "/load_model", model=str(toy_llama3))  # evicts the model A is using
        assert loaded["model_error"] == "" and "toy-llama3" in loaded["summary"]
        assert not job.done()  # the load happened while A's reply was running
        final = dict(zip(STREAM, job.result(timeout=120)))
        assert final["stats"].startswith("**length** · 2500 tokens") and final["chat_error"] == ""
        assert text_of(final["chat"][-1]) == text_of(reference["chat"][-1])
        # Each session keeps its own model: B's next reply comes from the model it loaded.
        call(b, "/send", message=message("Hello!"), max_tokens="5")
        assert call(b, "/stream")["stats"].startswith("**")
        assert "toy-qwen3" in call(a, "/load_model", model=str(toy_qwen3))["summary"]
    finally:
        blocks.close()
