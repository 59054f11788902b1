"""Inference servers for the backend tests: real mlx_lm.server processes and a replaying stub.

``MlxServer`` starts ``mlx_lm.server`` (alone, or as two ranks under ``mlx.launch --backend ring`` on
127.0.0.1) on a free loopback port, in its own process group, and waits (bounded) for ``/health``.
``StubServer`` is a tiny threaded HTTP server on loopback that records every request and answers with
canned responses: the request/response shapes documented by vLLM, llama.cpp and Ollama, which cannot run
here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from conftest import DEMO_MODEL

from playground.backends.local.blas import ensure_fast_blas
from playground.ports import free_port
from playground.tied import tied_popen

VENV_BIN = Path(sys.executable).parent


def server_env(tmp: Path) -> dict[str, str]:
    """Offline, a private (empty) HF cache so /v1/models works, and the BLAS the tests' engine uses, so the
    server computes the same logits as the local backend."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp / "hf-cache"), "OPENBLAS_NUM_THREADS": "1"}
    (tmp / "hf-cache").mkdir(parents=True, exist_ok=True)
    blas = ensure_fast_blas()
    if blas.name == "openblas" and blas.library:
        env["LD_PRELOAD"] = blas.library
    env.pop("MLX_PLAYGROUND_API_KEY", None)
    return env


class MlxServer:
    """One mlx_lm.server (``ranks`` > 1: under mlx.launch with the ring backend on this machine)."""

    def __init__(self, model: Path, tmp: Path, *, ranks: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self.log_path = tmp / f"mlx-server-{ranks}-{self.port}.log"
        server = [str(VENV_BIN / "mlx_lm.server"), "--model", str(model), "--port", str(self.port)]
        if ranks > 1:
            # -n repeats host 127.0.0.1; mlx.launch writes the ring hostfile itself (ranks listen on
            # consecutive ports from --starting-port). Rank 0 serves HTTP.
            command = [
                str(VENV_BIN / "mlx.launch"),
                "-n",
                str(ranks),
                "--backend",
                "ring",
                "--starting-port",
                str(free_port()),
                "--",
                *server,
            ]
        else:
            command = server
        self.ranks = ranks
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = tied_popen(  # the server (and every rank) ends with the tests, even when they are killed
            command,
            group=ranks > 1,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # a pipe nobody writes to: mlx.launch polls its stdin, and an empty (DEVNULL) one never blocks
            stdin=subprocess.PIPE,
            env=server_env(tmp),
            start_new_session=True,  # its own process group: stop() ends the launcher and every rank
        )
        self.startup_s: float | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> MlxServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    self.startup_s = time.perf_counter() - self.started
                    if self.ranks > 1:
                        self._quiet_launcher()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {timeout} s:\n{self.log_tail()}")

    def _quiet_launcher(self) -> None:
        """mlx.launch forwards the ranks' output with threads that poll in a busy loop (about half a core).
        Lower those threads' priority (theirs only: the ranks were started at normal priority), so the
        ranks and the tests get the CPU on a small machine. Lowering a priority needs no privileges."""
        try:
            tasks = os.listdir(f"/proc/{self.proc.pid}/task")
        except OSError:
            return
        for task in tasks:
            with contextlib.suppress(OSError, ValueError):
                os.setpriority(os.PRIO_PROCESS, int(task), 19)

    def healthy(self) -> bool:
        try:
            return self.proc.poll() is None and httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.ranks > 1:  # ranks left behind by a launcher that ended first (same process group)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._log.close()


# ---------------------------------------------------------------------------------------------- the stub


class Reply:
    """A canned answer: status, headers, and a body (bytes) or a list of chunks written with flushes."""

    def __init__(self, status=200, body=None, *, chunks=None, content_type="application/json", delay=0.0):
        self.status = status
        self.body = body
        self.chunks = chunks
        self.content_type = content_type
        self.delay = delay

    @classmethod
    def json(cls, data, status=200):
        return cls(status, json.dumps(data).encode())

    @classmethod
    def sse(cls, events, *, delay=0.0):
        chunks = [f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n".encode() for e in events]
        return cls(200, chunks=chunks, content_type="text/event-stream", delay=delay)

    @classmethod
    def ndjson(cls, items, *, delay=0.0):
        chunks = [(json.dumps(i) + "\n").encode() for i in items]
        return cls(200, chunks=chunks, content_type="application/x-ndjson", delay=delay)


class StubServer:
    """A loopback HTTP server: ``routes[(method, path)]`` is a Reply or a function of the request body.
    Unknown routes get 404. Every request is recorded in ``requests`` as (method, path, headers, body)."""

    def __init__(self, routes: dict[tuple[str, str], Reply | Callable[[dict], Reply]]):
        self.routes = dict(routes)
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        self.disconnects = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "stub/1.0"  # not Python's "BaseHTTP" (mlx_lm.server's header)
            sys_version = ""

            def log_message(self, *args):  # quiet
                pass

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                stub.requests.append((method, self.path, dict(self.headers), body))
                reply = stub.routes.get((method, self.path))
                if callable(reply):
                    reply = reply(body)
                if reply is None:
                    reply = Reply(404, b"Not Found", content_type="text/plain")
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.chunks is None:
                    data = reply.body or b""
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in reply.chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if reply.delay:
                            time.sleep(reply.delay)
                except (BrokenPipeError, ConnectionResetError):
                    stub.disconnects += 1
                self.close_connection = True

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def posts(self, path: str) -> list[dict]:
        return [body for method, p, _, body in self.requests if method == "POST" and p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------- model variants


def _variant(tmp_path, name, edit):
    folder = tmp_path / name
    shutil.copytree(DEMO_MODEL, folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    edit(tokenizer, config)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def bos_model(tmp_path):
    """The demo model with <|endoftext|> as a BOS token that the tokenizer adds (like Llama's <s>)."""

    def edit(tokenizer, config):
        bos = {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}
        tokenizer["post_processor"] = {
            "type": "Sequence",
            "processors": [
                tokenizer["post_processor"],
                {
                    "type": "TemplateProcessing",
                    "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                    "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}},
                },
            ],
        }
        config["bos_token"] = "<|endoftext|>"

    return _variant(tmp_path, "demo-bos", edit)


BOS_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{{ '<|im_start|>assistant\\n' }}"
)


def think_model(tmp_path):
    """The demo model whose tokens "Hi" and " today" are named <think> and </think> (the model's reply to
    "Hello!" then wraps most of itself in think tags, and mlx_lm.server detects a thinking tokenizer)."""

    def edit(tokenizer, config):
        renamed = {"Hi": "<think>", "Ġtoday": "</think>"}
        vocab = tokenizer["model"]["vocab"]
        for old, new in renamed.items():
            vocab[new] = vocab.pop(old)

        def parts(merge):
            return merge.split(" ") if isinstance(merge, str) else merge

        tokenizer["model"]["merges"] = [
            m for m in tokenizer["model"]["merges"] if not set(parts(m)) & set(renamed) and "".join(parts(m)) not in renamed
        ]

    return _variant(tmp_path, "demo-think", edit)
