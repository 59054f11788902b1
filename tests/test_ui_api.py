"""The running app driven through its API with gradio_client: streaming, stop, settings, bad input."""

from __future__ import annotations

import time

import pytest
from conftest import DEMO_MODEL
from gradio_client import Client

MODEL = str(DEMO_MODEL)


def settings(**overrides):
    values = dict(temperature=0.0, top_p=1.0, min_p=0.0, top_k=0, repetition_penalty=1.0,
                  repetition_context_size=20, max_tokens=40, seed="", stop_text="")
    values.update(overrides)
    return list(values.values())


def send_args(text, history=(), template="auto", wire=True, **overrides):
    return [text, list(history), "", template, "merge", MODEL, wire, *settings(**overrides)]


@pytest.fixture
def client(server):
    return Client(server, verbose=False)


def reply_text(history):
    item = history[-2]
    content = item["content"]
    return content if isinstance(content, str) else "".join(block["text"] for block in content)


def test_send_streams_several_updates(client):
    job = client.submit(*send_args("Hello!", max_tokens=60), api_name="/send")
    updates = list(job)
    assert len(updates) >= 3  # the user turn, streamed text, the final stats
    history, cleared, prompt, stats = job.result()
    assert cleared == "" and stats.startswith("stop `<|im_end|>`")
    assert "hello" in reply_text(history).lower() or "help" in reply_text(history).lower()
    assert "&lt;|im_start|&gt;" in prompt


def test_settings_reach_the_sampler(client):
    short = client.predict(*send_args("Hello!", wire=False, max_tokens=3), api_name="/send")
    assert short[3].startswith("length · 3 tokens")
    a = client.predict(*send_args("Hello!", temperature=1.5, seed="5", max_tokens=20), api_name="/send")
    b = client.predict(*send_args("Hello!", temperature=1.5, seed="5", max_tokens=20), api_name="/send")
    assert reply_text(a[0]) == reply_text(b[0])
    plain = client.predict(*send_args("Hello!", wire=False, max_tokens=60), api_name="/send")
    penalised = client.predict(*send_args("Hello!", wire=False, max_tokens=60, repetition_penalty=1.8,
                                          repetition_context_size=64), api_name="/send")
    assert reply_text(plain[0]) != reply_text(penalised[0])


def test_stop_cancels_within_a_step(client):
    job = client.submit(*send_args("Hello!", wire=False, max_tokens=2000), api_name="/send")
    deadline = time.time() + 60
    while len(job.outputs()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    client.predict(api_name="/stop")
    history, _, _, stats = job.result(timeout=60)
    assert stats.startswith("cancelled")
    tokens = int(stats.split(" · ")[1].split()[0])
    assert tokens < 2000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # Gradio's sliders check their own bounds first; our settings validation names the field.
        ({"temperature": -5}, "temperature must be|less than minimum value 0"),
        ({"max_tokens": 0}, "max_tokens must be|less than minimum value 1"),
        ({"top_p": "lots"}, "top_p must be|lots"),
        ({"seed": "abc"}, "seed must be"),
    ],
)
def test_out_of_range_settings_are_refused_and_the_server_keeps_serving(client, overrides, message):
    with pytest.raises(Exception, match=message):
        client.predict(*send_args("Hello!", **overrides), api_name="/send")
    ok = client.predict(*send_args("Hello!", max_tokens=5), api_name="/send")
    assert ok[3]


def test_bad_model_and_messages_over_the_api(client):
    with pytest.raises(Exception, match="neither a folder nor a Hub repo id"):
        client.predict("Hello!", [], "", "auto", "merge", "/no/such/model", True, *settings(), api_name="/send")
    wizard = [{"role": "wizard", "content": [{"type": "text", "text": "x"}]}]
    with pytest.raises(Exception, match="role 'wizard'"):
        client.predict(*send_args("Hello!", history=wizard), api_name="/send")
    with pytest.raises(Exception, match="validation error"):  # Gradio's schema: content must be blocks
        client.predict(*send_args("Hello!", history=[{"role": "user", "content": "x"}]), api_name="/send")
    with pytest.raises(Exception, match="not valid JSON"):
        client.predict("[{oops", api_name="/import")


def test_compare_and_lab_endpoints(client):
    result = client.predict("Hello!", "", 0, 20, "merge", MODEL, True, False,
                            "auto", 0.0, 1.0, "llama2", 0.0, 1.0, "generic", 0.0, 1.0, api_name="/compare")
    assert result[3] and result[4] and "[INST]" in result[1]
    rendered, errors, lint, tokens = client.predict(
        "{{ messages[0].content }}", '[{"role": "user", "content": "Hi"}]', "merge", MODEL, True, api_name="/lab_render"
    )
    assert "renders without errors" in errors and "Hi" in rendered
