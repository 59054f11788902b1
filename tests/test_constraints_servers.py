"""Constraints on server backends: sent in each server's own fields (stub servers replaying the documented shapes,
see test_backends_stubs), or refused with one error and a hint: never sent unconstrained."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO_MODEL
from servers import Reply
from test_backends_stubs import engine_for, generic, llama, ollama, vllm  # noqa: F401 (fixtures)

from playground.constraints import Constraint
from playground.constraints.remote import openai_fields
from playground.errors import BackendError
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

pytestmark = pytest.mark.timeout(60)

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
GBNF = 'root ::= "yes" | "no"'
LARK = 'start: "yes" | "no"'


def asking(constraint=None, **settings):
    return ChatRequest(
        messages=({"role": "user", "content": "Hello!"},),
        settings=GenerationSettings(temperature=0.0, max_tokens=20, **settings),
        constraint=constraint,
    )


def plan_body(engine, request):
    prepared = engine.prepare(engine.load(str(DEMO_MODEL)), request)
    return engine.backend().plan(prepared)[0]


SENT = [
    ("vllm", "0.10.1", Constraint("json_schema", json.dumps(SCHEMA)), {"guided_json": SCHEMA}),
    ("vllm", "0.12.0", Constraint("json_schema", json.dumps(SCHEMA)), {"structured_outputs": {"json": SCHEMA}}),
    ("vllm", "0.12.0", Constraint("json_object"), {"structured_outputs": {"json": {"type": "object"}}}),
    ("vllm", "0.12.0", Constraint("regex", "[0-9]+"), {"structured_outputs": {"regex": "[0-9]+"}}),
    ("vllm", "0.10.1", Constraint("grammar", LARK), {"guided_grammar": LARK}),
    ("llama", None, Constraint("json_schema", json.dumps(SCHEMA)), {"json_schema": SCHEMA}),
    ("llama", None, Constraint("grammar", GBNF), {"grammar": GBNF}),
]


@pytest.mark.parametrize("server, version, constraint, fields", SENT)
def test_the_constraint_goes_in_the_servers_own_fields(request, server, version, constraint, fields):
    stub = request.getfixturevalue(server)
    if version:
        stub.routes[("GET", "/version")] = Reply.json({"version": version})
    body = plan_body(engine_for("openai", f"{stub.url}/v1"), asking(constraint))
    assert {key: body[key] for key in fields} == fields


def test_ollama_gets_the_schema_or_json_as_format(ollama):  # noqa: F811
    engine = engine_for("ollama", ollama.url)
    assert plan_body(engine, asking(Constraint("json_schema", json.dumps(SCHEMA))))["format"] == SCHEMA
    assert plan_body(engine, asking(Constraint("json_object")))["format"] == "json"
    assert "format" not in plan_body(engine, asking())


REFUSED = [
    ("llama", Constraint("regex", "[0-9]+"), "llama.cpp cannot apply a regular expression", "GBNF"),
    ("llama", Constraint("grammar", LARK), "llama.cpp cannot apply a Lark grammar", "GBNF"),
    ("generic", Constraint("json_object"), "this server's kind is unknown", "vLLM, llama.cpp or Ollama"),
    ("ollama", Constraint("regex", "[0-9]+"), "Ollama takes a JSON schema or any JSON as format, not a regex", "JSON"),
]


@pytest.mark.parametrize("server, constraint, message, hint", REFUSED)
def test_a_constraint_a_server_cannot_apply_is_refused(request, server, constraint, message, hint):
    stub = request.getfixturevalue(server)
    engine = engine_for(
        server if server == "ollama" else "openai", stub.url if server == "ollama" else f"{stub.url}/v1"
    )
    with pytest.raises(BackendError) as info:
        plan_body(engine, asking(constraint))
    assert message in info.value.message and hint in info.value.hint
    assert not [r for r in stub.requests if r[0] == "POST"]  # nothing was generated unconstrained


def test_mlx_lm_server_is_refused_by_name(engine, demo):
    prepared = engine.prepare(demo, asking(Constraint("json_object")))
    with pytest.raises(BackendError, match="mlx_lm.server has no structured output") as info:
        openai_fields("mlx_lm.server", prepared)
    assert "local backend" in info.value.hint
    assert openai_fields("mlx_lm.server", engine.prepare(demo, asking())) == {}


def test_what_only_the_local_processor_does_is_refused_on_a_server(vllm):  # noqa: F811
    engine = engine_for("openai", f"{vllm.url}/v1")
    with pytest.raises(BackendError, match="the thinking budget needs the local backend"):
        plan_body(engine, asking(thinking_budget=5).replace(template="qwen3"))
    with pytest.raises(BackendError, match="to the thinking too") as info:
        plan_body(engine, asking(Constraint("json_object")).replace(template="qwen3"))
    assert "enable_thinking false" in info.value.hint
    off = asking(Constraint("json_object")).replace(template="qwen3", template_kwargs={"enable_thinking": False})
    assert plan_body(engine, off)["guided_json"] == {"type": "object"}  # the prompt closed the thinking
