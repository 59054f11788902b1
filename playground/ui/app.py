"""The Gradio Blocks layout and event wiring: model panel, Chat, Compare, Notebook and Template lab tabs.

Handlers receive the components' values by name (``inputs_kwargs``) and build one typed inputs object
(:mod:`playground.ui.inputs`); the keyword names are also the HTTP API's parameter names.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from ..api.routes import api_routes
from ..engine import Engine
from ..messages import SAMPLE_CONVERSATION
from ..models import DEMO_MODEL_ALIAS
from ..options import options
from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES
from . import views
from .chat import ChatHandlers
from .compare import COLUMNS, CompareHandlers, column_key
from .core import AUTO, Core
from .lab import LabHandlers
from .notebook import NotebookHandlers
from .panel import EFFORT_DEFAULT, SETTING_BOXES, PanelHandlers
from .saved import SAVED_FIELDS, SavedHandlers
from .structured import compare_steering_controls, structured_output_controls

#: Sampling inputs each Compare column has its own box for (the shared ones apply to every column).
COLUMN_OWN = ("temperature", "repetition_penalty", "seed", "thinking_budget")
GENERATION = "generation"  # concurrency group of the events that run the model
INTRO = (
    "# MLX Template Playground\n"
    "See **exactly** which prompt your MLX model receives. Models that lost their chat template get a family "
    "preset that renders like the official one; the colours show which characters come from the template and "
    "which from each message."
)
SAVED_KEY = "mlx-playground-saved-settings"


class PlaygroundApp:
    """The UI's server side: the shared core and each tab's handlers."""

    def __init__(self, engine: Engine | None = None, default_model: str = DEMO_MODEL_ALIAS):
        self.core = Core(engine, default_model)
        self.panel = PanelHandlers(self.core)
        self.chat = ChatHandlers(self.core)
        self.compare = CompareHandlers(self.core)
        self.notebook = NotebookHandlers(self.core)
        self.lab = LabHandlers(self.core)
        self.saved = SavedHandlers(self.core)

    @property
    def engine(self) -> Engine:
        return self.core.engine

    def prev_branch(self, request: gr.Request) -> tuple:
        return self.chat.switch_branch(-1, request)

    def next_branch(self, request: gr.Request) -> tuple:
        return self.chat.switch_branch(1, request)


def _number(label: str, elem_id: str, *, value: Any = None) -> gr.Textbox:
    """A number box: empty means the model's default (shown as the placeholder). A text box, so that an
    out-of-range or non-numeric value reaches the server and is refused with a message, never clamped."""
    return gr.Textbox(
        value="" if value is None else str(value),
        label=label,
        elem_id=elem_id,
        placeholder="model default",
        max_lines=1,
        min_width=110,
    )


def build_blocks(app: PlaygroundApp, *, generation_concurrency: int = 8) -> gr.Blocks:
    """The playground UI for ``app``."""
    core = app.core
    with gr.Blocks(title="MLX Template Playground") as demo:
        gr.Markdown(INTRO)
        # ------------------------------------------------------------------ model panel
        with gr.Row(equal_height=True):
            model = gr.Dropdown(
                choices=[core.default_model],
                value=core.default_model,
                allow_custom_value=True,
                scale=4,
                label="Model: the demo model, a cached MLX model, a Hub id or a local folder (then click Load)",
                elem_id="model-picker",
            )
            wire_eos = gr.Checkbox(value=True, label="Wire the family's EOS tokens", elem_id="eos-wiring", scale=1)
            load = gr.Button("Load", variant="secondary", elem_id="load-button", scale=1)
        with gr.Accordion("Generation backend: local, or an inference server", open=False):
            with gr.Row():
                backend = gr.Radio(
                    ["local", "openai", "ollama"],
                    value=core.engine.default_backend.kind,
                    label="Tokens from",
                    elem_id="backend-choice",
                    info="openai: any /v1/completions server (mlx_lm.server, vLLM, llama.cpp); ollama: /api/generate",
                )
                base_url = gr.Textbox(
                    value=core.engine.default_backend.base_url or "",
                    label="Server URL",
                    placeholder="http://127.0.0.1:8080/v1",
                    elem_id="backend-url",
                )
                api_key = gr.Textbox(
                    value="",
                    label="API key (never shown or logged)",
                    type="password",
                    elem_id="backend-key",
                    placeholder="the key given at start is used for its server"
                    if core.engine.default_backend.api_key
                    else "",
                )
                served_model = gr.Textbox(
                    value=core.engine.default_backend.served_model or "",
                    label="Model name on the server (if it differs)",
                    elem_id="backend-model",
                )
            with gr.Row():
                test_connection = gr.Button("Test connection", elem_id="backend-test", scale=0)
                backend_report = gr.HTML(elem_id="backend-report")
        model_error = gr.HTML("", elem_id="model-error", padding=False)
        status = gr.Markdown("_Loading the model…_", elem_id="model-status")

        with gr.Tabs():
            # -------------------------------------------------------------- chat
            with gr.Tab("Chat", id="chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Conversation",
                            elem_id="chat-output",
                            height=440,
                            editable="user",
                            group_consecutive_messages=False,
                            placeholder="Send a message: the exact prompt appears on the right.",
                        )
                        with gr.Row(equal_height=True, visible=False, elem_id="branch-row") as branch_row:
                            branch_prev = gr.Button("◀", size="sm", scale=0, min_width=40, elem_id="branch-prev")
                            branch_label = gr.Markdown("", elem_id="branch-label")
                            branch_next = gr.Button("▶", size="sm", scale=0, min_width=40, elem_id="branch-next")
                        reply_stats = gr.Markdown("", elem_id="reply-stats")
                        chat_error = gr.HTML("", elem_id="chat-error", padding=False)
                        chat_input = gr.MultimodalTextbox(
                            label="Message",
                            placeholder="Type a message (Enter sends, Shift+Enter adds a line; attach images for "
                            "vision models)",
                            elem_id="chat-input",
                            lines=1,
                            max_lines=8,
                            submit_btn=False,
                            file_types=["image"],
                            file_count="multiple",
                        )
                        with gr.Row():
                            send = gr.Button("Send", variant="primary", elem_id="send-button")
                            stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
                            regenerate = gr.Button("Regenerate", elem_id="regenerate-button")
                            continue_ = gr.Button("Continue", elem_id="continue-button")
                            clear = gr.Button("Clear", elem_id="clear-button")
                    with gr.Column(scale=2):
                        rendered = gr.HTML(label="Rendered prompt", elem_id="rendered-prompt")
                with gr.Accordion(
                    "Token probabilities of the last reply", open=True, elem_classes=["pg-overflow-visible"]
                ):
                    token_view = gr.HTML(views.token_probs_html(()), elem_id="token-probs")
                with gr.Row():
                    with gr.Column():
                        system = gr.Textbox(value="", label="System prompt", lines=2, elem_id="system-prompt")
                        template = gr.Dropdown(
                            choices=[(AUTO, AUTO)], value=AUTO, label="Chat template", elem_id="template-choice"
                        )
                        strategy = gr.Radio(
                            list(SYSTEM_STRATEGIES),
                            value=DEFAULT_SYSTEM_STRATEGY,
                            elem_id="system-strategy",
                            label="System prompt when the template has no system role",
                        )
                    with gr.Column():
                        enable_thinking = gr.Checkbox(
                            value=True, label="Enable thinking", visible=False, elem_id="enable-thinking"
                        )
                        reasoning_effort = gr.Dropdown(
                            choices=[(EFFORT_DEFAULT, "")],
                            value="",
                            label="Reasoning effort",
                            visible=False,
                            elem_id="reasoning-effort",
                        )
                        template_kwargs = gr.Textbox(
                            value="",
                            label="Template keywords (JSON object)",
                            placeholder='{"enable_thinking": false}',
                            elem_id="template-kwargs",
                            max_lines=4,
                        )
                with gr.Accordion("Tools (function schemas the template declares)", open=False):
                    tools = gr.Code(
                        value="", language="json", label="Tools: a JSON list of function schemas", elem_id="tools-json"
                    )
                    with gr.Row():
                        tool_result = gr.Textbox(
                            value="", label="Result of the last tool call", elem_id="tool-result", scale=4, max_lines=6
                        )
                        tool_result_button = gr.Button("Add the result and continue", elem_id="tool-result-button")
                with gr.Accordion("Saved settings", open=False):
                    # A fixed secret: saved settings (nothing secret) survive a server restart.
                    saved_store = gr.BrowserState({}, storage_key=SAVED_KEY, secret=SAVED_KEY)
                    with gr.Row():
                        saved_choice = gr.Dropdown(choices=[], label="Saved settings", elem_id="saved-choice")
                        saved_name = gr.Textbox(label="Name", elem_id="saved-name")
                    with gr.Row():
                        saved_apply = gr.Button("Apply", elem_id="saved-apply")
                        saved_save = gr.Button("Save current", elem_id="saved-save")
                        saved_delete = gr.Button("Delete", elem_id="saved-delete")
                        saved_export = gr.Button("Export as JSON and command line", elem_id="saved-export")
                    saved_message = gr.HTML(elem_id="saved-message")
                    saved_json = gr.Code(language="json", label="Current settings", elem_id="saved-json")
                    saved_command = gr.Code(language="shell", label="Reproduce the run", elem_id="saved-command")
                with gr.Accordion("Conversation JSON (export / import)", open=False):
                    conversation_json = gr.Code(
                        value="", language="json", label="Messages", elem_id="conversation-json"
                    )
                    with gr.Row():
                        export = gr.Button("Export", elem_id="export-button")
                        import_ = gr.Button("Import", elem_id="import-button")
                with gr.Accordion("Copy as code (an mlx-lm script reproducing the chat's next generation)", open=False):
                    snippet_button = gr.Button("Generate the script", elem_id="lab-snippet-button")
                    snippet = gr.Code(language="python", elem_id="lab-snippet")

            # -------------------------------------------------------------- compare
            with gr.Tab("Compare templates and settings", id="compare"):
                gr.Markdown(
                    "One message, several columns: each renders with its own template and settings; Run streams "
                    "the columns together (one batch) with the same seed."
                )
                with gr.Row():
                    compare_input = gr.Textbox(label="Message", value="Hello!", elem_id="compare-input", scale=3)
                    compare_system = gr.Textbox(value="", label="System prompt", elem_id="compare-system", scale=2)
                    compare_image = gr.Image(
                        type="filepath",
                        label="Image for every column (vision models)",
                        elem_id="compare-image",
                        sources=["upload", "clipboard"],
                        height=200,
                        min_width=240,
                        scale=1,
                    )
                with gr.Row(equal_height=True):
                    compare_seed = gr.Textbox(
                        value="", label="Seed (empty = random, the same for every column)", elem_id="compare-seed"
                    )
                    compare_max = _number("Max tokens", "compare-max-tokens", value=64)
                    third = gr.Checkbox(value=False, label="Third column", elem_id="compare-third")
                    run = gr.Button("Run", variant="primary", elem_id="compare-run")
                    compare_stop = gr.Button("Stop", variant="stop", elem_id="compare-stop")
                compare_error = gr.HTML("", elem_id="compare-error", padding=False)
                column_inputs: dict[str, Any] = {}
                column_outputs: list[Any] = []
                column_three = None
                with gr.Row():
                    for index, default in enumerate([AUTO, "llama2", "generic"], start=1):
                        with gr.Column(visible=index < 3) as column:
                            column_inputs[column_key("template", index)] = gr.Dropdown(
                                choices=[(default, default)],
                                value=default,
                                label=f"Column {index} template",
                                elem_id=f"compare-template-{index}",
                            )
                            column_inputs[column_key("temperature", index)] = _number(
                                "Temperature", f"compare-temperature-{index}", value=0.0
                            )
                            column_inputs[column_key("repetition_penalty", index)] = _number(
                                "Repetition penalty", f"compare-repetition-penalty-{index}", value=1.0
                            )
                            column_inputs[column_key("enable_thinking", index)] = gr.Checkbox(
                                value=True,
                                label="Enable thinking (if the template has it)",
                                elem_id=f"compare-thinking-{index}",
                            )
                            column_inputs[column_key("backend", index)] = gr.Radio(
                                ["local", "server"],
                                value="server" if core.engine.default_backend.remote else "local",
                                info="server: the one under 'Generation backend'",
                                label="Tokens from",
                                elem_id=f"compare-backend-{index}",
                            )
                            column_inputs.update(compare_steering_controls(index))
                            prompt_view = gr.HTML(elem_id=f"compare-prompt-{index}")
                            output = gr.Chatbot(
                                label=f"Reply {index}",
                                elem_id=f"compare-output-{index}",
                                height=260,
                                group_consecutive_messages=False,
                                placeholder="The reply: thinking, answer and tool calls, as in the chat.",
                            )
                            stats = gr.Markdown("", elem_id=f"compare-stats-{index}")
                            with gr.Accordion("Token probabilities", open=False, elem_classes=["pg-overflow-visible"]):
                                tokens_view = gr.HTML(elem_id=f"compare-tokens-{index}")
                            column_outputs += [prompt_view, output, stats, tokens_view]
                        if index == 3:
                            column_three = column
                compare_diff = gr.HTML(label="Differences between the rendered prompts", elem_id="compare-diff")

            # -------------------------------------------------------------- notebook
            with gr.Tab("Notebook (raw text)", id="notebook"):
                gr.Markdown(
                    "Raw completion: the text below goes to the model **exactly as typed**, with no template and no "
                    "BOS token added. Uses the sampling settings below."
                )
                with gr.Row():
                    with gr.Column():
                        notebook_input = gr.Textbox(
                            lines=12,
                            label="Text to continue",
                            elem_id="notebook-input",
                            value="<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
                        )
                        with gr.Row():
                            notebook_run = gr.Button("Run", variant="primary", elem_id="notebook-run")
                            notebook_stop = gr.Button("Stop", variant="stop", elem_id="notebook-stop")
                            notebook_append = gr.Button("Append the continuation", elem_id="notebook-append")
                        notebook_error = gr.HTML("", elem_id="notebook-error", padding=False)
                    with gr.Column():
                        notebook_output = gr.HTML(elem_id="notebook-output")
                        notebook_stats = gr.Markdown("", elem_id="notebook-stats")
                with gr.Accordion("Token probabilities", open=True, elem_classes=["pg-overflow-visible"]):
                    notebook_tokens = gr.HTML(elem_id="notebook-token-probs")

            # -------------------------------------------------------------- template lab
            with gr.Tab("Template lab", id="lab"):
                with gr.Row():
                    lab_from = gr.Dropdown(choices=[(AUTO, AUTO)], value=AUTO, label="Start from", elem_id="lab-source")
                    lab_load = gr.Button("Load into editor", elem_id="lab-load")
                    lab_use = gr.Button("Use this template in the chat", variant="primary", elem_id="lab-use")
                with gr.Row():
                    with gr.Column():
                        lab_template = gr.Code(
                            value="", language="jinja2", label="Jinja chat template", lines=18, elem_id="lab-template"
                        )
                        lab_sample = gr.Code(
                            language="json",
                            label="Sample conversation",
                            lines=8,
                            value=json.dumps(SAMPLE_CONVERSATION, indent=2),
                            elem_id="lab-sample",
                        )
                        lab_tools = gr.Code(
                            value="", language="json", label="Tools (optional)", lines=4, elem_id="lab-tools"
                        )
                        lab_kwargs = gr.Textbox(
                            value="", label="Template keywords (JSON object)", elem_id="lab-kwargs", placeholder="{}"
                        )
                    with gr.Column():
                        lab_errors = gr.HTML("", elem_id="lab-errors")
                        lab_output = gr.HTML(label="Rendered", elem_id="lab-output")
                        lab_lint = gr.Markdown("", elem_id="lab-lint")
                with gr.Accordion("Tokens", open=False):
                    lab_tokens = gr.HTML(elem_id="lab-tokens")

        # ------------------------------------------------------------------ shared sampling settings
        with gr.Accordion("Sampling settings (Chat and Notebook; empty = the model's default)", open=True):
            option_boxes = {}
            with gr.Row():
                for option in options():  # one box per entry of the options table
                    option_boxes[option.name] = _number(option.label, option.elem_id)
            with gr.Row():
                seed = gr.Textbox(value="", label="Seed (empty = random; the seed used is shown)", elem_id="seed")
                stop_text = gr.Textbox(value="", label="Stop strings (one per line)", lines=1, elem_id="stop-strings")
                logprobs = gr.Checkbox(value=True, label="Token probabilities", elem_id="logprobs-toggle")
            with gr.Accordion("Structured output (Chat; local backend, or a server that supports it)", open=False):
                constraint_inputs = structured_output_controls()

        # ------------------------------------------------------------------ wiring
        panel_inputs = {
            "wire_eos": wire_eos,
            "backend": backend,
            "base_url": base_url,
            "api_key": api_key,
            "served_model": served_model,
        }
        template_inputs = {
            "system": system,
            "template": template,
            "system_strategy": strategy,
            "enable_thinking": enable_thinking,
            "reasoning_effort": reasoning_effort,
            "template_kwargs": template_kwargs,
            "tools": tools,
        }
        sampling_inputs = {
            **option_boxes,
            "seed": seed,
            "stop": stop_text,
            "logprobs": logprobs,
        }
        chat_inputs = {**panel_inputs, **template_inputs, **sampling_inputs, **constraint_inputs, "message": chat_input}
        settings_boxes = [sampling_inputs[name] for name in SETTING_BOXES]
        light: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
        heavy: dict[str, Any] = {
            "concurrency_id": GENERATION,
            "concurrency_limit": generation_concurrency,
            "show_progress": "hidden",
        }
        stream_outputs = [chatbot, reply_stats, token_view, branch_label, chat_error]
        load_outputs = [model, status, template, *settings_boxes, enable_thinking, reasoning_effort, model_error]
        describe_inputs = {**chat_inputs, "model": model}

        column_templates = {column_key("template", i): column_inputs[column_key("template", i)] for i in (1, 2, 3)}

        def refresh(event: Any) -> None:
            """After the model or the template changes: the prompt preview, the lab's and Compare's choices."""
            event.then(app.chat.preview, inputs_kwargs=chat_inputs, outputs=rendered, api_visibility="private", **light)
            event.then(app.lab.choices, None, lab_from, api_visibility="private", **light)
            event.then(
                app.compare.choices,
                inputs_kwargs=column_templates,
                outputs=list(column_templates.values()),
                api_visibility="private",
                **light,
            )

        def after_stream(event: Any) -> None:
            """When a reply ends, the prompt panel shows its prompt (or, if the user is typing, the next one), and
            the alternatives navigator appears if there is more than one alternative."""
            event.then(app.chat.preview, inputs_kwargs=chat_inputs, outputs=rendered, api_visibility="private", **light)
            event.then(app.chat.show_branches, None, branch_row, api_visibility="private", **light)

        # Model panel.
        # Loading shows only a timer on the status (a model download can take a while), never a cover.
        loading_progress = {"show_progress": "minimal", "show_progress_on": status}
        refresh(
            demo.load(
                app.panel.page_load,
                inputs_kwargs=chat_inputs,
                outputs=load_outputs,
                api_name="page_load",
                **loading_progress,
            )
        )
        demo.load(app.saved.choices, saved_store, saved_choice, api_visibility="private", **light)
        # The browser's stored value arrives after the page loads: refresh the list when it does.
        saved_store.change(app.saved.choices, saved_store, saved_choice, api_visibility="private", **light)
        loading = load.click(
            app.panel.load,
            inputs_kwargs={**chat_inputs, "model": model},
            outputs=load_outputs,
            api_name="load_model",
            **{**heavy, **loading_progress},
        )
        refresh(loading)
        for component in (
            model, wire_eos, backend, base_url, served_model, template, enable_thinking, reasoning_effort,
            template_kwargs, *settings_boxes,
        ):  # fmt: skip
            component.change(
                app.panel.describe,
                inputs_kwargs=describe_inputs,
                outputs=[status, enable_thinking, reasoning_effort],
                api_visibility="private",
                trigger_mode="always_last",
                **light,
            )
        test_connection.click(
            app.panel.test_connection, inputs_kwargs=chat_inputs, outputs=backend_report, api_name="test_connection"
        ).then(app.chat.preview, inputs_kwargs=chat_inputs, outputs=rendered, api_visibility="private", **light)
        # A change of backend shows what the new one does to the prompt; URL and key boxes only when left (every
        # keystroke would ask a half-typed address).
        for trigger in (backend.change, base_url.blur, base_url.submit, api_key.blur, served_model.blur):
            trigger(
                app.chat.preview,
                inputs_kwargs=chat_inputs,
                outputs=rendered,
                api_visibility="private",
                trigger_mode="always_last",
                **light,
            )

        # Chat: the prompt preview follows every edit, before anything is sent.
        chat_input.change(
            app.chat.preview,
            inputs_kwargs=chat_inputs,
            outputs=rendered,
            api_name="prompt_preview",
            trigger_mode="always_last",
            **light,
        )
        for component in (
            system, template, strategy, wire_eos, enable_thinking, reasoning_effort, template_kwargs, tools,
        ):  # fmt: skip
            component.change(
                app.chat.preview,
                inputs_kwargs=chat_inputs,
                outputs=rendered,
                api_visibility="private",
                trigger_mode="always_last",
                **light,
            )
        accept_outputs = [chatbot, chat_input, chat_error, rendered, reply_stats]
        for trigger, name in ((send.click, "send"), (chat_input.submit, None)):
            accepted = trigger(
                app.chat.submit,
                inputs_kwargs=chat_inputs,
                outputs=accept_outputs,
                api_name=name,
                api_visibility="public" if name else "private",
                **light,
            )
            after_stream(
                accepted.then(
                    app.chat.stream,
                    None,
                    stream_outputs,
                    api_name="stream" if name else None,
                    api_visibility="public" if name else "private",
                    **heavy,
                )
            )
        rerun_outputs = [chatbot, chat_error, rendered, reply_stats]
        for trigger, handler, name in (
            (regenerate.click, app.chat.regenerate, "regenerate"),
            (chatbot.retry, app.chat.regenerate, None),
            (continue_.click, app.chat.continue_reply, "continue"),
            (chatbot.edit, app.chat.edit, None),
        ):
            after_stream(
                trigger(
                    handler,
                    inputs_kwargs=chat_inputs,
                    outputs=rerun_outputs,
                    api_name=name,
                    api_visibility="public" if name else "private",
                    **light,
                ).then(app.chat.stream, None, stream_outputs, api_visibility="private", **heavy)
            )
        after_stream(
            tool_result_button.click(
                app.chat.add_tool_result,
                inputs_kwargs={**chat_inputs, "result": tool_result},
                outputs=[chatbot, tool_result, chat_error, rendered, reply_stats],
                api_name="tool_result",
                **light,
            ).then(app.chat.stream, None, stream_outputs, api_visibility="private", **heavy)
        )
        chatbot.undo(
            app.chat.undo,
            inputs_kwargs={"message": chat_input},
            outputs=[chatbot, chat_input, chat_error],
            api_visibility="private",
            **light,
        )
        stop.click(app.chat.stop, None, reply_stats, api_name="stop", **light)
        clear_outputs = [chatbot, reply_stats, token_view, chat_error, rendered, branch_row, branch_label]
        clear.click(app.chat.clear, None, clear_outputs, api_name="clear", **light)
        # The Chatbot's own trash button clears the conversation too (not only what is shown of it).
        chatbot.clear(app.chat.clear, None, clear_outputs, api_visibility="private", **light)
        branch_outputs = [chatbot, branch_row, branch_label, chat_error]
        branch_prev.click(app.prev_branch, None, branch_outputs, api_name="previous_alternative", **light)
        branch_next.click(app.next_branch, None, branch_outputs, api_name="next_alternative", **light)
        export.click(
            app.chat.export_conversation, inputs_kwargs={"system": system}, outputs=conversation_json, api_name="export"
        )
        import_.click(
            app.chat.import_conversation,
            conversation_json,
            [chatbot, system, chat_error, branch_row, branch_label, reply_stats, token_view],
            api_name="import",
            **light,
        ).then(app.chat.preview, inputs_kwargs=chat_inputs, outputs=rendered, api_visibility="private", **light)
        snippet_button.click(app.chat.snippet, inputs_kwargs=chat_inputs, outputs=snippet, api_name="snippet", **light)

        # Saved settings (kept in this browser).
        saved_fields = {name: chat_inputs[name] for name in SAVED_FIELDS}
        saved_save.click(
            app.saved.save,
            inputs_kwargs={"name": saved_name, "saved": saved_store, **saved_fields},
            outputs=[saved_store, saved_choice, saved_message],
            api_visibility="private",
            **light,
        )
        saved_apply.click(
            app.saved.apply,
            [saved_choice, saved_store],
            [*saved_fields.values(), saved_message],
            api_visibility="private",
            **light,
        )
        saved_delete.click(
            app.saved.delete,
            [saved_choice, saved_store],
            [saved_store, saved_choice, saved_message],
            api_visibility="private",
            **light,
        )
        saved_export.click(
            app.saved.export, inputs_kwargs=chat_inputs, outputs=[saved_json, saved_command], api_name="export_settings"
        )

        # Compare.
        compare_values = {
            **panel_inputs,
            **{k: v for k, v in sampling_inputs.items() if k not in COLUMN_OWN},
            "max_tokens": compare_max,
            "system": compare_system,
            "system_strategy": strategy,
            "template_kwargs": template_kwargs,
            "compare_message": compare_input,
            "compare_image": compare_image,
            "third": third,
            "seed": compare_seed,
            **column_inputs,
        }
        run.click(
            app.compare.run,
            inputs_kwargs=compare_values,
            outputs=[*column_outputs, compare_diff, compare_error],
            api_name="compare",
            **heavy,
        )
        compare_stop.click(app.compare.stop, None, None, api_name="compare_stop", **light)
        third.change(lambda on: gr.update(visible=bool(on)), third, column_three, api_visibility="private", **light)

        # Notebook.
        notebook_values = {**panel_inputs, **sampling_inputs, "text": notebook_input}
        notebook_run.click(
            app.notebook.run,
            inputs_kwargs=notebook_values,
            outputs=[notebook_output, notebook_stats, notebook_tokens, notebook_error],
            api_name="notebook",
            **heavy,
        )
        notebook_stop.click(app.notebook.stop, None, None, api_name="notebook_stop", **light)
        notebook_append.click(app.notebook.append, notebook_input, notebook_input, api_visibility="private", **light)

        # Template lab.
        lab_values = {
            "source": lab_template,
            "sample": lab_sample,
            "system_strategy": strategy,
            "tools": lab_tools,
            "template_kwargs": lab_kwargs,
        }
        lab_outputs = [lab_output, lab_errors, lab_lint, lab_tokens]
        lab_load.click(app.lab.source, lab_from, lab_template, api_name="lab_source", **light)
        lab_triggers = ((lab_template, "lab_render"), (lab_sample, None), (lab_tools, None), (lab_kwargs, None))
        for component, name in lab_triggers:
            component.change(
                app.lab.render,
                inputs_kwargs=lab_values,
                outputs=lab_outputs,
                api_name=name,
                api_visibility="public" if name else "private",
                trigger_mode="always_last",
                **light,
            )
        lab_use.click(app.lab.use, lab_template, [template, lab_errors], api_name="lab_use", **light)
    return demo


def serve(
    *,
    engine: Engine | None = None,
    model: str = DEMO_MODEL_ALIAS,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: tuple[str, str] | None = None,
    queue_size: int = 64,
    concurrency: int = 8,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
    api: Any = None,
) -> gr.Blocks:
    """Build and launch the app; returns the Blocks (useful with ``prevent_thread_lock``). ``api``: a
    :class:`playground.api.service.ApiService` whose OpenAI-compatible routes are served on the same port."""
    app = PlaygroundApp(engine or Engine(), default_model=model)
    app.core.exposed = share or host not in ("127.0.0.1", "localhost", "::1")
    demo = build_blocks(app, generation_concurrency=concurrency)
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        css=views.CSS,
        theme=gr.themes.Soft(),
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,
        # The API's routes go first in Gradio's FastAPI app (its ``app_kwargs``), so they answer /v1/... themselves.
        app_kwargs={"routes": api_routes(api)} if api is not None else None,
        # No allowed_paths: the page shows only files Gradio made (uploads) and the sessions' checked image
        # copies in the system temp dir (playground.ui.images), never other files of the working directory.
    )
    demo.playground_app = app  # for tests and embedding
    return demo


__all__ = ["PlaygroundApp", "build_blocks", "serve", "COLUMNS"]
