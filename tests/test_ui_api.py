"""The running app driven through its HTTP API with gradio_client, by parameter name (the handlers' names).

A chat request is two calls in one client session, like the page's two steps: ``/send`` (validate, record,
clear the box) then ``/stream`` (the reply). An endpoint returns its outputs in the order they are wired
(``playground.ui.app``); :func:`call` gives them their names.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import DEMO_MODEL
from gradio_client import Client

from playground.ui.app import ACCEPT, CONVERSATION, LOAD, RERUN, STREAM
from playground.ui.layout import COLUMNS

pytestmark = pytest.mark.slow

MODEL = str(DEMO_MODEL)
COMPARE = (
    *(f"compare_{name}_{i}" for i in range(1, COLUMNS + 1) for name in ("prompt", "chat", "stats", "tokens")),
    "compare_diff",
    "compare_error",
)
VIEWS = tuple(name for name in CONVERSATION if name != "branch_row")  # a layout block is not an API output
OUTPUTS = {
    "/send": ACCEPT, "/stream": STREAM, "/regenerate": RERUN, "/continue": RERUN, "/clear": VIEWS,
    "/previous_alternative": VIEWS, "/import": (*VIEWS, "system"), "/load_model": LOAD,
    "/compare": COMPARE, "/notebook": ("notebook_output", "notebook_stats", "notebook_tokens", "notebook_error"),
    "/lab_render": ("lab_output", "lab_errors", "lab_lint", "lab_tokens"),
}  # fmt: skip


@pytest.fixture
def client(server):
    return Client(server, verbose=False)


def message(text):
    return {"text": text, "files": []}


def text_of(item):
    content = item["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


def call(client, api_name, **params):
    """``api_name`` called with ``params``; its outputs by name."""
    result = client.predict(api_name=api_name, **params)
    names = OUTPUTS[api_name]
    return dict(zip(names, result if len(names) > 1 else (result,), strict=True))


def chat(client, text, **settings):
    """/send then /stream; returns (send outputs, stream outputs)."""
    settings.setdefault("temperature", "0")
    settings.setdefault("max_tokens", "40")
    sent = call(client, "/send", message=message(text), **settings)
    assert sent["chat_error"] == "", sent["chat_error"]
    return sent, call(client, "/stream")


def test_every_parameter_has_a_default_so_calls_name_only_what_they_change(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    required = {name: [p["parameter_name"] for p in info["parameters"] if not p["parameter_has_default"]]
                for name, info in endpoints.items()}
    assert {name: params for name, params in required.items() if params} == {}
    send = [p["parameter_name"] for p in endpoints["/send"]["parameters"]]
    assert {"message", "temperature", "max_tokens", "seed", "wire_eos", "template", "system"} <= set(send)


def test_send_then_stream_gives_the_reply_and_its_stats(client):
    sent, streamed = chat(client, "Hello!")
    prompt = sent["prompt"]
    assert sent["message"] == message("") and "&lt;|im_start|&gt;" in prompt and "this request" in prompt
    history, stats, tokens = streamed["chat"], streamed["stats"], streamed["tokens"]
    assert [m["role"] for m in history] == ["user", "assistant"] and text_of(history[1]).strip()
    assert stats.startswith("**stop** `<|im_end|>`") and "seed " in stats and streamed["chat_error"] == ""
    assert "pg-token-view" in tokens and "pg-eos-chart" in tokens


def test_the_stream_streams_several_updates(client):
    client.predict(message=message("Hello!"), wire_eos=False, max_tokens="200", api_name="/send")
    job = client.submit(api_name="/stream")
    updates = [dict(zip(STREAM, u, strict=True)) for u in job]
    assert len(updates) >= 3 and any("generating" in u["stats"] for u in updates)
    assert dict(zip(STREAM, job.result(), strict=True))["stats"].startswith("**length** · 200 tokens")


def test_settings_reach_the_sampler(client):
    short = chat(client, "Hello!", wire_eos=False, max_tokens="3")[1]
    assert short["stats"].startswith("**length** · 3 tokens")
    a = chat(client, "Hello!", temperature="1.5", seed="5", max_tokens="20")[1]
    client.predict(api_name="/clear")
    b = chat(client, "Hello!", temperature="1.5", seed="5", max_tokens="20")[1]
    assert text_of(a["chat"][-1]) == text_of(b["chat"][-1]) and "seed 5" in a["stats"] and "seed 5" in b["stats"]


def test_stop_cancels_a_running_reply_within_a_step(client):
    client.predict(message=message("Hello!"), wire_eos=False, max_tokens="450", api_name="/send")
    job = client.submit(api_name="/stream")
    deadline = time.time() + 60
    while not any("generating" in str(dict(zip(STREAM, u))["stats"]) for u in job.outputs()) and time.time() < deadline:
        time.sleep(0.02)
    client.predict(api_name="/stop")
    final = dict(zip(STREAM, job.result(timeout=60), strict=True))
    stats, error = final["stats"], final["chat_error"]
    assert stats.startswith("**cancelled**") and int(stats.split(" · ")[1].split()[0]) < 450 and error == ""


def test_a_send_that_never_streamed_is_released_by_stop(client):
    client.predict(message=message("Hello!"), api_name="/send")
    busy = call(client, "/send", message=message("again"))
    assert "still being generated" in busy["chat_error"]
    assert client.predict(api_name="/stop") == "**cancelled** before it started · 0 tokens"
    sent, streamed = chat(client, "again")
    assert streamed["stats"].startswith("**stop**")


def test_clear_empties_the_conversation(client):
    chat(client, "Hello!")
    cleared = call(client, "/clear")
    assert cleared["chat"] == [] and cleared["stats"] == "" and cleared["chat_error"] == ""
    assert json.loads(client.predict(api_name="/export")) == []


def test_regenerate_then_stream_keeps_both_replies(client):
    first = chat(client, "Hello!", temperature="1.5", seed="1")[1]
    regenerated = call(client, "/regenerate", temperature="1.5", seed="2", max_tokens="40")
    assert regenerated["chat_error"] == ""
    second = call(client, "/stream")
    assert second["branch_label"] == "Alternative **2 / 2**" and len(second["chat"]) == 2
    back = call(client, "/previous_alternative")
    assert text_of(back["chat"][-1]) == text_of(first["chat"][-1]) and back["branch_label"] == "Alternative **1 / 2**"
    assert back["stats"] == first["stats"]  # the stats of the alternative shown


def test_continue_then_stream_extends_the_cut_reply(client):
    cut = chat(client, "What is 4 + 5?", max_tokens="3")[1]
    assert cut["stats"].startswith("**length** · 3 tokens")
    assert call(client, "/continue", max_tokens="", temperature="0")["chat_error"] == ""
    continued = call(client, "/stream")
    assert text_of(continued["chat"][-1]).startswith(text_of(cut["chat"][-1])) and len(continued["chat"]) == 2


def test_import_and_export_round_trip_every_role(client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": {}}}]},
        {"role": "tool", "name": "w", "content": "sunny"},
        {"role": "system", "content": "Answer in uppercase."},
        {"role": "user", "content": "Hello"},
    ]
    imported = call(client, "/import", text=json.dumps(messages))
    system = imported["system"]
    assert imported["chat_error"] == "" and system == "Be brief." and len(imported["chat"]) == 5
    assert json.loads(client.predict(system=system, api_name="/export")) == messages
    refused = call(client, "/import", text="[{")
    assert "not valid JSON" in refused["chat_error"]


def value(update):
    return update.get("value") if isinstance(update, dict) else update


def test_load_model_refuses_a_bad_model_then_loads_a_good_one(client):
    out = call(client, "/load_model", model="/no/such/model")
    assert value(out["model"]) == MODEL and "Could not load /no/such/model" in out["model_error"]
    assert "**Family:** chatml" in out["status"]
    assert chat(client, "Hello!")[1]["stats"].startswith("**stop**")  # still serving, on the model in use
    out = call(client, "/load_model", model="demo")
    assert value(out["model"]) == "demo" and out["model_error"] == "" and "demo-model" in out["status"]


def test_compare_runs_columns_with_the_same_seed(client):
    result = call(client, "/compare", compare_message="Hello!", template_2="llama2", max_tokens="20", seed="9")
    assert result["compare_error"] == ""
    assert "seed 9" in result["compare_stats_1"] and "seed 9" in result["compare_stats_2"]
    assert "[INST]" in result["compare_prompt_2"] and "only in column 1" in result["compare_diff"]


def test_notebook_continues_raw_text(client):
    out = call(client, "/notebook", text="<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", temperature="0")
    assert out["notebook_error"] == "" and out["notebook_stats"].startswith("**stop**")
    assert "pg-continuation" in out["notebook_output"]


def test_lab_render_reports_errors_with_their_line(client):
    out = call(client, "/lab_render", source="{% for m in messages %}{{ m.content }}{% endfor %}",
               sample='[{"role": "user", "content": "Hi"}]')  # fmt: skip
    assert "Hi" in out["lab_output"] and "OK" in out["lab_errors"]
    out = call(client, "/lab_render", source="line one\n{% if %}")
    assert out["lab_output"] == "" and "line 2" in out["lab_errors"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"temperature": "-5"}, "temperature must be a number in [0.0, 5.0], got -5.0"),
        ({"max_tokens": "0"}, "max_tokens must be an integer in [1, 32768], got 0"),
        ({"top_p": "lots"}, "top_p must be a number, got &#x27;lots&#x27;"),
        ({"seed": "abc"}, "seed must be a number, got &#x27;abc&#x27;"),
        ({"template_kwargs": "{nope"}, "template keywords is not valid JSON"),
    ],
)
def test_bad_settings_are_refused_with_a_message_and_the_server_keeps_serving(client, overrides, expected):
    refused = call(client, "/send", message=message("Hello!"), **overrides)
    assert expected in refused["chat_error"] and refused["message"] != message("")  # the box is left as it was
    assert chat(client, "Hello!")[1]["stats"].startswith("**stop**")


def test_files_of_the_working_directory_cannot_be_fetched_through_the_file_route(server):
    import httpx
    from conftest import ROOT

    for target in (ROOT / "README.md", "README.md", ROOT / "pyproject.toml", ROOT / "playground" / "ui" / "app.py"):
        assert httpx.get(f"{server}gradio_api/file={target}", timeout=10).status_code == 403, target


def test_an_import_referring_to_a_server_file_that_is_not_an_image_is_refused(client):
    from conftest import ROOT

    blocks = [{"type": "image", "image": str(ROOT / "README.md")}, {"type": "text", "text": "What is this?"}]
    error = call(client, "/import", text=json.dumps([{"role": "user", "content": blocks}]))["chat_error"]
    assert "message 1: image" in error and "is not an image" in error


def test_test_connection_reports_the_local_backend_and_refuses_a_bad_url_inline(client):
    assert "Local: tokens are generated in this process" in client.predict(api_name="/test_connection")
    shown = client.predict(backend="openai", base_url="ftp://nowhere", api_name="/test_connection")
    assert 'class="pg-error"' in shown and "is not an http:// or https:// URL" in shown
