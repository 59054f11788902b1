"""Vision-language metadata (issue 14) without mlx-vlm: detection, which vision_config fields need repair, hints."""

from __future__ import annotations

import pytest

from playground.vision_config import plan_repairs, repair_warning, shape_hint, shape_mismatch, vision_evidence

# ---------------------------------------------------------------------------------------------- metadata only


@pytest.mark.parametrize(
    ("config", "preprocessor", "expected"),
    [
        ({"model_type": "qwen2_vl", "vision_config": {"depth": 32}}, {}, "vision_config"),
        ({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"]}, {}, "Gemma3ForConditional"),
        ({"model_type": "x", "architectures": ["XForConditionalGeneration"]}, {"image_mean": [0.5]}, "image processor"),
        ({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}, {}, None),
        ({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}, {}, None),
        ({"model_type": "gemma3", "vision_config": None}, {}, None),
    ],
)
def test_vision_evidence(config, preprocessor, expected):
    reason = vision_evidence(config, preprocessor)
    assert (reason is None) if expected is None else (expected in reason)


def test_detection_reports_vision_from_metadata(model_dir):
    from playground.detect import detect

    vlm = model_dir("Qwen2-VL-2B-Instruct-4bit", config={"model_type": "qwen2_vl", "vision_config": {"depth": 32}})
    text = model_dir("Qwen2.5-0.5B-Instruct", config={"model_type": "qwen2"})
    assert detect(str(vlm)).vision and detect(str(vlm)).to_dict()["vision"] is True
    assert detect(str(text)).vision is False and detect(str(text)).to_dict()["vision"] is False


@pytest.mark.parametrize(
    ("vision_config", "preprocessor", "defaults", "expected"),
    [
        ({}, {"patch_size": 16}, {"patch_size": 14}, [("patch_size", 16, "preprocessor_config.json")]),
        ({}, {"patch_size": 14}, {"patch_size": 14}, []),  # the default is right: nothing to repair
        ({"patch_size": 16}, {"patch_size": 16}, {"patch_size": 14}, []),  # present: never touched
        ({}, {"patch_size": {"height": 16, "width": 16}}, {"patch_size": 14}, [("patch_size", 16, "preprocessor")]),
        ({}, {}, {"patch_size": 14, "spatial_patch_size": 14}, []),  # qwen2_vl's known value is the default
        ({}, {"merge_size": 4}, {"spatial_merge_size": 2}, [("spatial_merge_size", 4, "preprocessor")]),
        ({}, {"size": {"height": 896, "width": 896}}, {"image_size": 224}, [("image_size", 896, "preprocessor")]),
        ({}, {"size": {"shortest_edge": 3136}}, {"image_size": 384}, []),  # not a fixed size
    ],
)
def test_plan_repairs(vision_config, preprocessor, defaults, expected):
    config = {"model_type": "qwen2_vl", "vision_config": vision_config}
    repairs = plan_repairs(config, preprocessor, defaults)
    assert [(r.field, r.value) for r in repairs] == [(f, v) for f, v, _ in expected]
    assert all(src in r.source for r, (_, _, src) in zip(repairs, expected))


def test_family_value_without_preprocessor_and_warning_text():
    repairs = plan_repairs({"model_type": "qwen3_vl", "vision_config": {}}, {}, {"patch_size": 14})
    assert [(r.field, r.value, r.source) for r in repairs] == [("patch_size", 16, "the qwen3_vl family's known value")]
    line = repair_warning(repairs, "/models/x")
    assert "lacks patch_size" in line and "patch_size=16" in line and "default 14" in line
    assert "mlx-playground fix-template /models/x --vision-config" in line


def test_shape_mismatch_hint_names_the_field():
    text = "ValueError: Expected shape (32, 2, 14, 14, 3) but received shape (32, 2, 16, 16, 3) for parameter vision_tower.patch_embed.proj.weight"
    expected, received, parameter = shape_mismatch(text)
    assert (expected, received, parameter) == ((32, 2, 14, 14, 3), (32, 2, 16, 16, 3), "vision_tower.patch_embed.proj.weight")
    hint = shape_hint(expected, received, parameter, "/m")
    assert "patch_size to 16" in hint and "--vision-config" in hint


# ---------------------------------------------------------------------------------------------- expansion maths


def test_expansion_is_attributed_to_each_image_for_other_families():
    from playground.templates import RenderedPrompt, Segment
    from playground.vision.prompt import _align, _remap_segments, _spans

    # Gemma 3: each <start_of_image> becomes a block with 3 soft tokens (256 in the real model)
    soft = "<image_soft_token>"
    block = f"\n\n<start_of_image>{soft * 3}<end_of_image>\n\n"
    rendered = "<bos><start_of_turn>user\n<start_of_image>Describe<start_of_image>both<end_of_turn>\n"
    expanded = rendered.replace("<start_of_image>", block)
    regions = _align(rendered, expanded, "<start_of_image>", soft)
    assert [expanded[a:b] for a, b in regions] == [block, block]
    spans = _spans(expanded, soft, regions, 2)
    assert [(s.count, s.image) for s in spans] == [(3, 0), (3, 1)]
    assert all(expanded[s.start : s.end] == soft * 3 for s in spans)
    segments = (Segment(0, 25, "template"), Segment(25, 41, "template"), Segment(41, 49, "message", 0, "user"),
                Segment(49, len(rendered), "template"))
    moved = _remap_segments(RenderedPrompt(text=rendered, source="preset", segments=segments), "<start_of_image>", regions)
    assert expanded[moved[2].start : moved[2].end] == rendered[41:49] == "Describe"
    assert moved[-1].end == len(expanded)
    # two images back to back cannot be split exactly: runs are still matched to images in order
    rendered = "<start_of_turn>user\n<start_of_image><start_of_image>Hi<end_of_turn>\n"
    expanded = rendered.replace("<start_of_image>", block)
    assert _align(rendered, expanded, "<start_of_image>", soft) is None
    assert [s.image for s in _spans(expanded, soft, None, 2)] == [0, 1]


def test_image_sources_and_attach(tmp_path):
    from playground.errors import MessagesError
    from playground.vision import request_has_images
    from playground.vision.prompt import attach_images, check_image_source, image_sources

    messages = attach_images([{"role": "system", "content": "s"}, {"role": "user", "content": "Hi"}], ["a.png"])
    assert messages[1]["content"] == [{"type": "image", "image": "a.png"}, {"type": "text", "text": "Hi"}]
    blocks = [{"type": "image_url", "image_url": {"url": "b.png"}}, {"type": "image", "path": "c.png"}]
    assert image_sources([{"role": "user", "content": [{"type": "image", "url": "b.png"}, blocks[1]]}]) == ["b.png", "c.png"]

    class Request:
        images = ()
        messages = ({"role": "user", "content": [blocks[1]]},)

    assert request_has_images(Request())
    with pytest.raises(MessagesError, match="never downloads"):
        check_image_source("HTTPS://example.com/x.png")
    with pytest.raises(MessagesError, match="need a user message"):
        attach_images([{"role": "system", "content": "s"}], ["a.png"])
