"""Model families, loaded and validated from the preset files in ``presets/``.

A family is one ``NAME.toml`` file plus the Jinja template it names. Adding a family means adding
those two files (and its test cases); no code changes. Unknown keys are rejected with a message that
names the file, so a typo never silently drops a setting.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PresetError
from .settings import DEFAULTABLE_FIELDS, check_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

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
        }


_TOP_KEYS = {
    "name": str,
    "family": str,
    "title": str,
    "description": str,
    "reference": str,
    "template": str,
    "bos_token": str,
    "eos_token": str,
    "eos_tokens": list,
    "system_role": bool,
    "priority": int,
    "defaults": dict,
    "match": dict,
}
_REQUIRED = ("name", "title", "template", "eos_tokens", "system_role")
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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from exc

    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise _fail(
            path,
            f"unknown key(s) {', '.join(unknown)}",
            hint=f"valid keys: {', '.join(sorted(_TOP_KEYS))}",
        )
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

    template_path = path.parent / data["template"]
    try:
        template = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(path, f"cannot read its template {template_path} ({exc.strerror})") from exc

    defaults = data.get("defaults", {})
    bad = sorted(set(defaults) - DEFAULTABLE_FIELDS)
    if bad:
        raise _fail(
            path,
            f"unknown default(s) {', '.join(bad)}",
            hint=f"valid defaults: {', '.join(sorted(DEFAULTABLE_FIELDS))}",
        )
    try:
        defaults = {k: check_value(k, v) for k, v in defaults.items()}
    except Exception as exc:  # SettingsError: keep its message, name the file
        raise _fail(path, f"defaults: {exc}") from exc

    match = data.get("match", {})
    bad = sorted(set(match) - _MATCH_KEYS)
    if bad:
        raise _fail(path, f"unknown [match] key(s) {', '.join(bad)}", hint=f"valid: {', '.join(sorted(_MATCH_KEYS))}")
    rules = MatchRules(**{k: _string_list(path, f"match.{k}", v) for k, v in match.items()})
    for pattern in rules.name_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"name pattern {pattern!r} is not a valid regular expression ({exc})") from exc

    eos_tokens = _string_list(path, "eos_tokens", data["eos_tokens"])
    return Family(
        name=name,
        family=data.get("family", name),
        title=data["title"],
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        template=template,
        bos_token=data.get("bos_token", ""),
        eos_token=data.get("eos_token", eos_tokens[0] if eos_tokens else ""),
        eos_tokens=eos_tokens,
        system_role=data["system_role"],
        defaults=defaults,
        match=rules,
        priority=data.get("priority", 50),
        path=path,
    )


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
