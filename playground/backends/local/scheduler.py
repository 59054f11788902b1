"""The one thread that runs every model computation, decoding all active requests together.

mlx-lm's generators hold MLX stream state that must stay on one thread, while web servers resume
request handlers on whatever thread is free. So all model work (loading, prefill, decoding) runs on this
worker thread, and callers get their events through a queue.

Requests for the same loaded model decode in one mlx-lm ``BatchGenerator`` (continuous batching): a new
request joins the running batch between two steps, each with its own sampler (and random key), logits
processors, EOS tokens, stop strings, token limit, KV cache and cancellation. Decoding is bound by
reading the weights, so a batch of several sequences costs little more than one. At most ``max_batch``
requests are active; the rest wait in order and are told their queue position. Models whose KV cache
cannot be batched decode one request at a time (a "solo" unit). Requests for different models never
share a batch.

A model that ran on a thread leaves thread-local MLX state behind (the ``mx.compile`` cache) whose
destructor needs the GIL: this daemon thread lives as long as the process, see :mod:`.mlx_runtime`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ...constraints import SteeringProcessor
from ...errors import GenerationError, PlaygroundError
from ...events import GenerationEvent, TokenInfo
from ...prepare import PreparedChat
from ...settings import make_logits_processors, make_sampler, new_seed
from .mlx_runtime import track_worker
from .prompt_cache import PromptCache
from .units import BatchUnit, SoloUnit, Ticket, TokenInfoMaker, batchable, detokenizer
from .vision import VisionUnit

DEFAULT_MAX_BATCH = 8
_DONE = object()


class Scheduler:
    """Runs model work on one daemon thread; generation requests decode together in batches."""

    def __init__(
        self,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        memory_limit_gb: float | None = None,
        batching: bool = True,
        name: str = "mlx-generation",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        track_worker(self)
        self.max_batch = max_batch
        self.memory_limit_gb = memory_limit_gb
        self.batching = batching
        self._name = name
        self._commands: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # worker-thread state
        self._waiting: list[Ticket] = []
        self._units: dict[int, Any] = {}  # model serial -> batch unit / solo unit
        self._batchable: dict[int, bool] = {}
        self._token_info_stream: Any = None

    # ------------------------------------------------------------------ caller side

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the worker thread (between decoding steps) and return its result here."""
        done: queue.Queue = queue.Queue()
        self._ensure_started()
        self._commands.put(("call", fn, done))
        kind, value = done.get()
        if kind == "error":
            raise value
        return value

    def submit_cleanup(self, fn: Callable[[], Any]) -> queue.Queue:
        """Queue ``fn`` to run on the worker thread (if it was started); the returned queue gets one item."""
        done: queue.Queue = queue.Queue()
        if self._thread is None or not self._thread.is_alive():
            done.put(None)
            return done
        self._commands.put(("call", fn, done))
        return done

    def submit(
        self,
        prepared: PreparedChat,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCache | None = None,
    ) -> Iterator[GenerationEvent]:
        """Generate a reply for ``prepared``; iterate to get its events. Closing the iterator early, or
        setting ``cancel``, stops it at the next step (its KV cache is kept for the next turn)."""
        if prepared.loaded.model is None:
            raise GenerationError(
                f"{prepared.loaded.name} was loaded without weights (for a server backend)",
                hint="load it with weights to generate locally",
            )
        seed = prepared.settings.seed if prepared.settings.seed is not None else new_seed()
        ticket = Ticket(prepared, cancel if cancel is not None else threading.Event(), cache, seed=seed)
        self._ensure_started()
        self._commands.put(("submit", ticket, None))
        return self._events(ticket)

    @staticmethod
    def _events(ticket: Ticket) -> Iterator[GenerationEvent]:
        finished = False
        try:
            while True:
                kind, value = ticket.out.get()
                if kind == "item":
                    yield value
                elif kind == "error":
                    finished = True
                    raise value
                else:
                    finished = True
                    return
        finally:
            if not finished:
                ticket.cancel.set()  # the caller went away: stop at the next step

    # ------------------------------------------------------------------ worker side

    def _loop(self) -> None:
        while True:
            busy = bool(self._waiting) or any(len(u) for u in self._units.values())
            self._drain(block=not busy)
            self._reap_cancelled()
            self._admit()
            self._step()

    def _drain(self, block: bool) -> None:
        try:
            command = self._commands.get(timeout=None if block else 0) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            kind, payload, done = command
            if kind == "call":
                try:
                    done.put(("ok", payload()))
                except BaseException as exc:  # handed to the caller, never kills the worker
                    done.put(("error", exc))
                finally:
                    del payload
            else:
                self._waiting.append(payload)
                self._report_positions()
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _report_positions(self) -> None:
        for position, ticket in enumerate(self._waiting, start=1):
            if ticket.position != position:
                ticket.position = position
                ticket.put(ticket.event(status="queued", queue_position=position, token=None))

    def _finish(self, ticket: Ticket, event: GenerationEvent) -> None:
        ticket.finished = True
        ticket.put(event)
        ticket.out.put(("done", _DONE))

    def _fail(self, ticket: Ticket, exc: BaseException) -> None:
        ticket.finished = True
        if not isinstance(exc, PlaygroundError):
            exc = GenerationError(
                f"generation failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                hint="try a shorter prompt or fewer tokens; if it persists, reload the model",
            )
        ticket.out.put(("error", exc))

    def _active(self) -> int:
        return sum(len(u) for u in self._units.values())

    def _reap_cancelled(self) -> None:
        for ticket in [t for t in self._waiting if t.cancel.is_set()]:
            self._waiting.remove(ticket)
            self._finish(ticket, ticket.event(finish_reason="cancelled", status="done", token=None))
        if self._waiting:
            self._report_positions()
        for unit in list(self._units.values()):
            for ticket in unit.running():
                if ticket.cancel.is_set():
                    cache, tokens = unit.remove(ticket)
                    self._give_back(ticket, cache, tokens)
                    self._finish(ticket, self._final(ticket, "cancelled", None))
        self._close_idle()

    def _close_idle(self) -> None:
        for serial, unit in list(self._units.items()):
            if len(unit) == 0:
                unit.close()
                del self._units[serial]

    def _unit_for(self, ticket: Ticket):
        loaded = ticket.prepared.loaded
        serial = loaded.serial
        if loaded.vision is not None:  # vision-language models: their own unit (mlx-vlm), one request at a time
            unit = self._units.get(serial)
            if unit is None:
                unit = self._units[serial] = VisionUnit(loaded)
                return unit
            return None if len(unit) else unit
        if serial not in self._batchable:
            self._batchable[serial] = self.batching and batchable(loaded.model)
        unit = self._units.get(serial)
        if self._batchable[serial]:
            if unit is None:
                unit = self._units[serial] = BatchUnit(loaded, self.max_batch)
            return unit
        if unit is None:
            unit = self._units[serial] = SoloUnit(loaded)
            return unit
        return None if len(unit) else unit  # a solo unit serves one request at a time

    def _memory_needed_gb(self, ticket: Ticket) -> float | None:
        per_token = ticket.prepared.loaded.kv_bytes_per_token()
        if per_token is None:
            return None
        return per_token * (ticket.prepared.prompt_tokens + ticket.max_tokens) / 1e9

    def _memory_verdict(self, ticket: Ticket) -> str:
        """``ok``, ``wait`` (fits alone, not beside the running requests) or ``never``, under the memory limit."""
        need = self._memory_needed_gb(ticket)
        if self.memory_limit_gb is None or need is None:
            return "ok"
        weights = ticket.prepared.loaded.weight_bytes() / 1e9
        if weights + need > self.memory_limit_gb:
            tokens = ticket.prepared.prompt_tokens + ticket.max_tokens
            self._waiting.remove(ticket)
            self._fail(
                ticket,
                GenerationError(
                    f"this request needs about {weights + need:.2f} GB (weights {weights:.2f} GB + KV cache "
                    f"{need:.2f} GB for {tokens:,} tokens); the memory limit is {self.memory_limit_gb:.2f} GB",
                    hint="lower max tokens or shorten the conversation, or raise --memory-limit",
                ),
            )
            return "never"
        running = [t for u in self._units.values() for t in u.running()]
        in_use = sum(self._memory_needed_gb(t) or 0.0 for t in running)
        return "wait" if weights + in_use + need > self.memory_limit_gb else "ok"

    def _admit(self) -> None:
        admitted = False
        for ticket in list(self._waiting):
            if self._active() >= self.max_batch:
                break
            if self._memory_verdict(ticket) != "ok":
                continue
            unit = self._unit_for(ticket)
            if unit is None:
                continue
            self._waiting.remove(ticket)
            try:
                self._start(ticket, unit)
                admitted = True
            except BaseException as exc:
                self._fail(ticket, exc)
        if admitted:
            self._report_positions()

    def _start(self, ticket: Ticket, unit: Any) -> None:
        prepared = ticket.prepared
        tokens = list(prepared.token_ids)
        cache, suffix, reused = (None, tokens, 0)
        if ticket.cache is not None:
            cache, suffix, reused = ticket.cache.take(prepared.loaded.serial, tokens)
        ticket.reused = reused
        ticket.prefill_tokens = len(suffix)
        ticket.admitted = time.perf_counter()
        ticket.detokenizer = detokenizer(prepared)
        ticket.steering = make_steering(prepared)
        explain = ticket.steering if prepared.request.logprobs else None
        ticket.info = TokenInfoMaker(prepared, self._info_stream(), explain) if prepared.request.logprobs else None
        ticket.sampler = make_sampler(prepared.settings, ticket.seed)
        ticket.processors = make_logits_processors(prepared.settings) + ([ticket.steering] if ticket.steering else [])
        unit.add(ticket, cache, suffix, tokens[:reused])
        ticket.put(ticket.event(status="prefill", token=None))

    def _info_stream(self) -> Any:
        """The MLX stream token probabilities are computed on (made on this worker thread, once)."""
        if self._token_info_stream is None:
            import mlx.core as mx

            self._token_info_stream = mx.new_stream(mx.default_device())
        return self._token_info_stream

    def _give_back(self, ticket: Ticket, cache: list | None, tokens: list[int]) -> None:
        if ticket.cache is not None and cache is not None:
            ticket.cache.give_back(ticket.prepared.loaded.serial, cache, tokens)

    def _final(self, ticket: Ticket, finish: str, stop_token: str | None, tokens=()) -> GenerationEvent:
        warnings = ticket.prepared.warnings
        steering = ticket.steering.stats() if ticket.steering is not None else None
        if steering is not None and steering.get("complete") is False:
            steering["incomplete"] = True
            warnings += (
                f"the reply ended ({finish}) before the constraint was complete: the text so far is kept, but it "
                "does not match the constraint (raise max tokens)",
            )
        return ticket.event(
            finish_reason=finish,
            stop_token=stop_token,
            status="done",
            tokens=tuple(tokens),
            warnings=warnings,
            steering=steering,
        )

    def _step(self) -> None:
        for serial, unit in list(self._units.items()):
            if not len(unit):
                continue
            size = len(unit)
            try:
                results = unit.step()
            except BaseException as exc:  # a failing model fails its requests, never the worker
                tickets = unit.running()
                with contextlib.suppress(Exception):
                    unit.close()
                del self._units[serial]
                for ticket in tickets:
                    self._fail(ticket, exc)
                continue
            for ticket, kind, payload in results:
                ticket.batch_size = max(ticket.batch_size, size)  # the largest batch it decoded in
                if kind == "token":
                    self._on_token(ticket, unit, payload)
        self._close_idle()

    def _on_token(self, ticket: Ticket, unit: Any, payload: tuple) -> None:
        """One step of a unit for ``ticket``: ``payload`` is (token, logprobs, finish, cache, all_tokens)."""
        token, logprobs, finish, cache, all_tokens = payload
        if ticket.finished:
            return
        if ticket.steering is not None and ticket.steering.error and self._steering_failed(ticket, unit, token, finish):
            return
        if token is None:  # the solo generator ran out
            self._give_back(ticket, cache, all_tokens or [])
            self._finish(ticket, self._closing(ticket, "length", None, None))
            return
        now = time.perf_counter()
        if ticket.first_token is None:
            ticket.first_token = now
        ticket.last_token = now
        ticket.generated += 1
        ticket.produced.append(int(token))
        if finish == "stop":  # an EOS token: it ends the reply and is not part of its text
            name = ticket.prepared.loaded.tokenizer.convert_ids_to_tokens(int(token))
            info = ticket.info.make(int(token), name, logprobs) if ticket.info else None
            ticket.detokenizer.finalize()
            ticket.text += ticket.detokenizer.last_segment
            self._give_back(ticket, cache, all_tokens or [])
            self._finish(ticket, self._closing(ticket, "stop", name, info))
            return
        ticket.detokenizer.add_token(int(token))
        if finish == "length":
            ticket.detokenizer.finalize()
        piece = ticket.detokenizer.last_segment
        info = ticket.info.make(int(token), piece, logprobs) if ticket.info else None
        ticket.text += piece
        hit = self._find_stop(ticket)
        if hit is not None:  # a stop string: the reply ends before it
            index, stop = hit
            if finish is None:
                cache, all_tokens = unit.remove(ticket)
            self._give_back(ticket, cache, all_tokens or [])
            ticket.text = ticket.text[:index]
            self._finish(ticket, self._closing(ticket, "stop", stop, info))
            return
        if finish is not None:
            self._give_back(ticket, cache, all_tokens or [])
            self._finish(ticket, self._closing(ticket, finish, None, info))
            return
        hold = max((len(s) for s in ticket.stops), default=1) - 1
        safe = len(ticket.text) - hold if ticket.stops else len(ticket.text)
        if safe > ticket.emitted or info is not None:
            delta = ticket.text[ticket.emitted : safe] if safe > ticket.emitted else ""
            ticket.emitted = max(ticket.emitted, safe)
            ticket.put(ticket.event(delta, tokens=(info,) if info else (), status="generating"))

    def _steering_failed(self, ticket: Ticket, unit: Any, token: int | None, finish: str | None) -> bool:
        """The constraint cannot go on (a dead end of its grammar): the reply ends with an error at the first
        token it could not vouch for, the text before it kept; never unconstrained. False: not yet."""
        position = ticket.prepared.prompt_tokens + ticket.generated  # this token's index in the sequence
        if position + 1 < ticket.steering.error_at:
            return False
        if position < ticket.steering.error_at and token is not None:  # this token is still good: keep its text
            ticket.generated += 1
            ticket.produced.append(int(token))
            ticket.detokenizer.add_token(int(token))
            ticket.detokenizer.finalize()
            ticket.text += ticket.detokenizer.last_segment
            ticket.put(ticket.event(ticket.text[ticket.emitted :], status="generating"))
            ticket.emitted = len(ticket.text)
        if finish is None:
            unit.remove(ticket)
        self._fail(
            ticket,
            GenerationError(
                f"the constraint failed after {ticket.generated} tokens: {ticket.steering.error}",
                hint="simplify the constraint or raise max tokens; if it persists, report it",
            ),
        )
        return True

    def _closing(self, ticket: Ticket, finish: str, stop_token: str | None, info: TokenInfo | None) -> GenerationEvent:
        """The final event, carrying the text not yet emitted (held back for stop strings, or flushed)."""
        tail = ticket.text[ticket.emitted :] if len(ticket.text) > ticket.emitted else ""
        ticket.emitted = len(ticket.text)
        return dataclasses.replace(self._final(ticket, finish, stop_token, [info] if info else []), text=tail)

    @staticmethod
    def _find_stop(ticket: Ticket) -> tuple[int, str] | None:
        if not ticket.stops:
            return None
        hold = max(len(s) for s in ticket.stops) - 1
        window = max(0, ticket.emitted - hold)
        hits = [(ticket.text.find(s, window), s) for s in ticket.stops]
        hits = [(i, s) for i, s in hits if i >= 0]
        return min(hits) if hits else None


def make_steering(prepared: PreparedChat) -> SteeringProcessor | None:
    """The request's constraint / thinking-budget processor (None without either), explained when the request
    asks for token probabilities."""
    if prepared.steering is None:
        return None
    return SteeringProcessor(
        prepared.steering,
        prepared.loaded.tokenizer,
        prepared.prompt_tokens,
        explain=bool(prepared.request.logprobs),
    )
