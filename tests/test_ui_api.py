"""The running app driven through its HTTP API with gradio_client, by parameter name (the handlers' names).

A chat request is two calls in one client session, like the page's two steps: ``/send`` (validate, record,
clear the box) then ``/stream`` (the reply). ``/stream`` returns chat, stats, token view, branch label, error.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import DEMO_MODEL
from gradio_client import Client

pytestmark = pytest.mark.slow

MODEL = str(DEMO_MODEL)


@pytest.fixture
def client(server):
    return Client(server, verbose=False)


def message(text):
    return {"text": text, "files": []}


def text_of(item):
    content = item["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


def chat(client, text, **settings):
    """/send then /stream; returns (send outputs, stream outputs)."""
    settings.setdefault("temperature", "0")
    settings.setdefault("max_tokens", "40")
    sent = client.predict(message=message(text), api_name="/send", **settings)
    assert sent[2] == "", sent[2]
    return sent, client.predict(api_name="/stream")


def test_every_parameter_has_a_default_so_calls_name_only_what_they_change(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    required = {name: [p["parameter_name"] for p in info["parameters"] if not p["parameter_has_default"]]
                for name, info in endpoints.items()}
    assert {name: params for name, params in required.items() if params} == {}
    send = [p["parameter_name"] for p in endpoints["/send"]["parameters"]]
    assert {"message", "temperature", "max_tokens", "seed", "wire_eos", "template", "system"} <= set(send)


def test_send_then_stream_gives_the_reply_and_its_stats(client):
    sent, streamed = chat(client, "Hello!")
    history, box, error, prompt, stats = sent
    assert box == message("") and "&lt;|im_start|&gt;" in prompt and "this request" in prompt
    history, stats, tokens, branch, error = streamed
    assert [m["role"] for m in history] == ["user", "assistant"] and text_of(history[1]).strip()
    assert stats.startswith("**stop** `<|im_end|>`") and "seed " in stats and error == ""
    assert "pg-token-view" in tokens and "pg-eos-chart" in tokens


def test_the_stream_streams_several_updates(client):
    client.predict(message=message("Hello!"), wire_eos=False, max_tokens="200", api_name="/send")
    job = client.submit(api_name="/stream")
    updates = list(job)
    assert len(updates) >= 3 and any("generating" in u[1] for u in updates)
    assert job.result()[1].startswith("**length** · 200 tokens")


def test_settings_reach_the_sampler(client):
    short = chat(client, "Hello!", wire_eos=False, max_tokens="3")[1]
    assert short[1].startswith("**length** · 3 tokens")
    a = chat(client, "Hello!", temperature="1.5", seed="5", max_tokens="20")[1]
    client.predict(api_name="/clear")
    b = chat(client, "Hello!", temperature="1.5", seed="5", max_tokens="20")[1]
    assert text_of(a[0][-1]) == text_of(b[0][-1]) and "seed 5" in a[1] and "seed 5" in b[1]


def test_stop_cancels_a_running_reply_within_a_step(client):
    client.predict(message=message("Hello!"), wire_eos=False, max_tokens="450", api_name="/send")
    job = client.submit(api_name="/stream")
    deadline = time.time() + 60
    while not any("generating" in str(u[1]) for u in job.outputs()) and time.time() < deadline:
        time.sleep(0.02)
    client.predict(api_name="/stop")
    history, stats, _, _, error = job.result(timeout=60)
    assert stats.startswith("**cancelled**") and int(stats.split(" · ")[1].split()[0]) < 450 and error == ""


def test_a_send_that_never_streamed_is_released_by_stop(client):
    client.predict(message=message("Hello!"), api_name="/send")
    busy = client.predict(message=message("again"), api_name="/send")
    assert "still being generated" in busy[2]
    assert client.predict(api_name="/stop") == "**cancelled** before it started · 0 tokens"
    sent, streamed = chat(client, "again")
    assert streamed[1].startswith("**stop**")


def test_clear_empties_the_conversation(client):
    chat(client, "Hello!")
    cleared = client.predict(api_name="/clear")
    assert cleared[0] == [] and cleared[1] == ""
    assert json.loads(client.predict(api_name="/export")) == []


def test_regenerate_then_stream_keeps_both_replies(client):
    first = chat(client, "Hello!", temperature="1.5", seed="1")[1]
    regenerated = client.predict(temperature="1.5", seed="2", max_tokens="40", api_name="/regenerate")
    assert regenerated[1] == ""
    second = client.predict(api_name="/stream")
    assert second[3] == "Alternative **2 / 2**" and len(second[0]) == 2
    back = client.predict(api_name="/previous_alternative")
    assert text_of(back[0][-1]) == text_of(first[0][-1]) and back[1] == "Alternative **1 / 2**"


def test_continue_then_stream_extends_the_cut_reply(client):
    cut = chat(client, "What is 4 + 5?", max_tokens="3")[1]
    assert cut[1].startswith("**length** · 3 tokens")
    assert client.predict(max_tokens="", temperature="0", api_name="/continue")[1] == ""
    continued = client.predict(api_name="/stream")
    assert text_of(continued[0][-1]).startswith(text_of(cut[0][-1])) and len(continued[0]) == 2


def test_import_and_export_round_trip_every_role(client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": {}}}]},
        {"role": "tool", "name": "w", "content": "sunny"},
        {"role": "system", "content": "Answer in uppercase."},
        {"role": "user", "content": "Hello"},
    ]
    history, system, error, *_ = client.predict(text=json.dumps(messages), api_name="/import")
    assert error == "" and system == "Be brief." and len(history) == 5
    assert json.loads(client.predict(system=system, api_name="/export")) == messages
    refused = client.predict(text="[{", api_name="/import")
    assert "not valid JSON" in refused[2]


def value(update):
    return update.get("value") if isinstance(update, dict) else update


def test_load_model_refuses_a_bad_model_then_loads_a_good_one(client):
    picker, status, *_, error = client.predict(model="/no/such/model", api_name="/load_model")
    assert value(picker) == MODEL and "Could not load /no/such/model" in error and "**Family:** chatml" in status
    assert chat(client, "Hello!")[1][1].startswith("**stop**")  # still serving, on the model in use
    picker, status, *_, error = client.predict(model="demo", api_name="/load_model")
    assert value(picker) == "demo" and error == "" and "demo-model" in status


def test_compare_runs_columns_with_the_same_seed(client):
    result = client.predict(compare_message="Hello!", template_2="llama2", max_tokens="20", seed="9", api_name="/compare")
    assert result[-1] == ""
    assert "seed 9" in result[2] and "seed 9" in result[6] and "[INST]" in result[4]
    assert "only in column 1" in result[12]


def test_notebook_continues_raw_text(client):
    output, stats, tokens, error = client.predict(
        text="<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", temperature="0", api_name="/notebook"
    )
    assert error == "" and stats.startswith("**stop**") and "pg-continuation" in output


def test_lab_render_reports_errors_with_their_line(client):
    output, status, lint, tokens = client.predict(
        source="{% for m in messages %}{{ m.content }}{% endfor %}", sample='[{"role": "user", "content": "Hi"}]',
        api_name="/lab_render",
    )
    assert "Hi" in output and "OK" in status
    output, status, _, _ = client.predict(source="line one\n{% if %}", api_name="/lab_render")
    assert output == "" and "line 2" in status


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
    refused = client.predict(message=message("Hello!"), api_name="/send", **overrides)
    assert expected in refused[2] and refused[1] != message("")  # the box is left as it was
    assert chat(client, "Hello!")[1][1].startswith("**stop**")


def test_files_of_the_working_directory_cannot_be_fetched_through_the_file_route(server):
    import httpx
    from conftest import ROOT

    for target in (ROOT / "README.md", "README.md", ROOT / "pyproject.toml", ROOT / "playground" / "ui" / "app.py"):
        assert httpx.get(f"{server}gradio_api/file={target}", timeout=10).status_code == 403, target


def test_an_import_referring_to_a_server_file_that_is_not_an_image_is_refused(client):
    from conftest import ROOT

    blocks = [{"type": "image", "image": str(ROOT / "README.md")}, {"type": "text", "text": "What is this?"}]
    history, _, error, *_ = client.predict(text=json.dumps([{"role": "user", "content": blocks}]), api_name="/import")
    assert "message 1: image" in error and "is not an image" in error


def test_test_connection_reports_the_local_backend_and_refuses_a_bad_url_inline(client):
    assert "Local: tokens are generated in this process" in client.predict(api_name="/test_connection")
    shown = client.predict(backend="openai", base_url="ftp://nowhere", api_name="/test_connection")
    assert 'class="pg-error"' in shown and "is not an http:// or https:// URL" in shown
