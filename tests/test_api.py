"""The OpenAI-compatible API, driven by the real ``openai`` SDK against a real server on loopback: replies equal the
engine's own at temperature 0, streamed or not; tool loops, log-probabilities, concurrency, disconnects, every error
status, and the token never on record."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

import httpx
import openai
import pytest
from conftest import DEMO_MODEL

from playground.api.server import start_api_server
from playground.api.service import ApiService
from playground.engine import Engine
from playground.ports import free_port
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

HELLO = [{"role": "user", "content": "Hello!"}]
GREEDY = {"temperature": 0, "max_tokens": 30}


@contextlib.contextmanager
def api_server(engine: Engine, model: str, **options):
    """The API alone (as ``serve --api-only`` runs it) on a free loopback port: yields (base URL, service)."""
    service = ApiService(engine, default_model=model, **options)
    port = free_port()
    server, thread = start_api_server(service, port=port)
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", service
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def api_engine():
    engine = Engine(max_models=3)
    engine.load(str(DEMO_MODEL))
    return engine


@pytest.fixture(scope="module")
def api(api_engine):
    with api_server(api_engine, str(DEMO_MODEL)) as (url, service):
        yield url, service


def client(url: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=kwargs.pop("api_key", "unused"), max_retries=0, **kwargs)


def engine_reply(engine: Engine, messages, **settings):
    loaded = engine.load(str(DEMO_MODEL))
    prepared = engine.prepare(loaded, ChatRequest(messages=tuple(messages), settings=GenerationSettings(**settings)))
    return engine.generate(prepared), prepared


# ---------------------------------------------------------------------------------------------- replies


def test_models_lists_the_served_model(api):
    url, _ = api
    assert [m.id for m in client(url).models.list().data] == ["demo-model"]
    assert client(url).models.retrieve("demo-model").owned_by == "mlx-playground"
    with pytest.raises(openai.NotFoundError):
        client(url).models.retrieve("gpt-4")


def test_chat_plain_and_streamed_equal_generate_at_temperature_0(api, api_engine):
    url, service = api
    messages = [{"role": "system", "content": "Your name is Kim."}, {"role": "user", "content": "What is 4 + 5?"}]
    expected, prepared = engine_reply(api_engine, messages, **GREEDY)
    sdk = client(url)
    whole = sdk.chat.completions.create(model="demo-model", messages=messages, **GREEDY)
    assert whole.choices[0].message.content == expected.text == "4 + 5 = 9."
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage.prompt_tokens == prepared.prompt_tokens
    assert whole.usage.completion_tokens == expected.generated_tokens
    record = service.log.records()[0]
    assert record.prepared.text == prepared.text and record.reply["content"] == expected.text  # the exact prompt
    chunks = list(
        sdk.chat.completions.create(
            model="demo-model", messages=messages, stream=True, stream_options={"include_usage": True}, **GREEDY
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == expected.generated_tokens and not chunks[-1].choices


def test_completions_send_the_prompt_exactly_and_equal_generate(api, api_engine):
    url, service = api
    prompt = "<|im_start|>user\nWhat is 4 + 5?<|im_end|>\n<|im_start|>assistant\n"
    loaded = api_engine.load(str(DEMO_MODEL))
    expected = api_engine.generate(
        api_engine.prepare(loaded, ChatRequest(raw_prompt=prompt, settings=GenerationSettings(**GREEDY)))
    )
    sdk = client(url)
    assert sdk.completions.create(model="demo-model", prompt=prompt, **GREEDY).choices[0].text == expected.text
    assert service.log.records()[0].prepared.text == prompt
    streamed = sdk.completions.create(model="demo-model", prompt=prompt, stream=True, **GREEDY)
    assert "".join(c.choices[0].text for c in streamed) == expected.text == "4 + 5 = 9."


def test_logprobs_are_the_engines_token_probabilities(api, api_engine):
    url, _ = api
    expected, _ = engine_reply(api_engine, HELLO, **GREEDY)
    loaded = api_engine.load(str(DEMO_MODEL))
    with_probs = api_engine.generate(
        api_engine.prepare(
            loaded, ChatRequest(messages=tuple(HELLO), settings=GenerationSettings(**GREEDY), logprobs=3)
        )
    )
    reply = client(url).chat.completions.create(
        model="demo-model", messages=HELLO, logprobs=True, top_logprobs=3, **GREEDY
    )
    content = reply.choices[0].logprobs.content
    assert "".join(t.token for t in content) == expected.text  # the stop token is not part of the reply
    assert len(content) == len(with_probs.tokens) - 1
    for entry, info in zip(content, with_probs.tokens, strict=False):
        assert entry.logprob == pytest.approx(info.logprob, abs=1e-5)
        assert [t.token for t in entry.top_logprobs] == [t.text for t in info.top]
    streamed = client(url).chat.completions.create(
        model="demo-model", messages=HELLO, logprobs=True, top_logprobs=1, stream=True, **GREEDY
    )
    tokens = [t.token for c in streamed if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert "".join(tokens) == expected.text


# ---------------------------------------------------------------------------------------------- tools

CALL = '{"name":"get_weather","arguments":{"city":"Paris"}}'
#: A model that calls get_weather after a user turn and answers after a tool result (thinking off).
SCRIPT = {
    "assistant": "<tool_call>",
    "<tool_call>": CALL,
    CALL: "</tool_call>",
    "</tool_call>": "<|im_end|>",
    "</think>": "Sunny",
    "Sunny": "in",
    "in": "Paris.",
    "Paris.": "<|im_end|>",
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@pytest.fixture(scope="module")
def scripted_qwen3(tmp_path_factory):
    from toy_qwen3 import build_scripted_qwen3

    return build_scripted_qwen3(tmp_path_factory.mktemp("models") / "scripted-qwen3", SCRIPT)


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_loop_call_result_answer(api_engine, scripted_qwen3, stream):
    with api_server(api_engine, str(scripted_qwen3)) as (url, service):
        sdk = client(url)
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        first = sdk.chat.completions.create(
            model="scripted-qwen3", messages=messages, tools=TOOLS, stream=stream, **GREEDY
        )
        if stream:
            chunks = list(first)
            calls = [call for c in chunks for call in (c.choices[0].delta.tool_calls or [])]
            finish = chunks[-1].choices[0].finish_reason
            content = "".join(c.choices[0].delta.content or "" for c in chunks)
        else:
            calls, finish, content = first.choices[0].message.tool_calls, first.choices[0].finish_reason, ""
        assert finish == "tool_calls" and not content.strip()
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        assert calls[0].id.startswith("call_")
        assert '"name": "get_weather"' in service.log.records()[0].prepared.text  # the tools are in the prompt
        call = {"id": calls[0].id, "type": "function", "function": calls[0].function.model_dump()}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 22 C"},
        ]
        answer = sdk.chat.completions.create(
            model="scripted-qwen3",
            messages=messages,
            tools=TOOLS,
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
            **GREEDY,
        )
        assert answer.choices[0].message.content == "Sunny in Paris." and answer.choices[0].finish_reason == "stop"
        prompt = service.log.records()[0].prepared.text
        assert "<tool_response>\nsunny, 22 C\n</tool_response>" in prompt
        assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
        assert answer.usage.prompt_tokens_details.cached_tokens > 0  # the first request's prompt came from the cache


def test_tool_call_arguments_are_shaped_for_the_template(api_engine, scripted_qwen3):
    """OpenAI clients send arguments as a JSON string; GLM-4.5's template iterates them as a mapping."""
    from playground.engine import ChatSetup

    loaded = api_engine.load(str(scripted_qwen3))
    api_engine.set_chat_setup(loaded, ChatSetup(template="glm4.5"))
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    try:
        with api_server(api_engine, str(scripted_qwen3)) as (url, service):
            client(url).chat.completions.create(model="scripted-qwen3", messages=messages, tools=TOOLS, max_tokens=2)
            prompt = service.log.records()[0].prepared.text
    finally:
        api_engine.set_chat_setup(loaded, ChatSetup())
    assert "<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>" in prompt


def test_tool_choice_none_leaves_the_tools_out(api_engine, scripted_qwen3):
    with api_server(api_engine, str(scripted_qwen3)) as (url, service):
        client(url).chat.completions.create(
            model="scripted-qwen3", messages=HELLO, tools=TOOLS, tool_choice="none", max_tokens=3
        )
        record = service.log.records()[0]
        assert "get_weather" not in record.prepared.text and "tool_choice none" in " ".join(record.notes)


# ---------------------------------------------------------------------------------------------- load


def test_eight_concurrent_clients_each_get_their_own_reply(api, api_engine):
    url, _ = api
    questions = [f"What is {a} + {b}?" for a, b in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1), (2, 2), (3, 3), (1, 1)]]
    expected = [engine_reply(api_engine, [{"role": "user", "content": q}], **GREEDY)[0].text for q in questions]
    results: list = [None] * len(questions)

    def ask(index: int) -> None:
        stream = index % 2 == 1
        reply = client(url).chat.completions.create(
            model="demo-model", messages=[{"role": "user", "content": questions[index]}], stream=stream, **GREEDY
        )
        if stream:
            results[index] = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            results[index] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == expected


@pytest.fixture(scope="module")
def endless(api_engine, toy_qwen3):
    """The API over the toy Qwen3 whose replies never stop by themselves."""
    with api_server(api_engine, str(toy_qwen3), max_pending=1) as (url, service):
        yield url, service


def _wait_finished(service: ApiService, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = service.log.records()[0]
        if record.status != "running":
            return record
        time.sleep(0.05)
    raise AssertionError("the request never finished")


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_disconnects_stops_its_generation(endless, api_engine, stream):
    url, service = endless
    body = {"model": "toy-qwen3", "messages": HELLO, "max_tokens": 30000, "temperature": 0, "stream": stream}
    with httpx.Client(timeout=30) as http:
        if stream:
            with http.stream("POST", f"{url}/chat/completions", json=body) as response:
                lines = response.iter_lines()
                assert [next(lines) for _ in range(6)]  # a few chunks arrived: it is generating
        else:
            with pytest.raises(httpx.ReadTimeout):
                http.post(f"{url}/chat/completions", json=body, timeout=1.5)
    record = _wait_finished(service)
    assert record.stats["finish_reason"] == "cancelled"
    assert 0 < record.stats["generation_tokens"] < 30000
    assert api_engine.scheduler.call(api_engine.scheduler._active) == 0  # nothing is decoding any more


def test_requests_beyond_the_queue_get_429_with_retry_after(endless):
    url, service = endless
    body = {"model": "toy-qwen3", "messages": HELLO, "max_tokens": 30000, "temperature": 0, "stream": True}
    with httpx.Client(timeout=30) as http, http.stream("POST", f"{url}/chat/completions", json=body) as busy:
        lines = busy.iter_lines()  # kept: a dropped line iterator closes the connection, which cancels the request
        next(lines)
        refused = http.post(f"{url}/chat/completions", json={**body, "stream": False})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(openai.RateLimitError):
            client(url).chat.completions.create(model="toy-qwen3", messages=HELLO, max_tokens=2)
    _wait_finished(service)


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/chat/completions", b"{not json", 400, "not valid JSON"),
        ("POST", "/chat/completions", {"model": "demo-model", "messages": HELLO, "temperature": 9}, 400, "temperature"),
        ("POST", "/chat/completions", {"messages": HELLO, "response_format": {"type": "yaml"}}, 422, "not known"),
        (
            "POST",
            "/chat/completions",
            {"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {"schema": 5}}},
            400,
            "must be a JSON object",
        ),
        ("POST", "/chat/completions", {"messages": HELLO, "tool_choice": "required"}, 400, "tool"),
        ("POST", "/chat/completions", {"messages": HELLO, "n": 2}, 400, "n must be 1"),
        (
            "POST",
            "/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            "image",
        ),
        ("POST", "/chat/completions", {"messages": [{"role": 42, "content": "hi"}]}, 400, "role must be"),
        ("POST", "/chat/completions", {"messages": "Hello!"}, 422, "messages must be"),
        ("POST", "/chat/completions", {"messages": HELLO, "logprobs": "yes"}, 422, "logprobs must be"),
        ("POST", "/chat/completions", {"model": "gpt-4", "messages": HELLO}, 404, "'gpt-4' does not exist"),
        ("POST", "/completions", {"prompt": 42}, 422, "prompt must be a string"),
        ("POST", "/completions", {"prompt": "a", "echo": True}, 400, "echo"),
        ("GET", "/chat/completions", None, 405, "takes POST"),
        ("POST", "/embeddings", {"input": "x"}, 404, "no such endpoint"),
        ("POST", "/chat/completions", [1, 2], 422, "JSON object"),
    ],
)
def test_bad_requests_get_openai_style_json_errors(api, method, path, body, status, says):
    url, _ = api
    content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    response = httpx.request(method, url + path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert says in error["message"] and set(error) >= {"message", "type", "param", "code"}
    assert "Traceback" not in response.text


def test_a_template_that_raises_is_a_400_with_its_message_and_hint(api, api_engine):
    url, _ = api
    loaded = api_engine.load(str(DEMO_MODEL))
    from playground.engine import ChatSetup

    api_engine.set_chat_setup(loaded, ChatSetup(template="gemma", system_strategy="strict"))
    try:
        with pytest.raises(openai.BadRequestError) as caught:
            client(url).chat.completions.create(
                model="demo-model", messages=[{"role": "system", "content": "Be brief."}, *HELLO]
            )
    finally:
        api_engine.set_chat_setup(loaded, ChatSetup())
    assert caught.value.status_code == 400 and caught.value.body["hint"]


def test_the_token_is_required_and_never_on_record(api_engine, caplog):
    token = "s3cret-token-4242"
    caplog.set_level(logging.DEBUG)
    with api_server(api_engine, str(DEMO_MODEL), api_token=token) as (url, service):
        with pytest.raises(openai.AuthenticationError):
            client(url).models.list()
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key="wrong").chat.completions.create(model="demo-model", messages=HELLO)
        missing = httpx.get(f"{url}/models")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        sdk = client(url, api_key=token)
        assert sdk.models.list().data
        leaky = [{"role": "user", "content": f"my token is {token}"}]
        sdk.chat.completions.create(model="demo-model", messages=leaky, extra_body={"api_key": token}, max_tokens=3)
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(model="demo-model", messages=leaky, temperature=-1)
        recorded = json.dumps([(r.request_json, r.error, r.client, r.row()) for r in service.log.records()])
    assert token not in recorded and "***" in recorded
    assert token not in caplog.text


def test_response_format_json_schema_constrains_the_reply(api):
    url, service = api
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer", "enum": [7, 8, 9, 10]}},  # an open integer never ends here
        "required": ["answer"],
        "additionalProperties": False,
    }
    for stream in (False, True):
        reply = client(url).chat.completions.create(
            model="demo-model",
            messages=[{"role": "user", "content": "What is 4 + 5?"}],
            response_format={"type": "json_schema", "json_schema": {"name": "sum", "schema": schema}},
            stream=stream,
            **GREEDY,
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            text = reply.choices[0].message.content
        assert json.loads(text)["answer"] in (7, 8, 9, 10)
        assert service.log.records()[0].prepared.request.constraint.kind == "json_schema"
    plain = client(url).chat.completions.create(
        model="demo-model", messages=HELLO, response_format={"type": "json_object"}, **GREEDY
    )
    # Unconstrained the demo model says "Hi! How can I help you today?"; it cannot close a JSON string in 30 tokens.
    assert plain.choices[0].message.content.startswith('{"')
    assert service.log.records()[0].prepared.request.constraint.kind == "json_object"


BOUNDED = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 12}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


@pytest.mark.slow
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_tool_choice_forces_a_call_the_model_would_not_make(api, api_engine, choice):
    """The demo model knows no tools; rendered with Qwen3's template (chosen in the page), a required call is
    still made in Hermes' format, its arguments valid against the tool's schema (a bounded one: the demo model
    would otherwise never end the city's name)."""
    from playground.engine import ChatSetup

    url, service = api
    loaded = api_engine.load(str(DEMO_MODEL))
    api_engine.set_chat_setup(loaded, ChatSetup(template="qwen3"))
    try:
        reply = client(url).chat.completions.create(
            model="demo-model", messages=HELLO, tools=BOUNDED, tool_choice=choice, temperature=0, max_tokens=200
        )
    finally:
        api_engine.set_chat_setup(loaded, ChatSetup())
    calls = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["get_weather"]
    assert isinstance(json.loads(calls[0].function.arguments)["city"], str)
    assert service.log.records()[0].prepared.request.constraint.kind == "tool_call"


# ---------------------------------------------------------------------------------------------- the request log

#: A Qwen3 that thinks, then answers (its reasoning is dropped from the history by Qwen3's template).
THINKER = {
    "assistant": "<think>",
    "<think>": "Let",
    "Let": "me",
    "me": "think.",
    "think.": "</think>",
    "</think>": "Hi",
    "Hi": "<|im_end|>",
}


@pytest.fixture(scope="module")
def thinker(tmp_path_factory):
    from toy_qwen3 import build_scripted_qwen3

    return build_scripted_qwen3(tmp_path_factory.mktemp("models") / "thinker", THINKER)


def test_the_log_says_where_a_prompt_leaves_the_clients_previous_one(api_engine, thinker):
    with api_server(api_engine, str(thinker)) as (url, service):
        sdk = client(url)
        messages = [{"role": "user", "content": "Hello!"}]
        first = sdk.chat.completions.create(model="thinker", messages=messages, user="agent-1", **GREEDY)
        said = first.choices[0].message  # the toy's word-level tokenizer puts a space before each word
        assert said.content.strip() == "Hi" and said.model_extra["reasoning_content"].strip() == "Let me think."
        assert said.model_extra["reasoning"] == said.model_extra["reasoning_content"]
        messages += [said.model_dump(exclude_none=True), {"role": "user", "content": "And now?"}]
        sdk.chat.completions.create(model="thinker", messages=messages, user="agent-1", **GREEDY)
        second, opening = service.log.records()[0], service.log.records()[1]
        assert opening.difference is None  # the client's first request
        difference = second.difference
        assert difference.in_previous_reply and "reasoning is not in this prompt" in difference.cause
        assert "<think>" in difference.before and "<think>" not in difference.now
        assert difference.where == "message 2 (assistant)"
        for day in ("2026-12-03", "2026-12-04"):
            dated = [{"role": "system", "content": f"Today is {day}."}, {"role": "user", "content": "Hello!"}]
            sdk.chat.completions.create(model="thinker", messages=dated, user="agent-2", max_tokens=2)
        dated = service.log.records()[0]
        assert "a date or time" in dated.difference.cause and dated.difference.where == "message 1 (system)"
        row = dated.row()
        assert row["client"] == "agent-2" and row["model"] == "thinker" and row["finish"] == "length"
        assert row["prompt_tokens"] == dated.prepared.prompt_tokens and row["cached_tokens"] > 0


def test_a_thinking_budget_from_the_request_ends_the_thinking(api_engine, thinker):
    with api_server(api_engine, str(thinker)) as (url, _):
        reply = client(url).chat.completions.create(
            model="thinker", messages=HELLO, extra_body={"thinking_budget": 1}, **GREEDY
        )
    said = reply.choices[0].message
    assert said.model_extra["reasoning_content"].strip() == "Let" and said.content.strip() == "Hi"
