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


def build_scripted_qwen3(folder: str | Path, script: dict[str, str], words: list[str] = ()) -> Path:
    """A tiny Qwen3 model whose greedy reply is written in its weights: the next token depends only on the last one,
    as ``script`` says (``{"assistant": "<tool_call>", "<tool_call>": "{...}", ...}``). Its single layer adds
    nothing (zero output projections), each scripted token's embedding is a basis vector of its own, and the output
    head maps that vector to the scripted next token. So it replies like a real model would in a tool loop, through
    the real mlx-lm architecture, tokenizer, templates and parsers."""
    from mlx_lm.models import qwen3

    from playground.toy import save_random_model, write_word_tokenizer

    folder = Path(folder)
    vocabulary = list(dict.fromkeys([*WORDS, *words, *(t for pair in script.items() for t in pair)]))
    vocabulary = [w for w in vocabulary if w not in SPECIAL_TOKENS]
    tok = write_word_tokenizer(
        folder, vocabulary, SPECIAL_TOKENS, 512, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    config = {
        "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "vocab_size": len(tok.get_vocab()),
        "max_position_embeddings": 4096, "tie_word_embeddings": False, "bos_token_id": None,
        "eos_token_id": tok.token_to_id("<|endoftext|>"),
    }  # fmt: skip
    save_random_model(folder, qwen3, config)
    _write_script(folder, tok, script, config)
    return folder


def _write_script(folder: Path, tok, script: dict[str, str], config: dict) -> None:
    import mlx.core as mx
    from mlx_lm.models import qwen3
    from mlx_lm.utils import load_model, save_model

    model, _ = load_model(folder)
    hidden, vocab = config["hidden_size"], config["vocab_size"]
    states = list(dict.fromkeys(script))
    if len(states) > hidden:
        raise ValueError(f"a script of {len(states)} steps needs a hidden size of at least that, got {hidden}")
    embed = mx.zeros((vocab, hidden))
    head = mx.zeros((vocab, hidden))
    for slot, token in enumerate(states):
        embed[tok.token_to_id(token), slot] = 1.0
        head[tok.token_to_id(script[token]), slot] = 5.0  # after the final norm the slot holds 8.0: logit 40
    model.model.embed_tokens.weight = embed
    model.lm_head.weight = head
    layer = model.model.layers[0]
    layer.self_attn.o_proj.weight = mx.zeros_like(layer.self_attn.o_proj.weight)
    layer.mlp.down_proj.weight = mx.zeros_like(layer.mlp.down_proj.weight)
    mx.eval(model.parameters())
    assert isinstance(model, qwen3.Model)
    save_model(folder, model)
