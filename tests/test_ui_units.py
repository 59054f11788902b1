"""The UI's pure parts: views (chat, stats, token view, diff), typed inputs, session state, exported commands."""

from __future__ import annotations

import json
import shlex
import threading
import time
from types import SimpleNamespace

import pytest

from playground.backends.spec import BackendSpec
from playground.cli import build_parser
from playground.errors import MessagesError, SettingsError, TemplateError
from playground.events import GenerationEvent, TokenAlternative, TokenInfo
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings
from playground.ui import views
from playground.ui.inputs import ChatInputs
from playground.ui.lab import _error as lab_error
from playground.ui.saved import generate_command
from playground.ui.state import Sessions, SessionState

# ---------------------------------------------------------------------------------------------- chat view

CONVERSATION = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    },
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": '{"temp": 21}'},
    {"role": "assistant", "content": "It is 21 degrees.", "reasoning_content": "The tool said 21."},
    {"role": "system", "content": "Answer in uppercase."},
    {"role": "user", "content": "Hello"},
]


def test_chat_view_shows_every_role_and_maps_items_to_messages():
    items, owners = views.chat_view(CONVERSATION)
    titles = [(item.get("metadata") or {}).get("title", "") for item in items]
    assert owners == [0, 1, 2, 3, 3, 4, 5]
    assert titles[1].startswith("🔧 Tool call: get_weather") and "call_1" in titles[1]
    assert '"city": "Paris"' in items[1]["content"]
    assert titles[2] == "↩ Tool result: get_weather" and items[2]["content"] == '{"temp": 21}'
    assert titles[3] == "Thinking" and items[3]["metadata"]["status"] == "done"  # collapsed once done
    assert items[4] == {"role": "assistant", "content": "It is 21 degrees."}


def test_a_system_message_after_the_first_turn_is_shown():
    # The Chatbot does not render the "system" role at all: it must come as a titled item on the input side.
    items, owners = views.chat_view(CONVERSATION)
    shown = [i for i, o in zip(items, owners) if o == 4]
    assert shown == [{"role": "user", "content": "Answer in uppercase.", "metadata": {"title": views.SYSTEM_TITLE}}]
    assert all(item["role"] in ("user", "assistant") for item in items)


def test_chat_view_while_streaming_hides_the_empty_reply_and_opens_thinking():
    waiting = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]
    assert views.chat_view(waiting, streaming=True)[0] == [{"role": "user", "content": "Hi"}]
    assert views.chat_view(waiting)[0][-1] == {"role": "assistant", "content": views.EMPTY_REPLY}
    thinking = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "", "reasoning_content": "Hm"}]
    item = views.chat_view(thinking, streaming=True)[0][-1]
    assert item["metadata"] == {"title": "Thinking", "status": "pending"} and item["content"] == "Hm"
    opened = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "", "reasoning_content": ""}]
    assert views.chat_view(opened, streaming=True)[0][-1]["metadata"]["status"] == "pending"


def test_chat_view_shows_images_as_files():
    message = {"role": "user", "content": [{"type": "image", "image": "/tmp/cat.png"}, {"type": "text", "text": "What?"}]}
    items, owners = views.chat_view([message])
    assert items == [{"role": "user", "content": {"path": "/tmp/cat.png"}}, {"role": "user", "content": "What?"}]
    assert owners == [0, 0]


# ---------------------------------------------------------------------------------------------- stats, Markdown


def event(**overrides):
    values = dict(text="", token=None, prompt_tokens=10, generation_tokens=5, ttft_s=0.05, prompt_tps=200.0,
                  generation_tps=100.0, peak_memory_gb=0.1, finish_reason="stop", stop_token="<|im_end|>", seed=7)
    values.update(overrides)
    return GenerationEvent(**values)


def test_stats_line_shows_finish_tokens_and_the_seed_used():
    line = views.stats_line(event(reused_tokens=4, batch_size=2))
    assert line.startswith("**stop** `<|im_end|>` · 5 tokens") and "seed 7" in line
    assert "reused 4 of 10 prompt tokens" in line and "batch of 2" in line


def test_a_request_cancelled_while_queued_reports_sensible_stats():
    line = views.stats_line(event(finish_reason="cancelled", stop_token=None, generation_tokens=0, ttft_s=0.0,
                                  generation_tps=0.0))
    assert line == "**cancelled** before the first token · 0 tokens · seed 7"
    assert "tok/s" not in line and "ttft" not in line


def test_progress_line_names_the_queue_position():
    assert views.progress_line(event(finish_reason=None, status="queued", queue_position=2)) == (
        "_queued: position 2 (the batch is full)_"
    )
    assert "processing the prompt (6 new tokens)" in views.progress_line(
        event(finish_reason=None, status="prefill", reused_tokens=4)
    )


def test_markdown_text_keeps_tokens_visible():
    # Gradio's Markdown takes <think> for an HTML tag and drops it.
    assert views.md_text("special tokens <think>, </think> & <|im_end|>") == (
        "special tokens &lt;think&gt;, &lt;/think&gt; &amp; &lt;|im_end|&gt;"
    )


# ---------------------------------------------------------------------------------------------- token view


def token(text, p, alternatives, eos=0.01, special=False, token_id=1):
    import math

    top = tuple(TokenAlternative(t, i, math.log(q)) for i, (t, q) in enumerate(alternatives, start=1))
    return TokenInfo(text, token_id, math.log(p), top, eos_logprob=math.log(eos), special=special)


def test_token_view_colours_tokens_shows_alternatives_and_the_eos_chart():
    tokens = [token("Hi", 0.9, [("Hi", 0.9), ("Hello", 0.05)]), token("<|im_end|>", 0.8, [], eos=0.8, special=True)]
    html = views.token_probs_html(tokens, note="2 tokens")
    assert html.count('class="pg-t"') == 1 and 'class="pg-t pg-t-special"' in html
    assert 'data-p="0.9000"' in html and "background:hsla(108" in html  # 0.9 -> green-ish
    assert "<td>Hello</td><td>5.0%</td>" in html and 'tabindex="0"' in html  # focusable: click shows alternatives
    assert 'class="pg-eos-chart" data-steps="2" data-last="0.8000"' in html and "<polyline" in html
    assert "No token probabilities yet" in views.token_probs_html(())


def test_token_view_wraps_and_its_popups_are_not_clipped():
    # Tokens are inline blocks (a long reply wraps) and the accordions holding token views do not clip popups.
    assert "display: inline-block" in views.CSS.split(".pg-t {", 1)[1].split("}", 1)[0]
    assert ".pg-overflow-visible" in views.CSS


# ---------------------------------------------------------------------------------------------- diff


def test_diff_keeps_special_tokens_whole():
    special = ["<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"]
    chatml = "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    gemma = "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n"
    a, b = views.split_pieces(chatml, special), views.split_pieces(gemma, special)
    assert "<|im_start|>" in a and "<start_of_turn>" in b
    html = views.diff_html(a, b, "column 1", "column 2", special)
    assert "_of_turn&gt;" not in html.replace("&lt;start_of_turn&gt;", "").replace("&lt;end_of_turn&gt;", "")
    assert "&lt;|im_start|&gt;</span></del>" in html and "&lt;start_of_turn&gt;</span></ins>" in html
    assert views.diff_html(a, a, "1", "2") .endswith("identical prompts</div>")


# ---------------------------------------------------------------------------------------------- inputs


def test_settings_are_refused_with_the_field_named_never_clamped():
    with pytest.raises(SettingsError, match=r"temperature must be a number in \[0.0, 5.0\], got -1.0"):
        ChatInputs(temperature="-1").settings()
    with pytest.raises(SettingsError, match="top_p must be a number, got 'lots'"):
        ChatInputs(top_p="lots").settings()
    with pytest.raises(SettingsError, match="max_tokens must be an integer"):
        ChatInputs(max_tokens="2.5").settings()
    with pytest.raises(SettingsError, match="seed must be an integer"):
        ChatInputs(seed="-5").settings()


def test_empty_boxes_mean_the_model_default_and_the_seed_is_random():
    settings = ChatInputs(temperature="", top_k=" ", seed="", stop="END\n\n###").settings()
    assert settings.temperature is None and settings.top_k is None and settings.seed is None
    assert settings.stop == ("END", "###")
    assert ChatInputs(seed="42", max_tokens="64").settings().seed == 42


def test_inputs_build_one_request_with_the_system_prompt_first():
    inputs = ChatInputs(system="Be brief.", template="llama2", wire_eos=False, logprobs=False, tools="")
    request = inputs.request([{"role": "user", "content": "Hi"}])
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.template == "llama2" and request.wire_eos is False and request.logprobs == 0
    with pytest.raises(MessagesError, match="empty"):
        ChatInputs().request([])
    with pytest.raises(TypeError, match="unknown chat inputs: bogus"):
        ChatInputs.from_values({"bogus": 1})


def test_thinking_and_effort_boxes_become_plain_request_fields():
    request = ChatInputs(enable_thinking=False, reasoning_effort="high").request([{"role": "user", "content": "Hi"}])
    assert (request.thinking, request.effort, dict(request.template_kwargs)) == (False, "high", {})
    assert ChatInputs(reasoning_effort="").request([{"role": "user", "content": "Hi"}]).effort is None  # the default


def test_a_bad_template_keywords_box_names_the_box():
    with pytest.raises(TemplateError, match="template keywords is not valid JSON"):
        ChatInputs(template_kwargs="{nope").kwargs()


def test_message_box_values():
    inputs = ChatInputs(message={"text": "Hi", "files": [{"path": "/tmp/a.png"}, "/tmp/b.png"]})
    assert inputs.text == "Hi" and inputs.files == ["/tmp/a.png", "/tmp/b.png"]
    assert ChatInputs(message="plain").text == "plain" and ChatInputs(message="plain").files == []


# ---------------------------------------------------------------------------------------------- state


def prepared_stub(text="", reasoning="none", tool_calls="none"):
    from playground.parsing import ReplyParser

    return SimpleNamespace(
        text=text, reasoning=reasoning, tool_calls=tool_calls, json_tool_arguments=False, raw=False,
        parser=lambda prompt=None: ReplyParser(reasoning, tool_calls, prompt=text if prompt is None else prompt),
    )


def test_stop_finishes_a_request_that_has_not_started():
    state = SessionState()
    with state.lock:
        turn = state.begin(prepared_stub(), "new")
    assert state.busy and state.current is turn.prepared
    assert state.stop() is True
    assert turn.cancel.is_set() and turn.finished and not state.busy
    assert state.stop() is False  # nothing left to stop


def test_a_send_right_after_stop_waits_for_the_stopped_reply_to_end():
    state = SessionState()
    with state.lock:
        turn = state.begin(prepared_stub(), "new")
        turn.started = True
    state.stop()
    assert state.busy  # a started reply ends at the engine's next step
    threading.Timer(0.2, state.finish, args=(turn,)).start()
    start = time.monotonic()
    state.wait_if_stopping(timeout=5)
    assert not state.busy and time.monotonic() - start < 3


def test_reset_conversation_ends_the_turn_and_bumps_the_epoch():
    state = SessionState(conversation=[{"role": "user", "content": "Hi"}])
    with state.lock:
        turn = state.begin(prepared_stub(), "new")
    turn.started = True
    state.reset_conversation()
    assert turn.cancel.is_set() and turn.finished and state.epoch == 1 and state.conversation == []


def test_compare_and_notebook_runs_stop_by_tab():
    state = SessionState()
    compare, notebook = state.start_run("compare"), state.start_run("notebook")
    assert state.stop_runs("compare") == 1 and compare.is_set() and not notebook.is_set()
    state.end_run("compare", compare)
    assert state.stop_runs("compare") == 0


def test_sessions_are_separate_and_least_recently_used_are_forgotten():
    sessions = Sessions(max_sessions=2)
    a = sessions.get(SimpleNamespace(session_hash="a"), "demo")
    assert sessions.get(SimpleNamespace(session_hash="a")) is a
    b = sessions.get(SimpleNamespace(session_hash="b"))
    assert b is not a
    sessions.get(SimpleNamespace(session_hash="c"))
    assert len(sessions) == 2 and sessions.get(SimpleNamespace(session_hash="a")) is not a


# ---------------------------------------------------------------------------------------------- exported command


def run_stub(request, settings):
    return SimpleNamespace(request=request, settings=settings.resolve())


def parse_command(script: str):
    """The generate command's arguments (and its heredoc input) as the CLI parses them."""
    lines = script.split("\n")
    command_line = next(line for line in lines if line.startswith("mlx-playground"))
    words = shlex.split(command_line.split(" <<'", 1)[0])
    stdin = None
    if " <<'" in command_line:
        tag = command_line.split(" <<'", 1)[1].rstrip("'")
        body = lines[lines.index(command_line) + 1 :]
        stdin = "\n".join(body[: body.index(tag)])
    return build_parser().parse_args(words[1:]), stdin


def test_the_exported_command_reproduces_the_request():
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye 'now'"})
    request = ChatRequest(messages=messages, template="llama2", wire_eos=False, template_kwargs={"x": 1},
                          system_strategy="drop", backend=BackendSpec("openai", base_url="http://h:1/v1", api_key="k"))
    settings = GenerationSettings(temperature=0.3, max_tokens=40, stop=("END", "###"))
    script = generate_command(run_stub(request, settings), "demo", 1234)
    args, stdin = parse_command(script)
    assert json.loads(stdin) == list(messages) and args.messages == "-"
    assert args.stop == ["END", "###"]  # both stop strings (a repeated --stop keeps only the last one)
    assert (args.temp, args.max_tokens, args.seed, args.preset) == (0.3, 40, 1234, "llama2")
    assert args.no_eos_wiring and args.system_strategy == "drop" and json.loads(args.template_kwargs) == {"x": 1}
    assert (args.backend, args.base_url) == ("openai", "http://h:1/v1")
    assert "k" not in shlex.split(script.split("\n")[-1]) and "MLX_PLAYGROUND_API_KEY" in script


def test_the_exported_command_writes_a_custom_template_and_tools_exactly():
    template = "{% for m in messages %}{{ m.content }}\nEOF\n{% endfor %}"
    tools = ({"type": "function", "function": {"name": "f"}},)
    request = ChatRequest(messages=({"role": "user", "content": "Hi"},), template="custom", custom_template=template,
                          tools=tools, continue_final=False)
    script = generate_command(run_stub(request, GenerationSettings()), "demo", None)
    assert "cat > custom.jinja <<'TEMPLATE'\n" + template + "\nTEMPLATE" in script
    assert "cat > tools.json <<'TOOLS'\n" in script
    args, _ = parse_command(script)
    assert args.prompt == "Hi" and args.template == "custom.jinja" and args.tools == "tools.json" and args.seed is None


# ---------------------------------------------------------------------------------------------- lab


def test_lab_errors_name_the_line_once():
    html = lab_error(TemplateError("template syntax error at line 8: Expected an expression", lineno=8))
    assert html.count("line 8") == 1
    assert "line 3: undefined value" in lab_error(TemplateError("undefined value", lineno=3))


def test_long_replies_are_streamed_in_fewer_updates():
    from playground.ui.core import update_interval

    assert update_interval(0) == update_interval(500) == 0.1  # 10 updates a second while a reply is short
    assert 0.1 < update_interval(8_000) < update_interval(16_000) < 1.0
    assert update_interval(10**7) == 1.0  # and at least one a second


def test_streams_running_at_once_share_the_update_budget():
    from playground.ui.core import StreamCount, update_interval

    assert update_interval(0, streams=4) == 0.4  # four replies streaming: 2.5 updates a second each, 10 in all
    assert update_interval(0, streams=0) == update_interval(0, streams=1) == 0.1
    assert update_interval(10**7, streams=40) == 1.0  # never less than one a second
    streams = StreamCount()
    first = streams.counted(iter(range(3)))
    assert next(first) == 0 and streams.count == 1
    with streams.streaming():
        assert streams.count == 2
    assert streams.count == 1 and list(first) == [1, 2] and streams.count == 0
    abandoned = streams.counted(iter(range(3)))
    next(abandoned)
    abandoned.close()  # a page that went away mid-stream
    assert streams.count == 0


# ---------------------------------------------------------------------------------------------- servers, images


def test_the_connection_report_names_the_server_and_how_it_is_used():
    report = {"backend": "openai", "server": "mlx_lm.server", "base_url": "http://h:8080/v1", "reachable": True,
              "latency_ms": 3.5, "version": None, "models": ["/m"], "model": None, "details": {},
              "capabilities": {"bos": "leading BOS stripped"}, "notes": ["a note <b>"]}
    shown = views.connection_html(report)
    assert "Connected to mlx_lm.server at http://h:8080/v1 in 3.5 ms." in shown
    assert "<b>models it lists</b>: /m" in shown and "the server uses the model it was started with" in shown
    assert "<li>bos: leading BOS stripped</li>" in shown and "⚠ a note &lt;b&gt;" in shown
    assert "reachable" not in shown and "details" not in shown


def test_the_prompt_view_lists_what_the_server_backend_does_and_the_images():
    from playground.vision.prompt import ImageInfo, ImageSpan

    pad = "<|image_pad|>"
    text = f"<|im_start|>user\n<|vision_start|>{pad * 4}<|vision_end|>Hi<|im_end|>\n"
    vision = SimpleNamespace(
        images=(ImageInfo(0, "/tmp/a.png", 64, 64, 4),), spans=(ImageSpan(34, 34 + 4 * len(pad), pad, 4, 0),),
        image_token=pad,
    )
    loaded = SimpleNamespace(special_tokens=lambda: ("<|im_start|>", "<|im_end|>", pad, "<|vision_start|>"))
    prepared = SimpleNamespace(
        rendered=None, prompt_tokens=12, text=text, image_tokens=4, vision=vision, warnings=(), loaded=loaded,
        eos=SimpleNamespace(tokens=("<|im_end|>",)),
    )
    shown = views.prompt_html(prepared, "label", backend="openai server at http://h/v1", backend_notes=["BOS <s>"])
    assert "<b>Tokens from openai server at http://h/v1</b>" in shown and "<li>BOS &lt;s&gt;</li>" in shown
    assert 'class="pg-tok pg-img"' in shown and '&lt;|image_pad|&gt;<sub class="pg-count">×4</sub>' in shown
    assert "image 1: 64×64 px → 4 image tokens (&lt;|image_pad|&gt; ×4)" in shown
    assert "sent exactly as shown" in views.prompt_html(prepared, backend="openai server at x", backend_notes=())
    assert "Tokens from" not in views.prompt_html(prepared)


def test_backend_messages_name_the_pages_fields_and_never_url_credentials():
    from playground.ui.core import page_words

    hint = "give its API key with --api-key KEY or the MLX_PLAYGROUND_API_KEY environment variable"
    assert page_words(hint) == "give its API key in the API key box"
    assert page_words("pass --served-model with one of: a, b") == "put one of these in 'Model name on the server': a, b"
    assert page_words("check --base-url: it may point") == "check the Server URL: it may point"
    assert page_words("cannot reach http://me:sk-1@host:80/v1 (x)") == "cannot reach http://***@host:80/v1 (x)"


def test_stats_say_local_when_columns_come_from_different_places():
    assert not views.stats_line(event()).endswith("local")
    assert views.stats_line(event(), show_local=True).endswith("· local")
    assert views.stats_line(event(source="openai:vllm")).endswith("· openai:vllm")
