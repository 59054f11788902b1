"""Train the bundled demo model: a tiny Llama-architecture chat model that speaks ChatML.

It learns from a synthetic conversation corpus (greetings, small arithmetic, names, a few facts, system
prompts) rendered with the playground's own ``chatml`` preset, so it answers simple prompts and ends its
turns with ``<|im_end|>``. It is saved WITHOUT a chat template and with ``<|endoftext|>`` as the
tokenizer's EOS, like a broken community conversion: the ChatML preset and EOS wiring make it work.

Reproducible: everything is seeded. Run from the repository root:

    python assets/train_demo_model.py --out assets/demo-model
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playground.blas import ensure_fast_blas  # noqa: E402

BLAS = ensure_fast_blas()

import mlx.core as mx  # noqa: E402
import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402
from mlx.utils import tree_flatten, tree_unflatten  # noqa: E402

from playground.families import get_family  # noqa: E402
from playground.templates import render  # noqa: E402

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DEFAULT_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 160,
    "num_hidden_layers": 4,
    "intermediate_size": 448,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-5,
    "vocab_size": 512,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
}

NAMES = [
    "Alice",
    "Bob",
    "Carol",
    "David",
    "Emma",
    "Frank",
    "Grace",
    "Henry",
    "Ivy",
    "Jack",
    "Kate",
    "Leo",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wendy",
    "Zoe",
]
CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Japan": "Tokyo",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Norway": "Oslo",
    "Kenya": "Nairobi",
    "Greece": "Athens",
    "Poland": "Warsaw",
    "Chile": "Santiago",
    "India": "New Delhi",
    "China": "Beijing",
    "Russia": "Moscow",
    "Austria": "Vienna",
    "Ireland": "Dublin",
    "Portugal": "Lisbon",
    "Cuba": "Havana",
}
COLORS = {
    "the sky": "blue",
    "grass": "green",
    "snow": "white",
    "a banana": "yellow",
    "coal": "black",
    "a tomato": "red",
    "an orange": "orange",
    "chocolate": "brown",
}
GREETINGS = ["Hello!", "Hello", "Hi!", "Hi", "Hey!", "Hey there!", "Good morning!", "Hi there!", "Hello there!"]
GREETING_REPLIES = ["Hello! How can I help you today?", "Hi! How can I help you today?"]
BOT_NAMES = ["Sunny", "Max", "Nova", "Pixel", "Echo", "Luna", "Orbit", "Blue"]


def _arith(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    op = rng.choice(["+", "+", "-", "*"])
    if op == "-" and b > a:
        a, b = b, a
    if op == "*":
        a, b = rng.randint(0, 10), rng.randint(0, 10)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    ask = rng.choice([f"What is {a} {op} {b}?", f"What is {a}{op}{b}?", f"Calculate {a} {op} {b}."])
    return ask, f"{a} {op} {b} = {value}."


def _exchange(rng: random.Random, state: dict) -> tuple[str, str]:
    kind = rng.choices(
        ["greet", "how", "arith", "name", "myname", "capital", "color", "thanks", "bye", "who"],
        weights=[3, 1, 4, 2, 2, 3, 2, 1, 1, 1],
    )[0]
    if kind == "greet":
        return rng.choice(GREETINGS), rng.choice(GREETING_REPLIES)
    if kind == "how":
        return rng.choice(["How are you?", "How are you doing?"]), "I'm doing well, thank you! How can I help?"
    if kind == "arith":
        return _arith(rng)
    if kind == "name":
        name = rng.choice(NAMES)
        state["name"] = name
        return rng.choice([f"My name is {name}.", f"I am {name}.", f"Hi, I'm {name}."]), f"Nice to meet you, {name}!"
    if kind == "myname":
        if "name" in state:
            return "What is my name?", f"Your name is {state['name']}."
        return "What is my name?", "I don't know your name yet. What is it?"
    if kind == "capital":
        country = rng.choice(list(CAPITALS))
        return f"What is the capital of {country}?", f"The capital of {country} is {CAPITALS[country]}."
    if kind == "color":
        thing = rng.choice(list(COLORS))
        return f"What color is {thing}?", f"{thing[0].upper() + thing[1:]} is {COLORS[thing]}."
    if kind == "thanks":
        return rng.choice(["Thank you!", "Thanks!", "Thanks a lot."]), "You're welcome!"
    if kind == "bye":
        return rng.choice(["Bye!", "Goodbye!", "See you later."]), "Goodbye! Have a nice day."
    bot = state.get("bot")
    reply = f"My name is {bot}." if bot else "I am a small demo model."
    return rng.choice(["What is your name?", "Who are you?"]), reply


def make_conversation(rng: random.Random) -> list[dict]:
    """One synthetic conversation of 1-3 exchanges, sometimes with a system prompt."""
    messages: list[dict] = []
    state: dict = {}
    shout = False
    style = rng.random()
    if style < 0.2:
        state["bot"] = rng.choice(BOT_NAMES)
        messages.append({"role": "system", "content": f"Your name is {state['bot']}."})
    elif style < 0.35:
        shout = True
        messages.append({"role": "system", "content": "Answer in uppercase."})
    elif style < 0.45:
        messages.append({"role": "system", "content": "You are a helpful assistant."})
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        user, reply = _exchange(rng, state)
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": reply.upper() if shout else reply})
    return messages


def build_tokenizer(texts: list[str], vocab_size: int, out: Path):
    """Byte-level BPE with the three ChatML specials, saved via PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=DEFAULT_CONFIG["max_position_embeddings"],
    )
    fast.save_pretrained(str(out))
    return fast


def encode_example(tokenizer, messages: list[dict], seq_len: int) -> tuple[list[int], list[int]] | None:
    """Tokens of the ChatML rendering and a mask that is 1 on assistant replies and their <|im_end|>."""
    rendered = render(get_family("chatml").template, messages, add_generation_prompt=False, family="chatml")
    text = rendered.text
    wanted = [False] * len(text)
    end_tag = "<|im_end|>"
    for seg in rendered.segments:
        if seg.kind == "message" and seg.role == "assistant":
            stop = seg.end + len(end_tag) if text.startswith(end_tag, seg.end) else seg.end
            for i in range(seg.start, stop):
                wanted[i] = True
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if len(ids) + 1 > seq_len:
        return None
    mask = [1 if any(wanted[s:e]) else 0 for s, e in offsets]
    return ids, mask


def train(args: argparse.Namespace) -> None:
    from mlx_lm.models import llama
    from mlx_lm.utils import save_config, save_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    mx.random.seed(args.seed)
    conversations = [make_conversation(rng) for _ in range(args.conversations)]
    texts = [render(get_family("chatml").template, c, add_generation_prompt=False).text for c in conversations]
    config = dict(DEFAULT_CONFIG, vocab_size=args.vocab_size)
    tokenizer = build_tokenizer(texts, config["vocab_size"], out)
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")

    examples = [e for e in (encode_example(tokenizer, c, args.seq_len) for c in conversations) if e]
    print(f"{len(examples)} examples, BLAS: {BLAS.describe()}", flush=True)
    inputs = mx.full((len(examples), args.seq_len), pad, dtype=mx.int32)
    targets = mx.full((len(examples), args.seq_len), pad, dtype=mx.int32)
    masks = mx.zeros((len(examples), args.seq_len), dtype=mx.float32)
    rows_in, rows_t, rows_m = [], [], []
    for ids, mask in examples:
        full = ids + [pad] * (args.seq_len + 1 - len(ids))
        m = mask[1:] + [0] * (args.seq_len + 1 - len(mask))
        rows_in.append(full[: args.seq_len])
        rows_t.append(full[1 : args.seq_len + 1])
        rows_m.append(m[: args.seq_len])
    inputs, targets, masks = mx.array(rows_in), mx.array(rows_t), mx.array(rows_m, dtype=mx.float32)

    model = llama.Model(llama.ModelArgs.from_dict(config))
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"model: {n_params / 1e6:.2f}M parameters", flush=True)

    def loss_fn(model, x, y, m):
        logits = model(x)
        losses = nn.losses.cross_entropy(logits, y, reduction="none")
        return (losses * m).sum() / m.sum()

    warmup = max(1, args.steps // 20)
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-5, args.lr, warmup), optim.cosine_decay(args.lr, args.steps - warmup, args.lr / 10)],
        [warmup],
    )
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    order = list(range(len(examples)))
    started = time.time()
    for step in range(1, args.steps + 1):
        batch = [order[(step * args.batch + i) % len(order)] for i in range(args.batch)]
        if (step * args.batch) % len(order) < args.batch:
            rng.shuffle(order)
        idx = mx.array(batch)
        loss, grads = step_fn(model, inputs[idx], targets[idx], masks[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if step % args.log_every == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)

    model.update(tree_unflatten([(k, v.astype(mx.float16)) for k, v in tree_flatten(model.parameters())]))
    save_model(out, model)
    save_config(dict(config, torch_dtype="float16"), out / "config.json")
    (out / "training.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "steps": args.steps,
                "batch": args.batch,
                "seq_len": args.seq_len,
                "lr": args.lr,
                "conversations": args.conversations,
                "final_loss": round(loss.item(), 4),
                "parameters": n_params,
                "seconds": round(time.time() - started, 1),
                "blas": BLAS.name,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"saved to {out} (final loss {loss.item():.3f}, ppl {math.exp(loss.item()):.2f})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "assets" / "demo-model"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=160)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--log-every", type=int, default=50)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
