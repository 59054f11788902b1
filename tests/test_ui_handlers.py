"""The UI's handlers called directly (a fake request carrying a ``session_hash``), on the real engine and models.

Each handler gets the components' values by name, as Gradio passes them, and returns ``{name: value}`` (the
names of the components it writes; a name left out is left as it is on the page).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from conftest import DEMO_MODEL, IMPORTED

from playground.engine import Engine
from playground.ui import views
from playground.ui.app import STREAM, PlaygroundApp, build_blocks
from playground.ui.chat import BUSY, CANCELLED_BEFORE_START, EMPTY_INPUT, LAST_PROMPT, NEXT_PROMPT
from playground.ui.inputs import ChatInputs
from playground.ui.panel import SETTING_BOXES
from playground.ui.saved import SAVED_FIELDS

MODEL = str(DEMO_MODEL)
_names = itertools.count()

# What the page sends for the Chat tab with default settings (number boxes are text: "" = the model's default).
CHAT_DEFAULTS = dict(
    wire_eos=True, backend="local", base_url="", api_key="", served_model="", system="", template="auto",
    system_strategy="merge", enable_thinking=True, reasoning_effort="", template_kwargs="", tools="",
    temperature="0", top_p="", min_p="", top_k="", repetition_penalty="", repetition_context_size="",
    presence_penalty="", frequency_penalty="", max_tokens="40", thinking_budget="", seed="", stop="", logprobs=True, message=EMPTY_INPUT,
)


def values(text=None, **overrides):
    out = {**CHAT_DEFAULTS, **overrides}
    if text is not None:
        out["message"] = {"text": text, "files": []}
    return out


def req(name=None):
    return SimpleNamespace(session_hash=name or f"session-{next(_names)}")


@pytest.fixture(scope="module")
def app(engine):
    return PlaygroundApp(engine, default_model=MODEL)


def stream(app, r):
    """Run the streaming step to its end; returns every update (the last one is the final view)."""
    return list(app.chat.stream(r))


def send(app, r, text, **overrides):
    accepted = app.chat.submit(r, **values(text, **overrides))
    assert accepted.get("chat_error") == "", accepted  # no error
    return accepted, stream(app, r)


def conversation(app, r):
    return app.core.session(r).conversation


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- model panel


def test_page_load_describes_what_the_next_request_uses(app):
    out = app.panel.page_load(req(), **values(max_tokens=""))
    status = out["status"]
    assert out["model"]["value"] == MODEL and out["template"]["value"] == "auto"
    assert "**Family:** chatml" in status and "`<|im_end|>`" in status and "has no chat template" in status
    assert out["model_error"] == ""  # the panel's error box: empty
    # The settings in use and where each comes from: the model's generation_config.json, else ours.
    assert "top_p 0.9 (the model's generation_config.json)" in status and "max_tokens 512 (default)" in status
    # Every slider starts at the value in use and says where it comes from.
    assert out["temperature"]["value"] == 0.2 and "generation_config.json" in out["temperature"]["info"]
    assert out["max_tokens"]["value"] == 512 and "the playground's" in out["max_tokens"]["info"]
    assert all(name in out for name in SETTING_BOXES)
    assert out["summary"].startswith("`demo-model` · **chatml**") and "stops on" in out["summary"]
    # What the context leaves of a setting too large for it (the demo model has 1,024 tokens).
    status = app.panel.describe(req(), **values(max_tokens="5000"))["status"]
    assert "max_tokens 5000 (at most 1014 for a first message, to fit the context)" in status


def test_unticking_eos_wiring_changes_the_panel_and_the_reply(app):
    r = req()
    status = app.panel.describe(r, model=MODEL, **values(wire_eos=False))["status"]
    stops = next(line for line in status.split("\n\n") if line.startswith("**Stops on:**"))
    assert "<|im_end|>" not in stops and "`<|endoftext|>`" in stops and "wiring off" in stops
    _, updates = send(app, r, "Hello!", wire_eos=False, max_tokens="30")
    assert updates[-1]["stats"].startswith("**length** · 30 tokens")  # the demo model runs on without <|im_end|>


def test_a_failed_load_keeps_the_model_and_says_why_until_the_next_load(app):
    r = req()
    out = app.panel.load(r, model="/no/such/model", **values(temperature="0.3", max_tokens="50"))
    assert out["model"]["value"] == MODEL  # the picker is put back on the model in use
    assert "Could not load /no/such/model" in out["model_error"] and f"still using {MODEL}" in out["model_error"]
    assert "**Family:** chatml" in out["status"] and "Could not load" not in out["status"]
    assert not set(SETTING_BOXES) & set(out)  # typed settings untouched
    # The picker's reset re-describes the panel: that output never carries the load error, so it cannot erase it.
    assert "model_error" not in app.panel.describe(r, model=MODEL, **values())
    _, updates = send(app, r, "Hello!")
    assert updates[-1]["stats"].startswith("**stop**")  # every action still works
    assert app.panel.load(r, model=MODEL, **values())["model_error"] == ""  # the next good Load clears the error


def test_a_picked_model_is_not_used_before_it_is_loaded(app):
    r = req()
    status = app.panel.describe(r, model="/some/other/model", **values())["status"]
    assert status.startswith(f"**/some/other/model** is picked but not loaded: requests still use `{MODEL}`")
    assert app.core.session(r).model == MODEL


def test_the_toy_qwen3_model_loads_with_mlx_lm_and_is_detected_as_qwen3(toy_qwen3):
    from mlx_lm import load
    from mlx_lm.models import qwen3

    model, tokenizer = load(str(toy_qwen3))
    assert isinstance(model, qwen3.Model)
    vocab = tokenizer.get_vocab()
    assert {"<think>", "</think>", "<|im_start|>", "<|im_end|>", "<tool_call>"} <= set(vocab)
    assert tokenizer.encode("<think>", add_special_tokens=False) == [vocab["<think>"]]  # one token each


def test_the_status_keeps_think_tokens_visible(app, toy_qwen3):
    r = req()
    out = app.panel.load(r, model=str(toy_qwen3), **values())
    status, thinking = out["status"], out["enable_thinking"]
    assert "**Family:** qwen3 (preset `qwen3`)" in status and "**Template:** qwen3 (preset)" in status
    assert "&lt;think&gt;" in status and "&lt;/think&gt;" in status  # not swallowed as HTML tags by Markdown
    assert thinking["visible"] is True and "enable_thinking" in thinking["label"]
    assert "**Template keywords:** `enable_thinking=True`" in status


# ---------------------------------------------------------------------------------------------- prompt panel


def test_the_prompt_panel_shows_the_next_prompt_while_typing_and_else_the_last_one(app):
    r = req()
    assert "Type a message to see the exact prompt Send will send." in app.chat.preview(r, **values())["prompt"]
    typing = app.chat.preview(r, **values("Hello!"))["prompt"]
    assert NEXT_PROMPT in typing and "Hello!" in typing
    _, updates = send(app, r, "Hello!")
    reply = conversation(app, r)[-1]["content"]
    last = app.chat.preview(r, **values())["prompt"]
    assert LAST_PROMPT in last and "Hello!" in last
    assert views.esc(reply) not in last  # the request's prompt, not history plus a fresh header
    assert last.rstrip().endswith('assistant<span class="pg-ws">↵</span>\n</span></pre></div>')
    following = app.chat.preview(r, **values("What is 4 + 5?"))["prompt"]
    assert NEXT_PROMPT in following and views.esc(reply) in following and "What is 4 + 5?" in following


# ---------------------------------------------------------------------------------------------- send, stop, clear


def test_send_streams_the_reply_and_clears_the_box_once(app):
    r = req()
    accepted, updates = send(app, r, "Hello!")
    assert accepted["message"] == EMPTY_INPUT and "The prompt of this request" in accepted["prompt"]
    assert accepted["chat"] == [{"role": "user", "content": "Hello!"}]
    final = updates[-1]
    assert final["stats"].startswith("**stop** `<|im_end|>`") and "seed" in final["stats"] and final["chat_error"] == ""
    assert "pg-token-view" in final["tokens"] and "pg-eos-chart" in final["tokens"]
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]
    assert all("message" not in update for update in updates)  # the stream never writes the Message box
    after = app.chat.after_reply(r, **values())
    assert after["branch_row"] == gr.update(visible=False) and "message" not in after  # one reply, nothing given back


def test_send_while_busy_is_refused_and_the_typed_text_stays(app):
    r = req()
    app.chat.submit(r, **values("Hello!"))
    out = app.chat.submit(r, **values("second"))
    assert set(out) == {"chat_error"} and BUSY in out["chat_error"]  # the box is not touched: the text stays
    app.chat.stop(r)
    stream(app, r)


def test_stop_before_the_stream_starts_finishes_the_request(app):
    r = req()
    app.chat.submit(r, **values("Hello!"))
    assert app.chat.stop(r) == {"stats": CANCELLED_BEFORE_START}
    assert not app.core.session(r).busy
    (final,) = stream(app, r)  # the streaming step, arriving later, only reports it
    assert final["stats"] == CANCELLED_BEFORE_START and final["chat_error"] == ""
    assert conversation(app, r) == [{"role": "user", "content": "Hello!"}]  # no empty reply left behind
    _, updates = send(app, r, "Hello again")  # the session is free again
    assert updates[-1]["stats"].startswith("**stop**")


def test_stop_mid_stream_cancels_and_the_busy_notice_is_cleared(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    first = next(u for u in updates if "generating" in u["stats"])
    assert first["chat"][-1]["role"] == "assistant"
    assert BUSY in app.chat.submit(r, **values("more"))["chat_error"]
    app.chat.stop(r)
    final = list(updates)[-1]
    assert final["stats"].startswith("**cancelled**")
    assert int(final["stats"].split(" · ")[1].split()[0]) < 450
    assert final["chat_error"] == ""  # the busy notice shown meanwhile is gone once the reply ended


def test_a_notice_shown_while_a_reply_streams_stays_until_the_reply_ends(app):
    """The stream's updates write the error box (values only, no gr.skip()): they must show the notice a refused
    action put there, not wipe it at the next update."""
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="400"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u["stats"])
    refused = app.chat.submit(r, **values("more"))["chat_error"]
    assert BUSY in refused
    later = [next(updates) for _ in range(3)]
    assert all(u["chat_error"] == refused for u in later)
    app.chat.stop(r)
    assert list(updates)[-1]["chat_error"] == ""  # and it goes with the reply


def test_a_send_right_after_stop_is_accepted(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u["stats"])
    app.chat.stop(r)
    finisher = threading.Thread(target=lambda: list(updates))
    finisher.start()
    accepted = app.chat.submit(r, **values("Next"))  # waits for the stopped reply to end, then accepts
    finisher.join()
    assert accepted["chat_error"] == "" and accepted["message"] == EMPTY_INPUT
    assert stream(app, r)[-1]["stats"].startswith("**")


def test_clear_mid_stream_stops_it_and_nothing_refills_the_chat(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u["stats"])
    assert app.core.streams.count == 1  # this reply shares the server's update budget
    cleared = app.chat.clear(r, **values())
    assert cleared["chat"] == [] and cleared["stats"] == ""
    rest = list(updates)
    assert app.core.streams.count == 0
    # The stream writes nothing more; its last word is the cleared chat (an update sent before the Clear may
    # reach the page after it).
    assert rest and all(update["chat"] == [] and "stats" not in update for update in rest)
    assert conversation(app, r) == [] and not app.core.session(r).busy


def test_stop_while_queued_in_the_engine(toy_qwen3):
    app = PlaygroundApp(Engine(max_models=2, max_batch=1), default_model=MODEL)
    a, b = req(), req()
    app.panel.load(a, model=str(toy_qwen3), **values())
    app.chat.submit(a, **values("Hello!", max_tokens="20000", logprobs=False))
    a_updates = app.chat.stream(a)
    next(u for u in a_updates if "generating" in u["stats"])  # A holds the only batch slot
    rest_of_a = threading.Thread(target=lambda: list(a_updates))
    rest_of_a.start()
    try:
        app.chat.submit(b, **values("Hello!"))
        b_updates = app.chat.stream(b)
        queued = next(b_updates)
        assert queued["stats"] == "_queued: position 1 (the batch is full)_"
        app.chat.stop(b)
        final = list(b_updates)[-1]
        assert final["stats"].startswith("**cancelled** before the first token · 0 tokens · seed ")
        assert conversation(app, b) == [{"role": "user", "content": "Hello!"}]
        assert final["chat"] == [{"role": "user", "content": "Hello!"}]
    finally:
        app.chat.stop(a)
        rest_of_a.join(timeout=60)
    assert app.core.session(a).last_run.final.finish_reason == "cancelled"


# ---------------------------------------------------------------------------------------------- regenerate, edit, continue


def test_regenerate_replaces_the_reply_and_keeps_the_old_one_as_an_alternative(app):
    r = req()
    send(app, r, "Hello!", temperature="1.5", seed="1")
    first = conversation(app, r)[-1]["content"]
    out = app.chat.regenerate(r, **values(temperature="1.5", seed="2"))
    assert out["chat_error"] == "" and out["chat"] == [{"role": "user", "content": "Hello!"}]
    final = stream(app, r)[-1]
    second = conversation(app, r)[-1]["content"]
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]  # one user turn, one reply
    assert final["branch_label"] == "Alternative **2 / 2**"
    assert app.chat.after_reply(r, **values())["branch_row"] == gr.update(visible=True)
    back = app.prev_branch(r, **values())
    assert back["branch_label"] == "Alternative **1 / 2**" and conversation(app, r)[-1]["content"] == first
    forth = app.next_branch(r, **values())
    assert forth["branch_label"] == "Alternative **2 / 2**" and conversation(app, r)[-1]["content"] == second


def test_a_regenerate_stopped_before_it_started_shows_the_reply_again(app):
    r = req()
    send(app, r, "Hello!")
    before = list(conversation(app, r))
    app.chat.regenerate(r, **values())
    app.chat.stop(r)
    final = stream(app, r)[-1]
    assert final["stats"] == CANCELLED_BEFORE_START
    final_after = app.chat.switch_branch(1, r, **values())
    assert conversation(app, r) == before and app.core.session(r).branches is None and "chat" not in final_after


def test_regenerate_answers_a_conversation_that_ends_without_a_reply(app):
    r = req()
    app.chat.import_conversation(json.dumps([{"role": "user", "content": "Hello!"}]), r, **values())
    assert app.chat.regenerate(r, **values())["chat_error"] == ""
    stream(app, r)
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]
    assert app.core.session(r).branches is None


def test_edit_continues_from_the_edited_message_and_keeps_the_old_continuation(app):
    r = req()
    send(app, r, "Hello!")
    send(app, r, "My name is Emma.")
    old = [dict(m) for m in conversation(app, r)]
    data = gr.EditData(None, {"index": 2, "value": "My name is Oliver.", "previous_value": "My name is Emma."})
    out = app.chat.edit(data, r, **values())
    assert out["chat_error"] == "" and "My name is Oliver." in out["prompt"]
    final = stream(app, r)[-1]
    now = conversation(app, r)
    assert now[:2] == old[:2] and now[2] == {"role": "user", "content": "My name is Oliver."} and len(now) == 4
    assert final["branch_label"] == "Alternative **2 / 2**"
    app.prev_branch(r, **values())
    assert conversation(app, r) == old


def test_only_user_messages_are_edited_in_place(app):
    r = req()
    app.chat.import_conversation(json.dumps([
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Go"},
    ]), r, **values())
    data = gr.EditData(None, {"index": 2, "value": "Be long.", "previous_value": "Be brief."})
    out = app.chat.edit(data, r, **values())
    assert "Conversation JSON" in out["chat_error"] and out["chat"][2]["content"] == "Be brief."


def test_continue_extends_a_reply_cut_by_the_token_limit(app):
    r = req()
    _, updates = send(app, r, "What is 4 + 5?", max_tokens="3")
    assert updates[-1]["stats"].startswith("**length** · 3 tokens")
    cut = conversation(app, r)[-1]["content"]
    out = app.chat.continue_reply(r, **values(max_tokens=""))
    assert out["chat_error"] == "" and "left open" in out["prompt"]
    final = stream(app, r)[-1]
    assert final["stats"].startswith("**stop**")
    messages = conversation(app, r)
    assert len(messages) == 2 and messages[-1]["content"].startswith(cut) and len(messages[-1]["content"]) > len(cut)


def test_continue_inside_a_think_block_streams_reasoning(app, toy_qwen3):
    r = req()
    app.panel.load(r, model=str(toy_qwen3), **values())
    opened = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nLet me"}]
    app.chat.import_conversation(json.dumps(opened), r, **values())
    out = app.chat.continue_reply(r, **values(max_tokens="6"))
    assert out["chat_error"] == "" and out["prompt"].rstrip().endswith("Let me</span></pre></div>")
    updates = stream(app, r)
    message = conversation(app, r)[-1]
    assert message["content"] == "" and message["reasoning_content"].startswith("Let me")
    assert len(message["reasoning_content"]) > len("Let me")  # the generated words went into the reasoning
    thinking = updates[-1]["chat"][-1]
    assert thinking["metadata"] == {"title": "Thinking", "status": "done"}


def test_undo_puts_the_message_back_before_what_was_typed_since(app):
    r = req()
    send(app, r, "Hello!")
    out = app.chat.undo(None, r, **values("typed meanwhile"))
    assert out["chat"] == [] and out["message"] == {"text": "Hello!\n\ntyped meanwhile", "files": []}
    assert out["chat_error"] == ""


# ---------------------------------------------------------------------------------------------- errors


def test_an_out_of_range_setting_is_refused_inline_and_nothing_else_changes(app):
    r = req()
    out = app.chat.submit(r, **values("Hello!", temperature="-1"))
    error = out["chat_error"]
    assert "temperature must be a number in [0.0, 5.0], got -1.0" in error and 'role="alert"' in error
    assert set(out) == {"chat_error"}  # the typed message stays, nothing else changes
    assert conversation(app, r) == [] and not app.core.session(r).busy
    accepted, _ = send(app, r, "Hello!", temperature="0.5")
    assert accepted["chat_error"] == ""  # the next good action clears the error box


def test_a_bad_tools_box_is_refused_with_the_json_error(app):
    error = app.chat.submit(req(), **values("Hi", tools="[{"))["chat_error"]
    assert "tools is not valid JSON" in error


# ---------------------------------------------------------------------------------------------- import / export

def test_import_shows_every_role_and_round_trips_through_send_and_export(app):
    r = req()
    out = app.chat.import_conversation(json.dumps(IMPORTED), r, **values())
    system = out["system"]
    assert out["chat_error"] == "" and system == "You are a helpful assistant." and out["stats"] == ""
    titles = [(item.get("metadata") or {}).get("title") for item in out["chat"]]
    assert "🔧 Tool call: get_weather · id call_1" in titles and "↩ Tool result: get_weather" in titles
    assert views.SYSTEM_TITLE in titles
    assert json.loads(app.chat.export_conversation(r, system)["conversation_json"]) == IMPORTED
    preview = app.chat.preview(r, **values("What is my name?", system=system))["prompt"]
    assert "Answer in uppercase." in preview and "{&quot;temp&quot;: 21}" in preview
    _, updates = send(app, r, "What is my name?", system=system)
    assert updates[-1]["chat_error"] == "" and updates[-1]["stats"].startswith("**stop**")
    exported = json.loads(app.chat.export_conversation(r, system)["conversation_json"])
    assert exported[: len(IMPORTED)] == IMPORTED and [m["role"] for m in exported[-2:]] == ["user", "assistant"]


def test_import_passes_any_role_and_the_prompt_panel_warns_when_the_template_ignores_it(app):
    r = req()
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "developer", "content": "Answer in uppercase."}]
    out = app.chat.import_conversation(json.dumps(messages), r)
    assert out["chat_error"] == "" and (out["chat"][-1].get("metadata") or {}).get("title") == "role: developer"
    shown = app.chat.preview(r, **values("What is my name?", template="chatml"))["prompt"]
    assert "developer" in shown and "Answer in uppercase." in shown  # ChatML writes any role
    shown = app.chat.preview(r, **values("What is my name?", template="qwen3"))["prompt"]
    assert "message 3 has role &#x27;developer&#x27;, which this template ignores" in shown


def test_a_bad_import_is_refused_inline_and_keeps_the_conversation(app):
    r = req()
    send(app, r, "Hello!")
    before = list(conversation(app, r))
    out = app.chat.import_conversation('[{"role": 7, "content": "x"}]', r, **values())
    assert set(out) == {"chat_error"} and "role must be non-empty text" in out["chat_error"]
    assert conversation(app, r) == before


# ---------------------------------------------------------------------------------------------- compare


def compare_values(**overrides):
    out = dict(
        wire_eos=True, backend="local", base_url="", api_key="", served_model="", max_tokens="24", system="",
        compare_message="Hello!", third=False, seed="",
    )
    for index, template in enumerate(["auto", "gemma", "generic"], start=1):
        out.update({f"template_{index}": template, f"temperature_{index}": "0", f"repetition_penalty_{index}": "1",
                    f"enable_thinking_{index}": True, f"backend_{index}": "local"})
    out.update(overrides)
    return out


def test_compare_runs_two_or_three_columns_with_one_seed_and_a_token_diff(app):
    r = req()
    final = list(app.compare.run(r, **compare_values()))[-1]
    assert final["compare_error"] == ""
    stats = [final["compare_stats_1"], final["compare_stats_2"]]
    seeds = {s.rsplit("seed ", 1)[1].split()[0] for s in stats}
    assert len(seeds) == 1 and all(s.startswith("**") for s in stats)  # empty seed: one random seed, shown
    third = [final[f"{name}_3"] for name in ("compare_prompt", "compare_chat", "compare_stats", "compare_tokens")]
    assert third == ["", [], "", ""]  # no third column
    diff = final["compare_diff"]
    assert "&lt;|im_start|&gt;" in diff and "&lt;start_of_turn&gt;" in diff and "_of_turn&gt;" not in diff.replace(
        "&lt;start_of_turn&gt;", "").replace("&lt;end_of_turn&gt;", "")
    three = list(app.compare.run(r, **compare_values(third=True, seed="7")))[-1]
    assert all("seed 7" in three[f"compare_stats_{i}"] for i in (1, 2, 3)) and "column 3" in three["compare_diff"]


def test_compare_bounds_max_tokens_by_the_context_and_refuses_bad_values_inline(app):
    r = req()
    final = list(app.compare.run(r, **compare_values(max_tokens="5000")))[-1]
    prompt = final["compare_prompt_1"]
    assert "max tokens lowered from 5000 to" in prompt and "1,024-token context" in prompt
    (refused,) = list(app.compare.run(r, **compare_values(seed="abc")))
    assert set(refused) == {"compare_error"} and "seed must be a number" in refused["compare_error"]
    (empty,) = list(app.compare.run(r, **compare_values(compare_message=" ")))
    assert "Type a message to compare" in empty["compare_error"]


def test_compare_stop_cancels_every_column(app, toy_qwen3):
    r = req()
    app.panel.load(r, model=str(toy_qwen3), **values())
    run = app.compare.run(r, **compare_values(max_tokens="20000"))
    next(u for u in run if "generating" in u["compare_stats_1"] and "generating" in u["compare_stats_2"])
    app.compare.stop(r)
    final = list(run)[-1]
    for stats in (final["compare_stats_1"], final["compare_stats_2"]):
        assert stats.startswith("**cancelled**") and int(stats.split(" · ")[1].split()[0]) < 20000


# ---------------------------------------------------------------------------------------------- notebook


def notebook_values(text, **overrides):
    out = {k: v for k, v in CHAT_DEFAULTS.items() if k in (
        "wire_eos", "backend", "base_url", "api_key", "served_model", "temperature", "top_p", "min_p", "top_k",
        "repetition_penalty", "repetition_context_size", "max_tokens", "seed", "stop", "logprobs")}
    out.update(overrides)
    return {"text": text, **out}


def test_notebook_runs_stops_and_appends(app, toy_qwen3):
    r = req()
    text = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    out = list(app.notebook.run(r, **notebook_values(text)))[-1]
    assert out["notebook_error"] == "" and out["notebook_stats"].startswith("**stop**")
    assert "pg-token-view" in out["notebook_tokens"]
    continuation = app.core.session(r).notebook_last
    assert continuation and views.visible_whitespace(continuation) in out["notebook_output"]
    assert app.notebook.append(r, text) == {"notebook_input": text + continuation}
    app.panel.load(r, model=str(toy_qwen3), **values())
    run = app.notebook.run(r, **notebook_values("Once upon a time", max_tokens="20000"))
    next(u for u in run if "generating" in u["notebook_stats"])
    app.notebook.stop(r)
    out = list(run)[-1]
    assert out["notebook_stats"].startswith("**cancelled**") and out["notebook_error"] == ""
    (refused,) = list(app.notebook.run(r, **notebook_values("")))
    assert "the raw prompt is empty" in refused["notebook_error"]


# ---------------------------------------------------------------------------------------------- template lab

LAB = dict(sample=json.dumps([{"role": "user", "content": "Hi"}]), system_strategy="merge", tools="", template_kwargs="")


def test_lab_loads_renders_reports_errors_with_line_numbers_and_uses_a_template(app):
    r = req()
    source = app.lab.source("auto", r)["lab_template"]
    assert "<|im_start|>" in source
    out = app.lab.render(r, source=source, **LAB)
    assert "OK" in out["lab_errors"] and "&lt;|im_start|&gt;" in out["lab_output"] and "tokens" in out["lab_tokens"]
    broken = source + "\n{% if %}"
    line = len(broken.split("\n"))
    out = app.lab.render(r, source=broken, **LAB)
    errors = out["lab_errors"]
    assert out["lab_output"] == "" and f"line {line}" in errors and errors.count(f"line {line}") == 1
    out = app.lab.use(broken, r)
    assert "template" not in out and f"line {line}" in out["lab_errors"]
    out = app.lab.use(source.replace("<|im_start|>", "<|im_start|> "), r)
    assert out["template"]["value"] == "custom" and "custom template" in out["lab_errors"]
    assert "template: custom" in app.chat.preview(r, **values("Hi", template="custom"))["prompt"]


# ---------------------------------------------------------------------------------------------- saved settings


def test_saved_settings_save_apply_delete(app):
    r = req()
    fields = {name: CHAT_DEFAULTS[name] for name in SAVED_FIELDS}
    out = app.saved.save("brief", {}, **{**fields, "system": "Be brief.", "temperature": "0.2"})
    saved = out["saved_store"]
    assert saved["brief"]["system"] == "Be brief." and out["saved_choice"]["value"] == "brief"
    assert "Saved" in out["saved_message"]
    assert "temperature must be" in app.saved.save("bad", saved, **{**fields, "temperature": "-1"})["saved_message"]
    applied = app.saved.apply("brief", saved)
    assert applied["system"] == "Be brief." and applied["temperature"] == "0.2"
    out = app.saved.delete("brief", saved)
    assert out["saved_store"] == {} and out["saved_choice"]["value"] is None and "Deleted" in out["saved_message"]
    assert "Pick saved settings" in app.saved.delete("brief", out["saved_store"])["saved_message"]
    assert r is not None


@pytest.mark.slow
def test_the_exported_command_reproduces_the_last_run(app, tmp_path):
    r = req()
    send(app, r, "Hello!", seed="3", temperature="1.2", stop="zzz\nqqq")
    send(app, r, "What is 4 + 5?", seed="3", temperature="1.2", stop="zzz\nqqq")
    reply = conversation(app, r)[-1]["content"]
    out = app.saved.export(r, **values(system=""))
    command = out["saved_command"]
    assert json.loads(out["saved_json"])["temperature"] == "0"
    assert "--seed 3" in command and "--stop zzz qqq" in command and "--messages -" in command
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == reply.strip()


# ---------------------------------------------------------------------------------------------- wiring


def dependency(blocks, elem_id, event):
    ids = {c._id: getattr(c, "elem_id", None) for c in blocks.blocks.values()}
    return [f for f in blocks.fns.values() if any(ids.get(t[0]) == elem_id and t[1] == event for t in f.targets)]


def test_the_chatbots_own_clear_button_clears_the_conversation(app):
    blocks = build_blocks(app)
    (clear,) = dependency(blocks, "chat-output", "clear")
    assert clear.fn.__wrapped__ == app.chat.clear


def test_saved_settings_come_back_when_the_browser_restores_them(app):
    blocks = build_blocks(app)
    store = next(c for c in blocks.blocks.values() if isinstance(c, gr.BrowserState))
    assert store.secret == store.storage_key  # not a random secret: settings survive a server restart
    (refresh,) = [f for f in blocks.fns.values() if (store._id, "change") in f.targets]
    assert refresh.fn.__wrapped__ == app.saved.choices


def test_undo_gets_the_message_box_so_typed_text_is_kept(app):
    blocks = build_blocks(app)
    (undo,) = dependency(blocks, "chat-output", "undo")
    ids = {c._id: getattr(c, "elem_id", None) for c in blocks.blocks.values()}
    assert "chat-input" in [ids[i._id] for i in undo.inputs]


def test_compare_columns_offer_every_template_of_the_model(app):
    updates = app.compare.choices(req(), template_1="auto", template_2="llama2", template_3="model")
    offered = [value for _, value in updates["template_1"]["choices"]]
    assert {"auto", "llama2", "gemma", "qwen3"} <= set(offered)
    chosen = [updates[f"template_{i}"]["value"] for i in (1, 2, 3)]
    assert chosen == ["auto", "llama2", "auto"]  # the demo model has no template of its own


def test_copy_as_code_reproduces_the_request_the_prompt_panel_shows(app):
    r = req()
    assert "'Hello!'" in app.chat.snippet(r, **values())["snippet"]
    send(app, r, "Hello!")
    last = app.core.session(r).last_run.prepared
    script = app.chat.snippet(r, **values())["snippet"]
    assert f"assert prompt == {last.text!r}" in script  # Regenerate's request, not history plus a fresh header
    typed = app.chat.snippet(r, **values("What is 4 + 5?"))["snippet"]
    nxt = app.core.prepare_chat(app.core.session(r), ChatInputs.from_values(values("What is 4 + 5?")),
                                [*conversation(app, r), {"role": "user", "content": "What is 4 + 5?"}])
    assert f"assert prompt == {nxt.text!r}" in typed


# ---------------------------------------------------------------------------------------------- streaming cost


def is_update(value):
    """gr.skip() and gr.update(...) are both update dicts: Gradio builds a new component (and its config) for
    each one it gets, about 6 ms of CPU here."""
    return isinstance(value, dict) and "update" in str(value.get("__type__", ""))


@pytest.mark.slow
def test_streamed_updates_carry_values_only(app):
    """While a reply streams, every update the handlers yield holds plain values: an update dict in a streamed
    output costs the server a component rebuild each time (four of them at 20 updates a second took a quarter
    of a core from the decoding). Unchanged outputs are sent again as the same value (Gradio sends generator
    outputs as diffs, so an unchanged one costs nothing on the wire)."""
    long = {"wire_eos": False, "max_tokens": "400", "logprobs": True}
    r = req()
    _, chat_updates = send(app, r, "Hello!", **long)
    compare_updates = list(app.compare.run(req(), **compare_values(max_tokens="400", wire_eos=False)))
    text = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    notebook_updates = list(app.notebook.run(req(), **notebook_values(text, **long)))
    for name, updates in (("chat", chat_updates), ("compare", compare_updates), ("notebook", notebook_updates)):
        streaming = updates[:-1]
        assert len(streaming) >= 3, name
        assert not [v for update in streaming for v in update.values() if is_update(v)], name
        # and every output it is wired to: a name left out would be a gr.skip() too
        assert all(set(update) == set(streaming[0]) for update in streaming) and len(streaming[0]) >= 4, name
    assert set(chat_updates[0]) == set(STREAM)
    assert "pg-token-view" in chat_updates[-1]["tokens"] and "appear when the reply ends" in chat_updates[0]["tokens"]


@pytest.mark.parametrize(("template", "arguments"), [("glm4.5", '{"city": "Paris"}'), ("deepseek-r1", {"city": "Paris"})])
def test_imported_tool_calls_are_shaped_for_the_chosen_template(app, template, arguments):
    """OpenAI-style string arguments for GLM (which needs an object), an object for DeepSeek R1 (a string)."""
    r = req()
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": arguments}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18"}]
    assert app.chat.import_conversation(json.dumps(messages), r)["chat_error"] == ""
    shown = app.chat.preview(r, **values("And tomorrow?", template=template))["prompt"]
    assert 'role="alert"' not in shown and "Paris" in shown
    exported = json.loads(app.chat.export_conversation(r)["conversation_json"])
    assert exported == messages  # the export keeps what was imported


def test_building_the_page_warns_about_nothing(engine):
    """Every handler's parameters are readable by Gradio (a reset wired as a ``partial`` warned twice per setting
    at every start, in the user's console)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_blocks(PlaygroundApp(engine, default_model=str(DEMO_MODEL)))
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
