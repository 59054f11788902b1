"""``mlx-playground bench``: speed figures measured side by side in one run.

Ratios come from alternating runs (A B A B ...): each pair gives one ratio and the median is reported,
so slow drifts of a noisy machine hit both sides alike.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.local.blas import ensure_fast_blas
from .backends.local.prompt_cache import PromptCacheState
from .engine import Engine
from .families import get_family
from .prepare import ChatRequest
from .settings import GenerationSettings
from .templates import render
from .tied import tied_popen, wait_serving

# Proportions of current small chat models (Qwen2.5 / Llama 3.2): grouped-query attention, a wide MLP.
BENCH_MODEL = dict(vocab_size=32000, hidden_size=512, num_layers=8, intermediate_size=2816, num_heads=8, num_kv_heads=2)
BENCH_CONTEXT = 4096


def _rate(count: int, first: float | None, last: float) -> float:
    if first is None or count < 2 or last <= first:
        return 0.0
    return (count - 1) / (last - first)  # tokens after the first, over the time they took to arrive


def raw_run(loaded: Any, tokens: list[int], settings: GenerationSettings) -> float:
    """Plain mlx_lm.stream_generate with the same sampler: streaming tokens/s seen by its consumer."""
    import mlx.core as mx
    from mlx_lm import stream_generate

    from .settings import make_logits_processors, make_sampler

    first, count = None, 0
    for _ in stream_generate(
        loaded.model,
        loaded.tokenizer,
        mx.array(tokens),
        max_tokens=settings.max_tokens,
        sampler=make_sampler(settings, settings.seed),
        logits_processors=make_logits_processors(settings),
    ):
        count += 1
        if first is None:
            first = time.perf_counter()
    return _rate(count, first, time.perf_counter())


def engine_run(engine: Engine, prepared: Any) -> float:
    """Our path as every edge uses it (the scheduler's thread, typed events, the reply parsed as it grows):
    tokens/s seen by the consumer."""
    first, reply = None, None
    for reply in engine.reply(prepared):
        if first is None and reply.generated_tokens:
            first = time.perf_counter()
    return _rate(reply.generated_tokens if reply else 0, first, time.perf_counter())


def concurrent_wall(engine: Engine, prepared: list[Any]) -> float:
    """Seconds until every request of ``prepared`` (submitted at once, as Compare does) has finished."""
    import threading

    started = time.perf_counter()
    threads = [threading.Thread(target=lambda p=p: engine.generate(p)) for p in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def ui_client(url: str) -> Any:
    """A gradio_client client of the running app, connected (as a browser tab is before its user sends)."""
    from gradio_client import Client

    return Client(url, verbose=False)


def ui_chat(client: Any, text: str, max_tokens: int) -> tuple[float, float, int]:
    """One chat turn through the running app, as the browser does it: /send, then /stream (named API
    parameters). Returns (time of the first streamed text, time of the end, tokens)."""
    client.predict(
        message={"text": text, "files": []},
        temperature="0",
        max_tokens=str(max_tokens),
        seed="0",
        logprobs=False,
        api_name="/send",
    )
    first, stats = None, ""
    job = client.submit(api_name="/stream")
    for update in job:
        history, stats = update[0], update[1] if isinstance(update[1], str) else stats
        if first is None and history and history[-1].get("role") == "assistant" and _text(history[-1]):
            first = time.perf_counter()
    job.result()
    counted = re.search(r"(\d+) tokens", stats)  # the reply's stats line: "**length** · 200 tokens · ..."
    return first or time.perf_counter(), time.perf_counter(), int(counted.group(1)) if counted else 0


def _text(item: dict) -> str:
    content = item.get("content")
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content or "")


def ui_tps(url: str, text: str, max_tokens: int) -> float:
    """Tokens/s of one chat turn through the app (token count from the reply's stats line)."""
    first, last, count = ui_chat(ui_client(url), text, max_tokens)
    return _rate(count, first, last)


def sessions_tps(url: str, text: str, max_tokens: int, sessions: int) -> float:
    """Total tokens/s of ``sessions`` chat sessions sending at the same time through the app (each client is
    connected before the clock starts, as open browser tabs are)."""
    import threading

    results: list[tuple[float, float, int]] = []
    clients = [ui_client(url) for _ in range(sessions)]
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda c=c: results.append(ui_chat(c, text, max_tokens))) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    end = max(r[1] for r in results)
    return sum(r[2] for r in results) / (end - started)


def alternate(a: Callable[[], float], b: Callable[[], float], repeats: int) -> tuple[float, float, float]:
    """Median of A, median of B, and the median of the per-pair ratios B/A. Pairs run A B, B A, A B, ... so a
    machine that speeds up or slows down over the run favours neither side."""
    a_values, b_values, ratios = [], [], []
    for index in range(repeats):
        if index % 2 == 0:
            x, y = a(), b()
        else:
            y, x = b(), a()
        a_values.append(x)
        b_values.append(y)
        ratios.append(y / x if x else 0.0)
    return statistics.median(a_values), statistics.median(b_values), statistics.median(ratios)


#: A moderate schema for ``constrained_vs_plain``: a list of objects with a number, an enum, a bounded string and
#: a nested array, without an end (no maxItems), so a random-weight model writes items until the token limit.
BENCH_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "kind": {"enum": ["alpha", "beta", "gamma"]},
                    "label": {"type": "string", "maxLength": 16},
                    "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
                },
                "required": ["id", "kind", "label", "tags"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["items"],
    "additionalProperties": False,
}


def steered_run(engine: Engine, prepared: Any, stats: list[dict]) -> float:
    """:func:`engine_run` that also keeps the final event's steering figures (mask time per token)."""
    first, final = None, None
    for event in engine.stream(prepared):
        if first is None and event.generation_tokens:
            first = time.perf_counter()
        final = event
    if final is not None and final.steering is not None:
        stats.append(final.steering)
    return _rate(final.generation_tokens if final else 0, first, time.perf_counter())


def constrained_figures(engine: Engine, model: str, tokens: int, repeats: int) -> dict[str, Any]:
    """Tokens/s with :data:`BENCH_SCHEMA` vs without (same model, alternating), and llguidance's mask time per token
    on this model and on the demo model."""
    import json

    from .constraints import Constraint
    from .models import demo_model_path

    constraint = Constraint("json_schema", json.dumps(BENCH_SCHEMA))
    settings = GenerationSettings(temperature=0.0, max_tokens=tokens, seed=0)
    request = ChatRequest(messages=({"role": "user", "content": "List some items."},), settings=settings)
    loaded = engine.load(model)
    plain = engine.prepare(loaded, request)
    steered = engine.prepare(loaded, request.replace(constraint=constraint))
    stats: list[dict] = []
    engine_run(engine, plain)  # warm-up
    steered_run(engine, steered, [])
    free, constrained, ratio = alternate(
        lambda: engine_run(engine, plain), lambda: steered_run(engine, steered, stats), repeats
    )
    demo = engine.load(str(demo_model_path()))
    demo_stats: list[dict] = []
    steered_run(engine, engine.prepare(demo, request.replace(constraint=constraint)), demo_stats)
    return {
        "constrained_plain_tps": round(free, 2),
        "constrained_tps": round(constrained, 2),
        "constrained_vs_plain": round(ratio, 4),
        "constrained_tokens": statistics.median(s["masked_tokens"] for s in stats),
        "mask_ms_per_token": statistics.median(s["mask_ms_per_token"] for s in stats),
        "mask_ms_per_token_demo": demo_stats[0]["mask_ms_per_token"],
    }


# Before each turn the bench waits as a user does (reading, typing): the step a generator computed ahead of the
# previous reply's end is then finished, instead of landing in this turn's time to first token.
THINK_TIME_S = 0.1


def _turn_message(turn: int) -> dict:
    words = [f"w{i}" for i in range(100 + turn * 20, 148 + turn * 20)]
    return {"role": "user", "content": " ".join(words)}


def chat_ttfts(engine: Engine, loaded: Any, turns: int, reply_tokens: int, reuse: bool) -> tuple[list[float], int]:
    """Time to first token of each turn of a growing chat through the engine (with or without KV-cache reuse),
    and the last turn's prompt length in tokens."""
    cache = PromptCacheState(enabled=reuse)
    messages: list[dict] = []
    ttfts, prompt_tokens = [], 0
    settings = GenerationSettings(temperature=0.0, max_tokens=reply_tokens)
    for turn in range(turns):
        messages.append(_turn_message(turn))
        prepared = engine.prepare(loaded, ChatRequest(messages=tuple(messages), settings=settings, wire_eos=False))
        time.sleep(THINK_TIME_S)
        result = engine.generate(prepared, cache=cache)
        ttfts.append(result.final.ttft_s)
        prompt_tokens = result.final.prompt_tokens
        messages.append({"role": "assistant", "content": result.text})
    return ttfts, prompt_tokens


def mlx_lm_chat_ttfts(engine: Engine, loaded: Any, turns: int, reply_tokens: int) -> list[float]:
    """The same conversation through plain mlx-lm: ``stream_generate`` with its own prompt cache, fed each turn
    only the tokens the cache does not hold yet; the time to its first token. The reference for our figure:
    what the model itself costs on this machine when a turn's new tokens attend to a longer cache."""
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(loaded.model)
    messages: list[dict] = []
    held: list[int] = []
    ttfts = []
    settings = GenerationSettings(temperature=0.0, max_tokens=reply_tokens)
    for turn in range(turns):
        messages.append(_turn_message(turn))
        prepared = engine.prepare(loaded, ChatRequest(messages=tuple(messages), settings=settings, wire_eos=False))
        tokens = list(prepared.token_ids)
        if tokens[: len(held)] != held:  # the reply did not tokenize back the same: start over
            cache, held = make_prompt_cache(loaded.model), []
        time.sleep(THINK_TIME_S)
        started, first, reply = time.perf_counter(), None, []
        for response in stream_generate(
            loaded.model, loaded.tokenizer, mx.array(tokens[len(held) :]), max_tokens=reply_tokens, prompt_cache=cache
        ):
            if first is None:
                first = time.perf_counter() - started
            reply.append(response.token)
        ttfts.append(first or 0.0)
        held = tokens + reply
        messages.append({"role": "assistant", "content": loaded.tokenizer.decode(reply)})
    return ttfts


def ttft_growth(engine: Engine, loaded: Any, turns: int, reply_tokens: int, runs: int) -> dict[str, float]:
    """Median time to first token at turn 1 and at the last turn over ``runs`` conversations: through the engine
    with KV-cache reuse and through plain mlx-lm with its prompt cache (alternating), and through the engine
    without reuse."""
    ours, plain = [], []
    for _ in range(runs):
        ours.append(chat_ttfts(engine, loaded, turns, reply_tokens, reuse=True))
        plain.append(mlx_lm_chat_ttfts(engine, loaded, turns, reply_tokens))
    fresh = [chat_ttfts(engine, loaded, turns, reply_tokens, reuse=False) for _ in range(max(1, runs // 2))]

    def growth(ttfts: list[list[float]]) -> tuple[float, float]:
        return statistics.median(t[0] for t in ttfts), statistics.median(t[-1] for t in ttfts)

    first, last = growth([o[0] for o in ours])
    first_nc, last_nc = growth([f[0] for f in fresh])
    plain_first, plain_last = growth(plain)
    return {
        "ttft_turn1_s": round(first, 4),
        f"ttft_turn{turns}_s": round(last, 4),
        "ttft_growth": round(last / first, 3),
        "ttft_growth_mlx_lm": round(plain_last / plain_first, 3),
        "ttft_turn1_nocache_s": round(first_nc, 4),
        f"ttft_turn{turns}_nocache_s": round(last_nc, 4),
        "ttft_growth_nocache": round(last_nc / first_nc, 3),
        "ttft_context_tokens": ours[0][1],
    }


def render_us(template_name: str = "chatml", number: int = 1000, *, segments: bool = False) -> float:
    """Microseconds to render a 10-message conversation with a cached compiled template: the prompt a request
    sends (``segments=False``), or also the segments that colour the prompt panel, which cost a second,
    probe render (``segments=True``)."""
    template = get_family(template_name).template
    messages = [{"role": "system", "content": "You are a helpful assistant."}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}: some ordinary text"} for i in range(9)
    ]
    render(template, messages, with_segments=segments)
    best = min(timeit.repeat(lambda: render(template, messages, with_segments=segments), number=number, repeat=5))
    return best / number * 1e6


def start_server(model: str, port: int) -> tuple[subprocess.Popen, str, float]:
    """``mlx-playground serve`` in its own process, as a user starts it (the browser is another process):
    the process, its URL and the seconds until the page answered."""
    started = time.perf_counter()
    proc = tied_popen(  # it dies with the bench, even when the bench is killed
        [sys.executable, "-m", "playground.cli", "serve", "--model", model, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_serving(proc, url, name="mlx-playground serve", timeout_s=120, interval_s=0.05)
    except RuntimeError:
        stop_server(proc)
        raise
    return proc, url, time.perf_counter() - started


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def page_ready(model: str, port: int) -> tuple[float, float]:
    """Seconds from starting ``mlx-playground serve`` to the page answering, and to the model being loaded."""
    from gradio_client import Client

    started = time.perf_counter()
    proc, url, page = start_server(model, port)
    try:
        Client(url, verbose=False).predict(api_name="/page_load")
        return page, time.perf_counter() - started
    finally:
        stop_server(proc)


#: The bench's parts (``bench --only PART``).
PARTS = ("engine", "ui", "structured", "ttft", "demo", "api", "startup")


@dataclass
class BenchContext:
    """What every part of the bench measures with: the engine, the bench model and its plain request."""

    engine: Engine
    loaded: Any
    model: str
    request: ChatRequest
    tokens: int
    repeats: int
    progress: Callable[[str], None]


def run_bench(
    model: str | None = None,
    tokens: int = 200,
    turns: int = 10,
    repeats: int = 7,  # this machine's speed drifts: 5 pairs left the medians 2-3 % apart from run to run
    progress: Callable[[str], None] = print,
    *,
    only: str | None = None,
) -> dict[str, Any]:
    """Measure everything (or only the part ``only`` names, one of :data:`PARTS`); returns the figures (also
    printed through ``progress``)."""
    from .api.bench import api_figures
    from .toy import ToyShape, build_toy_model

    blas = ensure_fast_blas()
    results: dict[str, Any] = {"blas": blas.describe(), "tokens": tokens, "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            progress("building a random-weight Llama-architecture bench model ...")
            shape = ToyShape(**BENCH_MODEL, max_position_embeddings=BENCH_CONTEXT)
            model = str(build_toy_model(Path(tmp) / "bench-llama", style="llama3", suppress_special=True, shape=shape))
        engine = Engine(max_models=2)
        loaded = engine.load(model)
        results["model"] = loaded.name
        results["model_params"] = loaded.num_parameters
        settings = GenerationSettings(temperature=0.0, max_tokens=tokens, seed=0)
        request = ChatRequest(messages=({"role": "user", "content": "Hello! " * 8},), settings=settings, wire_eos=False)
        progress(f"model: {loaded.num_parameters / 1e6:.1f}M parameters; BLAS: {blas.describe()}")
        bench = BenchContext(engine, loaded, model, request, tokens, repeats, progress)
        for name, part in (("engine", engine_figures), ("ui", ui_figures), ("structured", structured_figures)):
            if only in (None, name):
                results.update(part(bench))
        if only in (None, "ttft"):
            progress(
                f"time to first token over {turns} chat turns: with KV-cache reuse and plain mlx-lm with its prompt "
                "cache (alternating), and without reuse ..."
            )
            results.update(ttft_growth(engine, loaded, turns, 24, runs=repeats + 1))
        if only in (None, "demo"):
            results.update(demo_figures(bench))
        if only in (None, "api"):
            results.update(api_figures(bench, alternate))
    if only in (None, "startup"):
        results.update(startup_figures(progress))
    return results


def engine_figures(bench: BenchContext) -> dict[str, Any]:
    """The engine against plain mlx-lm; token probabilities on vs off; Compare's three columns vs one."""
    engine, loaded, repeats, progress = bench.engine, bench.loaded, bench.repeats, bench.progress
    plain = engine.prepare(loaded, bench.request)
    with_probs = engine.prepare(loaded, bench.request.replace(logprobs=5))
    ids, resolved = list(plain.token_ids), plain.settings
    raw_run(loaded, ids, resolved)  # warm-up
    engine_run(engine, plain)
    progress(f"raw mlx_lm.stream_generate vs engine, {repeats} alternating pairs of {bench.tokens} tokens ...")
    raw, ours, ratio = alternate(lambda: raw_run(loaded, ids, resolved), lambda: engine_run(engine, plain), repeats)
    out: dict[str, Any] = dict(raw_tps=round(raw, 2), engine_tps=round(ours, 2), engine_vs_raw=round(ratio, 4))
    progress("token probabilities (top 5) on vs off ...")
    off, on, lp_ratio = alternate(lambda: engine_run(engine, plain), lambda: engine_run(engine, with_probs), repeats)
    out.update(logprobs_off_tps=round(off, 2), logprobs_on_tps=round(on, 2), logprobs_vs_plain=round(lp_ratio, 4))
    progress("Compare: three columns in one batch vs one column ...")
    columns = [
        engine.prepare(loaded, bench.request.replace(messages=({"role": "user", "content": text},)))
        for text in ("Hello! " * 8, "Tell me something. " * 4, "What is two plus two? " * 3)
    ]
    one, three, c_ratio = alternate(
        lambda: concurrent_wall(engine, columns[:1]), lambda: concurrent_wall(engine, columns), repeats
    )
    out.update(compare1_s=round(one, 3), compare3_s=round(three, 3), compare3_vs_single=round(c_ratio, 4))
    return out


def structured_figures(bench: BenchContext) -> dict[str, Any]:
    """Structured output: tokens/s with a JSON schema vs without, on the bench model's shape with a byte-level
    vocabulary (JSON needs its punctuation as tokens), and the mask time per token."""
    from .toy import ToyShape, build_toy_model

    bench.progress("structured output: a JSON schema vs free, on the bench model with a byte-level vocabulary ...")
    with tempfile.TemporaryDirectory() as tmp:
        model = build_toy_model(
            Path(tmp) / "bench-bytes",
            style="llama3",
            suppress_special=True,
            byte_level=True,
            shape=ToyShape(**BENCH_MODEL, max_position_embeddings=BENCH_CONTEXT),
        )
        return constrained_figures(bench.engine, str(model), bench.tokens, bench.repeats)


def ui_figures(bench: BenchContext) -> dict[str, Any]:
    """Through the app (``mlx-playground serve`` in its own process): one session vs raw, four sessions vs one."""
    from .ports import free_port

    bench.progress(
        "through the Gradio app (mlx-playground serve in its own process, gradio_client streaming): "
        "one session vs raw, four sessions vs one ..."
    )
    plain = bench.engine.prepare(bench.loaded, bench.request)
    ids, resolved, tokens, repeats = list(plain.token_ids), plain.settings, bench.tokens, bench.repeats
    server, url, _ = start_server(bench.model, free_port())
    try:
        ui_tps(url, "Hello! " * 8, 16)  # warm-up (loads the model in the server)
        raw_ui, ui, ui_ratio = alternate(
            lambda: raw_run(bench.loaded, ids, resolved), lambda: ui_tps(url, "Hello! " * 8, tokens), repeats
        )
        single, four, s_ratio = alternate(
            lambda: sessions_tps(url, "Hello! " * 8, tokens, 1),
            lambda: sessions_tps(url, "Hello! " * 8, tokens, 4),
            max(3, repeats // 2 + 1),
        )
    finally:
        stop_server(server)
    return dict(
        ui_tps=round(ui, 2),
        ui_raw_tps=round(raw_ui, 2),
        ui_vs_raw=round(ui_ratio, 4),
        sessions1_tps=round(single, 2),
        sessions4_tps=round(four, 2),
        sessions4_vs_single=round(s_ratio, 4),
    )


def demo_figures(bench: BenchContext) -> dict[str, Any]:
    """The demo model: raw mlx-lm vs the engine."""
    from .models import demo_model_path

    bench.progress("the demo model: raw vs engine ...")
    engine = bench.engine
    demo = engine.load(str(demo_model_path()))
    settings = GenerationSettings(temperature=0.0, max_tokens=min(bench.tokens, 200), seed=0)
    request = ChatRequest(messages=({"role": "user", "content": "Hello!"},), settings=settings, wire_eos=False)
    prepared = engine.prepare(demo, request)
    ids = list(prepared.token_ids)
    raw, ours, ratio = alternate(
        lambda: raw_run(demo, ids, prepared.settings), lambda: engine_run(engine, prepared), bench.repeats
    )
    return dict(demo_raw_tps=round(raw, 1), demo_engine_tps=round(ours, 1), demo_engine_vs_raw=round(ratio, 4))


def startup_figures(progress: Callable[[str], None]) -> dict[str, Any]:
    """Rendering a conversation, and the page's start-up."""
    from .ports import free_port

    progress("template rendering and page start-up ...")
    page, ready = page_ready("demo", free_port())
    return {
        "render_us": round(render_us("chatml"), 1),
        "render_us_llama3.1": round(render_us("llama3.1"), 1),
        "render_segments_us": round(render_us("chatml", segments=True), 1),
        "page_ready_s": round(page, 2),
        "model_ready_s": round(ready, 2),
    }


#: figure -> (comparison, target, what it measures); checked against the run's own figures.
TARGETS: dict[str, tuple[str, float, str]] = {
    "engine_vs_raw": (">=", 0.98, "our engine (batching scheduler) vs plain mlx_lm.stream_generate, tokens/s"),
    "ui_vs_raw": (">=", 0.9, "through the Gradio app to a gradio_client client vs raw, tokens/s"),
    "ttft_growth": (
        "<=",
        1.3,
        "time to first token, last turn / turn 1, with KV-cache reuse (plain mlx-lm's own: `ttft_growth_mlx_lm`)",
    ),
    "render_us": ("<=", 100.0, "render a 10-message conversation (cached compiled template), µs"),
    "logprobs_vs_plain": (">=", 0.95, "tokens/s with top-5 token probabilities on vs off"),
    "constrained_vs_plain": (">=", 0.9, "tokens/s with a moderate JSON schema (llguidance mask) vs without"),
    "compare3_vs_single": ("<=", 1.4, "wall time of three Compare columns (one batch) / one column"),
    "sessions4_vs_single": (">=", 2.5, "total tokens/s of four chat sessions through the app / one session"),
    "api_vs_mlx_lm_server_1": (">=", 1.0, "tokens/s of one streaming API client, ours / a real mlx_lm.server's"),
    "api_vs_mlx_lm_server_4": (">=", 1.0, "total tokens/s of four streaming API clients, ours / mlx_lm.server's"),
    "prefix_ttft_ratio": (
        "<=",
        0.2,
        "TTFT with a cached 2,000-token prefix / without, through the API (mlx_lm.server's: "
        "`prefix_ttft_ratio_mlx_lm_server`)",
    ),
}


def format_markdown(results: dict[str, Any]) -> str:
    """The figures as the README's Markdown table: each target checked against this run's figure."""
    lines = ["| figure | measured | target | what it measures |", "| --- | --- | --- | --- |"]
    for key, (op, target, what) in TARGETS.items():
        if key not in results:
            continue
        value = results[key]
        met = value >= target if op == ">=" else value <= target
        lines.append(f"| `{key}` | {value} | {op} {target} ({'met' if met else 'NOT met'}) | {what} |")
    shown = set(TARGETS)
    for key, value in results.items():
        if key not in shown:
            lines.append(f"| `{key}` | {value} | | |")
    return "\n".join(lines)


def format_table(results: dict[str, Any]) -> str:
    """The figures as a readable two-column table."""
    width = max(len(k) for k in results)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in results.items())
