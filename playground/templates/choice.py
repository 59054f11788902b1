"""Choose which template a conversation is rendered with, and render it.

The choice is explicit and visible: the model's own template, a family preset (because the model has
none, or because the user picked one), a custom template, or the generic fallback. Every fallback
carries a warning that says why it happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..detect import Detection, ModelMetadata, classify_template, detect_metadata
from ..errors import PlaygroundError
from ..families import Family, FamilyRegistry, registry
from ..messages import Message
from .encoder import encoder_keywords, render_encoder
from .render import RenderCall, RenderedPrompt, TemplateFacts, render, split_options, template_variables

#: Template choice names understood by :func:`choose_template` besides preset names.
MODEL_CHOICE = "model"
CUSTOM_CHOICE = "custom"


@dataclass(frozen=True)
class TemplateChoice:
    """A template plus what it needs to render: tokens, system-role support, provenance."""

    template: str
    source: str  # model | preset | custom | generic
    name: str  # "model" (own template), a preset name, or "custom"
    family: str | None
    bos_token: str
    eos_token: str
    supports_system: bool | None
    warnings: tuple[str, ...] = ()
    defaults: dict[str, Any] | None = None
    encoder: str | None = None  # mlx-lm's Python prompt encoder that replaces the template (see .encoder)

    def reads(self) -> frozenset[str]:
        """The names the template (or encoder) reads: messages, tools, enable_thinking, ..."""
        return encoder_keywords(self.encoder) if self.encoder else template_variables(self.template)

    @property
    def facts(self) -> TemplateFacts:
        return TemplateFacts(
            source=self.source,
            family=self.family,
            template_name=self.name,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            supports_system=self.supports_system,
        )

    def render(
        self, messages: list[Message], call: RenderCall, *, warnings: Iterable[str] = (), with_segments: bool = True
    ) -> RenderedPrompt:
        """Render ``messages`` with this choice (its template, or mlx-lm's encoder) as ``call`` says."""
        renderer = render_encoder if self.encoder else render
        notes = [*self.warnings, *warnings]
        return renderer(
            self.encoder or self.template, messages, call, facts=self.facts, warnings=notes, with_segments=with_segments
        )


def preset_choice(family: Family, detection: Detection | None = None, warnings: tuple[str, ...] = ()) -> TemplateChoice:
    """A family preset, with the model's own BOS/EOS strings when a model is known."""
    bos = detection.bos_token if detection and detection.bos_token is not None else family.bos_token
    eos = detection.eos_token if detection and detection.eos_token is not None else family.eos_token
    return TemplateChoice(
        template=family.template,
        source="generic" if family.name == "generic" else "preset",
        name=family.name,
        family=family.name,
        bos_token=bos or "",
        eos_token=eos or "",
        supports_system=family.system_role,
        warnings=warnings,
        defaults=dict(family.defaults),
        encoder=family.encoder,
    )


def custom_choice(
    template: str, detection: Detection | None = None, families: FamilyRegistry | None = None
) -> TemplateChoice:
    """A user-supplied template; its format is classified for information only."""
    families = families or registry()
    known = classify_template(template, families)
    return TemplateChoice(
        template=template,
        source="custom",
        name=CUSTOM_CHOICE,
        family=known.name if known else (detection.family if detection else None),
        bos_token=(detection.bos_token if detection else "") or "",
        eos_token=(detection.eos_token if detection else "") or "",
        supports_system=None,
        defaults=dict(known.defaults) if known else None,
    )


def choose_template(
    meta: ModelMetadata | None = None,
    detection: Detection | None = None,
    *,
    preset: str | None = None,
    template: str | None = None,
    families: FamilyRegistry | None = None,
) -> TemplateChoice:
    """Pick the template for a model (or none): custom > explicit preset > model's own > detected preset."""
    families = families or registry()
    if meta is not None and detection is None:
        detection = detect_metadata(meta, families)
    if template is not None:
        return custom_choice(template, detection, families)
    if preset is not None and preset != MODEL_CHOICE:
        family = families.get(preset)
        notes: tuple[str, ...] = ()
        if detection is not None and detection.template_source == "model":
            notes = (f"using the {family.name} preset instead of the model's own template (you chose it)",)
        elif detection is not None and detection.preset != family.name:
            notes = (f"using the {family.name} preset; detection suggested {detection.preset}",)
        return preset_choice(family, detection, notes)
    if detection is None:
        raise PlaygroundError(
            "no model and no preset given", hint="pass --preset NAME, --model PATH or --template FILE"
        )
    family = families.get(detection.family)
    if detection.template_source == "model" and meta is not None and meta.own_template is not None:
        known = classify_template(meta.own_template, families)
        return TemplateChoice(
            template=meta.own_template,
            source="model",
            name=MODEL_CHOICE,
            family=detection.family,
            bos_token=detection.bos_token or "",
            eos_token=detection.eos_token or "",
            supports_system=known.system_role if known else None,
            defaults=dict(family.defaults),
        )
    if preset == MODEL_CHOICE:
        raise PlaygroundError(
            f"{detection.model_name} has no chat template of its own",
            hint=f"choose a preset; detection suggests {detection.preset}",
        )
    return preset_choice(family, detection, tuple(w for w in detection.warnings if "no chat template" in w))


def render_family(family: Any, messages: list[Message], **options: Any) -> RenderedPrompt:
    """Render a family's preset with its own BOS/EOS; ``options`` are ``apply_chat_template``-style keywords (the
    fields of :class:`RenderCall` and :class:`TemplateFacts`, overriding the family's, and ``with_segments``)."""
    defaults = {
        "bos_token": family.bos_token,
        "eos_token": family.eos_token,
        "source": "generic" if family.name == "generic" else "preset",
        "supports_system": family.system_role,
        "template_name": family.name,
        "family": family.name,
    }
    call, facts, rest = split_options({**defaults, **options})
    if family.encoder:  # mlx-lm's Python encoder instead of a template
        return render_encoder(family.encoder, messages, call, facts=facts, **rest)
    return render(family.template, messages, call, facts=facts, **rest)
