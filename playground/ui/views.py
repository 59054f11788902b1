"""HTML and Markdown views of engine results (pure functions; no Gradio imports)."""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable

from ..generate import GenerationEvent
from ..templates import RenderedPrompt

_PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#db2777", "#0891b2"]
_ROLE_CLASS = {"system": "pg-system", "user": "pg-user", "assistant": "pg-assistant", "tool": "pg-tool"}
# Marker-like tokens shown as chips even when the tokenizer is not known.
_TOKEN_RE = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|<｜[^<>\s]{1,40}｜>|\[/?(?:INST|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]|"
    r"<</?SYS>>|</?s>|<(?:bos|eos|start_of_turn|end_of_turn)>|<\|?[A-Z_]+_TOKEN\|?>"
)


def _visible(text: str) -> str:
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


def _with_chips(text: str, special: Iterable[str]) -> str:
    tokens = sorted({t for t in special if t}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in tokens)) if tokens else _TOKEN_RE
    out, pos = [], 0
    for match in pattern.finditer(text):
        out.append(_visible(text[pos : match.start()]))
        out.append(f'<span class="pg-tok">{html.escape(match.group(0))}</span>')
        pos = match.end()
    out.append(_visible(text[pos:]))
    return "".join(out)


def prompt_html(rendered: RenderedPrompt, special_tokens: Iterable[str] = (), token_count: int | None = None) -> str:
    """The exact prompt, coloured by source (template text vs each message), special tokens as chips."""
    special = list(special_tokens)
    parts = []
    for seg in rendered.segments or ():
        chunk = rendered.text[seg.start : seg.end]
        if seg.kind == "template":
            parts.append(f'<span class="pg-tpl">{_with_chips(chunk, special)}</span>')
        else:
            role_class = _ROLE_CLASS.get(seg.role or "", "pg-user")
            title = html.escape(f"message {seg.message + 1} ({seg.role})", quote=True)
            parts.append(f'<span class="pg-msg {role_class}" title="{title}">{_with_chips(chunk, special)}</span>')
    if not rendered.segments:
        parts.append(_with_chips(rendered.text, special))
    count = f"{token_count} tokens · " if token_count is not None else ""
    meta = (
        f'<div class="pg-meta">{count}{len(rendered.text)} characters · template: '
        f"{html.escape(rendered.template_name or rendered.source)} ({html.escape(rendered.source)})</div>"
    )
    warnings = "".join(f'<div class="pg-warn">⚠ {html.escape(w)}</div>' for w in rendered.warnings)
    return f'{meta}{warnings}<pre class="pg-prompt">{"".join(parts)}</pre>'


def error_html(message: str, hint: str | None = None) -> str:
    hint_html = f"<div>{html.escape(hint)}</div>" if hint else ""
    return f'<div class="pg-error"><b>{html.escape(message)}</b>{hint_html}</div>'


def diff_html(a: str, b: str, label_a: str = "A", label_b: str = "B", special: Iterable[str] = ()) -> str:
    """Character diff of two prompts; deletions and insertions highlighted, whitespace visible."""
    special = list(special)
    if a == b:
        return f'<div class="pg-meta">{html.escape(label_a)} and {html.escape(label_b)}: identical prompts</div>'
    out = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(_with_chips(a[i1:i2], special))
            continue
        if i2 > i1:
            out.append(f'<del class="pg-del">{_with_chips(a[i1:i2], special)}</del>')
        if j2 > j1:
            out.append(f'<ins class="pg-ins">{_with_chips(b[j1:j2], special)}</ins>')
    legend = (
        f'<div class="pg-meta"><del class="pg-del">only in {html.escape(label_a)}</del> '
        f'<ins class="pg-ins">only in {html.escape(label_b)}</ins></div>'
    )
    return legend + f'<pre class="pg-prompt">{"".join(out)}</pre>'


def tokens_html(ids: list[int], pieces: list[str], special_ids: Iterable[int] = ()) -> str:
    """Token ids and pieces; special tokens as highlighted chips."""
    special_ids = set(special_ids)
    chips = []
    for token_id, piece in zip(ids, pieces):
        cls = "pg-chip pg-chip-special" if token_id in special_ids else "pg-chip"
        chips.append(f'<span class="{cls}" title="id {token_id}">{_visible(piece)}<sub>{token_id}</sub></span>')
    return f'<div class="pg-meta">{len(ids)} tokens</div><div class="pg-tokens">{"".join(chips)}</div>'


def stats_line(event: GenerationEvent) -> str:
    """One line under a reply: ttft, speed, tokens, finish reason and stop token."""
    stop = f" `{event.stop_token}`" if event.stop_token else ""
    reuse = f" · reused {event.reused_tokens} of {event.prompt_tokens} prompt tokens" if event.reused_tokens else ""
    return (
        f"{event.finish_reason}{stop} · {event.generation_tokens} tokens · {event.generation_tps:.1f} tok/s · "
        f"ttft {event.ttft_s:.3f} s{reuse}"
    )


CSS = """
.pg-prompt { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace; font-size: 13px;
  line-height: 1.5; padding: 10px; border-radius: 8px; background: var(--block-background-fill); margin: 0; }
.pg-tpl { color: var(--body-text-color-subdued); }
.pg-msg { border-radius: 3px; }
.pg-system { background: rgba(147, 51, 234, 0.14); }
.pg-user { background: rgba(37, 99, 235, 0.14); }
.pg-assistant { background: rgba(22, 163, 74, 0.14); }
.pg-tool { background: rgba(217, 119, 6, 0.14); }
.pg-tok { background: #334155; color: #f8fafc; border-radius: 4px; padding: 0 3px; font-size: 12px; }
.pg-ws { color: #94a3b8; }
.pg-meta { font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
.pg-warn { font-size: 13px; color: #b45309; margin: 2px 0; }
.pg-error { color: #b91c1c; font-size: 13px; padding: 6px; border: 1px solid #fecaca; border-radius: 6px; }
.pg-del { background: rgba(220, 38, 38, 0.25); text-decoration: line-through; }
.pg-ins { background: rgba(22, 163, 74, 0.3); text-decoration: none; }
.pg-tokens { display: flex; flex-wrap: wrap; gap: 3px; font-family: ui-monospace, monospace; font-size: 12px; }
.pg-chip { border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 3px; white-space: pre; }
.pg-chip sub { color: #94a3b8; margin-left: 2px; }
.pg-chip-special { background: #334155; color: #f8fafc; }
"""
