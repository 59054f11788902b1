"""The side views follow what is on screen (issue 19): the prompt panel, the stats line, the token view and the
alternatives row always describe the reply shown or the request Send will make; sliders start at the value in
use; sessions are private and bounded. Handlers called directly, on the real engine and the demo model."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import gradio as gr
import pytest
from servers import Reply
from test_ui_backends import mlx_stub, server_values
from test_ui_handlers import MODEL, conversation, req, send, stream, values

from playground.ports import free_port
from playground.ui import views
from playground.ui.app import PlaygroundApp, build_blocks
from playground.ui.chat import ANSWERING_PROMPT, NEXT_PROMPT, PENDING_PROMPT, TYPE_TO_SEE
from playground.ui.inputs import ChatInputs
from playground.ui.state import Sessions

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def app(engine):
    return PlaygroundApp(engine, default_model=MODEL)


def no_alternatives(out):
    return out["branch_row"] == gr.update(visible=False) and out["branch_label"] == ""


# ---------------------------------------------------------------------------------------------- defects 1 and 2


def test_defect1_a_reply_cut_by_the_server_is_kept_and_called_partial_with_its_tokens(app):
    cut = Reply.sse([{"choices": [{"text": t, "finish_reason": None}]} for t in ("Hi", " there")])
    with mlx_stub(completions=lambda body: cut) as stub:
        r = req()
        app.chat.submit(r, **server_values(stub, "Hello!", logprobs=False))
        final = stream(app, r)[-1]
    assert final["stats"].startswith("**error** · partial reply kept: 2 tokens")
    assert "ended the stream before the reply" in final["chat_error"]
    assert conversation(app, r)[-1] == {"role": "assistant", "content": "Hi there"}


@pytest.mark.slow
def test_defect2_a_failed_request_gives_the_message_back_and_leaves_no_unanswered_turn(app):
    r = req()
    unreachable = values("What is 4 + 5?", backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1")
    accepted = app.chat.submit(r, **unreachable)
    assert accepted["message"] == {"text": "", "files": []}  # cleared once, as for every Send
    final = stream(app, r)[-1]
    assert 'class="pg-error"' in final["chat_error"] and "your message is back in the box" in final["chat_error"]
    assert conversation(app, r) == [] and final["chat"] == []
    typed_since = {"text": "and 6 + 7?", "files": []}
    after = app.chat.after_reply(r, **{**unreachable, "message": typed_since})
    assert after["message"] == {"text": "What is 4 + 5?\n\nand 6 + 7?", "files": []}
    assert "message" not in app.chat.after_reply(r, **values())  # given back once
    send(app, r, "What is 4 + 5?")  # the next Send makes one user turn, answered
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]


# ---------------------------------------------------------------------------------------------- defects 3 and 4


def regenerated(app, r):
    send(app, r, "Hello!", temperature="1.5", seed="1")
    first = app.core.session(r).last_run
    app.chat.regenerate(r, **values(temperature="1.5", seed="2"))
    stream(app, r)
    return first


def test_defect3_undo_after_regenerate_leaves_no_alternatives_stats_or_token_view(app):
    r = req()
    regenerated(app, r)
    out = app.chat.undo(None, r, **values())
    assert out["chat"] == [] and no_alternatives(out)
    assert out["stats"] == "" and "No token probabilities yet" in out["tokens"]
    assert NEXT_PROMPT in out["prompt"] and "Hello!" in out["prompt"]  # the message is back in the box
    assert out["message"] == {"text": "Hello!", "files": []}


def test_defect4_each_alternative_shows_its_own_stats_and_token_view(app):
    r = req()
    first = regenerated(app, r)
    second = app.core.session(r).last_run
    assert "seed 1" in first.stats and "seed 2" in second.stats
    back = app.prev_branch(r, **values())
    assert back["stats"] == first.stats and "seed 1" in back["stats"]
    assert back["tokens"] == views.token_probs_html(first.tokens, note=first.note)
    forth = app.next_branch(r, **values())
    assert forth["stats"] == second.stats and forth["tokens"] == views.token_probs_html(second.tokens, note=second.note)
    assert forth["branch_label"] == "Alternative **2 / 2**"


# ---------------------------------------------------------------------------------------------- defects 5, 6 and 7


def test_defect5_clear_with_text_in_the_box_shows_the_prompt_of_that_text(app):
    r = req()
    send(app, r, "Hello!")
    out = app.chat.clear(r, **values("What is my name?"))
    assert NEXT_PROMPT in out["prompt"] and "What is my name?" in out["prompt"] and TYPE_TO_SEE not in out["prompt"]
    assert app.chat.clear(r, **values())["prompt"].count(TYPE_TO_SEE) == 1  # an empty box: the notice


def test_defect6_typing_while_a_reply_streams_never_shows_a_prompt_built_from_the_partial_reply(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="300"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u["stats"])
    partial = conversation(app, r)[-1]["content"]
    shown = app.chat.preview(r, **values("What next?"))["prompt"]
    assert ANSWERING_PROMPT in shown and "sent after this reply" in shown
    assert views.esc(partial) not in shown and "What next?" not in shown
    app.chat.stop(r)
    list(updates)
    after = app.chat.after_reply(r, **values("What next?"))["prompt"]  # the reply ended: the real next prompt
    assert NEXT_PROMPT in after and "What next?" in after
    assert views.esc(conversation(app, r)[-1]["content"][:6]) in after  # with the whole reply


def test_defect7_an_imported_conversation_ending_with_a_user_turn_says_regenerate_answers_it(app):
    r = req()
    out = app.chat.import_conversation(json.dumps([{"role": "user", "content": "What is 4 + 5?"}]), r, **values())
    assert PENDING_PROMPT in out["prompt"] and "What is 4 + 5?" in out["prompt"]
    refused = app.chat.submit(r, **values())
    assert "press Regenerate to answer it" in refused["chat_error"]
    assert app.chat.regenerate(r, **values())["chat_error"] == ""
    stream(app, r)
    assert [m["role"] for m in conversation(app, r)] == ["user", "assistant"]


# ---------------------------------------------------------------------------------------------- defect 8: verbatim


def test_defect8_replies_can_be_shown_verbatim(app):
    r = req()
    app.chat.import_conversation(json.dumps([
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "4.\n  <b>x</b>", "reasoning_content": "<i>"},
    ]), r, **values())  # fmt: skip
    shown = app.chat.show_verbatim(r, verbatim=True)["chat"]
    assert shown[1]["content"] == '<pre class="pg-verbatim">&lt;i&gt;</pre>'
    assert shown[2]["content"] == '<pre class="pg-verbatim">4.\n  &lt;b&gt;x&lt;/b&gt;</pre>'
    assert shown[0]["content"] == "Hi"  # the user's own messages are not replies
    streamed = app.chat.regenerate(r, **values())
    assert streamed["chat_error"] == ""
    final = stream(app, r)[-1]["chat"]
    assert final[-1]["content"].startswith('<pre class="pg-verbatim">')  # a new reply too
    assert app.chat.show_verbatim(r, verbatim=False)["chat"][-1]["content"] == conversation(app, r)[-1]["content"]


# ---------------------------------------------------------------------------------------------- defects 11, 12 and 13


def test_defect11_compare_takes_none_of_the_sidebar_settings(app):
    blocks = build_blocks(app)
    ids = {c._id: getattr(c, "elem_id", None) for c in blocks.blocks.values()}
    (run,) = [f for f in blocks.fns.values() if f.api_name == "compare"]
    inputs = {ids[i._id] for i in run.inputs}
    sidebar = {"stop-strings", "seed", "top-p", "min-p", "top-k", "temperature", "max-tokens", "logprobs-toggle",
               "template-kwargs", "system-prompt", "presence-penalty", "frequency-penalty"}  # fmt: skip
    assert not inputs & sidebar
    assert {"compare-temperature-1", "compare-repetition-penalty-2", "compare-max-tokens", "compare-seed"} <= inputs


def test_defect12_copy_as_code_is_the_next_generation_with_the_settings_shown(app):
    r = req()
    send(app, r, "Hello!", temperature="0")
    script = app.chat.snippet(r, **values(temperature="1.3"))["snippet"]
    assert script.startswith("# The request Regenerate makes") and "1.3" in script
    last = app.core.session(r).last_run.prepared
    assert f"assert prompt == {last.text!r}" in script
    typed = app.chat.snippet(r, **values("Bye", temperature="0.4"))["snippet"]
    assert typed.startswith("# The request Send makes") and "0.4" in typed and "Bye" in typed


def test_defect13_a_bad_setting_keeps_the_panels_and_marks_its_box(app):
    r = req()
    send(app, r, "Hello!")
    good = app.chat.preview(r, **values("Bye"))["prompt"]
    shown = app.chat.preview(r, **values("Bye", seed="abc"))["prompt"]
    assert "seed must be a number" in shown and 'class="pg-stale"' in shown and good in shown
    out = app.panel.describe(r, model=MODEL, **values(seed="abc"))
    for line in ("**Template:**", "**Stops on:**", "**Settings:**", "⚠ seed must be a number"):
        assert line in out["status"], line
    assert out["seed"] == gr.update(elem_classes=["pg-invalid"]) and out["tools"] == gr.update(elem_classes=[])
    assert "seed must be a number" in out["summary"] and "stops on" in out["summary"]
    bad_tools = app.panel.describe(r, model=MODEL, **values(tools="[{"))
    assert bad_tools["tools"] == gr.update(elem_classes=["pg-invalid"]) and bad_tools["seed"]["elem_classes"] == []
    assert app.panel.describe(r, model=MODEL, **values())["seed"] == gr.update(elem_classes=[])


# ---------------------------------------------------------------------------------------------- sliders


def test_sliders_start_at_the_value_in_use_and_load_moves_only_those_left_there(app, toy_qwen3):
    r = req()
    first = app.panel.page_load(r, **values(temperature=0.7, top_p=1.0))  # the sliders as built
    assert first["temperature"]["value"] == 0.2 and first["top_p"]["value"] == 0.9  # the demo model's
    assert "generation_config.json" in first["top_p"]["info"]
    assert app.panel.reset("temperature", r, **values()) == {"temperature": 0.2}
    # Load another model: a slider at the old model's value moves to the new one's; one the user moved stays.
    other = app.panel.load(r, model=str(toy_qwen3), **values(temperature=1.1, top_p=0.9, max_tokens=512))
    assert "value" not in other["temperature"] and "info" in other["temperature"]
    toy_defaults = app.panel._defaults(app.core.session(r), ChatInputs.from_values(values()))[0]
    assert (
        other["top_p"]["value"] == toy_defaults["top_p"] and other["max_tokens"]["value"] == toy_defaults["max_tokens"]
    )


def test_a_slider_at_the_model_value_is_the_models_default_and_moving_it_is_yours(app):
    r = req()
    prepared = app.core.prepare_chat(app.core.session(r), ChatInputs.from_values(values(temperature=0.2)), [
        {"role": "user", "content": "Hi"}])  # fmt: skip
    assert prepared.setting_sources["temperature"] == "model" and prepared.settings.temperature == 0.2
    moved = app.core.prepare_chat(app.core.session(r), ChatInputs.from_values(values(temperature=0.65)), [
        {"role": "user", "content": "Hi"}])  # fmt: skip
    assert moved.setting_sources["temperature"] == "you" and moved.settings.temperature == 0.65
    line = app.panel.describe(r, model=MODEL, **values(temperature=0.65))["settings_line"]
    assert "temperature 0.65 ·" in line and "top_p 0.9 (model)" in line


# ---------------------------------------------------------------------------------------------- sessions


def test_a_request_without_a_session_hash_gets_a_state_of_its_own():
    sessions = Sessions()
    a, b = sessions.get(SimpleNamespace(session_hash=None)), sessions.get(SimpleNamespace())
    assert a is not b and len(sessions) == 0
    a.conversation.append({"role": "user", "content": "private"})
    assert sessions.get(None).conversation == []


def test_a_closed_page_releases_its_state(app):
    r = req()
    send(app, r, "Hello!")
    state = app.core.session(r)
    app.release(r)
    assert app.core.session(r) is not state and conversation(app, r) == []
    assert state.conversation == [] and not state.busy


def test_a_session_evicted_by_the_limit_is_told_so(app):
    sessions = Sessions(max_sessions=2)
    first = SimpleNamespace(session_hash="first")
    sessions.get(first).conversation.append({"role": "user", "content": "Hi"})
    sessions.get(SimpleNamespace(session_hash="b"))
    sessions.get(SimpleNamespace(session_hash="c"))  # "first" is the least recently used: released
    again = sessions.get(first)
    assert again.conversation == [] and again.evicted
    app.core.sessions, saved = sessions, app.core.sessions
    try:
        out = app.chat.submit(first, **values("Hello"))
        assert "released its conversation" in out["chat_error"] and out["chat"] == []
        assert "message" not in out  # the typed message stays, to be sent again
        assert app.chat.submit(first, **values("Hello"))["chat_error"] == ""  # said once
        stream(app, first)
    finally:
        app.core.sessions = saved


def test_sessions_are_released_from_another_thread_while_a_reply_streams(app):
    r = req()
    app.chat.submit(r, **values("Hello!", wire_eos=False, max_tokens="300"))
    updates = app.chat.stream(r)
    next(u for u in updates if "generating" in u["stats"])
    closer = threading.Thread(target=app.release, args=(r,))
    closer.start()
    closer.join(timeout=30)
    rest = list(updates)  # the stream ends: its session is gone
    assert rest and not closer.is_alive()
