"""The page: its parts (:mod:`playground.ui.layout`), the handlers of each tab, and the events between them.

Handlers receive the components' values by name (``inputs_kwargs``) and build one typed inputs object
(:mod:`playground.ui.inputs`); the keyword names are also the HTTP API's parameter names. They return
``{name: value}`` (:mod:`playground.ui.wiring` maps the names to the components).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..api.routes import api_routes
from ..engine import Engine
from ..models import DEMO_MODEL_ALIAS
from ..options import options
from . import views
from .chat import ChatHandlers
from .compare import CompareHandlers
from .core import Core
from .inputs import MARKED_FIELDS
from .lab import LabHandlers
from .layout import (
    COLUMNS,
    ChatTab,
    CompareTab,
    Header,
    LabTab,
    NotebookTab,
    Page,
    RequestsTab,
    Sidebar,
    build_chat,
    build_compare,
    build_header,
    build_lab,
    build_notebook,
    build_requests,
    build_sidebar,
    sliders,
)
from .notebook import NotebookHandlers
from .panel import PanelHandlers
from .requests import COLUMNS as REQUEST_COLUMNS
from .requests import LISTED, REFRESH_S, TAB_LABEL, RequestsHandlers
from .saved import SAVED_FIELDS, SavedHandlers
from .wiring import Wiring

PANEL = ("wire_eos", "backend", "base_url", "api_key", "served_model")
TEMPLATE = ("system", "template", "system_strategy", "enable_thinking", "reasoning_effort", "template_kwargs", "tools")
SAMPLING = (*(o.name for o in options()), "seed", "stop", "logprobs")
CONSTRAINT = ("constraint_kind", "json_schema", "constraint_regex", "constraint_grammar", "constraint_tool")
CHAT = (*PANEL, *TEMPLATE, *SAMPLING, *CONSTRAINT, "message")
#: What the streaming step writes, and what the steps that accept a request write.
STREAM = ("chat", "stats", "tokens", "branch_label", "chat_error")
ACCEPT = ("chat", "message", "chat_error", "prompt", "stats")
#: What Regenerate, Continue and an edit write before their streaming step.
RERUN = ("chat", "chat_error", "prompt", "stats", "tokens")
#: Views that describe the conversation on screen: every action that changes it writes them all.
CONVERSATION = ("chat", "chat_error", "prompt", "stats", "tokens", "branch_row", "branch_label")
#: What Load (and the page's first load) writes.
LOAD = ("model", "summary", "status", "template", *(o.name for o in sliders()), "enable_thinking",
        "reasoning_effort", "model_error", "settings_line")  # fmt: skip
#: What the model panel's description writes.
DESCRIBED = ("summary", "status", "enable_thinking", "reasoning_effort", "settings_line", *MARKED_FIELDS)
#: Words Gradio's page announces without a translation of its own (its status tracker says "common.complete"
#: when a step that shows progress ends).
I18N = gr.I18n(en={"common.complete": "done"})
#: Tabs that use the settings sidebar (the others get the whole width).
SIDEBAR_LABELS = ("Chat", "Notebook (raw text)")
#: What Open in Chat writes: the conversation's views, every setting of the sidebar, the model, the tab shown.
OPEN = (*CONVERSATION, *SAVED_FIELDS, "wire_eos", *CONSTRAINT, "model", "notebook_input", "tabs", "sidebar",
        "requests_timer", "requests_message")  # fmt: skip


class PlaygroundApp:
    """The UI's server side: the shared core and each tab's handlers."""

    def __init__(
        self,
        engine: Engine | None = None,
        default_model: str = DEMO_MODEL_ALIAS,
        *,
        api: Any = None,
        api_url: str | None = None,
    ):
        self.core = Core(engine, default_model)
        self.panel = PanelHandlers(self.core)
        self.chat = ChatHandlers(self.core)
        self.compare = CompareHandlers(self.core)
        self.notebook = NotebookHandlers(self.core)
        self.lab = LabHandlers(self.core)
        self.saved = SavedHandlers(self.core)
        #: The API's requests (``api``: the ApiService serving ``api_url`` beside the page; None: no API).
        self.requests = RequestsHandlers(self.core, api, api_url)

    @property
    def engine(self) -> Engine:
        return self.core.engine

    def prev_branch(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        return self.chat.switch_branch(-1, request, **values)

    def next_branch(self, request: gr.Request, **values: Any) -> dict[str, Any]:
        return self.chat.switch_branch(1, request, **values)

    def release(self, request: gr.Request) -> None:
        """The page closed: its session's state is released."""
        self.core.sessions.release(request)


@dataclass
class Parts:
    header: Header
    sidebar: Sidebar
    chat: ChatTab
    compare: CompareTab
    notebook: NotebookTab
    lab: LabTab
    requests: RequestsTab
    tabs: gr.Tabs


def _sidebar_for(event: gr.SelectData) -> dict[str, Any]:
    """The settings sidebar shows beside the tabs that use it."""
    return {"sidebar": gr.update(visible=event.value in SIDEBAR_LABELS)}


def build_blocks(app: PlaygroundApp, *, generation_concurrency: int = 8) -> gr.Blocks:
    """The playground UI for ``app``."""
    page = Page()
    with gr.Blocks(title="MLX Template Playground", fill_width=True) as demo:
        header = build_header(page, app.core)
        with gr.Row(elem_id="workspace"):
            sidebar = build_sidebar(page)
            with gr.Column(scale=4, min_width=480, elem_id="main-pane"), gr.Tabs(elem_id="tabs") as tabs:
                with gr.Tab("Chat", id="chat"):
                    chat = build_chat(page)
                with gr.Tab("Compare templates and settings", id="compare"):
                    compare = build_compare(page, app.core)
                with gr.Tab("Notebook (raw text)", id="notebook"):
                    notebook = build_notebook(page)
                with gr.Tab("Template lab", id="lab"):
                    lab = build_lab(page)
                with gr.Tab(TAB_LABEL, id="requests", elem_id="requests-log"):
                    requests = build_requests(page, app.requests.intro(), REQUEST_COLUMNS, REFRESH_S)
        page.add("tabs", tabs)
        parts = Parts(header, sidebar, chat, compare, notebook, lab, requests, tabs)
        wire = Wiring(page, generation_concurrency)
        _wire_panel(app, wire, parts, demo)
        _wire_chat(app, wire, parts)
        _wire_saved(app, wire, parts, demo)
        _wire_compare(app, wire, parts)
        _wire_notebook(app, wire, parts)
        _wire_lab(app, wire, parts)
        _wire_requests(app, wire, parts)
        wire.on(tabs.select, _sidebar_for, outputs=("sidebar",))
        demo.unload(app.release)
    demo.page = page  # for tests: the components by name
    return demo


def _refresh(app: PlaygroundApp, wire: Wiring, event: Any) -> None:
    """After the model or the template changes: the prompt preview, the lab's and Compare's choices."""
    wire.then(event, app.chat.preview, CHAT, ("prompt",))
    wire.then(event, app.chat.snippet, CHAT, ("snippet",))
    wire.then(event, app.lab.choices, None, ("lab_from",))
    templates = tuple(f"template_{i}" for i in range(1, COLUMNS + 1))
    wire.then(event, app.compare.choices, templates, templates)


def _slider_edits(page: Any, names: Any) -> list[Any]:
    """The sliders' edits: their ``input`` events (a user's drag or typed number), not ``change``. With several
    ``always_last`` events on one slider's ``change``, Gradio 6's page fires that ``change`` again and again by itself
    (about 15 events a second on an idle page); the steps that write a slider themselves follow up with what an edit
    runs (:func:`_follow_settings`, and Load's refresh)."""
    return [page[name].input for name in names]


def _reset(app: PlaygroundApp, name: str) -> Any:
    """The reset button of setting ``name`` (a function of its own: Gradio reads a partial's parameters without
    their annotations, so it would not know ``request`` and warns at every start)."""

    def reset(request: gr.Request, **values: Any) -> dict[str, Any]:
        return app.panel.reset(name, request, **values)

    return reset


def _follow_settings(app: PlaygroundApp, wire: Wiring, event: Any) -> None:
    """After a step that writes settings itself (a reset, saved settings, Open in Chat): the model panel, the prompt
    and the copy-as-code script describe them (the sliders' own events are their users', see _slider_edits)."""
    wire.then(event, app.panel.describe, (*CHAT, "model"), DESCRIBED)
    wire.then(event, app.chat.preview, CHAT, ("prompt",))
    wire.then(event, app.chat.snippet, CHAT, ("snippet",))


def _wire_panel(app: PlaygroundApp, wire: Wiring, parts: Parts, demo: gr.Blocks) -> None:
    page, header = wire.page, parts.header
    sliders = parts.sidebar.sliders
    load_outputs = LOAD
    loading = {"show_progress": "minimal", "show_progress_on": page["summary"]}
    _refresh(app, wire, wire.on(demo.load, app.panel.page_load, CHAT, load_outputs, api_name="page_load",
                                api_visibility="public", **loading))  # fmt: skip
    loaded = wire.on(header.load.click, app.panel.load, (*CHAT, "model"), load_outputs, api_name="load_model",
                     api_visibility="public", **{**wire.heavy, **loading})  # fmt: skip
    _refresh(app, wire, loaded)
    describe_triggers = [
        *(page[name].change
          for name in ("model", "wire_eos", "backend", "base_url", "served_model", "template", "enable_thinking",
                       "reasoning_effort", "template_kwargs", "tools", "seed", "stop", "thinking_budget", *CONSTRAINT)),
        *_slider_edits(page, sliders),
    ]  # fmt: skip
    wire.on(describe_triggers, app.panel.describe, (*CHAT, "model"), DESCRIBED, trigger_mode="always_last")
    for name, button in parts.sidebar.resets.items():
        _follow_settings(app, wire, wire.on(button.click, _reset(app, name), PANEL, (name,)))
    tested = wire.on(header.test_connection.click, app.panel.test_connection, CHAT, ("backend_report",),
                     api_name="test_connection", api_visibility="public")  # fmt: skip
    wire.then(tested, app.chat.preview, CHAT, ("prompt",))


def _wire_chat(app: PlaygroundApp, wire: Wiring, parts: Parts) -> None:
    page, buttons = wire.page, parts.chat.buttons
    # The prompt panel and the copy-as-code script follow every edit, before anything is sent (registered once).
    # Server URL and key boxes count only when left (every keystroke would ask a half-typed address).
    edits = [
        *(page[name].change for name in ("message", *TEMPLATE, "wire_eos", "backend", "seed", "stop",
                                          "thinking_budget", *CONSTRAINT)),
        *_slider_edits(page, parts.sidebar.sliders),
        page["base_url"].blur, page["base_url"].submit, page["api_key"].blur, page["served_model"].blur,
    ]  # fmt: skip
    wire.on(edits, app.chat.preview, CHAT, ("prompt",), api_name="prompt_preview", api_visibility="public",
            trigger_mode="always_last")  # fmt: skip
    wire.on(edits, app.chat.snippet, CHAT, ("snippet",), trigger_mode="always_last")

    def streamed(event: Any, public: str | None = None) -> None:
        """Step 2 of every action that runs the model, then the views that follow the reply's end."""
        visibility = {"api_name": public, "api_visibility": "public"} if public else {}
        done = wire.then(event, app.chat.stream, None, STREAM, **visibility, **wire.heavy)
        wire.then(done, app.chat.after_reply, CHAT, ("prompt", "branch_row", "message"))

    for trigger, name in ((buttons["send"].click, "send"), (page["message"].submit, None)):
        visibility = {"api_name": name, "api_visibility": "public"} if name else {}
        streamed(wire.on(trigger, app.chat.submit, CHAT, ACCEPT, **visibility), "stream" if name else None)
    rerun = RERUN
    for trigger, handler, name in (
        (buttons["regenerate"].click, app.chat.regenerate, "regenerate"),
        (page["chat"].retry, app.chat.regenerate, None),
        (buttons["continue"].click, app.chat.continue_reply, "continue"),
        (page["chat"].edit, app.chat.edit, None),
    ):
        visibility = {"api_name": name, "api_visibility": "public"} if name else {}
        streamed(wire.on(trigger, handler, CHAT, rerun, **visibility))
    tool = wire.on(page["tool_result_button"].click, app.chat.add_tool_result, {**wire.inputs(CHAT),
                   "result": page["tool_result"]}, (*rerun, "tool_result"), api_name="tool_result",
                   api_visibility="public")  # fmt: skip
    streamed(tool)
    wire.on(page["chat"].undo, app.chat.undo, CHAT, (*CONVERSATION, "message"))
    wire.on(buttons["stop"].click, app.chat.stop, None, ("stats",), api_name="stop", api_visibility="public")
    for trigger, name in ((buttons["clear"].click, "clear"), (page["chat"].clear, None)):
        visibility = {"api_name": name, "api_visibility": "public"} if name else {}
        wire.on(trigger, app.chat.clear, CHAT, CONVERSATION, **visibility)
    for button, handler, name in ((buttons["branch_prev"], app.prev_branch, "previous_alternative"),
                                  (buttons["branch_next"], app.next_branch, "next_alternative")):  # fmt: skip
        wire.on(button.click, handler, CHAT, CONVERSATION, api_name=name, api_visibility="public")
    wire.on(buttons["export"].click, app.chat.export_conversation, ("system",), ("conversation_json",),
            api_name="export", api_visibility="public")  # fmt: skip
    wire.on(buttons["import"].click, app.chat.import_conversation, {**wire.inputs(CHAT),
            "text": page["conversation_json"]}, (*CONVERSATION, "system"), api_name="import",
            api_visibility="public")  # fmt: skip
    wire.on(page["verbatim"].change, app.chat.show_verbatim, ("verbatim",), ("chat",))


def _wire_saved(app: PlaygroundApp, wire: Wiring, parts: Parts, demo: gr.Blocks) -> None:
    page = wire.page
    wire.on(demo.load, app.saved.choices, {"saved": page["saved_store"]}, ("saved_choice",))
    # The browser's stored value arrives after the page loads: refresh the list when it does.
    wire.on(page["saved_store"].change, app.saved.choices, {"saved": page["saved_store"]}, ("saved_choice",))
    store = {"saved": page["saved_store"], "name": page["saved_choice"]}
    wire.on(page["saved_save"].click, app.saved.save, {**wire.inputs(SAVED_FIELDS), "saved": page["saved_store"],
            "name": page["saved_name"]}, ("saved_store", "saved_choice", "saved_message"))  # fmt: skip
    _follow_settings(app, wire, wire.on(page["saved_apply"].click, app.saved.apply, store,
                                        (*SAVED_FIELDS, "saved_message")))  # fmt: skip
    wire.on(page["saved_delete"].click, app.saved.delete, store, ("saved_store", "saved_choice", "saved_message"))
    wire.on(page["saved_export"].click, app.saved.export, CHAT, ("saved_json", "saved_command"),
            api_name="export_settings", api_visibility="public")  # fmt: skip


def _wire_compare(app: PlaygroundApp, wire: Wiring, parts: Parts) -> None:
    compare = parts.compare
    wire.on(compare.run.click, app.compare.run, {**wire.inputs(PANEL), **compare.inputs}, compare.outputs,
            api_name="compare", api_visibility="public", **wire.heavy)  # fmt: skip
    wire.on(compare.stop.click, app.compare.stop, api_name="compare_stop", api_visibility="public")
    compare.third.change(
        lambda on: gr.update(visible=bool(on)), compare.third, compare.column_three, api_visibility="private"
    )


def _wire_notebook(app: PlaygroundApp, wire: Wiring, parts: Parts) -> None:
    notebook = parts.notebook
    inputs = {**wire.inputs((*PANEL, *SAMPLING)), "text": notebook.text}
    outputs = ("notebook_output", "notebook_stats", "notebook_tokens", "notebook_error")
    wire.on(notebook.run.click, app.notebook.run, inputs, outputs, api_name="notebook", api_visibility="public",
            **wire.heavy)  # fmt: skip
    wire.on(notebook.stop.click, app.notebook.stop, api_name="notebook_stop", api_visibility="public")
    wire.on(notebook.append.click, app.notebook.append, {"text": notebook.text}, ("notebook_input",))


def _wire_lab(app: PlaygroundApp, wire: Wiring, parts: Parts) -> None:
    page, lab = wire.page, parts.lab
    inputs = {**lab.inputs, "system_strategy": page["system_strategy"]}
    outputs = ("lab_output", "lab_errors", "lab_lint", "lab_tokens")
    wire.on(lab.load.click, app.lab.source, {"which": page["lab_from"]}, ("lab_template",), api_name="lab_source",
            api_visibility="public")  # fmt: skip
    wire.on(lab.inputs["source"].change, app.lab.render, inputs, outputs, api_name="lab_render",
            api_visibility="public", trigger_mode="always_last")  # fmt: skip
    others = [lab.inputs[name].change for name in ("sample", "tools", "template_kwargs")]
    wire.on(others, app.lab.render, inputs, outputs, trigger_mode="always_last")
    wire.on(lab.use.click, app.lab.use, {"source": lab.inputs["source"]}, ("template", "lab_errors"),
            api_name="lab_use", api_visibility="public")  # fmt: skip


def _wire_requests(app: PlaygroundApp, wire: Wiring, parts: Parts) -> None:
    """The Requests tab: the timer's look at the log (one number in and out, not queued behind the model's events),
    the refresh when the log changed, the tab's opening and closing (which start and stop the timer), a click on a
    row, Show the newest, and Open in Chat."""
    tab, page = parts.requests, wire.page
    looks = {"selected": page["requests_selected"], "shown": page["requests_shown"]}
    wire.on(tab.timer.tick, app.requests.poll, {"version": page["requests_version"]}, ("requests_version",),
            queue=False)  # fmt: skip
    wire.on(page["requests_version"].change, app.requests.refresh, looks, LISTED)
    wire.on(parts.tabs.select, app.requests.tab_selected, looks, ("requests_timer", *LISTED))
    wire.on(tab.table.select, app.requests.select, looks, ("requests_selected", *LISTED))
    wire.on(tab.newest.click, app.requests.follow, looks, ("requests_selected", *LISTED))
    _follow_settings(app, wire, wire.on(tab.open.click, app.requests.open_in_chat, {"shown": page["requests_shown"]},
                                        OPEN))  # fmt: skip


def serve(
    *,
    engine: Engine | None = None,
    model: str = DEMO_MODEL_ALIAS,
    host: str = "127.0.0.1",
    port: int = 7860,
    **launch: Any,
) -> gr.Blocks:
    """Build and launch the app; returns the Blocks (useful with ``prevent_thread_lock``). ``launch``: share,
    auth, queue_size (64), concurrency (8), prevent_thread_lock, quiet, and api: a
    :class:`playground.api.service.ApiService` whose OpenAI-compatible routes are served on the same port."""
    share = bool(launch.pop("share", False))
    api = launch.pop("api", None)
    queue_size = launch.pop("queue_size", 64)
    concurrency = launch.pop("concurrency", 8)
    auth = launch.pop("auth", None)
    prevent_thread_lock = launch.pop("prevent_thread_lock", False)
    quiet = launch.pop("quiet", False)
    if launch:
        raise TypeError(f"serve() got unexpected options: {', '.join(sorted(launch))}")
    api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/v1" if api is not None else None
    app = PlaygroundApp(engine or Engine(), default_model=model, api=api, api_url=api_url)
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
        i18n=I18N,
        # The API's routes go first in Gradio's FastAPI app (its ``app_kwargs``), so they answer /v1/... themselves.
        app_kwargs={"routes": api_routes(api)} if api is not None else None,
        # No allowed_paths: the page shows only files Gradio made (uploads) and the sessions' checked image
        # copies in the system temp dir (playground.ui.images), never other files of the working directory.
    )
    demo.playground_app = app  # for tests and embedding
    return demo


__all__ = ["PlaygroundApp", "build_blocks", "serve", "COLUMNS"]
