"""The UI's handlers called directly (a fake request carrying a ``session_hash``), on the real engine and models.

Each handler gets the components' values by name, as Gradio passes them; the tuples they return are the
outputs in the order app.py wires them.
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
from playground.ui.app import PlaygroundApp, build_blocks
from playground.ui.chat import BUSY, CANCELLED_BEFORE_START, EMPTY_INPUT, LAST_PROMPT, NEXT_PROMPT
from playground.ui.compare import COLUMNS
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
    assert accepted[2] == "", accepted[2]  # no error
    return accepted, stream(app, r)


def conversation(app, r):
    return app.core.session(r).conversation


def is_skip(value):
    return value == gr.skip()


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- model panel


def test_page_load_describes_what_the_next_request_uses(app):
    out = app.panel.page_load(req(), **values(max_tokens=""))
    picker, status, template = out[0], out[1], out[2]
    assert picker["value"] == MODEL and template["value"] == "auto"
    assert "**Family:** chatml" in status and "`<|im_end|>`" in status and "has no chat template" in status
    assert len(out) == 6 + len(SETTING_BOXES) and out[-1] == ""  # the panel's error box: empty
    # The settings in use and where each comes from: the model's generation_config.json, else ours.
    assert "top_p 0.9 (the model's generation_config.json)" in status and "max_tokens 512 (default)" in status
    boxes = out[3 : 3 + len(SETTING_BOXES)]
    assert all(set(box) == {"__type__", "placeholder"} for box in boxes)  # placeholders only: never a typed value
    assert boxes[0]["placeholder"] == "0.2 (the model's default)"
    # What the context leaves of a setting too large for it (the demo model has 1,024 tokens).
    status = app.panel.page_load(req(), **values(max_tokens="5000"))[1]
    assert "max_tokens 5000 (at most 1014 for a first message, to fit the context)" in status


def test_unticking_eos_wiring_changes_the_panel_and_the_reply(app):
    r = req()
    status, _, _ = app.panel.describe(r, model=MODEL, **values(wire_eos=False))
    stops = next(line for line in status.split("\n\n") if line.startswith("**Stops on:**"))
    assert "<|im_end|>" not in stops and "`<|endoftext|>`" in stops and "wiring off" in stops
    _, updates = send(app, r, "Hello!", wire_eos=False, max_tokens="30")
    assert updates[-1][1].startswith("**length** · 30 tokens")  # the demo model runs on without <|im_end|>


def test_a_failed_load_keeps_the_model_and_says_why_until_the_next_load(app):
    r = req()
    out = app.panel.load(r, model="/no/such/model", **values(temperature="0.3", max_tokens="50"))
    assert out[0]["value"] == MODEL  # the picker is put back on the model in use
    assert "Could not load /no/such/model" in out[-1] and f"still using {MODEL}" in out[-1]
    assert "**Family:** chatml" in out[1] and "Could not load" not in out[1]
    assert all(is_skip(box) for box in out[3:10])  # typed settings untouched
    # The picker's reset re-describes the panel: that output never carries the load error, so it cannot erase it.
    assert len(app.panel.describe(r, model=MODEL, **values())) == 3
    _, updates = send(app, r, "Hello!")
    assert updates[-1][1].startswith("**stop**")  # every action still works
    assert app.panel.load(r, model=MODEL, **values())[-1] == ""  # the next good Load clears the error


def test_a_picked_model_is_not_used_before_it_is_loaded(app):
    r = req()
    status, _, _ = app.panel.describe(r, model="/some/other/model", **values())
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
    status, thinking = out[1], out[3 + len(SETTING_BOXES)]
    assert "**Family:** qwen3 (preset `qwen3`)" in status and "**Template:** qwen3 (preset)" in status
    assert "&lt;think&gt;" in status and "&lt;/think&gt;" in status  # not swallowed as HTML tags by Markdown
    assert thinking["visible"] is True and "enable_thinking" in thinking["label"]
    assert "**Template keywords:** `enable_thinking=True`" in status


# ---------------------------------------------------------------------------------------------- prompt panel


def test_the_prompt_panel_shows_the_next_prompt_while_typing_and_else_the_last_one(app):
    r = req()
    assert "Type a message to see the exact prompt Send will send." in app.chat.preview(r, **values())
    typing = app.chat.preview(r, **values("Hello!"))
    assert NEXT_PROMPT in typing and "Hello!" in typing
    _, updates = send(app, r, "Hello!")
    reply = conversation(app, r)[-1]["content"]
    last = app.chat.preview(r, **values())
    assert LAST_PROMPT in last and "Hello!" in last
    assert views.esc(reply) not in last  # the request's prompt, not history plus a fresh header
    assert last.rstrip().endswith('assistant<span class="pg-ws">↵</span>\n</span></pre></div>')
    following = app.chat.preview(r, **values("What is 4 + 5?"))
    assert NEXT_PROMPT in following and views.esc(reply) in following and "What is 4 + 5?" in following


# ---------------------------------------------------------------------------------------------- send, stop, clear


def test_send_streams_the_reply_and_clears_the_box_once(app):
    r = req()
    accepted, updates = send(app, r, "Hello!")
    chat, box, error, prompt, stats = accepted
    assert box == EMPTY_INPUT and error == "" and "The prompt of this request" in prompt
    assert chat == [{"role": "user", "content": "Hello!"}]
    final = updates[-1]
    assert final[1].startswith("**stop** `<|im_end|>`") and "seed" in final[1] and final[4] == ""
    assert "pg-token-view" in final[2] and "pg-eos-chart" in final[2]
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]
    assert all(len(update) == 5 for update in updates)  # the stream never writes the Message box
    assert app.chat.show_branches(r) == gr.update(visible=False)  # one reply: no alternatives navigator


def test_send_while_busy_is_refused_and_the_typed_text_stays(app):
    r = req()
    app.chat.submit(r, **values("Hello!"))
    chat, box, error, prompt, stats = app.chat.submit(r, **values("second"))
    assert is_skip(chat) and is_skip(box) and BUSY in error  # the box is not touched: the text stays
    app.chat.stop(r)
    stream(app, r)


def test_stop_before_the_stream_starts_finishes_the_request(app):
    r = req()
    app.chat.submit(r, **values("Hello!"))
    assert app.chat.stop(r) == CANCELLED_BEFORE_START
    assert not app.core.session(r).busy
    (final,) = stream(app, r)  # the streaming step, arriving later, only reports it
    assert final[1] == CANCELLED_BEFORE_START and final[4] == ""
    assert conversation(app, r) == [{"role": "user", "content": "Hello!"}]  # no empty reply left behind
    _, updates = send(app, r, "Hello again")  # the session is free again
    assert updates[-1][1].startswith("**stop**")


def test_stop_mid_stream_cancels_and_the_busy_notice_is_cleared(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    first = next(u for u in updates if "generating" in u[1])
    assert first[0][-1]["role"] == "assistant"
    assert BUSY in app.chat.submit(r, **values("more"))[2]
    app.chat.stop(r)
    final = list(updates)[-1]
    assert final[1].startswith("**cancelled**")
    assert int(final[1].split(" · ")[1].split()[0]) < 450
    assert final[4] == ""  # the busy notice shown meanwhile is gone once the reply ended


def test_a_notice_shown_while_a_reply_streams_stays_until_the_reply_ends(app):
    """The stream's updates write the error box (values only, no gr.skip()): they must show the notice a refused
    action put there, not wipe it at the next update."""
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="400"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u[1])
    refused = app.chat.submit(r, **values("more"))[2]
    assert BUSY in refused
    later = [next(updates) for _ in range(3)]
    assert all(u[4] == refused for u in later)
    app.chat.stop(r)
    assert list(updates)[-1][4] == ""  # and it goes with the reply


def test_a_send_right_after_stop_is_accepted(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u[1])
    app.chat.stop(r)
    finisher = threading.Thread(target=lambda: list(updates))
    finisher.start()
    accepted = app.chat.submit(r, **values("Next"))  # waits for the stopped reply to end, then accepts
    finisher.join()
    assert accepted[2] == "" and accepted[1] == EMPTY_INPUT
    assert stream(app, r)[-1][1].startswith("**")


def test_clear_mid_stream_stops_it_and_nothing_refills_the_chat(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="450"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u[1])
    assert app.core.streams.count == 1  # this reply shares the server's update budget
    cleared = app.chat.clear(r)
    assert cleared[0] == [] and cleared[1] == ""
    rest = list(updates)
    assert app.core.streams.count == 0
    # The stream writes nothing more; its last word is the cleared chat (an update sent before the Clear may
    # reach the page after it).
    assert rest and all(update[0] == [] and is_skip(update[1]) for update in rest)
    assert conversation(app, r) == [] and not app.core.session(r).busy


def test_stop_while_queued_in_the_engine(toy_qwen3):
    app = PlaygroundApp(Engine(max_models=2, max_batch=1), default_model=MODEL)
    a, b = req(), req()
    app.panel.load(a, model=str(toy_qwen3), **values())
    app.chat.submit(a, **values("Hello!", max_tokens="20000", logprobs=False))
    a_updates = app.chat.stream(a)
    next(u for u in a_updates if "generating" in u[1])  # A holds the only batch slot
    rest_of_a = threading.Thread(target=lambda: list(a_updates))
    rest_of_a.start()
    try:
        app.chat.submit(b, **values("Hello!"))
        b_updates = app.chat.stream(b)
        queued = next(b_updates)
        assert queued[1] == "_queued: position 1 (the batch is full)_"
        app.chat.stop(b)
        final = list(b_updates)[-1]
        assert final[1].startswith("**cancelled** before the first token · 0 tokens · seed ")
        assert conversation(app, b) == [{"role": "user", "content": "Hello!"}]
        assert final[0] == [{"role": "user", "content": "Hello!"}]
    finally:
        app.chat.stop(a)
        rest_of_a.join(timeout=60)
    assert app.core.session(a).last_run.final.finish_reason == "cancelled"


# ---------------------------------------------------------------------------------------------- regenerate, edit, continue


def test_regenerate_replaces_the_reply_and_keeps_the_old_one_as_an_alternative(app):
    r = req()
    send(app, r, "Hello!", temperature="1.5", seed="1")
    first = conversation(app, r)[-1]["content"]
    chat, error, prompt, _ = app.chat.regenerate(r, **values(temperature="1.5", seed="2"))
    assert error == "" and chat == [{"role": "user", "content": "Hello!"}]
    final = stream(app, r)[-1]
    second = conversation(app, r)[-1]["content"]
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]  # one user turn, one reply
    assert final[3] == "Alternative **2 / 2**" and app.chat.show_branches(r) == gr.update(visible=True)
    assert app.prev_branch(r)[2] == "Alternative **1 / 2**" and conversation(app, r)[-1]["content"] == first
    assert app.next_branch(r)[2] == "Alternative **2 / 2**" and conversation(app, r)[-1]["content"] == second


def test_a_regenerate_stopped_before_it_started_shows_the_reply_again(app):
    r = req()
    send(app, r, "Hello!")
    before = list(conversation(app, r))
    app.chat.regenerate(r, **values())
    app.chat.stop(r)
    final = stream(app, r)[-1]
    assert final[1] == CANCELLED_BEFORE_START
    final_after = app.chat.switch_branch(1, r)
    assert conversation(app, r) == before and app.core.session(r).branches is None and is_skip(final_after[0])


def test_regenerate_answers_a_conversation_that_ends_without_a_reply(app):
    r = req()
    app.chat.import_conversation(json.dumps([{"role": "user", "content": "Hello!"}]), r)
    chat, error, _, _ = app.chat.regenerate(r, **values())
    assert error == ""
    stream(app, r)
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]
    assert app.core.session(r).branches is None


def test_edit_continues_from_the_edited_message_and_keeps_the_old_continuation(app):
    r = req()
    send(app, r, "Hello!")
    send(app, r, "My name is Emma.")
    old = [dict(m) for m in conversation(app, r)]
    data = gr.EditData(None, {"index": 2, "value": "My name is Oliver.", "previous_value": "My name is Emma."})
    chat, error, prompt, _ = app.chat.edit(data, r, **values())
    assert error == "" and "My name is Oliver." in prompt
    final = stream(app, r)[-1]
    now = conversation(app, r)
    assert now[:2] == old[:2] and now[2] == {"role": "user", "content": "My name is Oliver."} and len(now) == 4
    assert final[3] == "Alternative **2 / 2**"
    app.prev_branch(r)
    assert conversation(app, r) == old


def test_only_user_messages_are_edited_in_place(app):
    r = req()
    app.chat.import_conversation(json.dumps([
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Go"},
    ]), r)
    data = gr.EditData(None, {"index": 2, "value": "Be long.", "previous_value": "Be brief."})
    chat, error, _, _ = app.chat.edit(data, r, **values())
    assert "Conversation JSON" in error and chat[2]["content"] == "Be brief."


def test_continue_extends_a_reply_cut_by_the_token_limit(app):
    r = req()
    _, updates = send(app, r, "What is 4 + 5?", max_tokens="3")
    assert updates[-1][1].startswith("**length** · 3 tokens")
    cut = conversation(app, r)[-1]["content"]
    _, error, prompt, _ = app.chat.continue_reply(r, **values(max_tokens=""))
    assert error == "" and "left open" in prompt
    final = stream(app, r)[-1]
    assert final[1].startswith("**stop**")
    messages = conversation(app, r)
    assert len(messages) == 2 and messages[-1]["content"].startswith(cut) and len(messages[-1]["content"]) > len(cut)


def test_continue_inside_a_think_block_streams_reasoning(app, toy_qwen3):
    r = req()
    app.panel.load(r, model=str(toy_qwen3), **values())
    opened = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nLet me"}]
    app.chat.import_conversation(json.dumps(opened), r)
    _, error, prompt, _ = app.chat.continue_reply(r, **values(max_tokens="6"))
    assert error == "" and prompt.rstrip().endswith("Let me</span></pre></div>")
    updates = stream(app, r)
    message = conversation(app, r)[-1]
    assert message["content"] == "" and message["reasoning_content"].startswith("Let me")
    assert len(message["reasoning_content"]) > len("Let me")  # the generated words went into the reasoning
    thinking = updates[-1][0][-1]
    assert thinking["metadata"] == {"title": "Thinking", "status": "done"}


def test_undo_puts_the_message_back_before_what_was_typed_since(app):
    r = req()
    send(app, r, "Hello!")
    chat, box, error = app.chat.undo(None, r, {"text": "typed meanwhile", "files": []})
    assert chat == [] and box == {"text": "Hello!\n\ntyped meanwhile", "files": []} and error == ""


# ---------------------------------------------------------------------------------------------- errors


def test_an_out_of_range_setting_is_refused_inline_and_nothing_else_changes(app):
    r = req()
    chat, box, error, prompt, stats = app.chat.submit(r, **values("Hello!", temperature="-1"))
    assert "temperature must be a number in [0.0, 5.0], got -1.0" in error and 'role="alert"' in error
    assert is_skip(chat) and is_skip(box) and is_skip(prompt)  # the typed message stays
    assert conversation(app, r) == [] and not app.core.session(r).busy
    accepted, _ = send(app, r, "Hello!", temperature="0.5")
    assert accepted[2] == ""  # the next good action clears the error box


def test_a_bad_tools_box_is_refused_with_the_json_error(app):
    error = app.chat.submit(req(), **values("Hi", tools="[{"))[2]
    assert "tools is not valid JSON" in error


# ---------------------------------------------------------------------------------------------- import / export

def test_import_shows_every_role_and_round_trips_through_send_and_export(app):
    r = req()
    chat, system, error, _, _, stats, tokens = app.chat.import_conversation(json.dumps(IMPORTED), r)
    assert error == "" and system == "You are a helpful assistant." and stats == ""
    titles = [(item.get("metadata") or {}).get("title") for item in chat]
    assert "🔧 Tool call: get_weather · id call_1" in titles and "↩ Tool result: get_weather" in titles
    assert views.SYSTEM_TITLE in titles
    assert json.loads(app.chat.export_conversation(r, system)) == IMPORTED
    preview = app.chat.preview(r, **values("What is my name?", system=system))
    assert "Answer in uppercase." in preview and "{&quot;temp&quot;: 21}" in preview
    _, updates = send(app, r, "What is my name?", system=system)
    assert updates[-1][4] == "" and updates[-1][1].startswith("**stop**")
    exported = json.loads(app.chat.export_conversation(r, system))
    assert exported[: len(IMPORTED)] == IMPORTED and [m["role"] for m in exported[-2:]] == ["user", "assistant"]


def test_import_passes_any_role_and_the_prompt_panel_warns_when_the_template_ignores_it(app):
    r = req()
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "developer", "content": "Answer in uppercase."}]
    chat, _, error, *_ = app.chat.import_conversation(json.dumps(messages), r)
    assert error == "" and (chat[-1].get("metadata") or {}).get("title") == "role: developer"
    shown = app.chat.preview(r, **values("What is my name?", template="chatml"))
    assert "developer" in shown and "Answer in uppercase." in shown  # ChatML writes any role
    shown = app.chat.preview(r, **values("What is my name?", template="qwen3"))
    assert "message 3 has role &#x27;developer&#x27;, which this template ignores" in shown


def test_a_bad_import_is_refused_inline_and_keeps_the_conversation(app):
    r = req()
    send(app, r, "Hello!")
    before = list(conversation(app, r))
    out = app.chat.import_conversation('[{"role": 7, "content": "x"}]', r)
    assert is_skip(out[0]) and "role must be non-empty text" in out[2]
    assert conversation(app, r) == before


# ---------------------------------------------------------------------------------------------- compare


def compare_values(**overrides):
    out = dict(
        wire_eos=True, backend="local", base_url="", api_key="", served_model="", top_p="", min_p="", top_k="",
        repetition_context_size="", max_tokens="24", stop="", logprobs=True, system="", system_strategy="merge",
        template_kwargs="", compare_message="Hello!", third=False, seed="",
    )
    for index, template in enumerate(["auto", "gemma", "generic"], start=1):
        out.update({f"template_{index}": template, f"temperature_{index}": "0", f"repetition_penalty_{index}": "1",
                    f"enable_thinking_{index}": True, f"backend_{index}": "local"})
    out.update(overrides)
    return out


def test_compare_runs_two_or_three_columns_with_one_seed_and_a_token_diff(app):
    r = req()
    final = list(app.compare.run(r, **compare_values()))[-1]
    assert len(final) == 4 * COLUMNS + 2 and final[-1] == ""
    stats = [final[2], final[6]]
    seeds = {s.rsplit("seed ", 1)[1].split()[0] for s in stats}
    assert len(seeds) == 1 and all(s.startswith("**") for s in stats)  # empty seed: one random seed, shown
    assert list(final[8:12]) == ["", [], "", ""]  # no third column
    diff = final[12]
    assert "&lt;|im_start|&gt;" in diff and "&lt;start_of_turn&gt;" in diff and "_of_turn&gt;" not in diff.replace(
        "&lt;start_of_turn&gt;", "").replace("&lt;end_of_turn&gt;", "")
    three = list(app.compare.run(r, **compare_values(third=True, seed="7")))[-1]
    assert all("seed 7" in three[i] for i in (2, 6, 10)) and "column 3" in three[12]


def test_compare_bounds_max_tokens_by_the_context_and_refuses_bad_values_inline(app):
    r = req()
    final = list(app.compare.run(r, **compare_values(max_tokens="5000")))[-1]
    assert "max tokens lowered from 5000 to" in final[0] and "1,024-token context" in final[0]
    (refused,) = list(app.compare.run(r, **compare_values(seed="abc")))
    assert "seed must be a number" in refused[-1] and all(is_skip(v) for v in refused[:-1])
    (empty,) = list(app.compare.run(r, **compare_values(compare_message=" ")))
    assert "Type a message to compare" in empty[-1]


def test_compare_stop_cancels_every_column(app, toy_qwen3):
    r = req()
    app.panel.load(r, model=str(toy_qwen3), **values())
    run = app.compare.run(r, **compare_values(max_tokens="20000", logprobs=False))
    next(u for u in run if "generating" in str(u[2]) and "generating" in str(u[6]))
    app.compare.stop(r)
    final = list(run)[-1]
    for stats in (final[2], final[6]):
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
    output, stats, tokens, error = list(app.notebook.run(r, **notebook_values(text)))[-1]
    assert error == "" and stats.startswith("**stop**") and "pg-token-view" in tokens
    continuation = app.core.session(r).notebook_last
    assert continuation and views.visible_whitespace(continuation) in output
    assert app.notebook.append(r, text) == text + continuation
    app.panel.load(r, model=str(toy_qwen3), **values())
    run = app.notebook.run(r, **notebook_values("Once upon a time", max_tokens="20000"))
    next(u for u in run if "generating" in str(u[1]))
    app.notebook.stop(r)
    _, stats, _, error = list(run)[-1]
    assert stats.startswith("**cancelled**") and error == ""
    (refused,) = list(app.notebook.run(r, **notebook_values("")))
    assert "the raw prompt is empty" in refused[-1]


# ---------------------------------------------------------------------------------------------- template lab

LAB = dict(sample=json.dumps([{"role": "user", "content": "Hi"}]), system_strategy="merge", tools="", template_kwargs="")


def test_lab_loads_renders_reports_errors_with_line_numbers_and_uses_a_template(app):
    r = req()
    source = app.lab.source("auto", r)
    assert "<|im_start|>" in source
    output, errors, lint, tokens = app.lab.render(r, source=source, **LAB)
    assert "OK" in errors and "&lt;|im_start|&gt;" in output and "tokens" in tokens
    broken = source + "\n{% if %}"
    line = len(broken.split("\n"))
    output, errors, _, _ = app.lab.render(r, source=broken, **LAB)
    assert output == "" and f"line {line}" in errors and errors.count(f"line {line}") == 1
    choice, message = app.lab.use(broken, r)
    assert is_skip(choice) and f"line {line}" in message
    choice, message = app.lab.use(source.replace("<|im_start|>", "<|im_start|> "), r)
    assert choice["value"] == "custom" and "custom template" in message
    assert "template: custom" in app.chat.preview(r, **values("Hi", template="custom"))


# ---------------------------------------------------------------------------------------------- saved settings


def test_saved_settings_save_apply_delete(app):
    r = req()
    fields = {name: CHAT_DEFAULTS[name] for name in SAVED_FIELDS}
    saved, choice, message = app.saved.save("brief", {}, **{**fields, "system": "Be brief.", "temperature": "0.2"})
    assert saved["brief"]["system"] == "Be brief." and choice["value"] == "brief" and "Saved" in message
    _, _, refused = app.saved.save("bad", saved, **{**fields, "temperature": "-1"})
    assert "temperature must be" in refused
    applied = app.saved.apply("brief", saved)
    assert applied[SAVED_FIELDS.index("system")] == "Be brief." and applied[SAVED_FIELDS.index("temperature")] == "0.2"
    remaining, choice, message = app.saved.delete("brief", saved)
    assert remaining == {} and choice["value"] is None and "Deleted" in message
    assert "Pick saved settings" in app.saved.delete("brief", remaining)[2]
    assert r is not None


@pytest.mark.slow
def test_the_exported_command_reproduces_the_last_run(app, tmp_path):
    r = req()
    send(app, r, "Hello!", seed="3", temperature="1.2", stop="zzz\nqqq")
    send(app, r, "What is 4 + 5?", seed="3", temperature="1.2", stop="zzz\nqqq")
    reply = conversation(app, r)[-1]["content"]
    settings_json, command = app.saved.export(r, **values(system=""))
    assert json.loads(settings_json)["temperature"] == "0"
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
    assert clear.fn == app.chat.clear


def test_saved_settings_come_back_when_the_browser_restores_them(app):
    blocks = build_blocks(app)
    store = next(c for c in blocks.blocks.values() if isinstance(c, gr.BrowserState))
    assert store.secret == store.storage_key  # not a random secret: settings survive a server restart
    (refresh,) = [f for f in blocks.fns.values() if (store._id, "change") in f.targets]
    assert refresh.fn == app.saved.choices


def test_undo_gets_the_message_box_so_typed_text_is_kept(app):
    blocks = build_blocks(app)
    (undo,) = dependency(blocks, "chat-output", "undo")
    ids = {c._id: getattr(c, "elem_id", None) for c in blocks.blocks.values()}
    assert [ids[i._id] for i in undo.inputs] == ["chat-input"]


def test_compare_columns_offer_every_template_of_the_model(app):
    updates = app.compare.choices(req(), template_1="auto", template_2="llama2", template_3="model")
    offered = [value for _, value in updates[0]["choices"]]
    assert {"auto", "llama2", "gemma", "qwen3"} <= set(offered)
    assert [u["value"] for u in updates] == ["auto", "llama2", "auto"]  # the demo model has no template of its own


def test_copy_as_code_reproduces_the_request_the_prompt_panel_shows(app):
    r = req()
    assert "'Hello!'" in app.chat.snippet(r, **values())
    send(app, r, "Hello!")
    last = app.core.session(r).last_run.prepared
    script = app.chat.snippet(r, **values())
    assert f"assert prompt == {last.text!r}" in script  # the last request, not history plus a fresh header
    typed = app.chat.snippet(r, **values("What is 4 + 5?"))
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
    compare_updates = list(app.compare.run(req(), **compare_values(**long)))
    text = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    notebook_updates = list(app.notebook.run(req(), **notebook_values(text, **long)))
    for name, updates in (("chat", chat_updates), ("compare", compare_updates), ("notebook", notebook_updates)):
        streaming = updates[:-1]
        assert len(streaming) >= 3, name
        assert not [v for update in streaming for v in update if is_update(v)], name
    assert "pg-token-view" in chat_updates[-1][2] and "appear when the reply ends" in chat_updates[0][2]


@pytest.mark.parametrize(("template", "arguments"), [("glm4.5", '{"city": "Paris"}'), ("deepseek-r1", {"city": "Paris"})])
def test_imported_tool_calls_are_shaped_for_the_chosen_template(app, template, arguments):
    """OpenAI-style string arguments for GLM (which needs an object), an object for DeepSeek R1 (a string)."""
    r = req()
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": arguments}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18"}]
    assert app.chat.import_conversation(json.dumps(messages), r)[2] == ""
    shown = app.chat.preview(r, **values("And tomorrow?", template=template))
    assert 'role="alert"' not in shown and "Paris" in shown
    assert json.loads(app.chat.export_conversation(r)) == messages  # the export keeps what was imported
