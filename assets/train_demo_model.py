"""Train the bundled demo model: a tiny Llama-architecture chat model that speaks ChatML.

It learns from a synthetic conversation corpus (greetings, one-digit arithmetic, names, a few facts, system
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

from playground.backends.local.blas import ensure_fast_blas  # noqa: E402

BLAS = ensure_fast_blas()

import mlx.core as mx  # noqa: E402
import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402
from mlx.utils import tree_flatten, tree_unflatten  # noqa: E402

from playground.families import get_family  # noqa: E402
from playground.templates import RenderCall, render  # noqa: E402

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
    "vocab_size": 1024,
    "max_position_embeddings": 1024,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
}

#: Sampling defaults written to generation_config.json (no eos_token_id: the model ships with the wrong EOS).
GENERATION_DEFAULTS = {"do_sample": True, "temperature": 0.2, "top_p": 0.9, "top_k": 20}

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
NAME_INTROS = ["My name is {}.", "I am {}.", "Hi, I'm {}.", "I'm {}.", "Call me {}.", "Hello! My name is {}."]
NAME_ASKS = ["What is my name?", "What's my name?", "What is my name again?", "Do you remember my name?", "Who am I?"]
BOT_ASKS = ["What is your name?", "What's your name?", "Who are you?"]
#: Exchanges that fill the turns around a name and its recall (no names in them).
FILLERS = ["greet", "how", "arith", "capital", "color", "thanks", "bot"]
FILLER_WEIGHTS = [2, 1, 8, 3, 2, 1, 1]
#: How often a conversation has 1, 2, 3, 4 or 5 exchanges.
EXCHANGE_WEIGHTS = [2, 2, 2, 3, 3]


def _arith(rng: random.Random) -> tuple[str, str]:
    """Sums and differences of numbers up to 10 and products of one-digit numbers (about 300 facts in all:
    few enough for a model this small to learn each of them exactly)."""
    op = rng.choice(["+", "+", "-", "*"])
    a, b = (rng.randint(0, 9), rng.randint(0, 9)) if op == "*" else (rng.randint(0, 10), rng.randint(0, 10))
    if op == "-" and b > a:
        a, b = b, a
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    ask = rng.choice([f"What is {a} {op} {b}?", f"What is {a}{op}{b}?", f"Calculate {a} {op} {b}."])
    return ask, f"{a} {op} {b} = {value}."


def _exchange(kind: str, rng: random.Random, state: dict) -> tuple[str, str]:
    """One user message and its reply; ``state`` carries the user's and the bot's names."""
    if kind == "greet":
        return rng.choice(GREETINGS), rng.choice(GREETING_REPLIES)
    if kind == "how":
        return rng.choice(["How are you?", "How are you doing?"]), "I'm doing well, thank you! How can I help?"
    if kind == "arith":
        return _arith(rng)
    if kind == "intro":
        state["name"] = rng.choice(NAMES)
        return rng.choice(NAME_INTROS).format(state["name"]), f"Nice to meet you, {state['name']}!"
    if kind == "ask":
        if "name" in state:
            return rng.choice(NAME_ASKS), f"Your name is {state['name']}."
        return rng.choice(NAME_ASKS), "I don't know your name yet. What is it?"
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
    return rng.choice(BOT_ASKS), f"My name is {bot}." if bot else "I am a small demo model."


def plan_conversation(rng: random.Random, bot: bool = False) -> list[str]:
    """The kinds of 1-5 exchanges. Most multi-turn ones give a name and ask for it 0-3 exchanges later;
    under a "Your name is ..." system prompt the bot is asked for its own name more often."""
    n = rng.choices([1, 2, 3, 4, 5], weights=EXCHANGE_WEIGHTS)[0]
    kinds: list[str | None] = [None] * n
    roll = rng.random()
    if n >= 2 and roll < 0.65:
        ask = rng.randrange(1, n)
        intro = rng.randrange(max(0, ask - 4), ask)
        kinds[intro], kinds[ask] = "intro", "ask"
        for later in range(ask + 1, n):  # sometimes asked again
            if rng.random() < 0.25:
                kinds[later] = "ask"
    elif roll < 0.8:
        spot = rng.randrange(n)
        kinds[spot] = "ask" if rng.random() < 0.4 else "intro"  # unknown name, or a name never asked for
        if kinds[spot] == "ask" and spot + 1 < n and rng.random() < 0.5:
            kinds[spot + 1] = "intro"  # "I don't know your name yet. What is it?" answered
    if kinds[0] is None and rng.random() < 0.5:
        kinds[0] = "greet"
    if kinds[-1] is None and n > 1 and rng.random() < 0.15:
        kinds[-1] = "bye"
    weights = [w * 4 if kind == "bot" and bot else w for kind, w in zip(FILLERS, FILLER_WEIGHTS)]
    return [k or rng.choices(FILLERS, weights=weights)[0] for k in kinds]


def make_conversation(rng: random.Random) -> list[dict]:
    """One synthetic conversation of 1-5 exchanges, sometimes with a system prompt."""
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
    for kind in plan_conversation(rng, bot="bot" in state):
        user, reply = _exchange(kind, rng, state)
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": reply.upper() if shout else reply})
    return messages


def build_tokenizer(texts: list[str], vocab_size: int, out: Path):
    """Byte-level BPE with the three ChatML specials, saved via PreTrainedTokenizerFast.

    With 1024 tokens each name and each number up to about 90 (with its leading space) becomes one token, so
    recalling a name is a one-token copy and a sum is a one-token lookup from its two operands.
    """
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
    rendered = render(get_family("chatml").template, messages, RenderCall(add_generation_prompt=False))
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


def packed_rows(examples: list[tuple[list[int], list[int]]], width: int, pad: int, rng: random.Random):
    """Endless rows of ``width`` tokens, each packing whole conversations taken in a shuffled order.

    Yields (inputs, targets, loss mask, segment ids); padding has segment -1. A conversation goes into the
    first of 8 open rows with room for it; when none has, the fullest row is emitted. Packing computes
    little padding while every batch stays a random mix of conversations (batching by length would group
    them by kind, since a conversation's length gives away what it is about).
    """

    def build(row: list[int]) -> tuple[list[int], ...]:
        inputs, targets, mask, segments = [], [], [], []
        for segment, i in enumerate(row):
            ids, wanted = examples[i]
            inputs += ids[:-1]
            targets += ids[1:]
            mask += wanted[1:]
            segments += [segment] * (len(ids) - 1)
        fill = width - len(inputs)
        return inputs + [pad] * fill, targets + [pad] * fill, mask + [0] * fill, segments + [-1] * fill

    order = list(range(len(examples)))
    rows: list[list[int]] = []
    room: list[int] = []
    while True:
        rng.shuffle(order)
        for i in order:
            need = len(examples[i][0]) - 1
            k = next((k for k, free in enumerate(room) if free >= need), None)
            if k is None:
                if len(rows) == 8:
                    fullest = room.index(min(room))
                    room.pop(fullest)
                    yield build(rows.pop(fullest))
                rows.append([])
                room.append(width)
                k = len(rows) - 1
            rows[k].append(i)
            room[k] -= need


def train(args: argparse.Namespace) -> None:
    from mlx_lm.models import llama
    from mlx_lm.utils import save_config, save_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    mx.random.seed(args.seed)
    conversations = [make_conversation(rng) for _ in range(args.conversations)]
    chatml = get_family("chatml").template
    texts = [render(chatml, c, RenderCall(add_generation_prompt=False)).text for c in conversations]
    config = dict(DEFAULT_CONFIG, vocab_size=args.vocab_size)
    tokenizer = build_tokenizer(texts, config["vocab_size"], out)
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")

    examples = [e for e in (encode_example(tokenizer, c, args.seq_len) for c in conversations) if e]
    if len(examples) < len(conversations):
        raise SystemExit(f"{len(conversations) - len(examples)} conversations do not fit --seq-len {args.seq_len}")
    lengths = [len(ids) - 1 for ids, _ in examples]  # inputs are the tokens but the last, targets all but the first
    print(f"{len(examples)} examples of {min(lengths)}-{max(lengths)} tokens, BLAS: {BLAS.describe()}", flush=True)

    model = llama.Model(llama.ModelArgs.from_dict(config))
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"model: {n_params / 1e6:.2f}M parameters", flush=True)

    def loss_fn(model, x, y, m, segments):
        # The Llama forward pass of mlx-lm with a block-diagonal causal mask: a token sees only the earlier
        # tokens of its own conversation. RoPE depends on relative positions only, so each packed
        # conversation is computed exactly as if it were alone in the row.
        positions = mx.arange(x.shape[1])
        causal = positions[None, :, None] >= positions[None, None, :]
        mask = (causal & (segments[:, :, None] == segments[:, None, :]))[:, None]
        h = model.model.embed_tokens(x)
        for layer in model.model.layers:
            h = layer(h, mask)
        logits = model.model.embed_tokens.as_linear(model.model.norm(h))
        losses = nn.losses.cross_entropy(logits, y, reduction="none")
        return (losses * m).sum() / m.sum()

    warmup = max(1, args.steps // 20)
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-5, args.lr, warmup), optim.cosine_decay(args.lr, args.steps - warmup, args.lr / 10)],
        [warmup],
    )
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    rows = packed_rows(examples, args.seq_len, pad, rng)

    def next_batch() -> list[mx.array]:
        columns = list(zip(*(next(rows) for _ in range(args.batch))))
        return [mx.array(c, dtype=mx.float32 if k == 2 else mx.int32) for k, c in enumerate(columns)]
    started = time.time()
    recent: list[float] = []
    for step in range(1, args.steps + 1):
        loss, grads = step_fn(model, *next_batch())
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        recent = (recent + [loss.item()])[-args.log_every :]
        if step % args.log_every == 0 or step == args.steps:
            mean = sum(recent) / len(recent)
            print(f"step {step}/{args.steps} loss {mean:.3f} ({time.time() - started:.0f} s)", flush=True)
    seconds = time.time() - started
    final_loss = sum(recent) / len(recent)  # the mean over the last log_every steps

    model.update(tree_unflatten([(k, v.astype(mx.float16)) for k, v in tree_flatten(model.parameters())]))
    save_model(out, model)
    save_config(dict(config, torch_dtype="float16"), out / "config.json")
    # Sampling defaults only: no eos_token_id, which would repair the EOS for plain mlx-lm.
    (out / "generation_config.json").write_text(json.dumps(GENERATION_DEFAULTS, indent=2) + "\n")
    (out / "training.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "steps": args.steps,
                "batch": args.batch,
                "seq_len": args.seq_len,
                "lr": args.lr,
                "conversations": args.conversations,
                "exchanges": "1-5",
                "longest_example_tokens": max(lengths) + 1,
                "vocab_size": config["vocab_size"],
                "final_loss": round(final_loss, 4),
                "parameters": n_params,
                "seconds": round(seconds, 1),
                "blas": BLAS.name,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"saved to {out} (final loss {final_loss:.3f}, ppl {math.exp(final_loss):.2f}, {seconds:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "assets" / "demo-model"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16, help="rows of --seq-len tokens per step")
    parser.add_argument("--seq-len", type=int, default=192, help="row width; conversations are packed into rows")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--conversations", type=int, default=40000)
    parser.add_argument("--log-every", type=int, default=50)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
