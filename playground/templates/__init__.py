"""Chat templates: render like transformers in a sandbox, choose which template a request uses, lint a template.

- :mod:`.sandbox`: the immutable Jinja sandbox with transformers' globals, time and output limits;
- :mod:`.render`: :func:`render` a conversation into a :class:`RenderedPrompt` whose segments say where each
  character came from (the template or which message);
- :mod:`.choice`: :func:`choose_template`: the model's own template, a family preset, a custom one, or the
  generic fallback, always with the reason;
- :mod:`.lint`: :func:`lint_template` for the Template lab.
"""

from .choice import CUSTOM_CHOICE, MODEL_CHOICE, TemplateChoice, choose_template, render_family
from .lint import LintReport, lint_template
from .render import (
    DEFAULT_SYSTEM_STRATEGY,
    MAX_TEMPLATE_CHARS,
    SYSTEM_STRATEGIES,
    RenderCall,
    RenderedPrompt,
    Segment,
    TemplateFacts,
    check_template_kwargs,
    compile_template,
    render,
    template_variables,
)

__all__ = [
    "CUSTOM_CHOICE",
    "DEFAULT_SYSTEM_STRATEGY",
    "MAX_TEMPLATE_CHARS",
    "MODEL_CHOICE",
    "SYSTEM_STRATEGIES",
    "LintReport",
    "RenderCall",
    "RenderedPrompt",
    "Segment",
    "TemplateChoice",
    "TemplateFacts",
    "check_template_kwargs",
    "choose_template",
    "compile_template",
    "lint_template",
    "render",
    "render_family",
    "template_variables",
]
