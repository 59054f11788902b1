"""The ``openai`` backend: any OpenAI-compatible ``/v1/completions`` server, with our exact prompt.

The playground renders the prompt itself and sends it as raw text to the *completions* endpoint (never
the chat endpoint), so the server applies no template of its own. Servers differ in ways that change what
the model gets or what comes back, so the backend first asks which server it talks to (model list
``owned_by``, llama.cpp's ``/props``, vLLM's ``/version``, mlx_lm.server's ``/health``) and adapts:

==================  ==================================  ===============================  =====================
server              BOS already in the prompt           token probabilities              stop token reported
==================  ==================================  ===============================  =====================
mlx_lm.server       stripped (it always adds BOS)       ``logprobs: true`` +             no
                                                        ``top_logprobs`` <= 11, not
                                                        streamed
vLLM                ``add_special_tokens: false``,      ``logprobs: N`` (streamed),      ``stop_reason``
                    text sent exactly                   ids via ``token_id:N``
llama.cpp           stripped                            ``n_probs: N``                   ``stopping_word``
other               stripped                            ``logprobs: N`` <= 5 (OpenAI)    no
==================  ==================================  ===============================  =====================

Everywhere: the wired EOS tokens and the user's stop strings go as ``stop`` (vLLM also gets the EOS ids as
``stop_token_ids``; mlx_lm.server only the EOS tokens, as it silently deletes stop-string matches it does not
stop on), the reply is cut at them here too, every sampling setting is sent explicitly (servers
have their own defaults: llama.cpp samples with top-k 40 and min-p 0.05 unless told otherwise), and
reused prompt tokens come from ``usage.prompt_tokens_details.cached_tokens`` (llama.cpp also
``timings.cache_n``). mlx_lm.server removes the text between think tags (and tool-call markup) from
completions: the backend warns, so thinking display degrades visibly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..constraints.remote import openai_fields
from ..errors import BackendError
from ..events import GenerationEvent, TokenInfo
from ..options import server_fields
from ..prepare import PreparedChat
from ._http import KEEPALIVE, HttpClient, check_base_url, iter_sse
from ._remote import (
    PromptPlan,
    ReplyAssembler,
    TokenNamer,
    TokenRecord,
    as_int,
    eos_texts,
    finish_reason,
    prompt_to_send,
    stop_strings,
)
from .local.prompt_cache import PromptCache
from .spec import BackendSpec

MLX_LM = "mlx_lm.server"
VLLM = "vllm"
LLAMA_CPP = "llama.cpp"
GENERIC = "openai-compatible"

#: Alternatives per token each server gives at most.
MAX_TOP = {MLX_LM: 11, VLLM: 20, LLAMA_CPP: 20, GENERIC: 5}
#: Stop strings the OpenAI API accepts; other servers take any number.
OPENAI_MAX_STOP = 4
#: Sampling fields of the OpenAI completions API itself (others are extensions a server may ignore).
OPENAI_API_FIELDS = frozenset({"max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty"})


@dataclass(frozen=True)
class ServerInfo:
    """What the backend found out about the server."""

    kind: str
    models: tuple[str, ...] | None = None  # None: the server did not list its models
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def normalize_base_url(url: str | None) -> tuple[str, tuple[str, ...]]:
    """The base URL of an OpenAI-compatible API (``.../v1``); a bare ``http://host:port`` gets ``/v1``."""
    base = check_base_url(url, what="OpenAI-compatible server")
    parts = urlsplit(base)
    notes: tuple[str, ...] = ()
    if parts.path in ("", "/"):
        base = urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
        notes = (f"--base-url has no path: using {base}",)
    elif parts.path.endswith("/completions"):
        raise BackendError(
            f"--base-url {base} names an endpoint, not the API's base",
            hint="give the part before /completions, e.g. http://127.0.0.1:8080/v1",
        )
    return base, notes


class OpenAIBackend:
    """Generation on an OpenAI-compatible server's ``/v1/completions`` (raw prompt, SSE streaming)."""

    def __init__(self, spec: BackendSpec, *, connect_timeout: float | None = None, read_timeout: float | None = None):
        self.spec = spec
        self.base_url, self._url_notes = normalize_base_url(spec.base_url)
        parts = urlsplit(self.base_url)
        root_path = parts.path[: -len("/v1")] if parts.path.endswith("/v1") else parts.path
        self.root_url = urlunsplit((parts.scheme, parts.netloc, root_path, "", "")).rstrip("/")
        options = {}
        if connect_timeout is not None:
            options["connect_timeout"] = connect_timeout
        if read_timeout is not None:
            options["read_timeout"] = read_timeout
        self.http = HttpClient(self.base_url, api_key=spec.api_key, what="server", **options)
        self._server: ServerInfo | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections (the engine closes backends it no longer keeps)."""
        self.http.close()

    # ------------------------------------------------------------------ the server

    def server(self, refresh: bool = False) -> ServerInfo:
        """Which server this is (asked once, then remembered); raises BackendError if unreachable."""
        with self._lock:
            if self._server is None or refresh:
                self._server = self._detect()
            return self._server

    def _detect(self) -> ServerInfo:
        status, data, headers = self.http.probe(f"{self.base_url}/models")
        if status in (401, 403):
            raise BackendError(
                f"the server at {self.base_url} refused the request (HTTP {status})",
                hint="give its API key with --api-key KEY or the MLX_PLAYGROUND_API_KEY environment variable",
            )
        models = None
        owners: set[str] = set()
        if status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
            cards = [m for m in data["data"] if isinstance(m, dict) and m.get("id") is not None]
            models = tuple(str(m["id"]) for m in cards)
            owners = {str(m.get("owned_by", "")).lower() for m in cards}
        server_header = headers.get("server", "")
        if "vllm" in owners:
            return ServerInfo(VLLM, models, self._vllm_version())
        if owners & {"llamacpp", "llama.cpp"}:
            return self._llama_cpp_info(models)
        status, props, _ = self.http.probe(f"{self.root_url}/props")
        if (
            status == 200
            and isinstance(props, dict)
            and ("default_generation_settings" in props or "build_info" in props)
        ):
            return self._llama_cpp_info(models, props)
        version = self._vllm_version()
        if version is not None:
            return ServerInfo(VLLM, models, version)
        if server_header.startswith("BaseHTTP"):
            status, health, _ = self.http.probe(f"{self.root_url}/health")
            if status == 200 and health == {"status": "ok"}:
                return ServerInfo(MLX_LM, models or None, None, {"server_header": server_header})
        return ServerInfo(GENERIC, models, None, {"server_header": server_header} if server_header else {})

    def _vllm_version(self) -> str | None:
        status, data, _ = self.http.probe(f"{self.root_url}/version")
        if status == 200 and isinstance(data, dict) and set(data) == {"version"}:
            return str(data["version"])
        return None

    def _llama_cpp_info(self, models, props: dict | None = None) -> ServerInfo:
        if props is None:
            status, props, _ = self.http.probe(f"{self.root_url}/props")
            props = props if status == 200 and isinstance(props, dict) else {}
        details = {k: props[k] for k in ("model_path", "total_slots") if k in props}
        return ServerInfo(LLAMA_CPP, models, props.get("build_info"), details)

    def check(self) -> dict[str, Any]:
        """What the server reports, for "test connection"; raises BackendError if it cannot be used."""
        started = time.perf_counter()
        info = self.server(refresh=True)
        latency = time.perf_counter() - started
        model = self._model_field(info, None)
        notes = list(self._url_notes)
        served = self.spec.served_model
        if served and info.models and served not in info.models:
            if info.kind == MLX_LM:
                notes.append(f"mlx_lm.server will load {served} on first use (it lists only models it has on disk)")
            elif info.kind == LLAMA_CPP:
                notes.append(f"llama.cpp serves one model and ignores the name {served}")
            else:
                raise BackendError(
                    f"the server does not serve a model named {served!r}",
                    hint=f"pass --served-model with one of: {', '.join(info.models)}",
                )
        if info.kind == MLX_LM and info.models is None:
            notes.append("mlx_lm.server did not list its models (it fails to when it has no Hugging Face cache)")
        return {
            "backend": "openai",
            "server": info.kind,
            "base_url": self.base_url,
            "reachable": True,
            "latency_ms": round(latency * 1000, 1),
            "version": info.version,
            "models": list(info.models) if info.models is not None else None,
            "model": model,
            "details": dict(info.details),
            "capabilities": capabilities(info.kind),
            "notes": notes,
        }

    # ------------------------------------------------------------------ the request

    def _model_field(self, info: ServerInfo, prepared: PreparedChat | None) -> str | None:
        """The ``model`` to name in requests: --served-model, else the one the server lists, else none
        (mlx_lm.server, vLLM and llama.cpp then use the model they were started with)."""
        if self.spec.served_model:
            return self.spec.served_model
        if info.kind != GENERIC or not info.models:
            return None
        if len(info.models) == 1:
            return info.models[0]
        if prepared is not None:
            for candidate in (prepared.loaded.name, str(prepared.loaded.path)):
                for model in info.models:
                    if model == candidate or model.endswith("/" + candidate):
                        return model
        return None

    def plan(self, prepared: PreparedChat) -> tuple[dict, PromptPlan, list[str], bool]:
        """The request body for ``prepared``, the prompt plan, notes on every adaptation, and whether the
        reply streams. Nothing is sent."""
        if prepared.request.images or getattr(prepared, "vision", None) is not None:
            raise BackendError(
                "images cannot be sent to a server's completions endpoint",
                hint="use the local backend for images",
            )
        info = self.server()
        kind = info.kind
        settings = prepared.settings
        notes: list[str] = list(self._url_notes)
        server = "mlx_lm.server" if kind == MLX_LM else ("the server" if kind == GENERIC else kind)
        prompt = prompt_to_send(prepared, server=server, can_disable_special=kind == VLLM)
        notes.extend(prompt.notes)
        stops = list(stop_strings(prepared))
        k = prepared.request.logprobs
        stream = not (k and kind == MLX_LM)
        body: dict[str, Any] = {
            "prompt": prompt.text,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": stream,
        }
        model = self._model_field(info, prepared)
        if model is not None:
            body["model"] = model
        elif kind == GENERIC and info.models and len(info.models) > 1:
            notes.append(
                "the server lists several models and none is named: pass --served-model "
                f"(one of: {', '.join(info.models)})"
            )
        if stream:
            body["stream_options"] = {"include_usage": True}
        if settings.seed is not None and settings.temperature:
            if kind == MLX_LM:
                notes.append(
                    f"the seed ({settings.seed}) is not sent to mlx_lm.server: it would serve the request alone, and "
                    "stopping such a request hangs a distributed (mlx.launch) mlx_lm.server; sampling on the server "
                    "is not reproducible"
                )
            else:
                body["seed"] = settings.seed
        body.update(sampling_fields(kind, prepared, notes))
        body.update(openai_fields(kind, prepared, info.version))  # the constraint, or an error: never dropped
        if kind == MLX_LM:
            notes.extend(mlx_reply_notes(prepared))
            stops = mlx_stop_strings(prepared, stops, notes)
        if kind == GENERIC and len(stops) > OPENAI_MAX_STOP:
            body["stop"] = stops[:OPENAI_MAX_STOP]
            notes.append(
                f"the OpenAI API takes {OPENAI_MAX_STOP} stop strings: the server gets the first "
                f"{OPENAI_MAX_STOP}, the others are cut here"
            )
        elif stops:
            body["stop"] = stops
        if k:
            top = min(k, MAX_TOP[kind])
            if top < k:
                notes.append(f"{server} gives at most {top} alternatives per token: showing {top}, not {k}")
            if kind == MLX_LM:
                body.update(logprobs=True, top_logprobs=top)
                notes.append(
                    "mlx_lm.server returns token probabilities only with the whole reply, not streamed: the reply "
                    "appears when it is complete, and Stop takes effect then"
                )
            elif kind == VLLM:
                body.update(logprobs=top, return_tokens_as_token_ids=True)
            elif kind == LLAMA_CPP:
                body["n_probs"] = top
            else:
                body["logprobs"] = top
        return body, prompt, notes, stream

    def prompt_notes(self, prepared: PreparedChat) -> list[str]:
        """What the backend will do to this prompt and what the reply will lack (for the prompt panel).
        Never raises: an unreachable server is a note here (and an error on Send)."""
        try:
            return self.plan(prepared)[2]
        except BackendError as exc:
            return [f"the server cannot be used yet: {exc.one_line()}"]

    def _explain(self, model: str | None):
        def explain(status: int, message: str, data: Any) -> BackendError | None:
            info = self._server
            kind = info.kind if info else GENERIC
            json_error = isinstance(data, dict) and bool(data)
            listed = ", ".join(info.models) if info and info.models else ""
            hint = (
                f"pass --served-model with one of: {listed}"
                if listed
                else "pass --served-model NAME (the name the server uses)"
            )
            if kind == MLX_LM and status == 404 and json_error:
                name = model or "its default model"
                return BackendError(
                    f"mlx_lm.server could not load {name}: {message}",
                    hint="pass --served-model with a folder or Hub id the server can load, or leave it out to use "
                    "the model the server was started with",
                )
            lowered = message.lower()
            if (
                status in (400, 404, 422)
                and "model" in lowered
                and any(w in lowered for w in ("not exist", "not found", "unknown", "no such", "does not"))
            ):
                return BackendError(
                    f"the server does not know the model {model or '(none named)'}: {message}", hint=hint
                )
            return None

        return explain

    # ------------------------------------------------------------------ generation

    def stream(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,  # the server keeps its own prompt cache
    ) -> Iterator[GenerationEvent]:
        body, _, notes, streamed = self.plan(prepared)
        kind = self.server().kind
        assembler = ReplyAssembler(
            prepared, source=f"openai:{kind}", stops=stop_strings(prepared), notes=notes, seed=body.get("seed")
        )
        namer = TokenNamer(prepared)
        url = f"{self.base_url}/completions"
        explain = self._explain(body.get("model"))
        yield assembler.started_event()
        if cancel is not None and cancel.is_set():
            yield assembler.final("cancelled", None)
            return
        if not streamed:
            yield from self._whole(
                prepared, url, body, assembler=assembler, namer=namer, explain=explain, cancel=cancel
            )
            return
        finish: str | None = None
        stop_token: str | None = None
        done = False
        try:
            with self.http.stream(url, body, explain=explain) as response:
                for item in iter_sse(self.http.lines(response)):
                    if cancel is not None and cancel.is_set():
                        yield assembler.final("cancelled", None)
                        return
                    if item is KEEPALIVE:
                        continue
                    if item.strip() == "[DONE]":
                        done = True
                        break
                    data = _load_chunk(item)
                    _read_usage(data, assembler)
                    choices = data.get("choices") or []
                    if not choices:
                        continue
                    choice = choices[0] if isinstance(choices[0], dict) else {}
                    infos = self._chunk_infos(kind, choice, data, namer) if prepared.request.logprobs else ()
                    event = assembler.add(str(choice.get("text") or ""), infos=infos)
                    if event is not None:
                        yield event
                    if assembler.hit is not None:
                        break  # a stop string the server did not stop on: closing the stream stops it
                    if choice.get("finish_reason"):
                        finish = finish_reason(choice["finish_reason"])
                        stop_token = self._stop_token(choice, data, namer)
            if assembler.hit is not None:
                yield assembler.final("stop", assembler.hit)
                return
        except BackendError:  # the connection failed part-way: what came is kept
            yield from _held(assembler)
            raise
        if finish is None:  # [DONE] without a finish reason: stopped; no [DONE]: cut off
            yield from _complete(assembler, done)
            finish = "stop"
        self._after_reply(kind, prepared, assembler)
        if prepared.request.logprobs and not assembler.infos and kind != MLX_LM:
            assembler.note("the server sent no token probabilities")
        yield assembler.final(finish, stop_token if finish == "stop" else None)

    def _whole(self, prepared, url, body, *, assembler, namer, explain, cancel) -> Iterator[GenerationEvent]:
        """A non-streamed request (mlx_lm.server with token probabilities)."""
        data, _ = self.http.post_json(url, body, explain=explain)
        if not isinstance(data, dict):
            raise BackendError("the server's reply is not a JSON object", hint="check --base-url")
        _read_usage(data, assembler)
        choices = data.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        text = str(choice.get("text") or "")
        if cancel is not None and cancel.is_set():
            yield assembler.final("cancelled", None)
            return
        infos: tuple[TokenInfo, ...] = ()
        content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
        if isinstance(content, list):
            infos, unknown = mlx_token_infos(namer, content, text)
            if unknown:
                assembler.note(
                    f"for {unknown} token(s) the chosen token was not among the server's alternatives: their "
                    "log-probability is shown as the smallest alternative's (an upper bound)"
                )
        event = assembler.add(text, infos=infos)
        if event is not None:
            yield event
        if assembler.hit is not None:
            yield assembler.final("stop", assembler.hit)
            return
        finish = finish_reason(choice.get("finish_reason"))
        self._after_reply(MLX_LM, prepared, assembler)
        yield assembler.final(finish, None)

    def _after_reply(self, kind: str, prepared: PreparedChat, assembler: ReplyAssembler) -> None:
        """Notice text the server generated but did not return (mlx_lm.server's think/tool stripping)."""
        if kind != MLX_LM or assembler.server_completion_tokens is None:
            return
        returned = assembler.estimate_tokens(stopped=True)
        if assembler.server_completion_tokens > returned + 2:
            assembler.note(
                f"mlx_lm.server generated {assembler.server_completion_tokens} tokens but returned the text of "
                f"about {returned}: it removed part of the reply (text between think tags, tool-call markup)"
            )

    def _stop_token(self, choice: dict, data: dict, namer: TokenNamer) -> str | None:
        reason = choice.get("stop_reason")  # vLLM: the stop string or token id; None for the model's EOS
        if isinstance(reason, str) and reason:
            return reason
        token_id = as_int(reason)
        if token_id is not None:
            return namer.name(token_id)
        for holder in (choice, data, data.get("__verbose") if isinstance(data.get("__verbose"), dict) else {}):
            word = holder.get("stopping_word") if isinstance(holder, dict) else None
            if isinstance(word, str) and word:
                return word
        return None  # the final event says the server did not name it

    def _chunk_infos(self, kind: str, choice: dict, data: dict, namer: TokenNamer) -> tuple[TokenInfo, ...]:
        if kind == MLX_LM:  # streamed replies carry none; whole replies are handled by mlx_token_infos
            return ()
        records = parse_logprobs(choice.get("logprobs"))
        if not records:  # llama.cpp's native shapes
            records = parse_logprobs({"content": data.get("completion_probabilities") or choice.get("probs")})
        return tuple(namer.info(r) for r in records)


# ---------------------------------------------------------------------------------------------- helpers


def capabilities(kind: str) -> dict[str, Any]:
    """How the backend adapts to each server (shown by check())."""
    return {
        "endpoint": "/v1/completions (raw prompt, no server template)",
        "bos": "add_special_tokens: false" if kind == VLLM else "leading BOS stripped (the server adds it)",
        "stop": "EOS tokens sent as stop strings" + (" and stop_token_ids" if kind == VLLM else ""),
        "logprobs": {
            MLX_LM: "up to 11 alternatives, whole reply only (not streamed)",
            VLLM: "up to 20 alternatives, streamed",
            LLAMA_CPP: "n_probs, streamed when the server sends them",
            GENERIC: "up to 5 alternatives (OpenAI API)",
        }[kind],
        "stop_token": kind in (VLLM, LLAMA_CPP),
        "reused_tokens": kind in (MLX_LM, VLLM, LLAMA_CPP),
        "removes_thinking": kind == MLX_LM,
    }


def sampling_fields(kind: str, prepared: PreparedChat, notes: list[str]) -> dict[str, Any]:
    """Every sampling setting, in the server's names (from the options table; servers have their own defaults
    otherwise), plus what each kind needs besides."""
    settings = prepared.settings
    fields = server_fields(kind, settings.to_dict())
    context = settings.repetition_context_size
    if kind == MLX_LM:  # the same logits processors as the local backend: each penalty sees the last N tokens
        for penalty in ("presence", "frequency"):
            if f"{penalty}_penalty" in fields:
                fields[f"{penalty}_context_size"] = context
    elif kind == VLLM:
        fields.update(
            add_special_tokens=False,
            stop_token_ids=list(prepared.eos.ids),
            skip_special_tokens=False,  # special tokens in the text, like the local detokenizer
            spaces_between_special_tokens=False,
            include_stop_str_in_output=False,
        )
        if settings.repetition_penalty != 1.0:
            notes.append(
                "vLLM applies the repetition penalty to the whole prompt and reply (mlx-lm: the last N tokens)"
            )
    elif kind == LLAMA_CPP:  # its own defaults (top-k 40, min-p 0.05, ...) are overridden by the fields above
        fields["cache_prompt"] = True
    else:
        sent = [name for name in fields if name not in OPENAI_API_FIELDS]
        if sent:
            notes.append(f"{', '.join(sent)} are not part of the OpenAI API: this server may ignore them")
    return fields


def mlx_stop_strings(prepared: PreparedChat, stops: list[str], notes: list[str]) -> list[str]:
    """The stop strings to give mlx_lm.server: only EOS tokens (one token each).

    mlx_lm.server stops where a stop string's own tokens are generated, and removes every other match from
    the text without stopping ("w can" inside " How can" would vanish). So the user's stop strings are
    applied here (the stream is closed at the first match, like a local stop)."""
    tokenizer = prepared.loaded.tokenizer
    eos = [s for s in eos_texts(prepared) if len(tokenizer.encode(s, add_special_tokens=False)) == 1]
    if len(eos) < len(stops):
        notes.append(
            "stop strings are applied here, not by mlx_lm.server (it stops only on a stop string's own tokens and "
            "silently removes other matches): the reply is cut at the first match"
        )
    return eos


def mlx_reply_notes(prepared: PreparedChat) -> list[str]:
    """What mlx_lm.server will leave out of a completion for this model's tokenizer."""
    tokenizer = prepared.loaded.tokenizer
    notes = []
    if getattr(tokenizer, "has_thinking", False):
        start, end = tokenizer.think_start, getattr(tokenizer, "think_end", None)
        notes.append(
            f"mlx_lm.server removes the text between {start} and {end} from completions: the reasoning will be "
            "missing from the reply (use the local backend or another server to see it)"
        )
    if getattr(tokenizer, "has_tool_calling", False):
        notes.append(
            f"mlx_lm.server removes tool-call markup ({tokenizer.tool_call_start} ...) from completions: tool calls "
            "will be missing from the reply"
        )
    return notes


def _held(assembler: ReplyAssembler) -> Iterator[GenerationEvent]:
    """The text the assembler held back, before the stream's failure is raised."""
    event = assembler.flush()
    if event is not None:
        yield event


def _complete(assembler: ReplyAssembler, done: bool) -> Iterator[GenerationEvent]:
    """A stream that ended without a finish reason: complete if the server said [DONE], else cut off (the text
    held back is kept, then the failure is raised)."""
    if not done:
        yield from _held(assembler)
        raise BackendError(
            "the server ended the stream before the reply was complete",
            hint="the server may have failed part-way; check its log",
        )


def _load_chunk(item: str) -> dict:
    try:
        data = json.loads(item)
    except ValueError:
        raise BackendError(
            f"the server sent an event that is not JSON: {item[:120]!r}",
            hint="check --base-url: it may point at another kind of server",
        ) from None
    if not isinstance(data, dict):
        return {}
    error = data.get("error")
    if error and not data.get("choices"):
        message = error.get("message") if isinstance(error, dict) else error
        raise BackendError(f"the server reported an error during the reply: {message}", hint="see the server's log")
    return data


def _read_usage(data: dict, assembler: ReplyAssembler) -> None:
    usage = data.get("usage")
    if isinstance(usage, dict):
        prompt = as_int(usage.get("prompt_tokens"))
        completion = as_int(usage.get("completion_tokens"))
        if prompt is not None:
            assembler.server_prompt_tokens = prompt
        if completion is not None:
            assembler.server_completion_tokens = completion
        details = usage.get("prompt_tokens_details")
        cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else None
        if cached is not None:
            assembler.reused = cached
    timings = data.get("timings")  # llama.cpp
    if isinstance(timings, dict):
        cached = as_int(timings.get("cache_n"))
        if cached is not None:
            assembler.reused = cached
        for key, attr in (
            ("prompt_per_second", "server_prompt_tps"),
            ("predicted_per_second", "server_generation_tps"),
        ):
            value = timings.get(key)
            if isinstance(value, (int, float)) and value > 0:
                setattr(assembler, attr, float(value))
    cached = as_int(data.get("tokens_cached"))  # llama.cpp's native field
    if cached is not None:
        assembler.reused = cached


def parse_logprobs(logprobs: Any) -> list[TokenRecord]:
    """Token reports in either shape: ``{"content": [{id?, token, logprob, top_logprobs: [...]}]}`` (llama.cpp,
    mlx_lm.server, chat style) or OpenAI's legacy ``{"tokens", "token_logprobs", "top_logprobs": [{text: lp}]}``
    (vLLM, OpenAI)."""
    if not isinstance(logprobs, dict):
        return []
    records: list[TokenRecord] = []
    content = logprobs.get("content")
    if isinstance(content, list):
        for entry in content:
            if not isinstance(entry, dict):
                continue
            top = []
            for alt in entry.get("top_logprobs") or entry.get("top_probs") or []:
                if isinstance(alt, dict) and isinstance(alt.get("logprob"), (int, float)):
                    top.append((alt.get("token"), as_int(alt.get("id")), float(alt["logprob"])))
            logprob = entry.get("logprob")
            records.append(
                TokenRecord(
                    text=entry.get("token"),
                    id=as_int(entry.get("id")),
                    logprob=float(logprob) if isinstance(logprob, (int, float)) else None,
                    top=top,
                )
            )
        return records
    tokens = logprobs.get("tokens")
    if isinstance(tokens, list):
        values = logprobs.get("token_logprobs") or []
        tops = logprobs.get("top_logprobs") or []
        for index, token in enumerate(tokens):
            value = values[index] if index < len(values) else None
            alternatives = tops[index] if index < len(tops) and isinstance(tops[index], dict) else {}
            records.append(
                TokenRecord(
                    text=str(token),
                    logprob=float(value) if isinstance(value, (int, float)) else None,
                    top=[(str(t), None, float(v)) for t, v in alternatives.items() if isinstance(v, (int, float))],
                )
            )
    return records


def mlx_token_infos(namer: TokenNamer, content: list, text: str) -> tuple[tuple[TokenInfo, ...], int]:
    """TokenInfos from mlx_lm.server's ``logprobs.content``.

    With ``top_logprobs`` it reports, per token, an unordered top-k list and, as "the" token, the first entry
    of that list, which is not necessarily the sampled token. The sampled token is recovered by walking the
    reply text: the most likely alternative whose text continues the reply (exact for greedy decoding).
    Returns the infos and how many tokens could not be matched.
    """
    tokenizer = namer.tokenizer
    position = 0
    unknown = 0
    infos = []
    for record in parse_logprobs({"content": content}):
        if not record.top:  # logprobs without alternatives: the reported token is the sampled one
            piece = namer.text_in_context(record.id) if record.id is not None else ""
            infos.append(namer.info(record))
            position += len(piece)
            continue
        ranked = sorted(record.top, key=lambda t: t[2], reverse=True)
        rest = text[position:]
        chosen: tuple[int, float] | None = None
        if rest:
            for _, token_id, logprob in ranked:
                if token_id is None:
                    continue
                piece = namer.text_in_context(token_id)
                if piece and rest.startswith(piece):
                    chosen = (token_id, logprob)
                    position += len(piece)
                    break
        else:  # the reply is used up: this is the token it stopped on
            chosen = next(((i, lp) for _, i, lp in ranked if i in namer.eos_ids), None)
            if chosen is None and ranked[0][1] is not None:
                chosen = (ranked[0][1], ranked[0][2])
        if chosen is None:
            unknown += 1
            ids = list(tokenizer.encode(rest, add_special_tokens=False)[:1]) if rest else []
            if ids:
                token_id = int(ids[0])
                logprob = next((lp for _, i, lp in ranked if i == token_id), ranked[-1][2])
                position += len(namer.text_in_context(token_id))
                chosen = (token_id, logprob)
            else:
                chosen = (ranked[0][1] if ranked[0][1] is not None else -1, ranked[0][2])
        infos.append(namer.info(TokenRecord(id=chosen[0], logprob=chosen[1], top=record.top)))
    return tuple(infos), unknown
