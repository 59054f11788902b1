"""Preset files: one validated shape, unknown keys rejected, new families are just new files."""

from __future__ import annotations

import pytest

from playground.errors import PresetError
from playground.families import PRESETS_ENV, _cached_registry, builtin_presets_dir, load_family, registry

GOOD = """
name = "{name}"
title = "Test"
template = "{name}.jinja"
eos_tokens = ["<end>"]
system_role = true
"""


def write(folder, name, toml, template="{{ messages[0].content }}"):
    (folder / f"{name}.toml").write_text(toml)
    (folder / f"{name}.jinja").write_text(template)
    return folder / f"{name}.toml"


def test_every_builtin_preset_file_is_valid_and_has_rules_or_is_generic():
    families = list(registry())
    assert len(families) >= 18
    for family in families:
        assert family.path.parent == builtin_presets_dir()
        assert family.template.strip()
        if family.name != "generic":
            m = family.match
            assert m.template_markers or m.special_tokens or m.name_patterns or m.model_types, family.name


@pytest.mark.parametrize(
    ("toml", "pattern"),
    [
        (GOOD + 'colour = "red"\n', "unknown key.*colour"),
        (GOOD + "[defaults]\ntemprature = 0.5\n", "unknown default.*temprature"),
        (GOOD + "[defaults]\ntemperature = -1\n", "temperature must be"),
        (GOOD + "[match]\nname_regex = ['x']\n", r"unknown \[match\] key"),
        (GOOD + "[match]\nname_patterns = ['(']\n", "not a valid regular expression"),
        ('name = "x"\n', "missing required key"),
        (GOOD.replace("true", '"yes"'), "'system_role' must be a bool"),
        (GOOD + "=", "not valid TOML"),
    ],
)
def test_invalid_preset_files_are_rejected_naming_the_file(tmp_path, toml, pattern):
    path = write(tmp_path, "fam", toml.format(name="fam"))
    with pytest.raises(PresetError, match=pattern) as info:
        load_family(path)
    assert str(path) in info.value.message


def test_missing_template_file(tmp_path):
    path = tmp_path / "fam.toml"
    path.write_text(GOOD.format(name="fam"))
    with pytest.raises(PresetError, match="cannot read its template"):
        load_family(path)


def test_adding_a_family_is_adding_files(tmp_path, monkeypatch):
    write(tmp_path, "house", GOOD.format(name="house") + "[match]\nname_patterns = ['house-model']\n", "H:{{ messages[-1].content }}")
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path))
    _cached_registry.cache_clear()
    try:
        family = registry().get("house")
        from playground.detect import ModelMetadata, detect_metadata
        from playground.templates import render_family

        assert render_family(family, [{"role": "user", "content": "hi"}]).text == "H:hi"
        assert detect_metadata(ModelMetadata(name="my-house-model-1b")).preset == "house"
    finally:
        _cached_registry.cache_clear()


def test_unknown_preset_lists_valid_names():
    with pytest.raises(PresetError) as info:
        registry().get("llama9")
    assert "llama3.1" in info.value.hint and "chatml" in info.value.hint
