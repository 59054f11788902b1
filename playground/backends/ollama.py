"""The ``ollama`` backend: Ollama's native ``/api/generate`` with ``raw: true`` (NDJSON streaming).

``raw: true`` makes Ollama skip its Modelfile template, so the model gets the playground's rendered
prompt. The rest is Ollama's own shape: sampling settings go in ``options`` (all of them, explicitly:
Ollama's defaults are top-k 40 and a repeat penalty of 1.1), ``num_predict`` is the token limit, the wired
EOS tokens go as ``options.stop``, one JSON object arrives per line and the last one (``done: true``) has
``done_reason``, token counts and durations in nanoseconds. Token probabilities come as
``logprobs: [{token, logprob, top_logprobs}]`` (text only, no ids: ids are looked up in the tokenizer).
Ollama tokenizes with special tokens, so a leading BOS is stripped; it cuts prompts longer than its
context (``num_ctx``), so a larger ``num_ctx`` is asked for when the prompt and reply need it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..constraints.remote import ollama_format
from ..errors import BackendError
from ..events import GenerationEvent
from ..options import server_fields
from ..prepare import PreparedChat
from ._http import HttpClient, check_base_url, iter_ndjson
from ._remote import (
    PromptPlan,
    ReplyAssembler,
    TokenNamer,
    as_int,
    finish_reason,
    prompt_to_send,
    stop_strings,
)
from .local.prompt_cache import PromptCache
from .openai import parse_logprobs
from .spec import BackendSpec

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
#: Ollama's smallest default context; a prompt plus reply that needs more gets an explicit num_ctx.
OLLAMA_DEFAULT_CONTEXT = 2048
MAX_TOP = 20


def normalize_base_url(url: str | None) -> tuple[str, tuple[str, ...]]:
    """Ollama's root URL (``http://host:11434``); a trailing ``/api`` or ``/v1`` is dropped."""
    base = check_base_url(url or DEFAULT_BASE_URL, what="Ollama server")
    parts = urlsplit(base)
    for suffix in ("/api", "/v1"):
        if parts.path.endswith(suffix):
            root = urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(suffix)], "", "")).rstrip("/")
            return root, (f"--base-url ends in {suffix}: using {root} (the native API is under /api)",)
    return base, ()


class OllamaBackend:
    """Generation on an Ollama server (native API, raw prompt)."""

    def __init__(self, spec: BackendSpec, *, connect_timeout: float | None = None, read_timeout: float | None = None):
        self.spec = spec
        self.base_url, self._url_notes = normalize_base_url(spec.base_url)
        options = {}
        if connect_timeout is not None:
            options["connect_timeout"] = connect_timeout
        if read_timeout is not None:
            options["read_timeout"] = read_timeout
        self.http = HttpClient(self.base_url, api_key=spec.api_key, what="Ollama server", **options)
        self._info: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections (the engine closes backends it no longer keeps)."""
        self.http.close()

    # ------------------------------------------------------------------ the server

    def server(self, refresh: bool = False) -> dict[str, Any]:
        """Ollama's version and models (asked once, then remembered); raises BackendError if unusable."""
        with self._lock:
            if self._info is None or refresh:
                self._info = self._ask()
            return self._info

    def _ask(self) -> dict[str, Any]:
        status, data, _ = self.http.probe(f"{self.base_url}/api/version")
        if status in (401, 403):
            raise BackendError(
                f"the Ollama server at {self.base_url} refused the request (HTTP {status})",
                hint="give its API key with --api-key KEY or the MLX_PLAYGROUND_API_KEY environment variable",
            )
        if status != 200 or not isinstance(data, dict) or "version" not in data:
            raise BackendError(
                f"{self.base_url} does not answer like an Ollama server (GET /api/version: HTTP {status})",
                hint="check --base-url (Ollama listens on port 11434), or use --backend openai for other servers",
            )
        status, tags, _ = self.http.probe(f"{self.base_url}/api/tags")
        models: list[str] = []
        if status == 200 and isinstance(tags, dict):
            for item in tags.get("models") or []:
                if isinstance(item, dict) and (item.get("name") or item.get("model")):
                    models.append(str(item.get("name") or item.get("model")))
        return {"version": str(data["version"]), "models": models}

    def _model(self, info: dict[str, Any]) -> str:
        models = info["models"]
        served = self.spec.served_model
        if served:
            return served
        if len(models) == 1:
            return models[0]
        if not models:
            raise BackendError(
                "the Ollama server has no models",
                hint="pull one (ollama pull NAME) and pass --served-model NAME",
            )
        raise BackendError(
            "the Ollama server has several models and none was named",
            hint=f"pass --served-model with one of: {', '.join(models)}",
        )

    @staticmethod
    def _known(name: str, models: list[str]) -> bool:
        return name in models or f"{name}:latest" in models

    def check(self) -> dict[str, Any]:
        """What the server reports, for "test connection"; raises BackendError if it cannot be used."""
        started = time.perf_counter()
        info = self.server(refresh=True)
        latency = time.perf_counter() - started
        notes = list(self._url_notes)
        try:
            model: str | None = self._model(info)
        except BackendError as exc:  # no model chosen yet: the connection itself works
            model = None
            notes.append(exc.one_line())
        if model and info["models"] and not self._known(model, info["models"]):
            raise BackendError(
                f"the Ollama server has no model {model!r}",
                hint=f"ollama pull {model}, or pass --served-model with one of: {', '.join(info['models'])}",
            )
        return {
            "backend": "ollama",
            "server": "ollama",
            "base_url": self.base_url,
            "reachable": True,
            "latency_ms": round(latency * 1000, 1),
            "version": info["version"],
            "models": list(info["models"]),
            "model": model,
            "details": {},
            "capabilities": {
                "endpoint": "/api/generate with raw: true (no Modelfile template)",
                "bos": "leading BOS stripped (Ollama adds it)",
                "stop": "EOS tokens sent as options.stop",
                "logprobs": "up to 20 alternatives, streamed (Ollama 0.12 or newer)",
                "stop_token": False,
                "reused_tokens": "when the server reports prompt_eval_cached_count",
                "removes_thinking": False,
            },
            "notes": notes,
        }

    # ------------------------------------------------------------------ the request

    def plan(self, prepared: PreparedChat) -> tuple[dict, PromptPlan, list[str]]:
        """The request body, the prompt plan and notes on every adaptation. Nothing is sent."""
        if prepared.request.images or getattr(prepared, "vision", None) is not None:
            raise BackendError("images are not sent to Ollama by the playground yet", hint="use the local backend")
        info = self.server()
        settings = prepared.settings
        notes = list(self._url_notes)
        prompt = prompt_to_send(prepared, server="Ollama", can_disable_special=False)
        notes.extend(prompt.notes)
        options: dict[str, Any] = server_fields("ollama", settings.to_dict())  # every setting, in Ollama's names
        stops = list(stop_strings(prepared))
        if stops:
            options["stop"] = stops
        if settings.seed is not None:
            options["seed"] = settings.seed
        needed = prepared.prompt_tokens + settings.max_tokens
        if needed > OLLAMA_DEFAULT_CONTEXT:
            size = OLLAMA_DEFAULT_CONTEXT
            while size < needed:
                size *= 2
            options["num_ctx"] = min(size, max(prepared.loaded.context_length, needed))
            notes.append(
                f"num_ctx set to {options['num_ctx']} so Ollama keeps the whole prompt (it cuts prompts longer "
                "than its context; a new num_ctx reloads the model once)"
            )
        body: dict[str, Any] = {
            "model": self._model(info),
            "prompt": prompt.text,
            "raw": True,
            "stream": True,
            "options": options,
            **ollama_format(prepared),  # the constraint, or an error: never dropped
        }
        k = prepared.request.logprobs
        if k:
            body["logprobs"] = True
            body["top_logprobs"] = min(k, MAX_TOP)
        return body, prompt, notes

    def prompt_notes(self, prepared: PreparedChat) -> list[str]:
        """What the backend will do to this prompt (for the prompt panel). Never raises."""
        try:
            return self.plan(prepared)[2]
        except BackendError as exc:
            return [f"the Ollama server cannot be used yet: {exc.one_line()}"]

    def _explain(self, model: str):
        def explain(status: int, message: str, data: Any) -> BackendError | None:
            if status == 404 and "model" in message.lower():
                models = (self._info or {}).get("models") or []
                listed = f", or pass --served-model with one of: {', '.join(models)}" if models else ""
                return BackendError(
                    f"the Ollama server does not have the model {model!r} ({message})",
                    hint=f"ollama pull {model}{listed}",
                )
            return None

        return explain

    # ------------------------------------------------------------------ generation

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,  # Ollama keeps its own prompt cache
    ) -> Iterator[GenerationEvent]:
        body, _, notes = self.plan(prepared)
        assembler = ReplyAssembler(
            prepared, source="ollama", stops=stop_strings(prepared), notes=notes, seed=body["options"].get("seed")
        )
        namer = TokenNamer(prepared)
        thinking = _ThinkingJoiner(prepared)
        yield assembler.started_event()
        if cancel is not None and cancel.is_set():
            yield assembler.final("cancelled", None)
            return
        final: dict | None = None
        url = f"{self.base_url}/api/generate"
        with self.http.stream(url, body, explain=self._explain(body["model"])) as response:
            for item in iter_ndjson(self.http.lines(response), what="Ollama server"):
                if cancel is not None and cancel.is_set():
                    yield assembler.final("cancelled", None)
                    return
                if item.get("error"):
                    raise BackendError(f"Ollama reported an error: {item['error']}", hint="see the Ollama server's log")
                text = thinking.join(item)
                infos = ()
                if prepared.request.logprobs and isinstance(item.get("logprobs"), list):
                    infos = tuple(namer.info(r) for r in parse_logprobs({"content": item["logprobs"]}))
                event = assembler.add(text, infos=infos)
                if event is not None:
                    yield event
                if assembler.hit is not None:
                    break
                if item.get("done"):
                    final = item
                    break
        for note in thinking.notes:
            assembler.note(note)
        if assembler.hit is not None:
            yield assembler.final("stop", assembler.hit)
            return
        if final is None:
            held = assembler.flush()  # the text held back came: it belongs to the partial reply
            if held is not None:
                yield held
            raise BackendError(
                "the Ollama server ended the stream before the reply was complete",
                hint="the server may have failed part-way; check its log",
            )
        self._read_stats(final, prepared, assembler)
        reason = str(final.get("done_reason") or "stop")
        finish = finish_reason(reason)
        if reason not in ("stop", "length"):
            assembler.note(f"Ollama ended the reply with done_reason {reason!r}")
        if prepared.request.logprobs and not assembler.infos:
            assembler.note("Ollama sent no token probabilities (it needs version 0.12 or newer)")
        yield assembler.final(finish, None)  # Ollama does not say which token it stopped on

    @staticmethod
    def _read_stats(final: dict, prepared: PreparedChat, assembler: ReplyAssembler) -> None:
        evaluated = as_int(final.get("prompt_eval_count"))
        cached = as_int(final.get("prompt_eval_cached_count"))
        if cached is not None:
            assembler.reused = cached
        ours = prepared.prompt_tokens
        if evaluated is not None and evaluated not in (ours, ours - (cached or 0)):
            if evaluated > ours or cached is not None:
                assembler.server_prompt_tokens = evaluated
            else:
                assembler.note(
                    f"Ollama evaluated {evaluated} of the prompt's {ours} tokens (the rest came from its cache, "
                    "or it cut the prompt to fit num_ctx)"
                )
        generated = as_int(final.get("eval_count"))
        if generated is not None:
            assembler.server_completion_tokens = generated
        for count, duration, attr in (
            (evaluated, final.get("prompt_eval_duration"), "server_prompt_tps"),
            (generated, final.get("eval_duration"), "server_generation_tps"),
        ):
            if count and isinstance(duration, (int, float)) and duration > 0:
                setattr(assembler, attr, count / (duration / 1e9))


class _ThinkingJoiner:
    """Puts reasoning Ollama returns separately (``thinking``) back into the reply between its tags."""

    def __init__(self, prepared: PreparedChat):
        tokenizer = prepared.loaded.tokenizer
        has = getattr(tokenizer, "has_thinking", False)
        self.start = tokenizer.think_start if has else "<think>"
        self.end = getattr(tokenizer, "think_end", None) if has else "</think>"
        self.end = self.end or "</think>"
        text = prepared.text
        self.inside = text.rfind(self.start) > text.rfind(self.end)  # the prompt opened the think block
        self.thinking = False
        self.notes: list[str] = []

    def join(self, item: dict) -> str:
        out = ""
        thought = item.get("thinking")
        if isinstance(thought, str) and thought:
            if not self.thinking:
                self.thinking = True
                if not self.inside:
                    out += self.start
                self.notes = [
                    f"Ollama returned the reasoning separately ('thinking'); it was put back between {self.start} "
                    f"and {self.end}"
                ]
            out += thought
        response = item.get("response")
        if isinstance(response, str) and response:
            if self.thinking:
                out += self.end
                self.thinking = False
                self.inside = False
            out += response
        elif item.get("done") and self.thinking:
            out += self.end
            self.thinking = False
        return out
