"""The Requests tab's handlers, by name, on real API requests: the real ``openai`` SDK against the API served on
loopback, then the tab's list, its selection and Open in Chat as the page calls them (a fake request carrying a
``session_hash``), and Regenerate in the chat that the request was opened in."""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import openai
import pytest
from conftest import DEMO_MODEL
from test_api import THINKER, TOOLS, api_server, client
from test_ui_handlers import CHAT_DEFAULTS, req, stream

from playground.engine import ChatSetup, Engine
from playground.prepare import ChatRequest
from playground.ui import views
from playground.ui.app import CHAT, OPEN, PlaygroundApp, build_blocks
from playground.ui.requests import DETAILS, LISTED, TAB_LABEL

MODEL = str(DEMO_MODEL)
TOKEN = "tok-Requests-Tab-7f3a9"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
GREEDY = {"temperature": 0, "max_tokens": 20}


@pytest.fixture(scope="module")
def engine():
    engine = Engine(max_models=3)
    engine.load(MODEL)
    return engine


@contextlib.contextmanager
def served(engine, model=MODEL, **options):
    """The API on loopback and a page app whose Requests tab reads its log: yields (SDK client, service, app)."""
    with api_server(engine, model, **options) as (url, service):
        app = PlaygroundApp(engine, default_model=model, api=service, api_url=url)
        yield client(url, api_key=options.get("api_token", "unused")), service, app


@pytest.fixture(scope="module")
def tab(engine):
    with served(engine) as parts:
        yield parts


def look(app, selected="", shown=None):
    """The list's refresh (after the log's version changed); its outputs by name (each of them wired)."""
    out = app.requests.refresh(selected, shown)
    assert set(out) <= set(LISTED)
    return out


def row_of(table, request_id):
    return next(row for row in table if row[1] == request_id)


def page_values(opened):
    """What the page sends for the Chat after Open in Chat wrote its components (an update's value, else as before)."""
    values = dict(CHAT_DEFAULTS)
    for name in CHAT:
        if name in opened:
            value = opened[name]
            if isinstance(value, dict) and value.get("__type__") == "update":
                if "value" not in value:
                    continue
                value = value["value"]
            values[name] = value
    return values


def rerun(app, r, opened):
    """Regenerate in the chat the request was opened in; returns (the prepared rerun, its final chat update)."""
    regenerated = app.chat.regenerate(r, **page_values(opened))
    assert regenerated["chat_error"] == "", regenerated
    prepared = app.core.session(r).turn.prepared
    return prepared, stream(app, r)[-1]


# ---------------------------------------------------------------------------------------------- the list


def test_the_newest_request_is_listed_and_shown_with_its_exact_prompt(tab, engine):
    sdk, service, app = tab
    body = {"model": "demo-model", "messages": HELLO, **GREEDY}
    reply = sdk.chat.completions.create(**body)
    record = service.log.records()[0]
    out = look(app)
    first = out["requests_list"][0]
    assert first[:2] == ["▶", record.id] and first[3] == "demo-model" and first[-1] == "stop"
    assert first[5] == str(reply.usage.prompt_tokens) and first[6] == str(reply.usage.completion_tokens)
    assert float(first[8]) > 0 and float(first[9]) > 0  # TTFT and tokens/s
    assert out["requests_shown"] == (record.id, "done", True)
    # the exact prompt, as the engine renders these messages for this model, in the Chat's coloured panel
    expected = engine.prepare(engine.load(MODEL), ChatRequest(messages=tuple(HELLO))).text
    assert record.prepared.text == expected
    body_html = views.prompt_body(record.prepared.rendered, expected, record.prepared.loaded.special_tokens())
    assert body_html in out["requests_prompt"] and f"The exact prompt of {record.id}" in out["requests_prompt"]
    assert json.loads(out["requests_json"]) == body  # the request as received
    assert out["requests_reply"] == [{"role": "assistant", "content": reply.choices[0].message.content}]
    summary = out["requests_summary"]
    assert f"{record.id} · " in summary and "/v1/chat/completions" in summary and "stop on" in summary
    assert "Cache: " in summary and "this client for this model" in summary  # its first request: nothing to compare
    assert "did not ask for log-probabilities" in out["requests_tokens"]
    assert out["requests_open"]["interactive"] is True and out["requests_open"]["value"] == "Open in Chat"


def test_an_idle_look_changes_nothing_and_a_new_request_is_drawn(tab):
    sdk, _, app = tab
    sdk.chat.completions.create(model="demo-model", messages=HELLO, **GREEDY)
    seen = look(app)
    version = seen["requests_version"]
    assert app.requests.poll(version) == {"requests_version": version}  # the same number: the page does nothing
    sdk.chat.completions.create(model="demo-model", messages=[{"role": "user", "content": "What is 4 + 5?"}], **GREEDY)
    assert app.requests.poll(version)["requests_version"] > version  # a new number: the page asks for the list
    new = look(app, "", seen["requests_shown"])
    assert new["requests_version"] > version and new["requests_shown"] != seen["requests_shown"]
    assert new["requests_list"][1][1] == seen["requests_shown"][0] and new["requests_list"][0][0] == "▶"
    assert "What is 4 + 5?" in new["requests_prompt"]


def test_a_selection_stays_while_new_requests_arrive(tab):
    sdk, service, app = tab
    for text in ("Hello!", "What is 2 + 3?"):
        sdk.chat.completions.create(model="demo-model", messages=[{"role": "user", "content": text}], **GREEDY)
    older = service.log.records()[1]
    shown = look(app)
    row = row_of(shown["requests_list"], older.id)
    picked = app.requests.select(SimpleNamespace(row_value=row, value=row[3], index=[1, 3]), "", None)
    assert set(picked) <= {"requests_selected", *LISTED}
    assert picked["requests_selected"] == older.id and picked["requests_shown"][0] == older.id
    assert row_of(picked["requests_list"], older.id)[0] == "▶" and "Hello!" in picked["requests_prompt"]
    sdk.chat.completions.create(model="demo-model", messages=[{"role": "user", "content": "Bye"}], **GREEDY)
    later = look(app, older.id, picked["requests_shown"])
    assert later["requests_list"][0][1] == service.log.records()[0].id and later["requests_list"][0][0] == ""
    assert row_of(later["requests_list"], older.id)[0] == "▶"
    assert not set(DETAILS) & set(later)  # the request shown is the same: its details are left as they are
    newest = app.requests.follow(older.id, picked["requests_shown"])
    assert newest["requests_selected"] == "" and newest["requests_shown"][0] == service.log.records()[0].id


def test_cached_prompt_tokens_and_where_the_prompt_first_differs(tab):
    sdk, _, app = tab
    for day in ("2026-12-03", "2026-12-04"):
        dated = [{"role": "system", "content": f"Today is {day}. Answer in uppercase."}, HELLO[1]]
        sdk.chat.completions.create(model="demo-model", messages=dated, user="agent-7", **GREEDY)
    out = look(app)
    summary = out["requests_summary"]
    assert "client &#x27;agent-7&#x27;" in summary and "message 1 (system)" in summary and "a date or time" in summary
    assert '<mark class="pg-ins">3' in summary and '<mark class="pg-ins">4' in summary  # the point, marked
    cached = int(out["requests_list"][0][7])
    assert cached > 0 and f"Cache: {cached:,} of the" in summary


def test_a_failed_request_is_listed_with_its_error_and_cannot_be_opened(tab):
    sdk, service, app = tab
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="demo-model", messages=HELLO, temperature=7)
    out = look(app)
    assert out["requests_list"][0][-1] == "error" and "HTTP 400" in out["requests_summary"]
    assert "temperature" in out["requests_summary"] and out["requests_open"]["interactive"] is False
    refused = app.requests.open_in_chat(req(), out["requests_shown"])
    assert list(refused) == ["requests_message"] and "failed before its prompt was built" in refused["requests_message"]


def test_the_timer_runs_only_while_the_tab_is_open(tab):
    _, _, app = tab
    opened = app.requests.tab_selected(SimpleNamespace(value=TAB_LABEL), "", None)
    assert opened["requests_timer"].active is True and opened["requests_list"]
    closed = app.requests.tab_selected(SimpleNamespace(value="Chat"), "", None)
    assert list(closed) == ["requests_timer"] and closed["requests_timer"].active is False


# ---------------------------------------------------------------------------------------------- open in chat


def test_open_in_chat_loads_the_conversation_and_regenerate_reruns_the_exact_prompt(tab):
    sdk, service, app = tab
    reply = sdk.chat.completions.create(model="demo-model", messages=HELLO, seed=11, stop=["zzz"], **GREEDY)
    record = service.log.records()[0]
    r = req()
    opened = app.requests.open_in_chat(r, look(app)["requests_shown"])
    assert set(opened) <= set(OPEN)
    said = reply.choices[0].message.content
    assert app.core.session(r).conversation == [HELLO[1], {"role": "assistant", "content": said}]
    assert opened["system"] == "Be brief." and opened["template"]["value"] == "auto"
    assert opened["temperature"] == 0 and opened["max_tokens"] == 20 and opened["seed"] == "11"
    assert opened["stop"] == "zzz" and opened["tabs"].selected == "chat" and opened["requests_timer"].active is False
    assert opened["chat"][-1]["content"] == said and f"API request {record.id}" in opened["stats"]
    prepared, final = rerun(app, r, opened)
    assert prepared.text == record.prepared.text  # the chat sends exactly what the client sent
    assert prepared.settings.max_tokens == 20 and prepared.settings.seed == 11
    assert final["chat"][-1]["content"] == said and final["branch_label"] == "Alternative **2 / 2**"


def test_open_in_chat_takes_the_template_the_request_used(tab, engine):
    sdk, service, app = tab
    loaded = engine.load(MODEL)
    page = req()
    preview = app.chat.preview(page, **{**CHAT_DEFAULTS, "template": "llama2", "message": "Hi"})  # the page's choice
    assert "[INST]" in preview["prompt"]
    try:
        sdk.chat.completions.create(model="demo-model", messages=HELLO, **GREEDY)
        record = service.log.records()[0]
        assert record.prepared.template.name == "llama2"
        r = req()
        opened = app.requests.open_in_chat(r, look(app)["requests_shown"])
        assert opened["template"]["value"] == "llama2"
        prepared, _ = rerun(app, r, opened)
        assert prepared.text == record.prepared.text and prepared.template.name == "llama2"
    finally:
        engine.set_chat_setup(loaded, ChatSetup())


def test_a_custom_template_goes_with_the_request(tab, engine):
    sdk, service, app = tab
    loaded, custom = (
        engine.load(MODEL),
        "{% for m in messages %}<|im_start|>{{ m.role }}: {{ m.content }}<|im_end|>\n{% endfor %}",
    )
    page = req()
    app.lab.use(custom + "<|im_start|>assistant\n", page)
    app.chat.preview(page, **{**CHAT_DEFAULTS, "template": "custom", "message": "Hi"})
    try:
        sdk.chat.completions.create(model="demo-model", messages=HELLO, **GREEDY)
        record = service.log.records()[0]
        assert record.prepared.text.startswith("<|im_start|>system: Be brief.")
        r = req()
        opened = app.requests.open_in_chat(r, look(app)["requests_shown"])
        assert opened["template"]["value"] == "custom" and ("custom (from the Template lab)", "custom") in opened[
            "template"]["choices"]  # fmt: skip
        prepared, _ = rerun(app, r, opened)
        assert prepared.text == record.prepared.text
    finally:
        engine.set_chat_setup(loaded, ChatSetup())


def test_tools_keywords_structured_output_and_settings_go_to_the_sidebar(tab):
    sdk, service, app = tab
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    sdk.chat.completions.create(
        model="demo-model", messages=HELLO, tools=TOOLS, top_p=0.5, presence_penalty=0.25, seed=3, max_tokens=12,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        extra_body={"chat_template_kwargs": {"flavour": "plain"}, "top_k": 7},
    )  # fmt: skip
    record = service.log.records()[0]
    r = req()
    opened = app.requests.open_in_chat(r, look(app)["requests_shown"])
    assert json.loads(opened["tools"]) == TOOLS and json.loads(opened["template_kwargs"]) == {"flavour": "plain"}
    assert opened["constraint_kind"] == "JSON schema" and json.loads(opened["json_schema"]) == schema
    assert (opened["top_p"], opened["presence_penalty"], opened["top_k"], opened["max_tokens"]) == (0.5, 0.25, 7, 12)
    prepared, _ = rerun(app, r, opened)
    assert prepared.text == record.prepared.text and prepared.request.tools == record.prepared.request.tools
    assert prepared.settings == record.prepared.settings
    assert prepared.request.constraint.kind == "json_schema"
    assert json.loads(prepared.request.constraint.value) == schema


def test_a_reply_with_thinking_opens_with_its_reasoning_and_the_thinking_setting(engine, tmp_path):
    from toy_qwen3 import build_scripted_qwen3

    thinker = str(build_scripted_qwen3(tmp_path / "thinker", THINKER))
    with served(engine, thinker) as (sdk, service, app):
        for kwargs in ({}, {"chat_template_kwargs": {"enable_thinking": False}}):
            sdk.chat.completions.create(model="thinker", messages=HELLO, extra_body=kwargs, **GREEDY)
            record = service.log.records()[0]
            out = look(app)
            r = req()
            opened = app.requests.open_in_chat(r, out["requests_shown"])
            prepared, _ = rerun(app, r, opened)
            assert prepared.text == record.prepared.text, kwargs
        thought = service.log.records()[1]
        assert thought.reply["reasoning_content"].strip() == "Let me think."
        shown = app.requests.select(SimpleNamespace(row_value=["", thought.id]), "", None)
        assert [item.get("metadata", {}).get("title") for item in shown["requests_reply"]] == ["Thinking", None]
        opened = app.requests.open_in_chat(req(), shown["requests_shown"])
        assert opened["enable_thinking"] is True and opened["template_kwargs"] == ""
        assert opened["chat"][-2]["metadata"]["title"] == "Thinking"


def test_a_request_for_another_loaded_model_switches_the_chat_to_it(engine, tmp_path):
    from toy_qwen3 import build_scripted_qwen3

    thinker = str(build_scripted_qwen3(tmp_path / "thinker", THINKER))
    with served(engine, thinker) as (sdk, service, app):  # the page's model: the thinker; demo-model is loaded too
        sdk.chat.completions.create(model="demo-model", messages=HELLO, **GREEDY)
        record = service.log.records()[0]
        r = req()
        opened = app.requests.open_in_chat(r, look(app)["requests_shown"])
        assert opened["model"]["value"] == str(record.prepared.loaded.path) == app.core.session(r).model
        prepared, _ = rerun(app, r, opened)
        assert prepared.text == record.prepared.text and prepared.loaded.path == record.prepared.loaded.path


def test_a_completion_opens_in_the_notebook(tab):
    sdk, service, app = tab
    prompt = "<|im_start|>user\nWhat is 4 + 5?<|im_end|>\n<|im_start|>assistant\n"
    sdk.completions.create(model="demo-model", prompt=prompt, **GREEDY)
    record = service.log.records()[0]
    out = look(app)
    assert (
        out["requests_open"]["value"] == "Open in Notebook" and record.raw_text in out["requests_reply"][0]["content"]
    )
    r = req()
    opened = app.requests.open_in_chat(r, out["requests_shown"])
    assert opened["notebook_input"] == prompt and opened["tabs"].selected == "notebook" and "chat" not in opened
    settings = {name: value for name, value in page_values(opened).items() if name != "message"}
    list(app.notebook.run(r, text=opened["notebook_input"], **settings))
    assert app.core.session(r).notebook_last == record.raw_text  # the same continuation at temperature 0


# ---------------------------------------------------------------------------------------------- secrets, no API


def test_the_api_token_never_appears(engine):
    with served(engine, api_token=TOKEN) as (sdk, service, app):
        messages = [{"role": "user", "content": f"my key is {TOKEN}"}]
        sdk.chat.completions.create(model="demo-model", messages=messages, extra_body={"api_key": TOKEN}, **GREEDY)
        assert app.requests.intro().count("Bearer") == 1 and TOKEN not in app.requests.intro()
        out = look(app)
        r = req()
        opened = app.requests.open_in_chat(r, out["requests_shown"])
        shown = json.dumps([out, opened, app.core.session(r).conversation], default=str)
        assert TOKEN not in shown and "my key is ***" in shown


def test_without_the_api_the_tab_says_how_to_get_requests(engine):
    app = PlaygroundApp(engine, default_model=MODEL)
    assert app.requests.poll(-1) == {}
    assert app.requests.tab_selected(SimpleNamespace(value=TAB_LABEL), "", None)["requests_timer"].active is False
    assert app.requests.open_in_chat(req(), None) == {"requests_message": views.error_html(
        "Select a request first (the log keeps the last requests only).")}  # fmt: skip
    page = build_blocks(app).page
    notice = page["requests_notice"].value
    assert "No API on this page" in notice and "mlx-playground serve" in notice and "/v1" in notice
