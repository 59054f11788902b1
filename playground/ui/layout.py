"""The page's parts: one builder per part (header, settings sidebar, each tab), each returning a small dataclass of
its components and registering them by name in the :class:`Page`.

Handlers return ``{name: value}``; :mod:`playground.ui.wiring` maps the names to these components. Adding a tab or
a settings section is adding one builder here (and its wiring): nothing else refers to a component by position.

The layout is a playground's: a one-line model header (details a click away), the settings in a sidebar on the
left (sliders, system prompt, template, thinking, tools, saved settings), the conversation in the middle and the
exact prompt on the right. Narrow windows stack the panes (the conversation first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..messages import SAMPLE_CONVERSATION
from ..options import Option, options
from ..templates import DEFAULT_SYSTEM_STRATEGY, SYSTEM_STRATEGIES
from . import views
from .core import AUTO, Core
from .slider import SettingSlider
from .structured import compare_steering_controls, structured_output_controls

EFFORT_DEFAULT = "(the template's default)"
SAVED_KEY = "mlx-playground-saved-settings"
#: Compare's columns start greedy (temperature 0, no penalty): the columns then differ only by their template.
COMPARE_START = {"temperature": 0.0, "repetition_penalty": 1.0}
COMPARE_TEMPLATES = (AUTO, "llama2", "generic")
COLUMNS = len(COMPARE_TEMPLATES)


class Page:
    """Every component of the page by name (the handlers' input and output names)."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def add(self, name: str, component: Any) -> Any:
        if name in self.components:
            raise ValueError(f"two components named {name!r}")
        self.components[name] = component
        return component

    def __getitem__(self, name: str) -> Any:
        return self.components[name]

    def pick(self, *names: str) -> dict[str, Any]:
        return {name: self.components[name] for name in names}


def _unset_box(option: Option, elem_id: str) -> gr.Textbox:
    """An option whose unset value means off (the thinking budget): a box, empty = off (a slider has no "off")."""
    return gr.Textbox(
        value="", label=f"{option.label} (empty = none)", info=option.help, elem_id=elem_id, placeholder="none",
        max_lines=1,
    )  # fmt: skip


def sliders() -> tuple[Option, ...]:
    """The options shown as sliders: those with a value in use by default."""
    return tuple(o for o in options() if o.default is not None)


def _slider(option: Option, elem_id: str, value: Any = None, **kwargs: Any) -> SettingSlider:
    low, high, step = option.slider
    return SettingSlider(
        minimum=low,
        maximum=high,
        step=step,
        value=option.default if value is None else value,
        precision=0 if option.kind is int else None,
        label=option.label,
        elem_id=elem_id,
        elem_classes=["pg-slider"],
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------- header


@dataclass
class Header:
    model: gr.Dropdown
    load: gr.Button
    wire_eos: gr.Checkbox
    summary: gr.Markdown
    status: gr.Markdown
    model_error: gr.HTML
    backend: gr.Radio
    base_url: gr.Textbox
    api_key: gr.Textbox
    served_model: gr.Textbox
    test_connection: gr.Button
    backend_report: gr.HTML


def build_header(page: Page, core: Core) -> Header:
    """One line: the model picker, Load, EOS wiring and what the next request uses; the details and the backend
    a click away."""
    backend = core.engine.default_backend
    with gr.Row(equal_height=True, elem_id="model-header"):
        gr.HTML('<div class="pg-title">MLX Template Playground</div>', padding=False, min_width=210, scale=0)
        model = gr.Dropdown(
            choices=[core.default_model],
            value=core.default_model,
            allow_custom_value=True,
            scale=1,
            min_width=200,
            show_label=False,
            container=False,
            elem_id="model-picker",
        )
        load = gr.Button("Load", variant="secondary", size="sm", elem_id="load-button", scale=0, min_width=70)
        wire_eos = gr.Checkbox(
            value=True, label="Wire the family's EOS", elem_id="eos-wiring", scale=0, min_width=170, container=False
        )
        summary = gr.Markdown("_Loading the model…_", elem_id="model-summary", container=False, scale=8)
    model_error = gr.HTML("", elem_id="model-error", padding=False)
    with gr.Accordion("Model details and generation backend", open=False, elem_id="model-details"):
        status = gr.Markdown("_Loading the model…_", elem_id="model-status")
        with gr.Row():
            backend_choice = gr.Radio(
                ["local", "openai", "ollama"],
                value=backend.kind,
                label="Tokens from",
                elem_id="backend-choice",
                info="openai: any /v1/completions server (mlx_lm.server, vLLM, llama.cpp); ollama: /api/generate",
            )
            base_url = gr.Textbox(
                value=backend.base_url or "",
                label="Server URL",
                placeholder="http://127.0.0.1:8080/v1",
                elem_id="backend-url",
            )
            api_key = gr.Textbox(
                value="",
                label="API key (never shown or logged)",
                type="password",
                elem_id="backend-key",
                placeholder="the key given at start is used for its server" if backend.api_key else "",
            )
            served_model = gr.Textbox(
                value=backend.served_model or "",
                label="Model name on the server (if it differs)",
                elem_id="backend-model",
            )
        with gr.Row():
            test_connection = gr.Button("Test connection", elem_id="backend-test", scale=0)
            backend_report = gr.HTML(elem_id="backend-report")
    header = Header(
        model, load, wire_eos, summary, status, model_error, backend_choice, base_url, api_key, served_model,
        test_connection, backend_report,
    )  # fmt: skip
    for name, component in vars(header).items():
        page.add(name, component)
    return header


# ---------------------------------------------------------------------------------------------- sidebar


@dataclass
class Sidebar:
    column: gr.Column
    sliders: dict[str, gr.Slider]
    resets: dict[str, gr.Button]
    settings_line: gr.Markdown
    seed: gr.Textbox
    stop: gr.Textbox
    logprobs: gr.Checkbox
    prompt_section: Any = None
    sections: dict[str, Any] = field(default_factory=dict)


def build_sampling(page: Page) -> dict[str, Any]:
    """One slider per option of the options table, each with a reset to the model's default, then the seed, the
    stop strings and the token probabilities toggle."""
    sliders, resets = {}, {}
    with gr.Accordion("Sampling (Chat and Notebook)", open=True, elem_id="sampling-section"):
        for option in options():
            if option.default is None:  # unset means off (the thinking budget): a box, empty = off
                page.add(option.name, _unset_box(option, option.elem_id))
                continue
            with gr.Row(equal_height=True, elem_classes=["pg-slider-row"]):
                sliders[option.name] = page.add(option.name, _slider(option, option.elem_id, buttons=[]))
                resets[option.name] = gr.Button(
                    "↺",
                    size="sm",
                    scale=0,
                    min_width=32,
                    elem_id=f"{option.elem_id}-reset",
                    elem_classes=["pg-reset"],
                )
        seed = page.add(
            "seed", gr.Textbox(value="", label="Seed (empty = random; the seed used is shown)", elem_id="seed")
        )
        stop = page.add(
            "stop", gr.Textbox(value="", label="Stop strings (one per line)", lines=1, elem_id="stop-strings")
        )
        logprobs = page.add("logprobs", gr.Checkbox(value=True, label="Token probabilities", elem_id="logprobs-toggle"))
        settings_line = gr.Markdown("", elem_id="settings-line", elem_classes=["pg-settings-line"])
    page.add("settings_line", settings_line)
    return {"sliders": sliders, "resets": resets, "settings_line": settings_line, "seed": seed, "stop": stop,
            "logprobs": logprobs}  # fmt: skip


def build_prompt_section(page: Page) -> gr.Accordion:
    """How the conversation becomes a prompt: system prompt, template, thinking and effort, keywords, tools."""
    with gr.Accordion("Prompt (Chat)", open=True, elem_id="prompt-section") as section:
        page.add("system", gr.Textbox(value="", label="System prompt", lines=2, elem_id="system-prompt"))
        page.add(
            "template",
            gr.Dropdown(choices=[(AUTO, AUTO)], value=AUTO, label="Chat template", elem_id="template-choice"),
        )
        page.add(
            "system_strategy",
            gr.Radio(
                list(SYSTEM_STRATEGIES),
                value=DEFAULT_SYSTEM_STRATEGY,
                elem_id="system-strategy",
                label="System prompt when the template has no system role",
            ),
        )
        page.add(
            "enable_thinking",
            gr.Checkbox(value=True, label="Enable thinking", visible=False, elem_id="enable-thinking"),
        )
        page.add(
            "reasoning_effort",
            gr.Dropdown(
                choices=[(EFFORT_DEFAULT, "")],
                value="",
                label="Reasoning effort",
                visible=False,
                elem_id="reasoning-effort",
            ),
        )
        page.add(
            "template_kwargs",
            gr.Textbox(
                value="",
                label="Template keywords (JSON object)",
                placeholder='{"enable_thinking": false}',
                elem_id="template-kwargs",
                max_lines=4,
            ),
        )
    with gr.Accordion("Tools (function schemas the template declares)", open=False, elem_id="tools-section"):
        page.add(
            "tools",
            gr.Code(value="", language="json", label="Tools: a JSON list of function schemas", elem_id="tools-json"),
        )
        page.add(
            "tool_result",
            gr.Textbox(value="", label="Result of the last tool call", elem_id="tool-result", max_lines=6),
        )
        page.add("tool_result_button", gr.Button("Add the result and continue", elem_id="tool-result-button"))
    return section


def build_structured_section(page: Page) -> gr.Accordion:
    """Structured output for the Chat: the kind and the box it reads (schema, regex, grammar, tool name)."""
    with gr.Accordion("Structured output (Chat)", open=False, elem_id="structured-section") as section:
        for name, component in structured_output_controls().items():
            page.add(name, component)
    return section


def build_saved_section(page: Page) -> gr.Accordion:
    with gr.Accordion("Saved settings", open=False, elem_id="saved-section") as section:
        # A fixed secret: saved settings (nothing secret) survive a server restart.
        page.add("saved_store", gr.BrowserState({}, storage_key=SAVED_KEY, secret=SAVED_KEY))
        page.add("saved_choice", gr.Dropdown(choices=[], label="Saved settings", elem_id="saved-choice"))
        page.add("saved_name", gr.Textbox(label="Name", elem_id="saved-name"))
        with gr.Row():
            page.add("saved_apply", gr.Button("Apply", size="sm", elem_id="saved-apply"))
            page.add("saved_save", gr.Button("Save current", size="sm", elem_id="saved-save"))
            page.add("saved_delete", gr.Button("Delete", size="sm", elem_id="saved-delete"))
        page.add("saved_export", gr.Button("Export as JSON and command line", size="sm", elem_id="saved-export"))
        page.add("saved_message", gr.HTML(elem_id="saved-message"))
        page.add("saved_json", gr.Code(language="json", label="Current settings", elem_id="saved-json"))
        page.add("saved_command", gr.Code(language="shell", label="Reproduce the run", elem_id="saved-command"))
    return section


def build_sidebar(page: Page) -> Sidebar:
    """The settings sidebar: one section per builder (sampling, prompt, saved settings; more sections are one
    builder each)."""
    with gr.Column(scale=1, min_width=330, elem_id="settings-sidebar") as column:
        sampling = build_sampling(page)
        prompt_section = build_prompt_section(page)
        structured = build_structured_section(page)
        saved = build_saved_section(page)
    page.add("sidebar", column)
    page.add("prompt_section", prompt_section)
    sections = {"structured": structured, "saved": saved}
    return Sidebar(column=column, **sampling, prompt_section=prompt_section, sections=sections)


# ---------------------------------------------------------------------------------------------- chat


@dataclass
class ChatTab:
    chat: gr.Chatbot
    message: gr.MultimodalTextbox
    chat_error: gr.HTML
    stats: gr.Markdown
    tokens: gr.HTML
    prompt: gr.HTML
    branch_row: gr.Row
    branch_label: gr.Markdown
    buttons: dict[str, gr.Button]


def build_chat(page: Page) -> ChatTab:
    """The conversation in the middle, the exact prompt on the right."""
    buttons: dict[str, gr.Button] = {}
    with gr.Row(elem_id="chat-panes"):
        with gr.Column(scale=5, min_width=420, elem_id="conversation-pane"):
            chat = gr.Chatbot(
                label="Conversation",
                elem_id="chat-output",
                elem_classes=["pg-chat"],
                height="calc(100vh - 410px)",  # with the header, the box and the buttons: one screen
                min_height=300,
                editable="user",
                group_consecutive_messages=False,
                placeholder="Send a message: the exact prompt appears on the right.",
            )
            with gr.Row(equal_height=True, visible=False, elem_id="branch-row") as branch_row:
                buttons["branch_prev"] = gr.Button("◀", size="sm", scale=0, min_width=40, elem_id="branch-prev")
                branch_label = gr.Markdown("", elem_id="branch-label")
                buttons["branch_next"] = gr.Button("▶", size="sm", scale=0, min_width=40, elem_id="branch-next")
            with gr.Row(equal_height=True, elem_id="stats-row"):
                stats = gr.Markdown("", elem_id="reply-stats")
                verbatim = gr.Checkbox(
                    value=False,
                    label="Verbatim replies",
                    elem_id="reply-verbatim",
                    container=False,
                    scale=0,
                    min_width=150,
                )
            chat_error = gr.HTML("", elem_id="chat-error", padding=False)
            message = gr.MultimodalTextbox(
                label="Message",
                show_label=False,
                placeholder="Type a message (Enter sends, Shift+Enter adds a line; attach images for vision models)",
                elem_id="chat-input",
                lines=1,
                max_lines=8,
                submit_btn=False,
                file_types=["image"],
                file_count="multiple",
            )
            with gr.Row():
                buttons["send"] = gr.Button("Send", variant="primary", size="sm", min_width=70, elem_id="send-button")
                buttons["stop"] = gr.Button("Stop", variant="stop", size="sm", min_width=70, elem_id="stop-button")
                buttons["regenerate"] = gr.Button("Regenerate", size="sm", min_width=70, elem_id="regenerate-button")
                buttons["continue"] = gr.Button("Continue", size="sm", min_width=70, elem_id="continue-button")
                buttons["clear"] = gr.Button("Clear", size="sm", min_width=70, elem_id="clear-button")
            with gr.Accordion("Token probabilities of the last reply", open=True, elem_classes=["pg-overflow-visible"]):
                tokens = gr.HTML(views.token_probs_html(()), elem_id="token-probs")
            with gr.Accordion("Conversation JSON (export / import)", open=False):
                page.add(
                    "conversation_json",
                    gr.Code(value="", language="json", label="Messages", elem_id="conversation-json"),
                )
                with gr.Row():
                    buttons["export"] = gr.Button("Export", elem_id="export-button")
                    buttons["import"] = gr.Button("Import", elem_id="import-button")
        with gr.Column(scale=4, min_width=360, elem_id="prompt-pane"):
            prompt = gr.HTML(label="Rendered prompt", elem_id="rendered-prompt")
            with gr.Accordion(
                "Copy as code: an mlx-lm script for the next generation (follows the settings)", open=False
            ):
                page.add("snippet", gr.Code(language="python", elem_id="lab-snippet"))
    tab = ChatTab(chat, message, chat_error, stats, tokens, prompt, branch_row, branch_label, buttons)
    for name in ("chat", "message", "chat_error", "stats", "tokens", "prompt", "branch_row", "branch_label"):
        page.add(name, getattr(tab, name))
    page.add("verbatim", verbatim)
    return tab


# ---------------------------------------------------------------------------------------------- compare


@dataclass
class CompareTab:
    run: gr.Button
    stop: gr.Button
    third: gr.Checkbox
    column_three: gr.Column
    inputs: dict[str, Any]  # the handler's parameter names -> components
    outputs: tuple[str, ...]  # the handler's output names


def column_key(name: str, index: int) -> str:
    return f"{name}_{index}"


def _compare_column(page: Page, index: int, default: str, local: bool) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        column_key("template", index): gr.Dropdown(
            choices=[(default, default)], value=default, label=f"Column {index} template",
            elem_id=f"compare-template-{index}",
        )
    }  # fmt: skip
    for option in options():
        if option.compare and option.default is not None:  # the thinking budget: with the column's steering
            inputs[column_key(option.name, index)] = _slider(
                option,
                f"compare-{option.elem_id}-{index}",
                COMPARE_START.get(option.name),
                buttons=["reset"],
                info="starts greedy, so the columns differ only by template" if option.name == "temperature" else None,
            )
    inputs[column_key("enable_thinking", index)] = gr.Checkbox(
        value=True, label="Enable thinking (if the template has it)", elem_id=f"compare-thinking-{index}"
    )
    inputs[column_key("backend", index)] = gr.Radio(
        ["local", "server"],
        value="local" if local else "server",
        info="server: the one under 'Generation backend'",
        label="Tokens from",
        elem_id=f"compare-backend-{index}",
    )
    inputs.update(compare_steering_controls(index))
    page.add(column_key("compare_prompt", index), gr.HTML(elem_id=f"compare-prompt-{index}"))
    page.add(
        column_key("compare_chat", index),
        gr.Chatbot(
            label=f"Reply {index}",
            elem_id=f"compare-output-{index}",
            elem_classes=["pg-chat"],
            height=260,
            group_consecutive_messages=False,
            placeholder="The reply: thinking, answer and tool calls, as in the chat.",
        ),
    )
    page.add(column_key("compare_stats", index), gr.Markdown("", elem_id=f"compare-stats-{index}"))
    with gr.Accordion("Token probabilities", open=False, elem_classes=["pg-overflow-visible"]):
        page.add(column_key("compare_tokens", index), gr.HTML(elem_id=f"compare-tokens-{index}"))
    for name, component in inputs.items():
        page.add(name, component)
    return inputs


def build_compare(page: Page, core: Core) -> CompareTab:
    gr.Markdown(
        "One message, several columns: each renders with its own template and settings; Run streams the columns "
        "together (one batch) with the same seed. The sidebar's settings do not apply here: every setting a column "
        "does not set is the model's default, and no stop strings apply."
    )
    with gr.Row():
        message = gr.Textbox(label="Message", value="Hello!", elem_id="compare-input", scale=3)
        system = gr.Textbox(value="", label="System prompt", elem_id="compare-system", scale=2)
        image = gr.Image(
            type="filepath",
            label="Image for every column (vision models)",
            elem_id="compare-image",
            sources=["upload", "clipboard"],
            height=200,
            min_width=240,
            scale=1,
        )
    with gr.Row(equal_height=True):
        seed = gr.Textbox(value="", label="Seed (empty = random, the same for every column)", elem_id="compare-seed")
        max_tokens = _slider(
            next(o for o in options() if o.name == "max_tokens"), "compare-max-tokens", 64, buttons=["reset"]
        )
        logprobs = gr.Checkbox(value=True, label="Token probabilities", elem_id="compare-logprobs")
        third = gr.Checkbox(value=False, label="Third column", elem_id="compare-third")
        run = gr.Button("Run", variant="primary", elem_id="compare-run")
        stop = gr.Button("Stop", variant="stop", elem_id="compare-stop")
    page.add("compare_error", gr.HTML("", elem_id="compare-error", padding=False))
    inputs: dict[str, Any] = {
        "compare_message": message, "compare_image": image, "system": system, "seed": seed,
        "max_tokens": max_tokens, "logprobs": logprobs, "third": third,
    }  # fmt: skip
    local = not core.engine.default_backend.remote
    with gr.Row():
        for index, default in enumerate(COMPARE_TEMPLATES, start=1):
            with gr.Column(visible=index < 3) as column:
                inputs.update(_compare_column(page, index, default, local))
    page.add("compare_diff", gr.HTML(label="Differences between the rendered prompts", elem_id="compare-diff"))
    outputs = tuple(
        column_key(name, index)
        for index in range(1, COLUMNS + 1)
        for name in ("compare_prompt", "compare_chat", "compare_stats", "compare_tokens")
    )
    page.add("compare_third", third)
    return CompareTab(run, stop, third, column, inputs, (*outputs, "compare_diff", "compare_error"))


# ---------------------------------------------------------------------------------------------- notebook


@dataclass
class NotebookTab:
    run: gr.Button
    stop: gr.Button
    append: gr.Button
    text: gr.Textbox


def build_notebook(page: Page) -> NotebookTab:
    gr.Markdown(
        "Raw completion: the text below goes to the model **exactly as typed**, with no template and no BOS token "
        "added. Uses the sampling settings in the sidebar."
    )
    with gr.Row():
        with gr.Column():
            text = page.add(
                "notebook_input",
                gr.Textbox(
                    lines=12,
                    label="Text to continue",
                    elem_id="notebook-input",
                    value="<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
                ),
            )
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="notebook-run")
                stop = gr.Button("Stop", variant="stop", elem_id="notebook-stop")
                append = gr.Button("Append the continuation", elem_id="notebook-append")
            page.add("notebook_error", gr.HTML("", elem_id="notebook-error", padding=False))
        with gr.Column():  # the continuation verbatim: escaped, whitespace kept, special tokens as chips
            page.add("notebook_output", gr.HTML(elem_id="notebook-output"))
            page.add("notebook_stats", gr.Markdown("", elem_id="notebook-stats"))
    with gr.Accordion("Token probabilities", open=True, elem_classes=["pg-overflow-visible"]):
        page.add("notebook_tokens", gr.HTML(elem_id="notebook-token-probs"))
    return NotebookTab(run, stop, append, text)


# ---------------------------------------------------------------------------------------------- template lab


@dataclass
class LabTab:
    load: gr.Button
    use: gr.Button
    inputs: dict[str, Any]


def build_lab(page: Page) -> LabTab:
    with gr.Row():
        page.add("lab_from", gr.Dropdown(choices=[(AUTO, AUTO)], value=AUTO, label="Start from", elem_id="lab-source"))
        load = gr.Button("Load into editor", elem_id="lab-load")
        use = gr.Button("Use this template in the chat", variant="primary", elem_id="lab-use")
    with gr.Row():
        with gr.Column():
            template = page.add(
                "lab_template",
                gr.Code(value="", language="jinja2", label="Jinja chat template", lines=18, elem_id="lab-template"),
            )
            sample = gr.Code(
                language="json",
                label="Sample conversation",
                lines=8,
                value=json.dumps(SAMPLE_CONVERSATION, indent=2),
                elem_id="lab-sample",
            )
            tools = gr.Code(value="", language="json", label="Tools (optional)", lines=4, elem_id="lab-tools")
            kwargs = gr.Textbox(
                value="", label="Template keywords (JSON object)", elem_id="lab-kwargs", placeholder="{}"
            )
        with gr.Column():
            page.add("lab_errors", gr.HTML("", elem_id="lab-errors"))
            page.add("lab_output", gr.HTML(label="Rendered", elem_id="lab-output"))
            page.add("lab_lint", gr.Markdown("", elem_id="lab-lint"))
    with gr.Accordion("Tokens", open=False):
        page.add("lab_tokens", gr.HTML(elem_id="lab-tokens"))
    inputs = {"source": template, "sample": sample, "tools": tools, "template_kwargs": kwargs}
    return LabTab(load, use, inputs)


# ---------------------------------------------------------------------------------------------- requests (API)


@dataclass
class RequestsTab:
    timer: gr.Timer
    table: gr.Dataframe
    newest: gr.Button
    open: gr.Button


def build_requests(page: Page, intro: str, columns: tuple[str, ...], refresh_s: float) -> RequestsTab:
    """The API's requests: the live list (a timer, active while the tab is open), then the request shown (the
    newest until another is clicked): its facts and first difference, its exact prompt, its parsed reply, token
    view and request JSON, and Open in Chat."""
    page.add("requests_notice", gr.Markdown(intro, elem_id="requests-notice"))
    timer = page.add("requests_timer", gr.Timer(refresh_s, active=False))
    # The log's version this page shows: a hidden box (its change event runs after any event, queued or not).
    page.add("requests_version", gr.Number(-1, show_label=False, container=False, elem_classes=["pg-hidden"]))
    for name, value in (("requests_selected", ""), ("requests_shown", None)):
        page.add(name, gr.State(value))
    table = page.add("requests_list", gr.Dataframe(
        value=[], headers=list(columns), datatype="str", interactive=False, elem_id="requests-list", max_height=240,
        show_search="none", show_row_numbers=False, label="API requests (click one to see it)",
    ))  # fmt: skip
    with gr.Row(equal_height=True):
        newest = page.add(
            "requests_newest", gr.Button("Show the newest", size="sm", scale=0, elem_id="requests-newest")
        )
        opener = gr.Button(
            "Open in Chat", variant="primary", size="sm", scale=0, interactive=False, elem_id="requests-open"
        )
        page.add("requests_open", opener)
        page.add("requests_message", gr.HTML("", elem_id="requests-message", padding=False))
    page.add("requests_summary", gr.HTML("", elem_id="requests-summary"))
    with gr.Row(elem_id="requests-panes"):
        with gr.Column(scale=5, min_width=420):
            page.add("requests_prompt", gr.HTML(elem_id="requests-prompt"))
        with gr.Column(scale=4, min_width=360):
            page.add("requests_reply", gr.Chatbot(
                label="Reply (parsed: thinking, answer, tool calls)", elem_id="requests-reply", height=300,
                elem_classes=["pg-chat"], group_consecutive_messages=False, placeholder="The reply shown.",
            ))  # fmt: skip
            with gr.Accordion("Token probabilities", open=True, elem_classes=["pg-overflow-visible"]):
                page.add("requests_tokens", gr.HTML(elem_id="requests-tokens"))
            with gr.Accordion("Request JSON (as received; secrets masked)", open=True):
                page.add("requests_json", gr.Code(language="json", elem_id="requests-json", max_lines=30))
    return RequestsTab(timer, table, newest, opener)
