"""Random-weight Llama-architecture models built offline, for tests and benchmarks.

Speed does not depend on the weight values, and detection, EOS wiring and template handling only need
a real tokenizer with the right special tokens. The tokenizer is word-level (whitespace split), so its
vocabulary can have any size; it is saved with ``PreTrainedTokenizerFast`` so ``mlx_lm.load`` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: style -> (special tokens, bos, eos)
STYLES: dict[str, tuple[list[str], str | None, str]] = {
    "llama3": (
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|begin_of_text|>",
        "<|end_of_text|>",
    ),
    "chatml": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|endoftext|>"),
    "gemma": (["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>"),
    "plain": (["<s>", "</s>"], "<s>", "</s>"),
}
WORDS = ["user", "assistant", "system", "Hello!", "Hi", "hello", "the", "a", "is", "What", "?", "2+2"]


@dataclass(frozen=True)
class ToyShape:
    """The size of a toy Llama: vocabulary, widths, layers, heads, context."""

    vocab_size: int = 1000
    hidden_size: int = 64
    num_layers: int = 2
    intermediate_size: int = 128
    num_heads: int = 4
    num_kv_heads: int | None = None
    max_position_embeddings: int = 2048


def build_toy_model(
    folder: str | Path,
    *,
    style: str = "llama3",
    shape: ToyShape = ToyShape(),
    seed: int = 0,
    extra_tokenizer_config: dict | None = None,
    suppress_special: bool = False,
    byte_level: bool = False,
) -> Path:
    """Write a random-weight model with no chat template into ``folder`` and return it.

    ``suppress_special`` zeroes the (tied) embedding rows of the special tokens, so greedy decoding never
    picks them: every run then produces exactly ``max_tokens`` tokens (for benchmarks). ``byte_level`` gives it
    a byte-level BPE tokenizer (any text, JSON included, has tokens: what structured output needs) instead of
    the word-level one.
    """
    from mlx_lm.models import llama

    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}")
    specials, bos, eos = STYLES[style]
    folder = Path(folder)
    write = write_byte_tokenizer if byte_level else write_word_tokenizer
    tok = write(folder, WORDS, specials, shape.vocab_size, bos_token=bos, eos_token=eos)
    if extra_tokenizer_config:
        path = folder / "tokenizer_config.json"
        data = json.loads(path.read_text())
        data.update(extra_tokenizer_config)
        path.write_text(json.dumps(data, indent=2))
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": shape.hidden_size,
        "num_hidden_layers": shape.num_layers,
        "intermediate_size": shape.intermediate_size,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads or shape.num_heads,
        "rms_norm_eps": 1e-5,
        "vocab_size": len(tok.get_vocab()),
        "max_position_embeddings": shape.max_position_embeddings,
        "tie_word_embeddings": True,
    }
    suppressed = [tok.token_to_id(t) for t in specials] if suppress_special else []
    return save_random_model(folder, llama, config, seed=seed, suppress=suppressed)


def write_word_tokenizer(folder: Path, words: list[str], specials: list[str], vocab_size: int, **tokens: str):
    """A word-level tokenizer (whitespace split) of ``vocab_size`` tokens with ``specials`` added, saved with
    ``PreTrainedTokenizerFast`` into ``folder`` so mlx-lm loads it; returns the ``tokenizers`` object."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    plain = ["<unk>", *words]
    plain += [f"w{i}" for i in range(vocab_size - len(plain) - len(specials))]
    tok = Tokenizer(models.WordLevel({token: i for i, token in enumerate(plain)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(specials)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", **tokens).save_pretrained(str(folder))
    return tok


#: What the byte-level toy vocabulary's merges are built from: letters, digits, space and JSON punctuation.
_MERGE_PIECES = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + ["Ġ", '"', ":", ",", "{", "}"]


def write_byte_tokenizer(folder: Path, words: list[str], specials: list[str], vocab_size: int, **tokens: str):
    """A byte-level BPE tokenizer of ``vocab_size`` tokens with ``specials`` added: the 256 bytes, then merges of
    two and three pieces (letters, digits, space, JSON punctuation) in a fixed order, like a real BPE vocabulary's
    shape. ``words`` are unused (every text has tokens). Saved like :func:`write_word_tokenizer`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {char: i for i, char in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []
    room = vocab_size - len(vocab) - len(specials)
    level = list(_MERGE_PIECES)
    while len(merges) < room:
        grown = []
        for left in level:
            for right in _MERGE_PIECES:
                if len(merges) >= room:
                    break
                if left + right not in vocab:
                    vocab[left + right] = len(vocab)
                    merges.append((left, right))
                    grown.append(left + right)
        level = grown
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    PreTrainedTokenizerFast(tokenizer_object=tok, **tokens).save_pretrained(str(folder))
    return tok


def save_random_model(folder: Path, module, config: dict, *, seed: int = 0, suppress: list[int] = ()) -> Path:
    """Build ``module.Model`` (an ``mlx_lm.models`` architecture) from ``config`` with seeded random weights and
    save it. The (tied) embedding rows of ``suppress`` are zeroed, so greedy decoding never picks those tokens
    (every run then produces exactly ``max_tokens`` tokens, for benchmarks)."""
    from playground.backends.local.blas import ensure_fast_blas

    ensure_fast_blas()
    import mlx.core as mx
    from mlx_lm.utils import save_config, save_model

    mx.random.seed(seed)
    model = module.Model(module.ModelArgs.from_dict(config))
    if suppress:
        weight = model.model.embed_tokens.weight
        weight[mx.array(list(suppress))] = 0.0
        model.model.embed_tokens.weight = weight
    mx.eval(model.parameters())
    save_model(folder, model)
    save_config(config, folder / "config.json")
    return folder
