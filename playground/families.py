"""Model families, loaded and validated from the preset files in ``presets/``.

A family is one ``NAME.toml`` file plus the Jinja template it names. Adding a family means adding
those two files (and its test cases); no code changes. Unknown keys are rejected with a message that
names the file, so a typo never silently drops a setting.
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PresetError
from .settings import DEFAULTABLE_FIELDS, check_value

#: The package whose modules a preset's ``encoder`` names (Python prompt builders, e.g. DeepSeek V3.2's).
ENCODER_PACKAGE = "mlx_lm.chat_templates"
#: Environment variable with extra preset folders (``os.pathsep``-separated), searched after ours.
PRESETS_ENV = "MLX_PLAYGROUND_PRESETS"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def builtin_presets_dir() -> Path:
    """The folder of the presets shipped with the package (wheel) or the source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_presets"
    return packaged if packaged.is_dir() else here.parent / "presets"


@dataclass(frozen=True)
class MatchRules:
    """Evidence that points to a family; see :mod:`playground.detect` for the order used."""

    template_markers: tuple[str, ...] = ()
    special_tokens: tuple[str, ...] = ()
    model_types: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()


#: Kinds of template keywords a preset may declare (``[kwargs.NAME] type = ...``).
KWARG_TYPES = ("bool", "choice", "string", "int", "json")
#: UI controls a declared keyword can drive: the "Enable thinking" toggle and the reasoning-effort choice.
KWARG_CONTROLS = ("thinking", "effort")
#: How a template wants assistant tool-call arguments: a dict, a JSON string, or either.
TOOL_ARGUMENT_STYLES = ("dict", "string", "any")
_KWARG_KEYS = {"type", "default", "choices", "description", "control"}
_SOURCE_KEYS = {"repo", "path", "revision", "note"}


@dataclass(frozen=True)
class TemplateKwarg:
    """A keyword the preset's template reads (``enable_thinking``, ``reasoning_effort``, ...).

    ``default`` is how the template behaves when the keyword is not passed, so passing the default
    renders the same prompt as passing nothing (the preset tests check this).
    """

    name: str
    type: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    description: str = ""
    control: str | None = None

    def check(self, value: Any) -> Any:
        """Validate a value for this keyword; PresetError-free: raises ValueError with a message."""
        if self.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"{self.name} must be true or false, got {value!r}")
        if self.type == "choice" and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.type == "string" and not isinstance(value, str):
            raise ValueError(f"{self.name} must be text, got {value!r}")
        if self.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"{self.name} must be a whole number, got {value!r}")
        return value

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.description:
            out["description"] = self.description
        if self.control:
            out["control"] = self.control
        return out


@dataclass(frozen=True)
class Family:
    """One model family: its preset template, special tokens, defaults and detection rules."""

    name: str
    family: str
    title: str
    description: str
    reference: str
    template: str
    bos_token: str
    eos_token: str
    eos_tokens: tuple[str, ...]
    system_role: bool
    defaults: Mapping[str, Any] = field(default_factory=dict)
    match: MatchRules = field(default_factory=MatchRules)
    priority: int = 50
    path: Path | None = None
    source: Mapping[str, str] = field(default_factory=dict)
    kwargs: tuple[TemplateKwarg, ...] = ()
    reasoning: str = "none"
    tool_calls: str = "none"
    tool_arguments: str = "any"
    encoder: str | None = None  # a module of mlx_lm.chat_templates that builds the prompt instead of a template

    def kwarg(self, name: str) -> TemplateKwarg | None:
        """The declared keyword called ``name`` (None if the preset does not declare it)."""
        return next((k for k in self.kwargs if k.name == name), None)

    def control(self, control: str) -> TemplateKwarg | None:
        """The declared keyword that a UI control (``thinking``, ``effort``) drives, if any."""
        return next((k for k in self.kwargs if k.control == control), None)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (for ``presets --json`` and the UI)."""
        return {
            "name": self.name,
            "family": self.family,
            "title": self.title,
            "description": self.description,
            "reference": self.reference,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "eos_tokens": list(self.eos_tokens),
            "system_role": self.system_role,
            "defaults": dict(self.defaults),
            "source": dict(self.source),
            "template_kwargs": [k.summary() for k in self.kwargs],
            "reasoning": self.reasoning,
            "tool_calls": self.tool_calls,
            "tool_arguments": self.tool_arguments,
            "encoder": f"{ENCODER_PACKAGE}.{self.encoder}" if self.encoder else None,
        }


_TOP_KEYS = {
    "name": str,
    "family": str,
    "title": str,
    "description": str,
    "reference": str,
    "template": str,
    "encoder": str,
    "bos_token": str,
    "eos_token": str,
    "eos_tokens": list,
    "system_role": bool,
    "priority": int,
    "defaults": dict,
    "match": dict,
    "source": dict,
    "kwargs": dict,
    "reasoning": str,
    "tool_calls": str,
    "tool_arguments": str,
}
_REQUIRED = ("name", "title", "eos_tokens", "system_role")
_MATCH_KEYS = {f for f in MatchRules.__dataclass_fields__}


def _fail(path: Path, what: str, hint: str | None = None) -> PresetError:
    return PresetError(f"invalid preset file {path}: {what}", hint=hint)


def _string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, f"'{key}' must be a list of non-empty strings")
    return tuple(value)


def load_family(path: Path) -> Family:
    """Load and validate one preset file."""
    path = Path(path)
    data = _read_preset(path)
    name = data["name"]
    eos_tokens = _string_list(path, "eos_tokens", data["eos_tokens"])
    return Family(
        name=name,
        family=data.get("family", name),
        title=data["title"],
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        template=_load_template(path, data),
        bos_token=data.get("bos_token", ""),
        eos_token=data.get("eos_token", eos_tokens[0] if eos_tokens else ""),
        eos_tokens=eos_tokens,
        system_role=data["system_role"],
        defaults=_load_defaults(path, data.get("defaults", {})),
        match=_load_match(path, data.get("match", {})),
        priority=data.get("priority", 50),
        path=path,
        source=_load_source(path, data.get("source", {})),
        kwargs=_load_kwargs(path, data.get("kwargs", {})),
        reasoning=data.get("reasoning", "none"),
        tool_calls=data.get("tool_calls", "none"),
        tool_arguments=data.get("tool_arguments", "any"),
        encoder=data.get("encoder"),
    )


def _read_preset(path: Path) -> dict[str, Any]:
    """The preset file's TOML, with its top-level keys, their types, its name and its reply formats checked."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from exc
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)}", hint=f"valid keys: {', '.join(sorted(_TOP_KEYS))}")
    for key in _REQUIRED:
        if key not in data:
            raise _fail(path, f"missing required key '{key}'")
    for key, kind in _TOP_KEYS.items():
        if key in data and not isinstance(data[key], kind):
            raise _fail(path, f"'{key}' must be a {kind.__name__}, got {type(data[key]).__name__}")
    name = data["name"]
    if not _NAME_RE.match(name):
        raise _fail(path, f"name {name!r} must be lowercase letters, digits, '.', '_' or '-'")
    if path.stem != name:
        raise _fail(path, f"name {name!r} does not match the file name", hint=f"rename it {name}.toml")
    for key in ("reasoning", "tool_calls", "tool_arguments"):
        valid = _valid_formats(key)
        if key in data and data[key] not in valid:
            raise _fail(path, f"{key} {data[key]!r} is not known", hint=f"valid: {', '.join(valid)}")
    return data


def _load_defaults(path: Path, defaults: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(set(defaults) - DEFAULTABLE_FIELDS)
    if bad:
        valid = ", ".join(sorted(DEFAULTABLE_FIELDS))
        raise _fail(path, f"unknown default(s) {', '.join(bad)}", hint=f"valid defaults: {valid}")
    try:
        return {k: check_value(k, v) for k, v in defaults.items()}
    except Exception as exc:  # SettingsError: keep its message, name the file
        raise _fail(path, f"defaults: {exc}") from exc


def _load_match(path: Path, match: dict[str, Any]) -> MatchRules:
    bad = sorted(set(match) - _MATCH_KEYS)
    if bad:
        raise _fail(path, f"unknown [match] key(s) {', '.join(bad)}", hint=f"valid: {', '.join(sorted(_MATCH_KEYS))}")
    rules = MatchRules(**{k: _string_list(path, f"match.{k}", v) for k, v in match.items()})
    for pattern in rules.name_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"name pattern {pattern!r} is not a valid regular expression ({exc})") from exc
    return rules


def _load_source(path: Path, source: dict[str, Any]) -> dict[str, str]:
    bad = sorted(set(source) - _SOURCE_KEYS)
    if bad or not all(isinstance(v, str) for v in source.values()):
        raise _fail(path, "[source] takes text values for: repo, path, revision, note", hint=f"unknown: {bad}")
    if source and not {"repo", "path", "revision"} <= set(source):
        raise _fail(path, "[source] needs repo, path and revision (where the official template was taken from)")
    return dict(source)


def _load_kwargs(path: Path, declared: dict[str, Any]) -> tuple[TemplateKwarg, ...]:
    kwargs = tuple(_load_kwarg(path, k, v) for k, v in declared.items())
    controls = [k.control for k in kwargs if k.control]
    if len(controls) != len(set(controls)):
        raise _fail(path, "two [kwargs] entries drive the same control")
    return kwargs


def _load_template(path: Path, data: dict) -> str:
    """The preset's Jinja text; for an ``encoder`` preset, Jinja that raises naming the encoder (so nothing renders
    it as a template by mistake: the engine renders it through the encoder)."""
    if ("template" in data) == ("encoder" in data):
        raise _fail(path, "give either 'template' (a Jinja file) or 'encoder' (a module of mlx_lm.chat_templates)")
    if "encoder" in data:
        name = data["encoder"]
        try:
            module = importlib.import_module(f"{ENCODER_PACKAGE}.{name}")
        except ImportError:
            raise _fail(path, f"encoder {name!r} is not a module of {ENCODER_PACKAGE}", hint="upgrade mlx-lm") from None
        if not callable(getattr(module, "apply_chat_template", None)):
            raise _fail(path, f"{ENCODER_PACKAGE}.{name} has no apply_chat_template")
        message = (
            f"the {data['name']} preset encodes its prompt in Python ({ENCODER_PACKAGE}.{name}), not Jinja: render "
            f"it through the playground, or set chat_template_type {name} in tokenizer_config.json for mlx-lm"
        )
        return "{{ raise_exception(" + repr(message) + ") }}"
    template_path = path.parent / data["template"]
    try:
        return template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(path, f"cannot read its template {template_path} ({exc.strerror})") from exc


def _valid_formats(key: str) -> tuple[str, ...]:
    if key == "tool_arguments":
        return TOOL_ARGUMENT_STYLES
    from .parsing import REASONING_FORMATS, TOOL_CALL_FORMATS

    return REASONING_FORMATS if key == "reasoning" else TOOL_CALL_FORMATS


def _load_kwarg(path: Path, name: str, spec: Any) -> TemplateKwarg:
    where = f"[kwargs.{name}]"
    if not isinstance(spec, dict):
        raise _fail(path, f"{where} must be a table")
    bad = sorted(set(spec) - _KWARG_KEYS)
    if bad:
        raise _fail(path, f"{where}: unknown key(s) {', '.join(bad)}", hint=f"valid: {', '.join(sorted(_KWARG_KEYS))}")
    kind = spec.get("type")
    if kind not in KWARG_TYPES:
        raise _fail(path, f"{where}: type must be one of {', '.join(KWARG_TYPES)}, got {kind!r}")
    control = spec.get("control")
    if control is not None and control not in KWARG_CONTROLS:
        raise _fail(path, f"{where}: control must be one of {', '.join(KWARG_CONTROLS)}, got {control!r}")
    choices = spec.get("choices", [])
    if kind == "choice" and (not isinstance(choices, list) or len(choices) < 2):
        raise _fail(path, f"{where}: a choice needs a list of at least two choices")
    kwarg = TemplateKwarg(
        name=name,
        type=kind,
        default=spec.get("default"),
        choices=tuple(choices),
        description=str(spec.get("description", "")),
        control=control,
    )
    if kwarg.default is not None:
        try:
            kwarg.check(kwarg.default)
        except ValueError as exc:
            raise _fail(path, f"{where}: default: {exc}") from None
    if control == "thinking" and kind != "bool":
        raise _fail(path, f"{where}: the thinking control drives a bool keyword")
    return kwarg


class FamilyRegistry:
    """The known families, by name, in a stable order."""

    def __init__(self, families: list[Family]):
        self._by_name: dict[str, Family] = {}
        for family in families:
            if family.name in self._by_name:
                raise PresetError(
                    f"preset {family.name!r} is defined twice: {self._by_name[family.name].path} and {family.path}",
                    hint="remove or rename one of them",
                )
            self._by_name[family.name] = family

    def __iter__(self) -> Iterator[Family]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Preset names in registry order."""
        return list(self._by_name)

    def get(self, name: str) -> Family:
        """The family called ``name``; raises PresetError listing the valid names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise PresetError(
                f"unknown preset {name!r}",
                hint=f"valid presets: {', '.join(self.names())}",
            ) from None


def load_registry(*folders: Path) -> FamilyRegistry:
    """Load every ``*.toml`` preset in the given folders (in order)."""
    families = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise PresetError(f"preset folder {folder} does not exist", hint=f"check {PRESETS_ENV}")
        found = [load_family(p) for p in folder.glob("*.toml")]
        families.extend(sorted(found, key=lambda f: (f.priority, f.name)))
    return FamilyRegistry(families)


@lru_cache(maxsize=4)
def _cached_registry(extra: str) -> FamilyRegistry:
    folders = [builtin_presets_dir()] + [Path(p) for p in extra.split(os.pathsep) if p]
    return load_registry(*folders)


def registry() -> FamilyRegistry:
    """The built-in families plus any folders named in ``MLX_PLAYGROUND_PRESETS`` (cached)."""
    return _cached_registry(os.environ.get(PRESETS_ENV, ""))


def get_family(name: str) -> Family:
    """Shortcut for ``registry().get(name)``."""
    return registry().get(name)
