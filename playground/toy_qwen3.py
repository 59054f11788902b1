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
    from playground.blas import ensure_fast_blas

    ensure_fast_blas()
    import mlx.core as mx
    from mlx_lm.models import qwen3
    from mlx_lm.utils import save_config, save_model
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plain = ["<unk>", *WORDS]
    plain += [f"w{i}" for i in range(vocab_size - len(plain) - len(SPECIAL_TOKENS))]
    tok = Tokenizer(models.WordLevel({token: i for i, token in enumerate(plain)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<unk>"
    )
    fast.save_pretrained(str(folder))

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
    mx.random.seed(seed)
    model = qwen3.Model(qwen3.ModelArgs.from_dict(config))
    if suppress_special:
        ids = mx.array([tok.token_to_id(t) for t in SPECIAL_TOKENS])
        weight = model.model.embed_tokens.weight
        weight[ids] = 0.0
        model.model.embed_tokens.weight = weight
    mx.eval(model.parameters())
    save_model(folder, model)
    save_config(config, folder / "config.json")
    return folder
