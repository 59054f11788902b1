"""The bench command runs end to end and reports every figure (no timing assertions: figures are
measurements, not tests), and the server it starts dies with it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REQUIRED = {"raw_tps", "engine_tps", "engine_vs_raw", "ui_tps", "ui_vs_raw", "ttft_turn1_s", "ttft_turn3_s",
            "ttft_growth", "ttft_growth_nocache", "render_us", "render_segments_us", "blas", "model_params",
            "ttft_growth_mlx_lm", "page_ready_s", "model_ready_s", "demo_engine_tps", "logprobs_vs_plain", "compare3_vs_single",
            "sessions4_vs_single"}
API_FIGURES = {"api_tps", "mlx_lm_server_tps", "api_vs_mlx_lm_server_1", "api_vs_mlx_lm_server_4", "prefix_ttft_ratio",
               "prefix_ttft_ratio_mlx_lm_server"}


def test_bench_reports_all_figures_as_json(toy_llama3):
    proc = subprocess.run(
        [sys.executable, "-m", "playground.cli", "bench", "--model", str(toy_llama3), "--tokens", "12",
         "--turns", "3", "--repeats", "2", "--json", "--markdown"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results) >= REQUIRED | API_FIGURES
    assert results["model_params"] > 0 and results["raw_tps"] > 0 and results["engine_tps"] > 0
    assert results["ui_tps"] > 0 and results["ttft_turn1_s"] > 0 and results["render_us"] > 0
    assert results["render_segments_us"] > 0
    assert "ttft_turn10_s" not in results  # key names follow --turns
    assert any(line.startswith("engine_vs_raw ") for line in proc.stdout.splitlines())  # the readable table
    assert "| `compare3_vs_single` |" in proc.stdout  # --markdown: the README table, targets checked
    assert "through the Gradio app" in proc.stderr  # progress lines


def test_bench_only_api_measures_the_api_beside_a_real_mlx_lm_server(toy_llama3):
    proc = subprocess.run(
        [sys.executable, "-m", "playground.cli", "bench", "--model", str(toy_llama3), "--only", "api", "--tokens", "12",
         "--repeats", "2", "--json", "--markdown"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results) >= API_FIGURES and "engine_vs_raw" not in results and "page_ready_s" not in results
    assert all(results[name] > 0 for name in API_FIGURES)
    assert "| `prefix_ttft_ratio` |" in proc.stdout and "mlx_lm.server" in proc.stderr


def test_bench_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "playground.cli", "bench", "--tokens", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "argument --tokens: must be at least 2, got 1" in proc.stderr


def _children(pid: int) -> dict[int, str]:
    """This process's children (Linux /proc): pid -> command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_bench_takes_the_server_it_started_with_it(toy_llama3):
    bench = subprocess.Popen(
        [sys.executable, "-m", "playground.cli", "bench", "--model", str(toy_llama3), "--tokens", "400",
         "--turns", "2", "--repeats", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline, server = time.monotonic() + 300, None
        while server is None and time.monotonic() < deadline and bench.poll() is None:
            server = next((pid for pid, cmd in _children(bench.pid).items() if " serve " in cmd), None)
            time.sleep(0.2)
        assert server is not None, "the bench never started its server"
        bench.send_signal(signal.SIGKILL)  # no cleanup code of the bench runs
        bench.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), "the bench's server outlived it"
    finally:
        if bench.poll() is None:
            bench.kill()
