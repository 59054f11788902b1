"""A tiny random-weight Qwen2-VL model built offline, for the vision tests (needs the ``vision`` extra).

The model is real mlx-vlm Qwen2-VL (a one-block vision tower, a two-layer language model) with a
byte-level BPE tokenizer that has the family's special tokens (``<|im_start|>``, ``<|vision_start|>``,
``<|image_pad|>``, ...), a Qwen2-VL-style chat template of our own, and a ``preprocessor_config.json``.
Its vision tower uses 16-pixel patches, which is not mlx-vlm's default (14): a copy whose
``vision_config`` lacks ``patch_size`` (:func:`copy_without_vision_fields`) is the typical broken
community conversion that the config repair has to fix.

The output embeddings are untied, and the rows of special and non-printable tokens are zeroed, so greedy
decoding writes visible (random) ASCII text instead of stopping or repeating the prompt.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
PATCH_SIZE = 16  # mlx-vlm's Qwen2-VL default is 14

#: Our own Qwen2-VL-style chat template: a default system prompt, image and video blocks as placeholders.
TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255 (GPT-2's mapping)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _write_tokenizer(folder: Path) -> dict[str, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = _byte_alphabet()
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", clean_up_tokenization_spaces=False
    )
    fast.save_pretrained(str(folder))
    return {t: tok.token_to_id(t) for t in SPECIAL_TOKENS} | {"__size__": len(tok.get_vocab())}


def build_toy_vision_model(
    folder: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
) -> Path:
    """Write a random-weight Qwen2-VL model (about 0.2M parameters) into ``folder`` and return it."""
    from playground.backends.local.blas import ensure_fast_blas

    ensure_fast_blas()
    import mlx.core as mx
    from mlx_vlm.models import qwen2_vl
    from mlx_vlm.utils import save_config, save_weights, update_module_configs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = _write_tokenizer(folder)
    (folder / "chat_template.jinja").write_text(TEMPLATE, encoding="utf-8")
    preprocessor = {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2VLProcessor",
        "patch_size": PATCH_SIZE,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": 32 * 32,
        "max_pixels": 128 * 128,
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "do_convert_rgb": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    heads = 4
    half_head = hidden_size // heads // 2
    section = [half_head - 2 * (half_head // 3), half_head // 3, half_head // 3]
    vision = {
        "model_type": "qwen2_vl",
        "depth": 1,
        "embed_dim": 32,
        "hidden_size": hidden_size,
        "num_heads": 2,
        "mlp_ratio": 2,
        "in_channels": 3,
        "patch_size": PATCH_SIZE,
        "spatial_patch_size": PATCH_SIZE,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    config = {
        "model_type": "qwen2_vl",
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "intermediate_size": hidden_size * 2,
        "num_attention_heads": heads,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "vocab_size": ids["__size__"],
        "max_position_embeddings": 4096,
        "rope_theta": 1_000_000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": section},
        "tie_word_embeddings": False,
        "eos_token_id": ids["<|im_end|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "vision_config": vision,
    }
    mx.random.seed(seed)
    params = copy.deepcopy(config)  # from_dict adds text_config to it, as mlx_vlm.load does
    model_config = update_module_configs(qwen2_vl.ModelConfig.from_dict(params), qwen2_vl, params, ["text", "vision"])
    model = qwen2_vl.Model(model_config)
    # Visible output: only printable ASCII bytes can win the greedy argmax (other rows score 0).
    alphabet = _byte_alphabet()
    hidden = [i for i, ch in enumerate(alphabet) if not (33 <= ord(ch) <= 126)] + [ids[t] for t in SPECIAL_TOKENS]
    # Image features as large as token embeddings, so the picture visibly changes the reply.
    merger = model.vision_tower.merger.mlp[2]
    merger.weight = merger.weight * 8.0
    head = model.language_model.lm_head.weight
    head[mx.array(hidden)] = 0.0
    model.language_model.lm_head.weight = head
    mx.eval(model.parameters())
    save_weights(folder, model)
    save_config(config, folder / "config.json")
    return folder


def copy_without_vision_fields(source: str | Path, target: str | Path, fields: tuple[str, ...]) -> Path:
    """A copy of a model folder whose config.json's vision_config lacks ``fields`` (same weights)."""
    source, target = Path(source), Path(target)
    shutil.copytree(source, target)
    path = target / "config.json"
    config = json.loads(path.read_text())
    for key in fields:
        config.get("vision_config", {}).pop(key, None)
    path.write_text(json.dumps(config, indent=4))
    return target
