"""Tiny random-weight models of two 2026 architectures that mlx-lm ships (LFM2 and Qwen3.5), built offline.

Like ``toy_qwen3``: the family's real ``model_type`` / ``architectures`` and special tokens, a word-level tokenizer
(whitespace split) saved with ``PreTrainedTokenizerFast`` so ``mlx_lm.load`` reads it, and no chat template, so
detection picks the family's preset and wires its EOS tokens. What the models say is noise.
"""

from __future__ import annotations

from pathlib import Path

from playground.toy import save_random_model, write_word_tokenizer

WORDS = ["user", "assistant", "system", "Hello!", "Hi", "hello", "the", "a", "is", "What", "?", "weather", "Paris"]
LFM2_TOKENS = [
    "<|pad|>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|tool_list_start|>",
    "<|tool_list_end|>",
    "<|tool_call_start|>",
    "<|tool_call_end|>",
    "<|tool_response_start|>",
    "<|tool_response_end|>",
]
QWEN35_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]


def build_toy_lfm2(folder: str | Path, *, vocab_size: int = 256, seed: int = 0) -> Path:
    """A 2-layer LFM2 (one short-convolution block, one attention block) with LFM2's special tokens."""
    from mlx_lm.models import lfm2

    folder = Path(folder)
    tok = write_word_tokenizer(
        folder, WORDS, LFM2_TOKENS, vocab_size, bos_token="<|startoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>"
    )
    config = {
        "model_type": "lfm2",
        "architectures": ["Lfm2ForCausalLM"],
        "vocab_size": len(tok.get_vocab()),
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "norm_eps": 1e-5,
        "conv_bias": False,
        "conv_L_cache": 3,
        "block_dim": 64,
        "block_ff_dim": 128,
        "block_multiple_of": 16,
        "block_ffn_dim_multiplier": 1.0,
        "block_auto_adjust_ff_dim": False,
        "layer_types": ["conv", "full_attention"],
        "tie_word_embeddings": True,
    }
    return save_random_model(folder, lfm2, config, seed=seed)


def build_toy_qwen35(folder: str | Path, *, vocab_size: int = 256, seed: int = 0) -> Path:
    """A 2-layer Qwen3.5 (one gated-delta-net layer, one full-attention layer) with Qwen3.5's special tokens."""
    from mlx_lm.models import qwen3_5

    folder = Path(folder)
    tok = write_word_tokenizer(
        folder, WORDS, QWEN35_TOKENS, vocab_size, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    text_config = {
        "model_type": "qwen3_5_text",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "linear_num_value_heads": 4,
        "linear_num_key_heads": 2,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "full_attention_interval": 2,
        "vocab_size": len(tok.get_vocab()),
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
        "rope_parameters": {
            "type": "default",
            "mrope_section": [2, 1, 1],
            "rope_theta": 100000,
            "partial_rotary_factor": 0.5,
        },
    }
    config = {"model_type": "qwen3_5", "architectures": ["Qwen3_5ForConditionalGeneration"], "text_config": text_config}
    return save_random_model(folder, qwen3_5, config, seed=seed)
