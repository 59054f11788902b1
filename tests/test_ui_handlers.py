"""UI handlers driven directly, with the demo model: streaming, stop, sessions, compare, lab, snippet."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import gradio as gr
import pytest
from conftest import DEMO_MODEL

from playground.ui.handlers import PlaygroundApp

MODEL = str(DEMO_MODEL)
GREEDY = dict(temperature=0.0, top_p=1.0, min_p=0.0, top_k=0, repetition_penalty=1.0, repetition_context_size=20,
              max_tokens=40, seed="", stop_text="")


@pytest.fixture(scope="module")
def app(engine):
    return PlaygroundApp(engine, default_model=MODEL)


def req(name):
    return SimpleNamespace(session_hash=name)


def send(app, request, text, history=(), system="", template="auto", **overrides):
    values = {**GREEDY, **overrides}
    return app.send(text, list(history), system, template, "merge", MODEL, True, *values.values(), request)


def test_load_model_reports_detection_and_defaults(app):
    status, template, *settings = app.load_model(MODEL, True)
    assert "family **chatml**" in status and "`<|im_end|>`" in status and "has no chat template" in status
    assert template["value"] == "auto" and ("preset: llama2", "llama2") in template["choices"]


def test_preview_updates_with_text_template_and_system(app):
    r = req("preview")
    chatml = app.preview("Hello!", [], "", "auto", "merge", MODEL, True, r)
    assert "&lt;|im_start|&gt;</span>user" in chatml and "Hello!" in chatml
    llama2 = app.preview("Hello!", [], "Be brief.", "llama2", "merge", MODEL, True, r)
    assert "[INST]" in llama2 and "&lt;&lt;SYS&gt;&gt;" in llama2
    broken = app.preview("Hello!", [], "", "custom", "merge", MODEL, True, r)  # no custom template yet
    assert "pg-error" in broken


def test_send_streams_then_adds_stats(app):
    updates = list(send(app, req("send"), "Hello!"))
    assert len(updates) >= 2
    history, cleared, prompt, stats = updates[-1]
    assert cleared == "" and history[0] == {"role": "user", "content": "Hello!"}
    assert history[1]["role"] == "assistant" and history[1]["content"]
    assert history[2]["metadata"]["title"].startswith("Stats: stop `<|im_end|>`")
    assert stats.startswith("stop `<|im_end|>`")


def test_bad_settings_raise_before_anything_changes(app):
    gen = send(app, req("bad"), "keep me", temperature=-3)
    with pytest.raises(gr.Error, match="temperature must be"):
        next(gen)  # nothing was yielded: the chat and the typed message stay as they were
    with pytest.raises(gr.Error, match="Type a message"):
        next(send(app, req("bad"), "   "))


def test_stop_ends_the_running_reply_of_that_session_only(app, engine):
    unwired = PlaygroundApp(engine, default_model=MODEL)
    a, b = req("stop-a"), req("stop-b")
    gen = unwired.send("Hello!", [], "", "auto", "merge", MODEL, False, *{**GREEDY, "max_tokens": 400}.values(), a)
    next(gen)  # user message shown
    next(gen)  # first streamed text
    unwired.stop(b)  # another session's Stop changes nothing here
    assert not unwired.session(a).cancel.is_set()
    unwired.stop(a)
    *_, last = gen
    assert last[3].startswith("cancelled")


def test_sessions_keep_their_own_kv_cache_and_reuse_it(app):
    one, two = req("s1"), req("s2")
    first = list(send(app, one, "Hello!"))[-1][0]
    second = list(send(app, one, "What is 2 + 3?", history=first))[-1]
    assert "reused" in second[3]  # turn two reuses turn one's KV cache
    other = list(send(app, two, "What is 2 + 3?"))[-1]
    assert "reused" not in other[3]
    assert app.session(one) is not app.session(two)


def test_export_and_import_round_trip(app):
    history = list(send(app, req("io"), "Hello!"))[-1][0]
    exported = app.export_conversation(history, "Be nice.")
    messages = json.loads(exported)
    assert messages[0] == {"role": "system", "content": "Be nice."} and len(messages) == 3
    back, system = app.import_conversation(exported, req("io"))
    assert system == "Be nice." and [m["content"] for m in back] == [m["content"] for m in messages[1:]]
    with pytest.raises(gr.Error, match="not valid JSON"):
        app.import_conversation("[{", req("io"))


def test_compare_streams_each_column_with_its_template(app):
    updates = list(app.compare("Hello!", "", 0, 30, "merge", MODEL, True, False,
                               "auto", 0.0, 1.0, "llama2", 0.0, 1.0, "generic", 0.0, 1.0, req("cmp")))
    prompts, outputs, stats, diff = updates[-1][0:3], updates[-1][3:6], updates[-1][6:9], updates[-1][9]
    assert "&lt;|im_start|&gt;" in prompts[0] and "[INST]" in prompts[1] and prompts[2] == ""
    assert outputs[0] and outputs[1] and outputs[2] == ""
    assert stats[0].startswith("stop") and "tokens" in stats[1]
    assert "pg-del" in diff and "pg-ins" in diff


def test_lab_render_lint_and_use(app):
    r = req("lab")
    sample = json.dumps([{"role": "user", "content": "Hi"}])
    good = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" \
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    output, errors, lint, tokens = app.lab_render(good, sample, "merge", MODEL, True)
    assert "renders without errors" in errors and "<|im_end|>" in app.lab_source("chatml", MODEL, True, r)
    assert "add_generation_prompt" in lint and "pg-chip-special" in tokens
    _, errors, _, _ = app.lab_render("{% for m in messages %}\n{{ m.content }\n{% endfor %}", sample, "merge", MODEL, True)
    assert "line 2" in errors
    _, _, lint, _ = app.lab_render("{% for m in messages %}{{ m.content }}{% endfor %}", sample, "merge", MODEL, True)
    assert "never reads add_generation_prompt" in lint and "not with an EOS token" in lint
    assert app.lab_use(good, r)["value"] == "custom"
    assert "Hi" in app.preview("Hi", [], "", "custom", "merge", MODEL, True, r)


def test_copy_as_code_reproduces_the_generation(app, engine, tmp_path):
    from playground.settings import GenerationSettings

    code = app.lab_snippet([], "", "Hello!", "auto", "merge", MODEL, True, *{**GREEDY, "seed": "3"}.values(), req("code"))
    script = tmp_path / "snippet.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = engine.load(MODEL)
    expected = "".join(e.text for e in engine.stream_chat(
        loaded, [{"role": "user", "content": "Hello!"}], GenerationSettings(temperature=0, max_tokens=40, seed=3)).events)
    assert out.stdout.strip() == expected.strip()
