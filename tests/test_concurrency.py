"""Several sessions at once: no cross-talk, all complete; queue limit; model switching mid-generation."""

from __future__ import annotations

import threading

from conftest import DEMO_MODEL, free_port
from gradio_client import Client

from playground.engine import Engine
from playground.settings import GenerationSettings

MODEL = str(DEMO_MODEL)
SETTINGS = [0.0, 1.0, 0.0, 0, 1.0, 20, 30, "", ""]


def text_of(item):
    content = item["content"]
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def test_parallel_sessions_see_only_their_own_conversation(server):
    names = ["Alice", "Bob", "Carol", "David"]
    results, errors = {}, []

    def chat(name):
        try:
            client = Client(server, verbose=False)
            first = client.predict(f"My name is {name}.", [], "", "auto", "merge", MODEL, True, *SETTINGS,
                                   api_name="/send")
            second = client.predict("What is my name?", first[0], "", "auto", "merge", MODEL, True, *SETTINGS,
                                    api_name="/send")
            results[name] = second[0]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=chat, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and set(results) == set(names)
    for name, history in results.items():
        texts = " ".join(text_of(m) for m in history if not (m.get("metadata") or {}).get("title"))
        assert f"My name is {name}." in texts
        assert not any(other in texts for other in names if other != name)


def test_queue_limit_rejects_extra_requests():
    from playground.ui.app import serve

    port = free_port()
    demo = serve(model=MODEL, port=port, prevent_thread_lock=True, quiet=True, queue_size=1)
    try:
        slow = [0.0, 1.0, 0.0, 0, 1.0, 20, 400, "", ""]
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(4)]
        jobs = [c.submit("Hello!", [], "", "auto", "merge", MODEL, False, *slow, api_name="/send") for c in clients]
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=120)
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(str(exc))
        assert "ok" in outcomes
        assert any("queue" in o.lower() for o in outcomes if o != "ok"), outcomes
    finally:
        demo.close()


def test_switching_models_never_frees_a_model_in_use(toy_llama3):
    engine = Engine(max_models=1)
    demo = engine.load(MODEL, wire_eos=False)
    settings = GenerationSettings(temperature=0, max_tokens=80)
    reference = "".join(e.text for e in engine.stream_prompt(demo, "<|im_start|>user\nHello!<|im_end|>\n", settings))
    events = engine.stream_prompt(demo, "<|im_start|>user\nHello!<|im_end|>\n", settings)
    first = next(events)
    engine.load(str(toy_llama3))  # evicts the demo model from the cache while it is generating
    assert engine.models.loaded() == [str(toy_llama3)]
    rest = list(events)
    assert first.text + "".join(e.text for e in rest) == reference
    assert rest[-1].finish_reason == "length"
