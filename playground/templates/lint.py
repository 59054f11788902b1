"""Static and sample-based checks of a chat template, for the template lab."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from jinja2 import meta, nodes

from ..errors import TemplateError
from .render import RenderCall, TemplateFacts, compile_template, render
from .sandbox import make_environment

_SENTINEL = "LINT_REPLY_7f3a"
_KNOWN = {
    "messages",
    "add_generation_prompt",
    "bos_token",
    "eos_token",
    "tools",
    "documents",
    "raise_exception",
    "strftime_now",
    "namespace",
    "dict",
    "range",
    "loop",
    "cycler",
    "joiner",
    "lipsum",
    "true",
    "false",
    "none",
}


@dataclass(frozen=True)
class LintReport:
    """What a template uses and guards, and whether its assistant turns end with a known EOS token."""

    variables: tuple[str, ...]
    extra_variables: tuple[str, ...]
    guards: tuple[str, ...]
    handles_generation_prompt: bool
    no_system_role: bool
    strict_alternation: bool
    assistant_end: str | None
    findings: tuple[str, ...]

    def to_markdown(self) -> str:
        lines = ["**Variables used:** " + (", ".join(f"`{v}`" for v in self.variables) or "none")]
        if self.extra_variables:
            lines.append(
                "**Extra variables** (pass them as keyword arguments): "
                + ", ".join(f"`{v}`" for v in self.extra_variables)
            )
        lines.append("**raise_exception guards:** " + ("; ".join(f"`{g}`" for g in self.guards) or "none"))
        lines.append(f"**Handles add_generation_prompt:** {'yes' if self.handles_generation_prompt else 'no'}")
        lines.append(
            f"**System role:** {'rejected' if self.no_system_role else 'accepted'}"
            + ("; **strict user/assistant alternation**" if self.strict_alternation else "")
        )
        if self.assistant_end:
            lines.append(f"**Assistant turns end with:** `{self.assistant_end}` (an EOS token the model stops on)")
        head = len(lines)
        lines.extend(f"- {f}" for f in self.findings)
        return "\n\n".join(lines[:head]) + ("\n\n" + "\n".join(lines[head:]) if lines[head:] else "")


def _guards(ast: nodes.Template) -> list[str]:
    found = []
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "raise_exception" and call.args:
            arg = call.args[0]
            found.append(arg.value if isinstance(arg, nodes.Const) else "(computed message)")
    return list(dict.fromkeys(found))


def lint_template(
    source: str, eos_tokens: tuple[str, ...] = (), bos_token: str = "", eos_token: str = ""
) -> LintReport:
    """Analyse ``source``. Raises TemplateSyntaxError for templates that do not compile."""
    compile_template(source)  # syntax errors with line numbers
    try:
        ast = make_environment().parse(source)
    except jinja2.TemplateSyntaxError as exc:  # pragma: no cover - compile_template already raised
        raise TemplateError(str(exc)) from None
    variables = sorted(meta.find_undeclared_variables(ast))
    guards = _guards(ast)
    findings = []
    handles_gp = "add_generation_prompt" in variables
    if not handles_gp:
        findings.append("never reads add_generation_prompt: the assistant turn is not opened for the reply")
    no_system = any("system" in g.lower() for g in guards)
    alternation = any("alternat" in g.lower() for g in guards)
    end = None
    sample = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        facts = TemplateFacts(bos_token=bos_token, eos_token=eos_token, supports_system=True)
        text = render(source, sample, RenderCall(add_generation_prompt=False), facts=facts, with_segments=False).text
        at = text.find(_SENTINEL)
        if at < 0:
            findings.append("the sample assistant reply does not appear in the output")
        else:
            after = text[at + len(_SENTINEL) :]
            end = next((t for t in sorted(eos_tokens, key=len, reverse=True) if after.lstrip(" ").startswith(t)), None)
            if eos_tokens and end is None:
                shown = after[:24] or "(nothing)"
                known = ", ".join(f"`{t}`" for t in eos_tokens)
                findings.append(
                    f"assistant turns end with `{shown!r}`, not with an EOS token the model knows ({known}): "
                    "replies may not stop"
                )
    except TemplateError as exc:
        findings.append(f"rendering a user/assistant sample failed: {exc.message}")
    extra = [v for v in variables if v not in _KNOWN]
    return LintReport(
        variables=tuple(variables),
        extra_variables=tuple(extra),
        guards=tuple(guards),
        handles_generation_prompt=handles_gp,
        no_system_role=no_system,
        strict_alternation=alternation,
        assistant_end=end,
        findings=tuple(findings),
    )
