"""The Gradio Blocks layout: model panel, Chat, Compare and Template lab tabs."""

import json

import gradio as gr

from ..engine import Engine
from ..messages import SAMPLE_CONVERSATION
from ..models import DEMO_MODEL_ALIAS
from ..settings import DEFAULT_MAX_TOKENS, DEFAULT_REPETITION_CONTEXT_SIZE, DEFAULT_TEMPERATURE
from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES
from . import views
from .handlers import AUTO, PlaygroundApp

GENERATION = "generation"  # concurrency group of the events that run the model
INTRO = (
    "# MLX Template Playground\n"
    "See **exactly** which prompt your MLX model receives. Models that lost their chat template get a family "
    "preset that renders like the official one; the colours show which characters come from the template and "
    "which from each message."
)


def build_blocks(app: PlaygroundApp, *, generation_concurrency: int = 1) -> gr.Blocks:
    """The playground UI for ``app``."""
    with gr.Blocks(title="MLX Template Playground") as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            model = gr.Dropdown(
                choices=[app.default_model],
                value=app.default_model,
                allow_custom_value=True,
                scale=4,
                label="Model: the demo model, a cached MLX model, a Hub id or a local folder",
                elem_id="model-picker",
            )
            wire_eos = gr.Checkbox(value=True, label="Wire the family's EOS tokens", elem_id="eos-wiring", scale=1)
            load = gr.Button("Load", variant="secondary", elem_id="load-button", scale=1)
        status = gr.Markdown("_Loading the model…_", elem_id="model-status")

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(label="Conversation", elem_id="chat-output", height=420)
                        reply_stats = gr.Markdown("", elem_id="reply-stats")
                        chat_input = gr.Textbox(
                            label="Message", placeholder="Type a message (Enter sends)", elem_id="chat-input", lines=2
                        )
                        with gr.Row():
                            send = gr.Button("Send", variant="primary", elem_id="send-button")
                            stop = gr.Button("Stop", variant="stop", elem_id="stop-button")
                            clear = gr.Button("Clear", elem_id="clear-button")
                    with gr.Column(scale=2):
                        rendered = gr.HTML(label="Rendered prompt", elem_id="rendered-prompt")
                with gr.Row():
                    with gr.Column():
                        system = gr.Textbox(label="System prompt", lines=2, elem_id="system-prompt")
                        template = gr.Dropdown(
                            choices=[(AUTO, AUTO)], value=AUTO, label="Chat template", elem_id="template-choice"
                        )
                        strategy = gr.Radio(
                            list(SYSTEM_STRATEGIES),
                            value=DEFAULT_SYSTEM_STRATEGY,
                            elem_id="system-strategy",
                            label="System prompt when the template has no system role",
                        )
                        stop_text = gr.Textbox(label="Stop strings (one per line)", lines=2, elem_id="stop-strings")
                    with gr.Column():
                        temperature = gr.Slider(
                            0, 2, value=DEFAULT_TEMPERATURE, step=0.05, label="Temperature", elem_id="temperature"
                        )
                        top_p = gr.Slider(0.01, 1, value=1.0, step=0.01, label="Top-p", elem_id="top-p")
                        min_p = gr.Slider(0, 1, value=0.0, step=0.01, label="Min-p", elem_id="min-p")
                        top_k = gr.Slider(0, 200, value=0, step=1, label="Top-k (0 = off)", elem_id="top-k")
                    with gr.Column():
                        repetition_penalty = gr.Slider(
                            0.5, 2.0, value=1.0, step=0.01, label="Repetition penalty", elem_id="repetition-penalty"
                        )
                        repetition_context = gr.Slider(
                            1,
                            512,
                            value=DEFAULT_REPETITION_CONTEXT_SIZE,
                            step=1,
                            label="Repetition context size",
                            elem_id="repetition-context",
                        )
                        max_tokens = gr.Slider(
                            1, 4096, value=DEFAULT_MAX_TOKENS, step=1, label="Max tokens", elem_id="max-tokens"
                        )
                        seed = gr.Textbox(value="", label="Seed (empty = random)", elem_id="seed", max_lines=1)
                with gr.Accordion("Conversation JSON (export / import)", open=False):
                    conversation_json = gr.Code(language="json", label="Messages", elem_id="conversation-json")
                    with gr.Row():
                        export = gr.Button("Export", elem_id="export-button")
                        import_ = gr.Button("Import", elem_id="import-button")

            with gr.Tab("Compare templates and settings", id="compare"):
                gr.Markdown(
                    "One conversation, several columns: each renders with its own template and settings; "
                    "Run streams every column with the same seed."
                )
                with gr.Row():
                    compare_input = gr.Textbox(label="Message", value="Hello!", elem_id="compare-input", scale=3)
                    compare_system = gr.Textbox(label="System prompt", elem_id="compare-system", scale=2)
                with gr.Row():
                    compare_seed = gr.Number(
                        value=0, precision=0, label="Seed (same for every column)", elem_id="compare-seed"
                    )
                    compare_max = gr.Slider(1, 1024, value=64, step=1, label="Max tokens", elem_id="compare-max-tokens")
                    third = gr.Checkbox(value=False, label="Third column", elem_id="compare-third")
                    run = gr.Button("Run", variant="primary", elem_id="compare-run")
                columns = []
                with gr.Row():
                    for index, default in enumerate([AUTO, "llama2", "generic"], start=1):
                        with gr.Column():
                            col_template = gr.Dropdown(
                                choices=[(default, default)],
                                value=default,
                                label=f"Column {index} template",
                                elem_id=f"compare-template-{index}",
                            )
                            col_temp = gr.Slider(
                                0, 2, value=0.0, step=0.05, label="Temperature", elem_id=f"compare-temperature-{index}"
                            )
                            col_penalty = gr.Slider(
                                0.5,
                                2.0,
                                value=1.0,
                                step=0.01,
                                label="Repetition penalty",
                                elem_id=f"compare-repetition-penalty-{index}",
                            )
                            col_output = gr.Textbox(
                                label=f"Reply {index}", lines=5, interactive=False, elem_id=f"compare-output-{index}"
                            )
                            col_stats = gr.Markdown("", elem_id=f"compare-stats-{index}")
                            col_prompt = gr.HTML(elem_id=f"compare-prompt-{index}")
                            columns.append((col_template, col_temp, col_penalty, col_output, col_stats, col_prompt))
                compare_diff = gr.HTML(label="Differences between the rendered prompts", elem_id="compare-diff")

            with gr.Tab("Template lab", id="lab"):
                with gr.Row():
                    lab_from = gr.Dropdown(choices=[(AUTO, AUTO)], value=AUTO, label="Start from", elem_id="lab-source")
                    lab_load = gr.Button("Load into editor", elem_id="lab-load")
                    lab_use = gr.Button("Use this template in the chat", variant="primary", elem_id="lab-use")
                with gr.Row():
                    with gr.Column():
                        lab_template = gr.Code(
                            language="jinja2", label="Jinja chat template", lines=18, elem_id="lab-template"
                        )
                        lab_sample = gr.Code(
                            language="json",
                            label="Sample conversation",
                            lines=8,
                            value=json.dumps(SAMPLE_CONVERSATION, indent=2),
                            elem_id="lab-sample",
                        )
                    with gr.Column():
                        lab_errors = gr.Markdown("", elem_id="lab-errors")
                        lab_output = gr.HTML(label="Rendered", elem_id="lab-output")
                        lab_lint = gr.Markdown("", elem_id="lab-lint")
                with gr.Accordion("Tokens", open=False):
                    lab_tokens = gr.HTML(elem_id="lab-tokens")
                with gr.Accordion("Copy as code (mlx-lm script reproducing the chat's next generation)", open=False):
                    lab_snippet_button = gr.Button("Generate the script", elem_id="lab-snippet-button")
                    lab_snippet = gr.Code(language="python", elem_id="lab-snippet")

        # ---------------------------------------------------------------------------- wiring
        settings_inputs = [
            temperature,
            top_p,
            min_p,
            top_k,
            repetition_penalty,
            repetition_context,
            max_tokens,
            seed,
            stop_text,
        ]
        load_outputs = [
            status,
            template,
            temperature,
            top_p,
            min_p,
            top_k,
            repetition_penalty,
            repetition_context,
            max_tokens,
            columns[0][0],
            columns[1][0],
            columns[2][0],
        ]
        preview_inputs = [chat_input, chatbot, system, template, strategy, model, wire_eos]
        light = {"concurrency_limit": None, "show_progress": "hidden"}
        heavy = {"concurrency_id": GENERATION, "concurrency_limit": generation_concurrency}

        # Model panel: on page load and on Load, then refresh the prompt preview and the lab's choices.
        for event in (
            demo.load(app.on_page_load, None, [model, *load_outputs], api_name="page_load"),
            load.click(app.load_model, [model, wire_eos], load_outputs, api_name="load_model", **heavy),
        ):
            event.then(app.preview, preview_inputs, rendered, api_visibility="private", **light).then(
                app.lab_choices, [model, wire_eos], lab_from, api_visibility="private", **light
            )

        # Chat: the prompt preview follows every edit, before anything is sent.
        chat_input.change(
            app.preview, preview_inputs, rendered, api_name="prompt_preview", trigger_mode="always_last", **light
        )
        for component in (system, template, strategy, chatbot):
            component.change(
                app.preview, preview_inputs, rendered, api_visibility="private", trigger_mode="always_last", **light
            )
        send_inputs = [chat_input, chatbot, system, template, strategy, model, wire_eos, *settings_inputs]
        send_outputs = [chatbot, chat_input, rendered, reply_stats]
        send.click(app.send, send_inputs, send_outputs, api_name="send", **heavy)
        chat_input.submit(app.send, send_inputs, send_outputs, api_visibility="private", **heavy)
        stop.click(app.stop, None, None, api_name="stop", **light)
        clear.click(app.clear, None, [chatbot, reply_stats, chat_input], api_name="clear", **light)
        export.click(app.export_conversation, [chatbot, system], conversation_json, api_name="export", **light)
        import_.click(app.import_conversation, conversation_json, [chatbot, system], api_name="import", **light)

        # Compare.
        compare_inputs = [compare_input, compare_system, compare_seed, compare_max, strategy, model, wire_eos, third]
        for col in columns:
            compare_inputs += [col[0], col[1], col[2]]
        compare_outputs = [c[5] for c in columns] + [c[3] for c in columns] + [c[4] for c in columns] + [compare_diff]
        run.click(app.compare, compare_inputs, compare_outputs, api_name="compare", **heavy)

        # Template lab.
        lab_render_inputs = [lab_template, lab_sample, strategy, model, wire_eos]
        lab_render_outputs = [lab_output, lab_errors, lab_lint, lab_tokens]
        lab_load.click(app.lab_source, [lab_from, model, wire_eos], lab_template, api_name="lab_source", **light)
        lab_template.change(
            app.lab_render,
            lab_render_inputs,
            lab_render_outputs,
            api_name="lab_render",
            trigger_mode="always_last",
            **light,
        )
        lab_sample.change(
            app.lab_render,
            lab_render_inputs,
            lab_render_outputs,
            api_visibility="private",
            trigger_mode="always_last",
            **light,
        )
        lab_use.click(app.lab_use, lab_template, template, api_name="lab_use", **light)
        lab_snippet_button.click(
            app.lab_snippet,
            [chatbot, system, chat_input, template, strategy, model, wire_eos, *settings_inputs],
            lab_snippet,
            api_name="lab_snippet",
            **light,
        )
    return demo


def serve(
    *,
    model: str = DEMO_MODEL_ALIAS,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: tuple[str, str] | None = None,
    max_models: int = 1,
    queue_size: int = 16,
    concurrency: int = 1,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """Build and launch the app; returns the Blocks (useful with ``prevent_thread_lock``)."""
    app = PlaygroundApp(Engine(max_models=max_models), default_model=model)
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
        show_error=True,
    )
    demo.playground_app = app  # for tests and embedding
    return demo


__all__ = ["build_blocks", "serve"]
