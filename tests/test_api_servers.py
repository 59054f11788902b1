"""The API in front of a server backend: a real mlx_lm.server on loopback makes the tokens, the playground renders
the prompt (and logs it) and answers the OpenAI client as it does with local tokens."""

from __future__ import annotations

import openai
import pytest
from conftest import DEMO_MODEL
from servers import MlxServer
from test_api import api_server

from playground.backends.spec import BackendSpec
from playground.engine import Engine
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

MESSAGES = [
    {"role": "system", "content": "Your name is Nova."},
    {"role": "user", "content": "My name is Emma."},
    {"role": "assistant", "content": "Nice to meet you, Emma!"},
    {"role": "user", "content": "What is my name?"},
]


@pytest.fixture(scope="module")
def mlx_server(tmp_path_factory):
    started = MlxServer(DEMO_MODEL, tmp_path_factory.mktemp("server"))
    try:
        yield started.wait_ready(timeout=90)
    finally:
        started.stop()


def test_the_api_in_front_of_mlx_lm_server_logs_the_prompt_and_answers_like_local(mlx_server, engine, demo):
    local = engine.generate(
        engine.prepare(demo, ChatRequest(messages=tuple(MESSAGES), settings=GenerationSettings(temperature=0)))
    )
    remote = Engine(backend=BackendSpec(kind="openai", base_url=mlx_server.base_url))
    with api_server(remote, str(DEMO_MODEL)) as (url, service):
        sdk = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        whole = sdk.chat.completions.create(model="demo-model", messages=MESSAGES, temperature=0, max_tokens=60)
        record = service.log.records()[0]
        streamed = sdk.chat.completions.create(
            model="demo-model", messages=MESSAGES, temperature=0, max_tokens=60, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert whole.choices[0].message.content == text == local.text == "Your name is Emma."
    assert whole.choices[0].finish_reason == "stop"
    assert not record.prepared.loaded.has_weights  # only the tokenizer and metadata here: the server generates
    assert record.prepared.text == engine.prepare(demo, ChatRequest(messages=tuple(MESSAGES))).text
    assert record.stats["source"] == "openai:mlx_lm.server"
    assert whole.usage.prompt_tokens == record.prepared.prompt_tokens
