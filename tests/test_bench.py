"""The bench command runs end to end and reports every figure (no timing assertions: figures are
measurements, not tests)."""

from __future__ import annotations

import json
import subprocess
import sys

REQUIRED = {"raw_tps", "engine_tps", "engine_vs_raw", "ui_tps", "ui_vs_raw", "ttft_turn1_s", "ttft_turn3_s",
            "ttft_growth", "ttft_growth_nocache", "render_us", "render_segments_us", "blas", "model_params",
            "ttft_growth_mlx_lm", "page_ready_s", "model_ready_s", "demo_engine_tps", "logprobs_vs_plain", "compare3_vs_single",
            "sessions4_vs_single"}


def test_bench_reports_all_figures_as_json(toy_llama3):
    proc = subprocess.run(
        [sys.executable, "-m", "playground.cli", "bench", "--model", str(toy_llama3), "--tokens", "12",
         "--turns", "3", "--repeats", "2", "--json", "--markdown"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(results) >= REQUIRED
    assert results["model_params"] > 0 and results["raw_tps"] > 0 and results["engine_tps"] > 0
    assert results["ui_tps"] > 0 and results["ttft_turn1_s"] > 0 and 0 < results["render_us"] < results["render_segments_us"]
    assert "ttft_turn10_s" not in results  # key names follow --turns
    assert any(line.startswith("engine_vs_raw ") for line in proc.stdout.splitlines())  # the readable table
    assert "| `compare3_vs_single` |" in proc.stdout  # --markdown: the README table, targets checked
    assert "through the Gradio app" in proc.stderr  # progress lines


def test_bench_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "playground.cli", "bench", "--tokens", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "argument --tokens: must be at least 2, got 1" in proc.stderr
