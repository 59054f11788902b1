"""The Requests tab: the OpenAI-compatible API's requests, live, each with its exact prompt.

The list (newest first) refreshes while the tab is open: a timer asks :meth:`RequestsHandlers.poll` once a second,
which answers with the log's version, a number in a hidden box of the page; when it changes, the box's change event
asks for :meth:`RequestsHandlers.refresh`. The idle look reads and writes one number (about 3 ms of server CPU, the
HTTP request included); a look that wrote the list's components, even to leave them as they are, would cost Gradio
a per-session copy of each (14 ms). The number is a box, not a state: Gradio's page runs a state's change event only
after a queued event, and the look is not queued behind the model's events.

The request shown is the newest until another is selected; its details are drawn again only when the request shown
changes (another one, or it finished), so a refresh never disturbs what is being read. "Open in Chat" puts the
request's conversation and reply into this browser's chat, with the template, keywords, tools and settings the
request used (and the seed it used), so Regenerate reruns it and any of them can be changed first; a
``/v1/completions`` request opens in the Notebook.

Neither the API token nor a server key is ever shown: the log keeps the request JSON scrubbed, and every view here
is scrubbed again with the same secrets (a client may paste one into a message).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import gradio as gr

from ..api.log import CONTEXT_CHARS, Difference, RequestLog, RequestRecord, scrub
from ..errors import PlaygroundError
from ..options import options
from ..prepare import resolve_settings
from ..templates import CUSTOM_CHOICE
from . import views
from .core import Core
from .inputs import CONSTRAINT_CHOICES
from .state import LastRun

#: Seconds between two looks at the log while the tab is open.
REFRESH_S = 1.0
TAB_LABEL = "Requests (API)"
#: The list's columns (the second is the request's id: a click on a row selects it by that id).
COLUMNS = ("", "request", "time", "model", "client", "prompt tokens", "reply tokens", "cached", "TTFT (s)",
           "tokens/s", "finish")  # fmt: skip
#: What the list's refresh writes (the log's version it shows, the list, and the details when the request shown
#: changed).
DETAILS = ("requests_shown", "requests_summary", "requests_prompt", "requests_reply", "requests_json",
           "requests_tokens", "requests_open")  # fmt: skip
LISTED = ("requests_version", "requests_list", *DETAILS)
NO_API = (
    "**No API on this page.** It was started without the OpenAI-compatible API, so no requests come here. Start the "
    "playground with `mlx-playground serve` (the page and the API on one port) and point a client at its `/v1`, "
    'e.g. `openai.OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="unused")`: each request then appears here '
    "with its exact prompt."
)
NO_REQUESTS = "No API requests yet: each request appears here as it arrives, with its exact prompt."
_BOXES = {"json_schema": "json_schema", "regex": "constraint_regex", "grammar": "constraint_grammar",
          "tool_call": "constraint_tool"}  # fmt: skip


def intro(url: str | None, token: bool) -> str:
    """The tab's first line: where the API is (or how to get one)."""
    if url is None:
        return NO_API
    auth = " with `Authorization: Bearer TOKEN` (the server's `--api-token`)" if token else ""
    return (
        f"Requests to the OpenAI-compatible API at `{url}`{auth}, newest first, live while this tab is open. The "
        "newest is shown until you click another; **Open in Chat** loads it into your chat with the template and "
        "settings it used, to change them and rerun it (Regenerate)."
    )


# ---------------------------------------------------------------------------------------------- views


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def table(records: Sequence[RequestRecord], shown: str | None) -> list[list[str]]:
    """The list's rows (newest first); the request shown is marked."""
    rows = []
    for record in records:
        row = record.row()
        rows.append([
            "▶" if row["id"] == shown else "", row["id"], row["time"], row["model"], row["client"],
            _number(row["prompt_tokens"]), _number(row["reply_tokens"]), _number(row["cached_tokens"]),
            _number(row["ttft_s"], 3), _number(row["tokens_per_s"], 1), str(row["finish"]),
        ])  # fmt: skip
    return rows


def facts(record: RequestRecord) -> list[str]:
    """The request's statistics in words: finish, tokens, speed, time to first token, seed, batch."""
    stats = record.stats
    if record.status == "running":
        return ["running…"]
    finish = "error" if record.error else stats.get("finish_reason") or record.status
    stop = f" on {stats['stop_token']}" if stats.get("stop_token") else ""
    out = [f"{finish}{stop}"] + ([f"HTTP {record.http_status}"] if record.http_status != 200 else [])
    if stats.get("generation_tokens") is not None:
        out.append(f"{stats['generation_tokens']:,} reply tokens")
    if stats.get("generation_tps"):
        out.append(f"{stats['generation_tps']:.1f} tokens/s")
    if stats.get("ttft_s") is not None:
        out.append(f"time to first token {stats['ttft_s']:.3f} s")
    if stats.get("seed") is not None:
        out.append(f"seed {stats['seed']}")
    if (stats.get("batch_size") or 1) > 1:
        out.append(f"batch of {stats['batch_size']}")
    return out


def cache_line(record: RequestRecord) -> str:
    """How many prompt tokens came from the KV cache."""
    prompt = record.stats.get("prompt_tokens") or (record.prepared.prompt_tokens if record.prepared else None)
    if record.status == "running" or prompt is None:
        return "Cache: not known until the request ends."
    reused = record.stats.get("reused_tokens") or 0
    if not reused:
        return f"Cache: none of the {prompt:,} prompt tokens came from the cache (all were processed)."
    return (
        f"Cache: {reused:,} of the {prompt:,} prompt tokens came from the cache ({reused / prompt:.0%}); "
        f"{prompt - reused:,} were processed."
    )


def _marked(text: str, at: int) -> str:
    """``text`` with whitespace visible and everything from ``at`` on marked."""
    return views.visible_whitespace(text[:at]) + f'<mark class="pg-ins">{views.visible_whitespace(text[at:])}</mark>'


def difference_html(record: RequestRecord) -> str:
    """Where this prompt first leaves the same client's previous prompt and reply (what the cache holds)."""
    diff: Difference | None = record.difference
    if record.prepared is None:
        return ""
    if diff is None:
        what = "the first request of this client for this model: there is no previous prompt to compare with"
        return f'<div class="pg-meta">Previous prompt: {views.esc(what)}.</div>'
    if diff.char >= diff.previous_chars:
        line = (
            f"First difference from client {record.client!r}'s previous prompt and reply: none. This prompt extends "
            "them, so the cache can reuse all of it."
        )
        return f'<div class="pg-meta">{views.esc(line)}</div>'
    at = min(diff.char, CONTEXT_CHARS)
    head = (
        f"First difference from client {record.client!r}'s previous prompt and reply: character {diff.char:,} of "
        f"this prompt, in {diff.where}"
        + (" (the previous reply)" if diff.in_previous_reply else "")
        + f". Cause: {diff.cause}."
    )
    return (
        f'<div class="pg-difference"><div class="pg-label">{views.esc(head)}</div>'
        f'<div class="pg-meta">before:</div><pre class="pg-prompt">{_marked(diff.before, at)}</pre>'
        f'<div class="pg-meta">now:</div><pre class="pg-prompt">{_marked(diff.now, at)}</pre></div>'
    )


def summary_html(record: RequestRecord) -> str:
    """The request's head: id, time, endpoint, client, model; its statistics, cache use, notes, error and the first
    difference from the client's previous prompt."""
    row = record.row()
    head = f"{record.id} · {row['time']} · /v1/{'chat/completions' if record.endpoint == 'chat' else 'completions'}"
    head += f" · client {record.client} · model {record.model or '(none named)'}"
    lines = [" · ".join(facts(record)), cache_line(record)]
    parts = [f'<div class="pg-label">{views.esc(head)}</div>']
    parts += [f'<div class="pg-meta">{views.esc(line)}</div>' for line in lines]
    parts += [f'<div class="pg-warn">⚠ {views.esc(note)}</div>' for note in record.notes]
    if record.error:
        parts.append(views.error_html(record.error))
    parts.append(difference_html(record))
    return f'<div class="pg-request">{"".join(parts)}</div>'


def reply_items(record: RequestRecord) -> list[dict]:
    """The reply as the chat shows it: thinking, answer and tool calls (a completion's text verbatim)."""
    reply = record.reply
    if reply is None:
        return []
    if "role" not in reply:
        return [{"role": "assistant", "content": views.verbatim_html(reply.get("text", ""))}]
    return views.chat_view([reply])[0]


def token_note(record: RequestRecord) -> str:
    if record.tokens or record.status == "running":
        return "" if record.tokens else "Running… the tokens appear when the request ends."
    if record.prepared is not None and not record.prepared.request.logprobs:
        return (
            "This request did not ask for log-probabilities (logprobs: true): Open in Chat and Regenerate it with "
            "Token probabilities ticked to see each token's."
        )
    return "No tokens."


def _hidden(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (text, or JSON data) with every secret masked, also as HTML writes it."""
    forms = tuple(dict.fromkeys([*secrets, *(html.escape(s, quote=True) for s in secrets)]))
    return scrub(value, forms) if forms else value


# ---------------------------------------------------------------------------------------------- handlers


class RequestsHandlers:
    """The Requests tab's handlers; ``api`` is the :class:`~playground.api.service.ApiService` serving the page's
    ``/v1`` (None: the page has no API, and the tab says how to get one)."""

    def __init__(self, core: Core, api: Any = None, url: str | None = None):
        self.core = core
        self.api = api
        self.url = url if api is not None else None

    @property
    def log(self) -> RequestLog | None:
        return self.api.log if self.api is not None else None

    def intro(self) -> str:
        return intro(self.url, bool(self.api is not None and self.api.token_required))

    def _secrets(self) -> tuple[str, ...]:
        log = self.log
        return tuple(dict.fromkeys([*(log.secrets if log is not None else ()), *self.core.secrets()]))

    # ------------------------------------------------------------------ the list and the request shown

    def _pick(self, records: list[RequestRecord], selected: str) -> RequestRecord | None:
        """The request shown: the one selected (while the log still has it), else the newest."""
        chosen = next((r for r in records if r.id == selected), None) if selected else None
        return chosen or (records[0] if records else None)

    def details(self, record: RequestRecord | None) -> dict[str, Any]:
        """Everything shown of one request (scrubbed), and the signature that says when to draw it again."""
        if record is None:
            empty = views.notice_html(NO_REQUESTS) if self.api is not None else ""
            blank = {name: "" for name in ("requests_prompt", "requests_json", "requests_tokens")}
            return {**blank, "requests_shown": None, "requests_summary": empty, "requests_reply": [],
                    "requests_open": gr.update(interactive=False)}  # fmt: skip
        secrets = self._secrets()
        prepared = record.prepared
        prompt = self.core.prompt_view(prepared, f"The exact prompt of {record.id}") if prepared is not None else ""
        label = "Open in Notebook" if record.endpoint != "chat" else "Open in Chat"
        return {
            "requests_shown": (record.id, record.status, prepared is not None),
            "requests_summary": _hidden(summary_html(record), secrets),
            "requests_prompt": _hidden(prompt, secrets),
            "requests_reply": _hidden(reply_items(record), secrets),
            "requests_json": _hidden(json.dumps(record.request_json, ensure_ascii=False, indent=2), secrets),
            "requests_tokens": _hidden(views.token_probs_html(record.tokens, note=token_note(record)), secrets),
            "requests_open": gr.update(value=label, interactive=record.status != "running" and prepared is not None),
        }

    def _view(self, selected: str, shown: Any, force: bool = False) -> dict[str, Any]:
        """The list (with the log's version it shows) and, when the request shown changed, its details."""
        log = self.log
        if log is None:
            return {"requests_list": [], **self.details(None)}
        version = log.version  # read first: a change while drawing is drawn by the next look
        records = log.records()
        record = self._pick(records, selected)
        out: dict[str, Any] = {"requests_version": version, "requests_list": table(records, record and record.id)}
        signature = (record.id, record.status, record.prepared is not None) if record is not None else None
        if force or signature != shown:
            out.update(self.details(record))
        return out

    def poll(self, version: float = -1) -> dict[str, Any]:
        """The timer's look at the log: its version, a plain number (the page asks for :meth:`refresh` when it changed;
        the same number again changes nothing), so an idle look costs next to nothing."""
        log = self.log
        return {} if log is None else {"requests_version": log.version}

    def refresh(self, selected: str = "", shown: Any = None) -> dict[str, Any]:
        """The list again (the log changed); the details only if the request shown changed."""
        return self._view(selected or "", shown)

    def tab_selected(self, event: gr.SelectData, selected: str = "", shown: Any = None) -> dict[str, Any]:
        """The timer runs while the Requests tab is open; opening it draws the list at once."""
        here = event.value == TAB_LABEL
        out: dict[str, Any] = {"requests_timer": gr.Timer(active=here and self.log is not None)}
        if here:
            out.update(self._view(selected or "", shown, force=True))
        return out

    def select(self, event: gr.SelectData, selected: str = "", shown: Any = None) -> dict[str, Any]:
        """A click on a row shows that request (and keeps showing it as new requests arrive)."""
        row = event.row_value or []
        chosen = str(row[1]) if len(row) > 1 else ""
        log = self.log
        if log is None or log.get(chosen) is None:
            return {}
        return {"requests_selected": chosen, **self._view(chosen, shown, force=True)}

    def follow(self, selected: str = "", shown: Any = None) -> dict[str, Any]:
        """Show the newest request again, and follow the new ones as they arrive."""
        return {"requests_selected": "", **self._view("", shown, force=True)}

    # ------------------------------------------------------------------ open in chat

    def _record(self, shown: Any) -> RequestRecord | None:
        log = self.log
        if log is None or not shown:
            return None
        return log.get(shown[0])

    def open_in_chat(self, request: gr.Request, shown: Any = None) -> dict[str, Any]:
        """Load the request shown into this browser's chat (a completion's prompt into the Notebook), with the
        template, keywords, tools, structured output and settings it used, and switch to that tab."""
        record = self._record(shown)
        problem = _unopenable(record)
        if problem:
            return {"requests_message": views.error_html(problem)}
        state = self.core.session(request)
        settings = self._settings(record)
        switch = {"sidebar": gr.update(visible=True), "requests_timer": gr.Timer(active=False)}
        if record.prepared.raw:
            text = _hidden(record.prepared.text, self._secrets())
            done = f"{record.id}'s prompt is in the Notebook: Run continues it with the settings it used."
            return {**settings, **switch, "notebook_input": text, "tabs": gr.Tabs(selected="notebook"),
                    "requests_message": f'<div class="pg-meta">{views.esc(done)}</div>'}  # fmt: skip
        loaded = record.prepared.loaded
        with state.lock:
            if state.model != str(loaded.path) and _path_of(self.core, state) != loaded.path:
                state.model = str(loaded.path)  # the request's model becomes the session's
                settings["model"] = gr.update(value=state.model)
            chat = self._load_chat(state, record)
        done = f"{record.id} is in the Chat: Regenerate reruns it with the template and settings it used."
        return {**settings, **chat, **switch, "tabs": gr.Tabs(selected="chat"),
                "requests_message": f'<div class="pg-meta">{views.esc(done)}</div>'}  # fmt: skip

    def _load_chat(self, state: Any, record: RequestRecord) -> dict[str, Any]:
        """The session's conversation becomes the request's messages plus its reply (its first system message goes
        to the System prompt box); the prompt panel, stats and token view show the request's."""
        prepared, secrets = record.prepared, self._secrets()
        request = prepared.request
        messages = [dict(m) for m in _hidden(list(request.messages), secrets)]
        system = ""
        if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
            system = messages.pop(0)["content"]
        reply = _hidden(record.reply, secrets) if record.reply and "role" in record.reply else None
        if reply is not None and request.continue_final and messages and messages[-1].get("role") == "assistant":
            last = messages[-1]
            messages[-1] = {**reply, **{k: v for k, v in last.items() if k != "content"}}
            messages[-1]["content"] = f"{last.get('content') or ''}{reply.get('content') or ''}"
        elif reply is not None:
            messages.append(reply)
        state.reset_conversation(messages)
        if request.template == CUSTOM_CHOICE and request.custom_template:
            state.custom_template = request.custom_template
        stats = f"API request {record.id}: " + " · ".join(views.md_text(f) for f in facts(record))
        state.last_run = LastRun(prepared, record.tokens, stats, seed=record.stats.get("seed"), note=token_note(record))
        state.shown_prompt = self.core.prompt_view(prepared, f"The prompt of API request {record.id}")
        choices = self.core.template_choices(prepared.loaded, state.custom_template)
        return {
            "chat": views.chat_view(state.conversation, verbatim=state.verbatim)[0],
            "chat_error": "",
            "prompt": _hidden(state.shown_prompt, secrets),
            "stats": _hidden(stats, secrets),
            "tokens": views.token_probs_html(record.tokens, note=token_note(record)),
            "branch_row": gr.update(visible=False),
            "branch_label": "",
            "system": system,
            "template": gr.update(choices=choices, value=request.template),
        }

    def _settings(self, record: RequestRecord) -> dict[str, Any]:
        """The sidebar's values that make the chat send what the request sent: its template keywords, tools,
        thinking and effort, structured output, every setting (a slider at the value used), its seed (or, when it
        gave none, the seed it used) and its stop strings."""
        prepared = record.prepared
        request, secrets = prepared.request, self._secrets()
        given = request.settings
        used = resolve_settings(prepared.loaded, given)[0]
        out: dict[str, Any] = {}
        for option in options():
            value = getattr(used if option.default is not None else given, option.name)
            out[option.name] = value if option.default is not None else ("" if value is None else str(value))
        seed = given.seed if given.seed is not None else record.stats.get("seed")
        out.update(seed="" if seed is None else str(seed), stop="\n".join(given.stop), wire_eos=request.wire_eos)
        if prepared.raw:
            return out
        thinking = prepared.family.control("thinking") if prepared.family is not None else None
        default = bool(thinking.default) if thinking is not None and thinking.default is not None else True
        tools = json.dumps(list(request.tools), ensure_ascii=False, indent=2) if request.tools else ""
        kwargs = json.dumps(dict(request.template_kwargs), ensure_ascii=False) if request.template_kwargs else ""
        out.update(
            system_strategy=request.system_strategy,
            template_kwargs=_hidden(kwargs, secrets),
            tools=_hidden(tools, secrets),
            enable_thinking=default if request.thinking is None else bool(request.thinking),
            reasoning_effort=request.effort or "",
        )
        out.update(_constraint_values(request.constraint))
        return out


def _path_of(core: Core, state: Any) -> Any:
    """The folder of the session's model (None when it cannot be loaded)."""
    try:
        return core.loaded(state).path
    except PlaygroundError:
        return None


def _unopenable(record: RequestRecord | None) -> str | None:
    """Why the request shown cannot be opened (None: it can)."""
    if record is None:
        return "Select a request first (the log keeps the last requests only)."
    if record.status == "running":
        return f"{record.id} is still running: open it when it has finished."
    if record.prepared is None:
        return f"{record.id} failed before its prompt was built, so there is nothing to open ({record.error})."
    return None


def _constraint_values(constraint: Any) -> dict[str, Any]:
    """The Structured output section's values for a request's constraint (``none`` without one)."""
    kind = constraint.kind if constraint is not None else ""
    label = next((label for label, value in CONSTRAINT_CHOICES.items() if value == kind), "none")
    out: dict[str, Any] = {"constraint_kind": label}
    if constraint is not None and kind in _BOXES:
        value = constraint.value
        if kind == "json_schema":
            value = json.dumps(json.loads(value), ensure_ascii=False, indent=2)
        out[_BOXES[kind]] = value
    return out
