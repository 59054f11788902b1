"""A tiny random-weight Qwen3 model built offline, for tests of hybrid thinking (``<think>``) and tool calls.

It has what detection needs to call it the ``qwen3`` preset: ``model_type`` qwen3 and the Qwen3 special
tokens (``<|im_start|>``, ``<|im_end|>``, ``<think>``, ``</think>``, ``<tool_call>``, ``</tool_call>``, ...),
and no chat template (like a broken community conversion), so the qwen3 preset renders its prompts and
wires ``<|im_end|>`` as EOS. The weights are random, so what it says is noise; the tokenizer is
word-level (split on whitespace) like :mod:`playground.toy`, saved with ``PreTrainedTokenizerFast`` so
``mlx_lm.load`` reads it.
"""

from __future__ import annotations

from pathlib import Path

#: Qwen3's special tokens (the ones its template and reply formats use).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
]
WORDS = ["user", "assistant", "system", "Hello!", "Hi", "hello", "the", "a", "is", "What", "?", "think", "answer"]


def build_toy_qwen3(
    folder: str | Path,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    intermediate_size: int = 128,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    head_dim: int = 16,
    max_position_embeddings: int = 4096,
    seed: int = 0,
    suppress_special: bool = False,
) -> Path:
    """Write a random-weight Qwen3 model (no chat template) into ``folder`` and return the folder.

    ``suppress_special`` zeroes the (tied) embedding rows of the special tokens, so the model never
    picks them: replies then run to the token limit (useful to test Stop and long streams).
    """

    from mlx_lm.models import qwen3

    from playground.toy import save_random_model, write_word_tokenizer

    folder = Path(folder)
    tok = write_word_tokenizer(
        folder, WORDS, SPECIAL_TOKENS, vocab_size, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    config = {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "intermediate_size": intermediate_size,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "vocab_size": len(tok.get_vocab()),
        "max_position_embeddings": max_position_embeddings,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": tok.token_to_id("<|endoftext|>"),
    }
    suppressed = [tok.token_to_id(t) for t in SPECIAL_TOKENS] if suppress_special else []
    return save_random_model(folder, qwen3, config, seed=seed, suppress=suppressed)
