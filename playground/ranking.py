"""Rank the evidence a model folder gives about its family, and say which rule decided.

Two kinds of evidence, in two steps:

1. **Identity** names the family: the folder or repo name (a preset's name rule; the earliest and longest
   match in the name wins, so ``Hermes-3-Llama-3.1`` is a Hermes before it is a Llama), then the exact
   ``model_type`` / ``architectures`` of ``config.json``. The name outranks ``model_type`` because
   fine-tunes and distills keep their base model's architecture (DeepSeek-R1-Distill-Qwen says ``qwen2``).
2. **Format** evidence (the markers of the model's own chat template, else the special tokens of its
   vocabulary) confirms that family or picks among its variants (presets of the same ``family``). It
   overrules the identity only when no preset of the named family fits it at all (a Mistral fine-tune whose
   vocabulary holds ChatML's turn tokens and none of Mistral's; a DeepSeek-V3 architecture with Kimi's
   tokens); among the presets it then points to, those whose special tokens the vocabulary confirms come
   first (a ChatML template with ``<tool_call>`` in a vocabulary without ``<think>`` is ChatML, not Qwen3).

A variant named by the name wins when the template or the vocabulary confirms it, when ``model_type`` names it
too, or when nothing confirms any variant; otherwise the confirmed variants are ranked (template markers, then
``model_type``, then the most specific tokens, then the preset's priority). Without identity or format
evidence a size hint in the name ("7b") guesses Llama 2; else the generic format. Every step is a
:class:`Decision` that names its rule and what it overruled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .families import Family, FamilyRegistry

#: The rules a decision can name.
RULE_NAME = "name"
RULE_MODEL_TYPE = "model_type"
RULE_TEMPLATE = "template markers"
RULE_TOKENS = "special tokens"
RULE_SIZE_HINT = "size hint"
RULE_FALLBACK = "fallback"

_SIZE_HINT_RE = re.compile(r"(?<![\d.])(7|13|70)b\b")
_ARCH_SUFFIX_RE = re.compile(r"(ForCausalLM|ForConditionalGeneration|LMHeadModel|Model)$")


@dataclass(frozen=True)
class Decision:
    """One step of detection: what it chose, by which rule, on what evidence, and what it overruled."""

    step: str  # "family" or "preset"
    rule: str
    chose: str
    evidence: str
    overruled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rule": self.rule,
            "chose": self.chose,
            "evidence": self.evidence,
            "overruled": list(self.overruled),
        }


@dataclass(frozen=True)
class Verdict:
    """The ranked outcome: the preset, the rule that fired for it, and the steps that led there."""

    family: Family
    rule: str
    decisions: tuple[Decision, ...]

    @property
    def overruled(self) -> tuple[str, ...]:
        return tuple(item for d in self.decisions for item in d.overruled)

    def sentence(self) -> str:
        """The decisions as one readable sentence (the Detection's ``reason``); a step whose evidence the
        next step repeats is said once."""
        parts = []
        for index, decision in enumerate(self.decisions):
            later = self.decisions[index + 1 :]
            repeated = any(decision.evidence in d.evidence or decision.rule == d.rule for d in later)
            said = any(decision.evidence == d.evidence for d in self.decisions[:index])
            if said or (not decision.overruled and repeated):
                continue
            text = decision.evidence
            if decision.overruled:
                text += "; this overrules " + " and ".join(decision.overruled)
            parts.append(text)
        return "; ".join(parts)


@dataclass(frozen=True)
class Evidence:
    """What the metadata says, per kind, each list ranked best first."""

    name: str
    types: tuple[str, ...]
    named: tuple[Family, ...]
    typed: tuple[Family, ...]
    marked: tuple[Family, ...]  # presets whose template markers all appear in the model's own template
    tokened: tuple[Family, ...]  # presets whose special tokens are all in the vocabulary
    vocabulary_known: bool

    def is_marked(self, family: Family) -> bool:
        return any(f.name == family.name for f in self.marked)

    def is_typed(self, family: Family) -> bool:
        return any(f.name == family.name for f in self.typed)

    def is_tokened(self, family: Family) -> bool:
        return any(f.name == family.name for f in self.tokened)

    def confirmed(self, family: Family) -> bool:
        return self.is_marked(family) or self.is_tokened(family)

    def token_consistent(self, family: Family) -> bool:
        """False only when the vocabulary is known and lacks a special token the preset declares."""
        return not self.vocabulary_known or not family.match.special_tokens or self.is_tokened(family)


def model_types(config: dict) -> tuple[str, ...]:
    """``model_type`` and the architectures of a config, lower-cased, suffixes (``ForCausalLM``) removed."""
    found = []
    value = config.get("model_type")
    if isinstance(value, str):
        found.append(value.lower())
    archs = config.get("architectures")
    for arch in archs if isinstance(archs, list) else []:
        if isinstance(arch, str):
            found.append(_ARCH_SUFFIX_RE.sub("", arch).lower())
    return tuple(dict.fromkeys(t for t in found if t))


def name_spans(family: Family, name: str) -> list[tuple[int, int]]:
    """Every (start, end) where one of a preset's name rules matches ``name``."""
    spans = []
    for pattern in family.match.name_patterns:
        spans += [(m.start(), max(m.end(), m.start() + 1)) for m in re.finditer(pattern, name, flags=re.IGNORECASE)]
    return spans


def name_match(family: Family, name: str) -> tuple[int, int] | None:
    """Where a preset's name rule matches: (start, length) of the earliest, longest match; None if none does."""
    spans = name_spans(family, name)
    start, end = min(spans, key=lambda s: (s[0], -s[1])) if spans else (0, 0)
    return (start, end - start) if spans else None


def _named(name: str, families: FamilyRegistry) -> tuple[Family, ...]:
    """Presets whose name rule matches, in the repo's own name first (not its owner). A preset whose match lies
    inside a longer match of another is out (``c4ai-command-r7b`` is Command R7B, not Command R; ``Qwen3-Coder``
    is not Qwen3); of the rest the earliest match wins (``Hermes-3-Llama-3.1`` is a Hermes), then the longest."""
    for text in dict.fromkeys([name.rsplit("/", 1)[-1], name]):
        spans = {f.name: name_spans(f, text) for f in families}
        hits = []
        for family in families:
            mine = spans[family.name]
            inside = any(
                a <= s and e <= b and (b - a) > (e - s)
                for other, theirs in spans.items()
                if other != family.name
                for a, b in theirs
                for s, e in mine
            )
            if mine and not inside:
                hits.append((min(mine, key=lambda sp: (sp[0], -sp[1])), family))
        if hits:
            hits.sort(key=lambda hit: (hit[0][0], hit[0][0] - hit[0][1], hit[1].priority))
            return tuple(f for _, f in hits)
    return ()


def gather(
    name: str,
    config: dict,
    own_template: str | None,
    token_ids: dict[str, int] | None,
    families: FamilyRegistry,
) -> Evidence:
    """Collect every kind of evidence the metadata gives."""
    types = model_types(config)
    typed = [f for t in types for f in families if t in f.match.model_types]
    marked = []
    if own_template is not None:
        marked = [
            f for f in families if f.match.template_markers and all(m in own_template for m in f.match.template_markers)
        ]
        marked.sort(key=lambda f: (-len(f.match.template_markers), f.priority))
    tokened = []
    if token_ids is not None:
        tokened = [
            f for f in families if f.match.special_tokens and all(t in token_ids for t in f.match.special_tokens)
        ]
        tokened.sort(key=lambda f: (-len(f.match.special_tokens), f.priority))
    return Evidence(
        name=name,
        types=types,
        named=_named(name, families),
        typed=tuple({f.name: f for f in typed}.values()),
        marked=tuple(marked),
        tokened=tuple(tokened),
        vocabulary_known=token_ids is not None,
    )


# ---------------------------------------------------------------------------------------------- steps


def _label(group: str, families: FamilyRegistry) -> str:
    titles = [f.title for f in families if f.family == group]
    return titles[0] if len(titles) == 1 else f"{group} presets"


def _format(ev: Evidence) -> tuple[str, tuple[Family, ...]] | None:
    """The format evidence that counts: the template's markers if it has known ones, else the vocabulary's tokens."""
    if ev.marked:
        return RULE_TEMPLATE, ev.marked
    if ev.tokened:
        return RULE_TOKENS, ev.tokened
    return None


def _shows(rule: str, family: Family) -> str:
    if rule == RULE_TEMPLATE:
        return f"template markers {', '.join(family.match.template_markers)}"
    return f"special tokens {', '.join(family.match.special_tokens)}"


def _identity_text(ev: Evidence, group: str, families: FamilyRegistry, *, by_name: bool) -> str:
    if by_name:
        return f"the name '{ev.name}' matches the {ev.named[0].title} rule"
    typed = next(f for f in ev.typed if f.family == group)
    kind = next(t for t in ev.types if t in typed.match.model_types)
    return f"model_type '{kind}' in config.json means the {_label(group, families)}"


def _identity_claims(ev: Evidence, families: FamilyRegistry) -> list[str]:
    claims = []
    if ev.named:
        claims.append(f"the name '{ev.name}' ({ev.named[0].title})")
    for group in dict.fromkeys(f.family for f in ev.typed):
        kind = next(t for t in ev.types if any(t in f.match.model_types for f in ev.typed if f.family == group))
        claims.append(f"model_type '{kind}' ({_label(group, families)})")
    return claims


def choose_family(ev: Evidence, families: FamilyRegistry) -> tuple[list[str], Decision | None]:
    """The family (or, for a model_type shared by several, the families) the preset is picked from."""
    fmt = _format(ev)
    fmt_groups = _fitting_groups(fmt, families) if fmt else set()
    name_group = ev.named[0].family if ev.named else None
    type_groups = list(dict.fromkeys(f.family for f in ev.typed))
    if name_group and (not fmt or name_group in fmt_groups):
        overruled = []
        others = [g for g in type_groups if g != name_group]
        if others and name_group not in type_groups:
            overruled.append(
                f"model_type '{ev.types[0]}' ({_label(others[0], families)}): fine-tunes keep their base architecture"
            )
        text = _identity_text(ev, name_group, families, by_name=True)
        return [name_group], Decision("family", RULE_NAME, name_group, text, tuple(overruled))
    confirmed_types = [g for g in type_groups if not fmt or g in fmt_groups]
    if confirmed_types:
        overruled = ()
        if name_group:
            overruled = (f"the name '{ev.name}' ({ev.named[0].title}): no preset of that family fits {_where(fmt[0])}",)
        text = _identity_text(ev, confirmed_types[0], families, by_name=False)
        return confirmed_types, Decision("family", RULE_MODEL_TYPE, confirmed_types[0], text, overruled)
    if fmt:
        best = _overruling_pick(ev, fmt)
        claims = _identity_claims(ev, families)
        overruled = tuple(f"{c}: no preset of that family fits {_where(fmt[0])}" for c in claims)
        return [best.family], Decision("family", fmt[0], best.family, _format_text(fmt[0], best), overruled)
    return [], None


def _fitting_groups(fmt: tuple[str, tuple[Family, ...]], families: FamilyRegistry) -> set[str]:
    """The families the format evidence fits: those of the presets it points to, and those with a variant that
    extends one of them (every Qwen preset's markers include ChatML's, so a ChatML-only template fits Qwen). Of a
    template's matches only the most specific count (Nemotron 3's template also has ChatML's marker: it does
    not fit Qwen); a vocabulary's tokens all count (a <tool_call> token says little)."""
    rule, pool = fmt

    def signs(family: Family) -> set[str]:
        return set(family.match.template_markers if rule == RULE_TEMPLATE else family.match.special_tokens)

    top = pool
    if rule == RULE_TEMPLATE:  # the template's most specific formats: markers that are no other match's subset
        top = [f for f in pool if not any(signs(f) < signs(g) for g in pool)]
    groups = {f.family for f in top}
    groups.update(v.family for v in families for f in top if signs(f) <= signs(v))
    return groups


def _overruling_pick(ev: Evidence, fmt: tuple[str, tuple[Family, ...]]) -> Family:
    """Among the presets format evidence alone points to: those the vocabulary confirms first, then the most
    specific, then priority."""
    rule, pool = fmt
    if rule == RULE_TEMPLATE:
        return min(pool, key=lambda f: (not ev.token_consistent(f), -len(f.match.template_markers), f.priority))
    return min(pool, key=lambda f: (-len(f.match.special_tokens), f.priority))


def _where(rule: str) -> str:
    return "its own chat template" if rule == RULE_TEMPLATE else "the vocabulary"


def _format_text(rule: str, family: Family) -> str:
    if rule == RULE_TEMPLATE:
        shown = f"template markers {', '.join(family.match.template_markers)} are in its own chat template"
    else:
        shown = f"special tokens {', '.join(family.match.special_tokens)} are in the vocabulary"
    return f"{shown}, so the model uses the {family.title} format"


def choose_preset(ev: Evidence, groups: list[str], families: FamilyRegistry) -> Decision:
    """The preset among the variants of the chosen family (or families)."""
    variants = [f for f in families if f.family in groups]
    named = ev.named[0] if ev.named and ev.named[0].family in groups else None
    pool = [v for v in variants if ev.confirmed(v)]
    if named is not None and (ev.confirmed(named) or ev.is_typed(named) or not pool):
        text = f"the name '{ev.name}' matches the {named.title} rule"
        if ev.confirmed(named):
            rule = RULE_TEMPLATE if ev.is_marked(named) else RULE_TOKENS
            text += f"; {_shows(rule, named)} confirm it"
        elif ev.is_typed(named):
            text += f", and so does model_type '{next(t for t in ev.types if t in named.match.model_types)}'"
        return Decision("preset", RULE_NAME, named.name, text)
    typed = [f for f in ev.typed if f.family in groups]
    if named is None and len(typed) == 1 and ev.confirmed(typed[0]) and _extends_marked(ev, typed[0], variants):
        rule = RULE_TEMPLATE if ev.is_marked(typed[0]) else RULE_TOKENS
        kind = next(t for t in ev.types if t in typed[0].match.model_types)
        text = f"model_type '{kind}' in config.json means {typed[0].title}; {_shows(rule, typed[0])} confirm it"
        return Decision("preset", RULE_MODEL_TYPE, typed[0].name, text)
    if pool:
        overruled = ()
        if named is not None:
            overruled = (f"the name rule of {named.title}, which neither the template nor the vocabulary confirms",)
        marked = [v for v in pool if ev.is_marked(v)]
        if marked:
            best = min(
                marked,
                key=lambda f: (
                    -len(f.match.template_markers),
                    not ev.token_consistent(f),
                    not ev.is_typed(f),
                    -len(f.match.special_tokens),
                    f.priority,
                ),
            )
            return Decision("preset", RULE_TEMPLATE, best.name, _format_text(RULE_TEMPLATE, best), overruled)
        best = min(pool, key=lambda f: (not ev.is_typed(f), -len(f.match.special_tokens), f.priority))
        return Decision("preset", RULE_TOKENS, best.name, _format_text(RULE_TOKENS, best), overruled)
    best = min(typed, key=lambda f: f.priority)
    kind = next(t for t in ev.types if t in best.match.model_types)
    return Decision(
        "preset", RULE_MODEL_TYPE, best.name, f"model_type '{kind}' in config.json means the {best.title} format"
    )


def _extends_marked(ev: Evidence, family: Family, variants: list[Family]) -> bool:
    """Whether the template's markers fit ``family``: each sibling they match is one it extends (an abridged
    SmolLM3 template matches SmolLM2's markers, which SmolLM3's include; LFM2.5's markers are not LFM2's)."""
    markers = set(family.match.template_markers)
    return all(set(v.match.template_markers) <= markers for v in variants if ev.is_marked(v))


def rank(ev: Evidence, families: FamilyRegistry) -> Verdict:
    """Decide the preset from the evidence, recording every step."""
    groups, family_step = choose_family(ev, families)
    if family_step is None:
        size = _SIZE_HINT_RE.search(ev.name.lower())
        if size and "llama2" in families:
            text = (
                f"no family rule matched; '{size.group(0)}' in the name suggests a Llama-2-style model, so the Llama 2 "
                "format is a guess: pick a preset if replies look wrong"
            )
            return Verdict(
                families.get("llama2"), RULE_SIZE_HINT, (Decision("preset", RULE_SIZE_HINT, "llama2", text),)
            )
        text = "no family rule matched: using the generic role-prefixed format"
        return Verdict(families.get("generic"), RULE_FALLBACK, (Decision("preset", RULE_FALLBACK, "generic", text),))
    preset_step = choose_preset(ev, groups, families)
    return Verdict(families.get(preset_step.chose), preset_step.rule, (family_step, preset_step))
