"""HTML and Markdown views of engine results (pure functions; no Gradio imports).

The UI is a thin layer: every view here is a function of typed engine results (a PreparedChat, events,
token infos, the conversation's plain messages), so it can be tested without a browser.
"""

from __future__ import annotations

import difflib
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..events import GenerationEvent, TokenInfo
from ..templates import RenderedPrompt

_ROLE_CLASS = {"system": "pg-system", "user": "pg-user", "assistant": "pg-assistant", "tool": "pg-tool"}
# Marker-like tokens shown as chips even when the tokenizer is not known.
_TOKEN_RE = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|<｜[^<>\s]{1,40}｜>|\[/?(?:INST|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|THINK|IMG)\]|"
    r"<</?SYS>>|</?s>|<(?:bos|eos|start_of_turn|end_of_turn|start_of_image|end_of_image)>|<\|?[A-Z_]+_TOKEN\|?>"
)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def md_text(text: Any) -> str:
    """Plain text made safe inside Markdown: tokens like ``<think>`` or ``<end_of_turn>`` would otherwise be taken
    for HTML tags and vanish."""
    return html.escape(str(text), quote=False)


# ---------------------------------------------------------------------------------------------- prompt


def visible_whitespace(text: str) -> str:
    """Escape, then show spaces at line ends, tabs and newlines so whitespace differences are visible."""
    out = []
    for line_index, line in enumerate(text.split("\n")):
        if line_index:
            out.append('<span class="pg-ws">↵</span>\n')
        body = html.escape(line).replace("\t", '<span class="pg-ws">⇥</span>')
        stripped = body.rstrip(" ")
        trailing = len(body) - len(stripped)
        leading = len(stripped) - len(stripped.lstrip(" "))
        if leading:
            stripped = '<span class="pg-ws">' + "·" * leading + "</span>" + stripped[leading:]
        out.append(stripped + ('<span class="pg-ws">' + "·" * trailing + "</span>" if trailing else ""))
    return "".join(out)


def _special_pattern(special: Iterable[str]) -> re.Pattern:
    tokens = sorted({t for t in special if t}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in tokens)) if tokens else _TOKEN_RE


def with_chips(text: str, special: Iterable[str] | re.Pattern = (), image_token: str | None = None) -> str:
    """Text with special tokens as chips (runs of one repeated token, e.g. image pads, as one chip × N; runs of
    ``image_token`` are marked as an image's tokens)."""
    pattern = special if isinstance(special, re.Pattern) else _special_pattern(special)
    out, pos = [], 0
    matches = list(pattern.finditer(text))
    i = 0
    while i < len(matches):
        match = matches[i]
        run = 1
        while (
            i + run < len(matches)
            and matches[i + run].group(0) == match.group(0)
            and matches[i + run].start() == matches[i + run - 1].end()
        ):
            run += 1
        out.append(visible_whitespace(text[pos : match.start()]))
        count = f'<sub class="pg-count">×{run}</sub>' if run > 1 else ""
        if image_token and match.group(0) == image_token:
            title = f"{run} image token{'s' if run > 1 else ''}: the image as the model sees it"
            chip = f"{html.escape(match.group(0))}{count}"
            out.append(f'<span class="pg-tok pg-img" title="{esc(title)}">{chip}</span>')
        else:
            out.append(f'<span class="pg-tok">{html.escape(match.group(0))}{count}</span>')
        pos = matches[i + run - 1].end()
        i += run
    out.append(visible_whitespace(text[pos:]))
    return "".join(out)


def prompt_body(
    rendered: RenderedPrompt | None, text: str, special: Iterable[str], image_token: str | None = None
) -> str:
    """The exact prompt, coloured by source (template text vs each message), special tokens as chips (an image's
    tokens as one chip with their count)."""
    pattern = _special_pattern(special)
    parts = []
    segments = rendered.segments if rendered is not None else ()
    for seg in segments:
        chunk = with_chips(text[seg.start : seg.end], pattern, image_token)
        if seg.kind == "template":
            parts.append(f'<span class="pg-tpl">{chunk}</span>')
        else:
            role_class = _ROLE_CLASS.get(seg.role or "", "pg-user")
            title = esc(f"message {seg.message + 1} ({seg.role})")
            parts.append(f'<span class="pg-msg {role_class}" title="{title}">{chunk}</span>')
    if not segments:
        parts.append(with_chips(text, pattern, image_token))
    return f'<pre class="pg-prompt">{"".join(parts)}</pre>'


def images_html(vision: Any) -> str:
    """One line per image of a prompt: its size and the tokens it became."""
    lines = []
    for image in vision.images:
        runs = [s for s in vision.spans if s.image == image.index]
        shown = " + ".join(f"{s.token} ×{s.count}" for s in runs)
        tokens = f"{image.tokens} image tokens" if image.tokens is not None else "image tokens not attributable"
        text = f"image {image.index + 1}: {image.width}×{image.height} px → {tokens}"
        text += f" ({shown})" if shown else ""
        lines.append(f'<div class="pg-meta pg-image-line">{esc(text)}</div>')
    return "".join(lines)


def backend_html(backend: str, notes: Sequence[str]) -> str:
    """What a server backend does to the prompt before sending it."""
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in dict.fromkeys(notes))
        body = f'<ul class="pg-backend-notes">{items}</ul>'
    else:
        body = '<div class="pg-meta">sent exactly as shown</div>'
    return f'<div class="pg-backend"><div class="pg-meta"><b>Tokens from {esc(backend)}</b></div>{body}</div>'


def prompt_html(
    prepared: Any,
    label: str = "",
    *,
    extra_notes: Sequence[str] = (),
    backend: str | None = None,
    backend_notes: Sequence[str] = (),
) -> str:
    """A prepared request's exact prompt with its facts: tokens, template, images, BOS, EOS, warnings, and (for a
    server ``backend``) what the backend does to the prompt before sending it."""
    rendered = prepared.rendered
    if rendered is None:
        template = "raw text (no template)"
    else:
        template = f"{rendered.template_name or rendered.source} ({rendered.source})"
    facts = [f"{prepared.prompt_tokens} tokens", f"{len(prepared.text)} characters", f"template: {template}"]
    image_tokens = getattr(prepared, "image_tokens", 0)
    if image_tokens:
        facts.append(f"{image_tokens} image tokens")
    facts.append("stops on " + (" ".join(prepared.eos.tokens) or "(nothing)"))
    head = f'<div class="pg-label">{esc(label)}</div>' if label else ""
    meta = f'<div class="pg-meta">{esc(" · ".join(facts))}</div>'
    vision = getattr(prepared, "vision", None)
    images = images_html(vision) if vision is not None else ""
    sent = backend_html(backend, backend_notes) if backend is not None else ""
    notes = [*prepared.warnings, *extra_notes]
    warnings = "".join(f'<div class="pg-warn">⚠ {esc(w)}</div>' for w in dict.fromkeys(notes))
    special = prepared.loaded.special_tokens()
    image_token = vision.image_token if vision is not None else None
    body = prompt_body(rendered, prepared.text, special, image_token)
    return f'<div class="pg-prompt-view">{head}{meta}{images}{sent}{warnings}{body}</div>'


def rendered_html(
    rendered: RenderedPrompt, special: Iterable[str] = (), token_count: int | None = None, *, name: str | None = None
) -> str:
    """A rendered prompt without a model request (the Template lab); ``name``: what the template is, when the
    rendered prompt cannot tell (an edited template that is still a preset's, unchanged)."""
    count = f"{token_count} tokens · " if token_count is not None else ""
    what = name or f"{rendered.template_name or rendered.source} ({rendered.source})"
    meta = f'<div class="pg-meta">{count}{len(rendered.text)} characters · template: {esc(what)}</div>'
    warnings = "".join(f'<div class="pg-warn">⚠ {esc(w)}</div>' for w in rendered.warnings)
    return meta + warnings + prompt_body(rendered, rendered.text, special)


def notice_html(message: str, label: str = "") -> str:
    head = f'<div class="pg-label">{esc(label)}</div>' if label else ""
    return f'<div class="pg-prompt-view">{head}<div class="pg-meta">{esc(message)}</div></div>'


_REPORT_LABELS = {
    "server": "server",
    "version": "version",
    "models": "models it lists",
    "model": "model named in requests",
    "base_url": "base URL",
    "latency_ms": "latency (ms)",
    "mlx": "mlx",
    "device": "device",
    "blas": "BLAS",
    "max_batch": "max batch",
}


#: What each of a backend's capabilities means, in words (Test connection).
_CAPABILITIES = {
    "capabilities": "how the playground uses it",
    "endpoint": "endpoint",
    "bos": "BOS token",
    "stop": "stop tokens",
    "logprobs": "token probabilities",
    "stop_token": "says which token a reply stopped on",
    "reused_tokens": "reports the prompt tokens it reused",
    "removes_thinking": "removes thinking text from replies",
}


def _report_value(value: Any) -> str:
    if value is None:
        return "(not reported)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        rows = (
            f"<li>{esc(_CAPABILITIES.get(k, k.replace('_', ' ')))}: {_report_value(v)}</li>" for k, v in value.items()
        )
        return "".join(rows).join(("<ul>", "</ul>"))
    if isinstance(value, (list, tuple)):
        return esc(", ".join(str(v) for v in value)) if value else "(none)"
    return esc(value)


def connection_html(report: dict[str, Any]) -> str:
    """What a backend reports about itself (Test connection)."""
    if report.get("backend") == "local":
        head = "Local: tokens are generated in this process with mlx-lm."
    else:
        server = report.get("server") or "the server"
        latency = report.get("latency_ms")
        took = f" in {latency:g} ms" if isinstance(latency, (int, float)) else ""
        head = f"Connected to {server} at {report.get('base_url')}{took}."
    skip = {"backend", "reachable", "notes", "latency_ms"}
    if report.get("backend") != "local":
        skip.add("base_url")
    if report.get("backend") != "local" and report.get("model", "") is None:
        report = {**report, "model": "(none: the server uses the model it was started with)"}
    rows = "".join(
        f"<li><b>{esc(_REPORT_LABELS.get(k, _CAPABILITIES.get(k, k.replace('_', ' '))))}</b>: {_report_value(v)}</li>"
        for k, v in report.items()
        if k not in skip and v not in ({}, "")
    )
    notes = "".join(f'<div class="pg-warn">⚠ {esc(n)}</div>' for n in report.get("notes") or ())
    title = f'<div class="pg-label">{esc(head)}</div>'
    return f'<div class="pg-connection">{title}{notes}<ul class="pg-meta">{rows}</ul></div>'


def error_html(message: str, hint: str | None = None) -> str:
    hint_html = f"<div>{esc(hint)}</div>" if hint else ""
    return f'<div class="pg-error" role="alert"><b>{esc(message)}</b>{hint_html}</div>'


# ---------------------------------------------------------------------------------------------- diff


def diff_html(
    a: Sequence[str], b: Sequence[str], label_a: str = "A", label_b: str = "B", special: Iterable[str] = ()
) -> str:
    """Diff of two prompts given as token pieces (so special tokens stay whole); whitespace visible."""
    if list(a) == list(b):
        return f'<div class="pg-meta">{esc(label_a)} and {esc(label_b)}: identical prompts</div>'
    pattern = _special_pattern(special)
    out = []
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(with_chips("".join(a[i1:i2]), pattern))
            continue
        if i2 > i1:
            out.append(f'<del class="pg-del">{with_chips("".join(a[i1:i2]), pattern)}</del>')
        if j2 > j1:
            out.append(f'<ins class="pg-ins">{with_chips("".join(b[j1:j2]), pattern)}</ins>')
    legend = (
        f'<div class="pg-meta"><del class="pg-del">only in {esc(label_a)}</del> '
        f'<ins class="pg-ins">only in {esc(label_b)}</ins></div>'
    )
    return legend + f'<pre class="pg-prompt">{"".join(out)}</pre>'


def split_pieces(text: str, special: Iterable[str]) -> list[str]:
    """A prompt cut into diffable pieces: special tokens whole, words, spaces and punctuation apart."""
    pattern = _special_pattern(special)
    pieces: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        pieces.extend(re.findall(r"\s+|\w+|[^\w\s]", text[pos : match.start()]))
        pieces.append(match.group(0))
        pos = match.end()
    pieces.extend(re.findall(r"\s+|\w+|[^\w\s]", text[pos:]))
    return pieces


def tokens_html(ids: list[int], pieces: list[str], special_ids: Iterable[int] = ()) -> str:
    """Token ids and pieces; special tokens as highlighted chips."""
    special_ids = set(special_ids)
    chips = []
    for token_id, piece in zip(ids, pieces):
        cls = "pg-chip pg-chip-special" if token_id in special_ids else "pg-chip"
        body = f"{visible_whitespace(piece)}<sub>{token_id}</sub>"
        chips.append(f'<span class="{cls}" title="id {token_id}">{body}</span>')
    return f'<div class="pg-meta">{len(ids)} tokens</div><div class="pg-tokens">{"".join(chips)}</div>'


# ---------------------------------------------------------------------------------------------- token view


def _prob(logprob: float | None) -> float:
    if logprob is None or not math.isfinite(logprob):
        return 0.0
    return math.exp(min(0.0, logprob))


def _colour(p: float) -> str:
    """Red (unlikely) to green (certain), as an rgba background."""
    hue = int(120 * p)
    return f"hsla({hue}, 75%, 45%, 0.28)"


def eos_chart_svg(tokens: Sequence[TokenInfo], width: int = 600, height: int = 70) -> str:
    """A small line chart of P(EOS) at each step of the reply (the stop decision)."""
    values = [_prob(t.eos_logprob) for t in tokens]
    if not values:
        return ""
    n = len(values)
    step = width / max(n - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 4 - v * (height - 8):.1f}" for i, v in enumerate(values))
    peak = max(values)
    last = values[-1]
    middle = height / 2
    plot = (
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" width="100%" height="{height}" role="img" '
        f'aria-label="probability of the end-of-sequence token at each step">'
        f'<line x1="0" y1="{height - 4}" x2="{width}" y2="{height - 4}" stroke="#94a3b8" stroke-width="1"/>'
        f'<line x1="0" y1="{middle}" x2="{width}" y2="{middle}" stroke="#e2e8f0" stroke-width="1"/>'
        f'<line x1="0" y1="4" x2="{width}" y2="4" stroke="#cbd5e1" stroke-dasharray="4 4" stroke-width="1"/>'
        f'<line x1="0" y1="0" x2="0" y2="{height}" stroke="#94a3b8" stroke-width="2"/>'
        f'<polyline fill="none" stroke="#dc2626" stroke-width="2" points="{points}"/></svg>'
    )
    y_axis = '<div class="pg-eos-y"><span>100%</span><span>50%</span><span>0%</span></div>'
    x_axis = f'<div class="pg-eos-x"><span>step 1</span><span>generated token (step)</span><span>step {n}</span></div>'
    return (
        f'<div class="pg-eos-chart" data-steps="{n}" data-last="{last:.4f}">'
        f'<div class="pg-meta">P(EOS) at each step: max {peak:.1%}, at the end {last:.1%}</div>'
        f'<div class="pg-eos-plot">{y_axis}{plot}</div>{x_axis}</div>'
    )


def token_probs_html(tokens: Sequence[TokenInfo], *, note: str = "") -> str:
    """The reply token by token: coloured by probability, the probability shown, alternatives on hover or
    click (focus), special tokens as chips; then the P(EOS) chart."""
    if not tokens:
        return f'<div class="pg-meta">{esc(note or "No token probabilities yet: send a message.")}</div>'
    spans = []
    for index, token in enumerate(tokens):
        p = _prob(token.logprob)
        rows = "".join(
            f'<tr class="{"pg-picked" if alt.id == token.id else ""}"><td>{visible_whitespace(alt.text) or "∅"}</td>'
            f"<td>{_prob(alt.logprob):.1%}</td></tr>"
            for alt in token.top
        )
        eos = f"<div>P(EOS) {_prob(token.eos_logprob):.1%}</div>" if token.eos_logprob is not None else ""
        popup = f'<span class="pg-alt"><table>{rows}</table>{eos}{_steering_lines(token)}</span>'
        text = visible_whitespace(token.text) if token.text else "∅"
        cls = "pg-t pg-t-special" if token.special else "pg-t"
        if token.forced:
            cls += " pg-t-forced"
        mark = '<sup class="pg-forced" title="forced">⛓</sup>' if token.forced else ""
        spans.append(
            f'<span class="{cls}" tabindex="0" data-index="{index}" data-p="{p:.4f}" style="background:{_colour(p)}"'
            f'{_steering_data(token)}>{text}{mark}<sub class="pg-p">{p:.0%}</sub>{popup}</span>'
        )
    head = f'<div class="pg-meta">{esc(note)}</div>' if note else ""
    legend = (
        '<div class="pg-meta">Each token coloured by its probability (red: unlikely, green: certain); hover or click '
        "a token for its alternatives. Probabilities are taken after the repetition/presence/frequency penalties, "
        "before temperature and top-p/top-k/min-p.</div>"
    )
    if any(t.allowed is not None for t in tokens):
        legend += (
            '<div class="pg-meta">Steered: probabilities are over the tokens the constraint allowed at each step; '
            "⛓ marks a forced token (the only one allowed, or the thinking budget's end marker); a token's popup "
            "says how many tokens were allowed and what the model wanted when the constraint removed it.</div>"
        )
    return f'{head}{legend}<div class="pg-token-view">{"".join(spans)}</div>{eos_chart_svg(tokens)}'


def _steering_data(token: TokenInfo) -> str:
    """Attributes of a steered token (how many tokens were allowed, why it was forced)."""
    if token.allowed is None:
        return ""
    forced = f' data-forced="{esc(token.forced)}"' if token.forced else ""
    return f' data-allowed="{token.allowed}"{forced}'


def _steering_lines(token: TokenInfo) -> str:
    """The popup lines of a steered token: allowed count, forced, and the model's own top token it lost."""
    if token.allowed is None:
        return ""
    lines = [f"{token.allowed:,} token{'s' if token.allowed != 1 else ''} allowed"]
    if token.forced:
        lines.append(f"forced by the {token.forced}")
    if token.wanted is not None:
        wanted = visible_whitespace(token.wanted.text) or "∅"
        lines.append(f"the model wanted {wanted} ({_prob(token.wanted.logprob):.1%})")
    return "".join(f'<div class="pg-steer">{line}</div>' for line in lines)


TOKENS_OFF_NOTE = "Token probabilities are off (tick 'Token probabilities' to see them)."


def pending_tokens_html(logprobs: bool) -> str:
    """The token view while a reply streams (the same value in every update, so it costs nothing to send)."""
    note = "Running… the token probabilities appear when the reply ends." if logprobs else TOKENS_OFF_NOTE
    return token_probs_html((), note=note)


# ---------------------------------------------------------------------------------------------- chat


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return str(content)


def _images(content: Any) -> list[str]:
    if not isinstance(content, list):
        return []
    return [str(b.get("image") or b.get("path")) for b in content if isinstance(b, dict) and b.get("type") == "image"]


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    return json.dumps(arguments, ensure_ascii=False, indent=2)


EMPTY_REPLY = "*(empty reply)*"
SYSTEM_TITLE = "⚙ System message"


def verbatim_html(text: str) -> str:
    """A reply's exact text: escaped (no Markdown, no HTML), whitespace kept."""
    return f'<pre class="pg-verbatim">{esc(text)}</pre>'


def stale_html(shown: str) -> str:
    """The prompt panel's last good view, under an error: what was shown before the change that failed."""
    if not shown:
        return ""
    note = '<div class="pg-meta">Shown before the change above (it cannot be sent as it is):</div>'
    return f'<div class="pg-stale">{note}{shown}</div>'


def chat_view(
    conversation: Sequence[dict], *, streaming: bool = False, verbatim: bool = False
) -> tuple[list[dict], list[int]]:
    """The Chatbot's messages for a conversation, and for each shown item the conversation index it shows.

    Every role is shown: system messages after the first turn (titled, on the input side), tool calls (as a
    titled block), tool results, reasoning (a collapsible "Thinking" block, open while it streams), images (as
    files). While a reply streams (``streaming``), its message shows nothing until its first token arrives.
    ``verbatim``: replies (answer and thinking) as their exact text instead of Markdown.
    """
    shown = verbatim_html if verbatim else str
    items: list[dict] = []
    owners: list[int] = []

    def add(index: int, item: dict) -> None:
        items.append(item)
        owners.append(index)

    last = len(conversation) - 1
    for index, message in enumerate(conversation):
        role = message.get("role")
        text = _content_text(message.get("content"))
        if role == "assistant":
            reasoning = message.get("reasoning_content")
            live = streaming and index == last
            if reasoning or (live and reasoning == ""):
                status = "pending" if live and not text else "done"
                metadata = {"title": "Thinking" if reasoning or not live else "Thinking…", "status": status}
                add(index, {"role": "assistant", "content": shown(reasoning or ""), "metadata": metadata})
            if text:
                add(index, {"role": "assistant", "content": shown(text)})
            elif not (reasoning or message.get("tool_calls") or live):
                add(index, {"role": "assistant", "content": EMPTY_REPLY})
            for call in message.get("tool_calls") or []:
                function = call.get("function", call)
                call_id = f" · id {call['id']}" if call.get("id") else ""
                add(
                    index,
                    {
                        "role": "assistant",
                        "content": f"```json\n{_arguments_text(function.get('arguments', {}))}\n```",
                        "metadata": {"title": f"🔧 Tool call: {function.get('name')}{call_id}", "status": "done"},
                    },
                )
        elif role == "tool":
            name = message.get("name") or message.get("tool_call_id") or "tool"
            add(index, {"role": "user", "content": text, "metadata": {"title": f"↩ Tool result: {name}"}})
        elif role == "system":  # a system message after the first turn (the Chatbot hides the "system" role)
            add(index, {"role": "user", "content": text, "metadata": {"title": SYSTEM_TITLE}})
        else:  # user, and roles only some templates read (developer, ipython, ...): titled with their role
            for path in _images(message.get("content")):
                add(index, {"role": "user", "content": {"path": path}})
            if text or not _images(message.get("content")):
                item = {"role": "user", "content": text}
                if role != "user":
                    item["metadata"] = {"title": f"role: {role}"}
                add(index, item)
    return items, owners


# ---------------------------------------------------------------------------------------------- stats


def stats_line(event: GenerationEvent, *, show_local: bool = False) -> str:
    """One line under a reply: finish reason, stop token, tokens, speed, ttft, reuse, seed, batch, and where the
    tokens came from (a server; also ``local`` with ``show_local``)."""
    if event.finish_reason == "cancelled" and not event.generation_tokens:
        seed = f" · seed {event.seed}" if event.seed is not None else ""
        return f"**cancelled** before the first token · 0 tokens{seed}"
    stop = f" `{event.stop_token}`" if event.stop_token else ""
    reuse = f" · reused {event.reused_tokens} of {event.prompt_tokens} prompt tokens" if event.reused_tokens else ""
    batch = f" · batch of {event.batch_size}" if event.batch_size > 1 else ""
    seed = f" · seed {event.seed}" if event.seed is not None else ""
    source = f" · {event.source}" if event.source != "local" or show_local else ""
    return (
        f"**{event.finish_reason}**{stop} · {event.generation_tokens} tokens · {event.generation_tps:.1f} tok/s · "
        f"ttft {event.ttft_s:.3f} s{reuse}{batch}{seed}{source}"
    )


def reply_stats(reply: Any, *, show_local: bool = False) -> str:
    """The line under a reply that ended: its stats; a failed reply says whether a partial reply was kept."""
    if reply.error is not None:
        if reply.partial:
            return f"**error** · partial reply kept: {reply.generated_tokens} tokens (it did not finish)"
        return "**error** · nothing was generated"
    if reply.final is None:
        return "**cancelled** before it started · 0 tokens"
    return stats_line(reply.final, show_local=show_local)


def progress_line(event: GenerationEvent) -> str:
    """While a reply runs: queued (with position), processing the prompt, or generating."""
    if event.status == "queued":
        return f"_queued: position {event.queue_position} (the batch is full)_"
    if event.status == "prefill":
        return f"_processing the prompt ({event.prompt_tokens - event.reused_tokens} new tokens)…_"
    return f"_generating… {event.generation_tokens} tokens_"


CSS = """
.pg-prompt { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace; font-size: 13px;
  line-height: 1.5; padding: 10px; border-radius: 8px; background: var(--block-background-fill); margin: 0; }
.pg-label { font-weight: 600; font-size: 13px; margin: 2px 0; }
.pg-tpl { color: var(--body-text-color-subdued); }
.pg-msg { border-radius: 3px; }
.pg-system { background: rgba(147, 51, 234, 0.14); }
.pg-user { background: rgba(37, 99, 235, 0.14); }
.pg-assistant { background: rgba(22, 163, 74, 0.14); }
.pg-tool { background: rgba(217, 119, 6, 0.14); }
.pg-tok { background: #334155; color: #f8fafc; border-radius: 4px; padding: 0 3px; font-size: 12px; }
.pg-count { color: #fbbf24; margin-left: 2px; }
.pg-ws { color: #94a3b8; }
.pg-meta { font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
.pg-warn { font-size: 13px; color: #b45309; margin: 2px 0; }
.pg-error { color: #b91c1c; font-size: 13px; padding: 6px 8px; border: 1px solid #fecaca; border-radius: 6px;
  background: rgba(254, 202, 202, 0.25); }
.pg-del { background: rgba(220, 38, 38, 0.25); text-decoration: line-through; }
.pg-ins { background: rgba(22, 163, 74, 0.3); text-decoration: none; }
.pg-tokens { display: flex; flex-wrap: wrap; gap: 3px; font-family: ui-monospace, monospace; font-size: 12px; }
.pg-chip { border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 3px; white-space: pre; }
.pg-chip sub { color: #94a3b8; margin-left: 2px; }
.pg-chip-special { background: #334155; color: #f8fafc; }
.pg-token-view { font-family: ui-monospace, monospace; font-size: 13px; line-height: 2.1; white-space: pre-wrap;
  padding-bottom: 4px; }
.pg-t { position: relative; display: inline-block; line-height: 1.5; margin: 1px 0; border-radius: 3px;
  padding: 1px 1px; cursor: pointer; }
.pg-overflow-visible, .pg-overflow-visible > div { overflow: visible !important; }
.pg-t-special { background: #334155 !important; color: #f8fafc; }
.pg-t-forced { outline: 1px dashed #64748b; }
.pg-forced { font-size: 9px; color: #475569; }
.pg-steer { color: #7c3aed; }
.pg-p { font-size: 9px; color: var(--body-text-color-subdued); margin-left: 1px; }
.pg-alt { display: none; position: absolute; z-index: 20; left: 0; top: 1.6em;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 4px 6px; white-space: pre; font-size: 12px; line-height: 1.3; box-shadow: 0 4px 12px rgba(0,0,0,0.15); }
.pg-alt table { border-collapse: collapse; } .pg-alt td { padding: 1px 6px; }
.pg-alt tr.pg-picked { font-weight: 700; }
.pg-t:hover .pg-alt, .pg-t:focus .pg-alt { display: block; }
.pg-eos-chart { margin-top: 8px; }
.pg-eos-plot { display: flex; align-items: stretch; gap: 4px; }
.pg-eos-plot svg { flex: 1; min-width: 0; }
.pg-eos-y { display: flex; flex-direction: column; justify-content: space-between; font-size: 10px;
  color: var(--body-text-color-subdued); text-align: right; min-width: 32px; }
.pg-eos-x { display: flex; justify-content: space-between; font-size: 10px; color: var(--body-text-color-subdued);
  margin-left: 36px; }
.pg-chat .bubble-wrap { border-top: 34px solid transparent; box-sizing: border-box; }
.pg-img { background: #7c3aed; }
.pg-img .pg-count { color: #fde68a; font-weight: 600; }
.pg-backend { border-left: 3px solid #0ea5e9; padding: 2px 8px; margin: 4px 0; }
.pg-backend-notes { margin: 2px 0 2px 16px; padding: 0; font-size: 12px; color: #0369a1; }
.pg-verbatim { white-space: pre-wrap; word-break: break-word; font-family: inherit; margin: 0; padding: 0;
  background: none; border: none; font-size: inherit; }
.pg-stale { opacity: 0.55; }
.pg-hidden { display: none !important; }
#requests-list .cell-selected { box-shadow: none !important; outline: none !important; }
#requests-list .cell-selected::after, #requests-list .selection-button { display: none !important; }
#requests-list .body-cell { cursor: pointer; }
.pg-difference pre { margin: 2px 0 6px; }
.pg-invalid textarea, .pg-invalid input { border-color: #dc2626 !important; box-shadow: 0 0 0 1px #dc2626; }
.pg-title { font-weight: 700; font-size: 15px; white-space: nowrap; padding: 0 4px; }
#model-header { align-items: center; gap: 8px; margin-bottom: -8px; }
#model-error:not(:has(.prose:not(:empty))), #chat-error:not(:has(.prose:not(:empty))) { display: none; }
#model-summary { font-size: 13px; min-width: 0; }
#model-header > #eos-wiring { max-width: 200px; }
#model-header > #model-picker { max-width: 340px; }
#model-summary p { margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#settings-sidebar .pg-slider { padding: 6px 8px; }
#settings-sidebar .pg-slider .head { flex-wrap: nowrap; }
#settings-sidebar .pg-slider [data-testid="block-info"] { margin-bottom: 0; }
#settings-sidebar { position: sticky; top: 4px; align-self: flex-start; max-height: calc(100vh - 16px);
  overflow-y: auto; flex-wrap: nowrap; }
#settings-sidebar > * { flex-shrink: 0; }
#settings-sidebar .pg-slider-row { gap: 2px; flex-wrap: nowrap; align-items: flex-end; }
#settings-sidebar .pg-slider .wrap .head label > span:nth-child(2) { font-size: 11px; }
.pg-reset { max-width: 32px; }
.pg-settings-line { font-size: 12px; }
#rendered-prompt { max-height: calc(100vh - 170px); overflow-y: auto; }
#chat-output .message-row { scroll-margin-top: 40px; }
@media (max-width: 1000px) {
  #workspace { flex-direction: column; }
  #settings-sidebar { order: 2; position: static; max-height: none; }
  #main-pane { order: 1; }
  #rendered-prompt { max-height: none; }
}
"""
