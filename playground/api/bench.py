"""The bench's API part: our API (``mlx-playground serve --api-only``) against a real ``mlx_lm.server``, side by side
in one run, on the same model and the same prompts, each server in its own process and the clients in the bench's.

Both get ``/v1/completions`` with the same raw prompt text (so neither applies a template) at temperature 0, and the
bench model never stops by itself, so every run streams exactly ``tokens`` tokens. ``api_vs_mlx_lm_server_1``: the
tokens/s one streaming client sees, ours over mlx_lm.server's; ``api_vs_mlx_lm_server_4``: the total tokens/s of
four clients streaming at once. ``prefix_ttft_ratio``: the time to the first token of a request whose 2,000-token
prefix an earlier request left in the cache, over that earlier request's (a fresh prefix each time), with
mlx_lm.server's own ratio for the same pattern beside it. mlx_lm.server gets the same BLAS library as ours.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ..tied import tied_popen, wait_serving

PREFIX_TOKENS = 2000
#: Seconds a server has to answer its first request.
START_TIMEOUT_S = 180


def _stream(base: str, prompt: str, max_tokens: int) -> tuple[float, float, float, int]:
    """One streamed completion: (sent, first text, last text, chunks with text)."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "stream": True}
    sent, first, last, count = time.perf_counter(), None, 0.0, 0
    with httpx.stream("POST", f"{base}/completions", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("text"):
                now = time.perf_counter()
                first = first if first is not None else now
                last, count = now, count + 1
    return sent, first or last, last, count


def _tps(base: str, prompt: str, tokens: int) -> float:
    _, first, last, _ = _stream(base, prompt, tokens)
    return (tokens - 1) / (last - first) if last > first else 0.0


def _tps_concurrent(base: str, prompts: list[str], tokens: int) -> float:
    ends: list[float] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda p=p: ends.append(_stream(base, p, tokens)[2])) for p in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(prompts) * tokens / (max(ends) - started)


def _prefix_ratio(base: str, prefix: str) -> float:
    """TTFT of a request whose prefix is cached (by the request before) / TTFT of that first request."""
    first = _stream(base, prefix + " What is the first word?", 4)
    second = _stream(base, prefix + " Tell me the last word now.", 4)
    return (second[1] - second[0]) / (first[1] - first[0])


def _servers(model: str) -> tuple[list[subprocess.Popen], str, str]:
    """Start both servers (tied to this process); returns them and their base URLs (ours, mlx_lm.server's)."""
    from ..backends.local.blas import ensure_fast_blas
    from ..ports import free_port

    ours_port, theirs_port = free_port(), free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    blas = ensure_fast_blas()
    theirs_env = {**env, "LD_PRELOAD": blas.library} if blas.name == "openblas" and blas.library else env
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    ours = [sys.executable, "-m", "playground.cli", "serve", "--api-only", "--model", model, "--port", str(ours_port)]
    theirs = [str(Path(sys.executable).parent / "mlx_lm.server"), "--model", model, "--port", str(theirs_port)]
    processes = [tied_popen(ours, env=env, **quiet), tied_popen(theirs, env=theirs_env, **quiet)]
    bases = f"http://127.0.0.1:{ours_port}/v1", f"http://127.0.0.1:{theirs_port}/v1"
    try:
        wait_serving(
            processes[0], f"{bases[0]}/models", name="mlx-playground serve --api-only", timeout_s=START_TIMEOUT_S
        )
        wait_serving(
            processes[1], f"http://127.0.0.1:{theirs_port}/health", name="mlx_lm.server", timeout_s=START_TIMEOUT_S
        )
    except BaseException:
        _stop(processes)
        raise
    return processes, *bases


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def api_figures(bench: Any, alternate: Callable) -> dict[str, Any]:
    """The API part of the bench (see the module's docstring); ``alternate`` is the bench's A/B pairing."""
    bench.progress("the API vs a real mlx_lm.server (both in their own processes; 1 and 4 streaming clients) ...")
    tokenizer = bench.loaded.tokenizer
    words = [w for w in tokenizer.get_vocab() if w.isalnum()][:4000]
    prompt = " ".join(words[:16])
    prompts = [" ".join(words[i * 16 : (i + 1) * 16]) for i in range(1, 5)]
    processes, ours, theirs = _servers(bench.model)
    try:
        for base in (ours, theirs):
            _stream(base, prompt, 8)  # warm-up
        tokens, repeats = bench.tokens, bench.repeats
        theirs1, ours1, ratio1 = alternate(
            lambda: _tps(theirs, prompt, tokens), lambda: _tps(ours, prompt, tokens), repeats
        )
        theirs4, ours4, ratio4 = alternate(
            lambda: _tps_concurrent(theirs, prompts, tokens), lambda: _tps_concurrent(ours, prompts, tokens), repeats
        )
        bench.progress(f"time to first token with a cached {PREFIX_TOKENS:,}-token prefix vs without ...")
        prefixes = iter(range(10_000))

        def fresh_prefix() -> str:  # a prefix no earlier request had (words in another order)
            shift = next(prefixes) % len(words)
            return " ".join((words[shift:] + words[:shift])[:PREFIX_TOKENS])

        ours_prefix = statistics.median(_prefix_ratio(ours, fresh_prefix()) for _ in range(repeats))
        theirs_prefix = statistics.median(_prefix_ratio(theirs, fresh_prefix()) for _ in range(repeats))
    finally:
        _stop(processes)
    return {
        "api_tps": round(ours1, 2),
        "mlx_lm_server_tps": round(theirs1, 2),
        "api_vs_mlx_lm_server_1": round(ratio1, 4),
        "api_tps_4": round(ours4, 2),
        "mlx_lm_server_tps_4": round(theirs4, 2),
        "api_vs_mlx_lm_server_4": round(ratio4, 4),
        "prefix_ttft_ratio": round(ours_prefix, 4),
        "prefix_ttft_ratio_mlx_lm_server": round(theirs_prefix, 4),
    }
