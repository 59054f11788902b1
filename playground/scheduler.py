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
destructor needs the GIL: this daemon thread lives as long as the process, see :mod:`mlx_runtime`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationError, PlaygroundError
from .events import GenerationEvent, TokenAlternative, TokenInfo
from .mlx_runtime import track_worker
from .prepare import PreparedChat
from .prompt_cache import PromptCacheState
from .settings import make_logits_processors, make_sampler, new_seed

DEFAULT_MAX_BATCH = 8
DEFAULT_PREFILL_STEP = 512
_DONE = object()


# ---------------------------------------------------------------------------------------------- tickets


@dataclass(eq=False)
class Ticket:
    """One request's state while it waits or runs on the worker."""

    prepared: PreparedChat
    cancel: threading.Event
    cache: PromptCacheState | None
    out: queue.Queue = field(default_factory=queue.Queue)
    seed: int = 0
    submitted: float = field(default_factory=time.perf_counter)
    admitted: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    uid: int | None = None
    reused: int = 0
    prefill_tokens: int = 0
    generated: int = 0
    produced: list[int] = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    detokenizer: Any = None
    finished: bool = False
    position: int | None = None
    batch_size: int = 1
    info: _TokenInfoMaker | None = None
    sampler: Callable | None = None
    processors: list[Callable] = field(default_factory=list)

    @property
    def max_tokens(self) -> int:
        return self.prepared.settings.max_tokens

    @property
    def stops(self) -> tuple[str, ...]:
        return self.prepared.settings.stop

    def event(self, text: str = "", **extra: Any) -> GenerationEvent:
        now = time.perf_counter()
        start = self.admitted if self.admitted is not None else now
        first = self.first_token
        ttft = (first - start) if first is not None else 0.0
        prompt_tps = self.prefill_tokens / ttft if ttft > 0 else 0.0
        span = ((self.last_token or now) - first) if first is not None else 0.0
        gen_tps = (self.generated - 1) / span if self.generated > 1 and span > 0 else 0.0
        extra.setdefault("token", self.produced[-1] if self.produced else None)
        return GenerationEvent(
            text=text,
            prompt_tokens=self.prepared.prompt_tokens,
            generation_tokens=self.generated,
            ttft_s=ttft,
            prompt_tps=prompt_tps,
            generation_tps=gen_tps,
            peak_memory_gb=_peak_memory_gb(),
            reused_tokens=self.reused,
            seed=self.seed,
            batch_size=self.batch_size,
            **extra,
        )

    def put(self, event: GenerationEvent) -> None:
        self.out.put(("item", event))


def _peak_memory_gb() -> float:
    import mlx.core as mx

    return mx.get_peak_memory() / 1e9


# ---------------------------------------------------------------------------------------------- token info


class _TokenInfoMaker:
    """Per-token probabilities for one request (only built when the request asks for them).

    They are computed on ``stream``, a stream of their own: on MLX's default stream, reading them waited for
    the next token's forward pass that the generator had already queued (8.5 ms a token instead of 0.75 on
    the bench model), and the next step's graph was only built after it, so decoding lost 4 %.
    """

    def __init__(self, prepared: PreparedChat, stream: Any):
        self.k = prepared.request.logprobs
        self.stream = stream
        self.tokenizer = prepared.loaded.tokenizer
        self.eos_ids = list(prepared.eos.ids)
        self.special = set(getattr(self.tokenizer, "all_special_ids", []) or []) | set(self.eos_ids)
        self._pieces: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            self._pieces[token_id] = self.tokenizer.decode([token_id])
        return self._pieces[token_id]

    def make(self, token: int, text: str, logprobs: Any) -> TokenInfo:
        import mlx.core as mx

        with mx.stream(self.stream):
            return self._make(token, text, logprobs)

    def _make(self, token: int, text: str, logprobs: Any) -> TokenInfo:
        import mlx.core as mx

        flat = logprobs.reshape(-1)
        if flat.dtype != mx.float32:  # half precision sums to ~1.0005: renormalise in float32
            flat = flat.astype(mx.float32)
            flat = flat - mx.logsumexp(flat)
        k = min(self.k, flat.shape[0])
        top_ids = mx.argpartition(flat, kth=flat.shape[0] - k)[-k:]  # 5x faster on CPU than -flat, kth=k-1
        arrays = [flat[token], top_ids, flat[top_ids]]
        if self.eos_ids:
            arrays.append(mx.logsumexp(flat[mx.array(self.eos_ids)]))
        mx.eval(arrays)
        pairs = sorted(zip(arrays[2].tolist(), arrays[1].tolist()), reverse=True)
        eos = float(arrays[3].item()) if self.eos_ids else None
        return TokenInfo(
            text=text,
            id=token,
            logprob=float(arrays[0].item()),
            top=tuple(TokenAlternative(self.piece(i), i, lp) for lp, i in pairs),
            eos_logprob=eos if eos is None or math.isfinite(eos) else -1e9,
            special=token in self.special,
        )


# ---------------------------------------------------------------------------------------------- units


class SoloUnit:
    """One request at a time, decoded by mlx-lm's ``generate_step`` (a token a step): models whose KV cache
    cannot be batched, and the lone request of a batch unit (as fast as ``stream_generate``)."""

    batchable = False

    def __init__(self, loaded: Any):
        """Subclasses (the vision unit) override :meth:`add`; stepping, stopping and releasing are shared."""
        self.loaded = loaded
        self.ticket: Ticket | None = None
        self._steps: Iterator | None = None
        self._cache: list | None = None
        self._prompt: list[int] = []
        self._unstarted: tuple[list | None, list[int], list[int]] | None = None  # until the first step

    def add(self, ticket: Ticket, cache: list | None, suffix: list[int], prefix: list[int]) -> None:
        import mlx.core as mx
        from mlx_lm.generate import generate_step
        from mlx_lm.models.cache import make_prompt_cache

        self._unstarted = (cache, suffix, prefix)
        self._cache = cache if cache is not None else make_prompt_cache(self.loaded.model)
        self._prompt = prefix + suffix
        self.ticket = ticket
        self._steps = generate_step(
            mx.array(suffix),
            self.loaded.model,
            max_tokens=ticket.max_tokens,
            sampler=ticket.sampler,
            logits_processors=with_context(ticket.processors, prefix),
            prompt_cache=self._cache,
        )

    def step(self) -> list[tuple[Ticket, str, Any]]:
        ticket = self.ticket
        if ticket is None or self._steps is None:
            return []
        self._unstarted = None
        try:
            token, logprobs = next(self._steps)
        except StopIteration:  # the token limit inside generate_step
            token, logprobs = None, None
        finish = None
        if token is None:
            finish = "length"
        elif token in ticket.prepared.eos.ids:
            finish = "stop"
        elif ticket.generated + 1 >= ticket.max_tokens:
            finish = "length"
        cache = tokens = None
        if finish is not None:
            cache, tokens = self._release(ticket.produced + ([token] if token is not None else []))
        return [(ticket, "token", (token, logprobs, finish, cache, tokens))]

    def _release(self, produced: list[int]) -> tuple[list | None, list[int]]:
        """Close the generator and say what the cache holds (generate_step feeds each token it yields)."""
        from mlx_lm.models.cache import trim_prompt_cache

        if self._steps is not None:
            self._steps.close()
        self._steps = None
        self.ticket = None
        self._unstarted = None
        cache, sequence = self._cache, self._prompt + produced
        self._cache = None
        offset = getattr(cache[0], "offset", None) if cache else None
        if not isinstance(offset, int):
            return None, []
        if offset > len(sequence):
            trim_prompt_cache(cache, offset - len(sequence))
            offset = len(sequence)
        return cache, sequence[:offset]

    def remove(self, ticket: Ticket) -> tuple[list | None, list[int]]:
        if self.ticket is not ticket:
            return None, []
        return self._release(list(ticket.produced))

    def detach(self) -> tuple[list | None, list[int], list[int]]:
        """Hand the running request over to a batch: ``(cache, suffix, prefix)`` as for a fresh start.

        ``generate_step`` has already fed the last token it yielded and drawn the next one; that step is
        thrown away: the cache gives the last token back (the batch feeds it again) and the sampler takes
        its key back, so the request goes on exactly as if it had never moved."""
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        ticket = self.ticket
        if self._unstarted is not None:  # not stepped yet: nothing computed
            start = self._unstarted
            self._release([])
            return start
        sequence = self._prompt + ticket.produced
        cache, held = self._release(list(ticket.produced))
        rewind = getattr(ticket.sampler, "rewind", None)
        if rewind is not None:
            rewind()
        if cache is None or len(held) != len(sequence) or not can_trim_prompt_cache(cache):
            return None, sequence, []  # cannot tell what the cache holds: prefill it all again
        trim_prompt_cache(cache, 1)
        return cache, sequence[-1:], sequence[:-1]

    def running(self) -> list[Ticket]:
        return [self.ticket] if self.ticket is not None else []

    def __len__(self) -> int:
        return 1 if self.ticket is not None else 0

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()


class _BatchUnit:
    """All active requests of one loaded model, decoded together.

    A lone request runs on a :class:`SoloUnit` (mlx-lm's ``generate_step``: no batch bookkeeping per token).
    When a second request arrives, the lone one moves into an mlx-lm ``BatchGenerator`` between two tokens,
    with its KV cache, token context and sampler state, and every later request joins that batch.
    """

    batchable = True

    def __init__(self, loaded: Any, max_batch: int):
        self.loaded = loaded
        self.max_batch = max_batch
        self.lone = SoloUnit(loaded)
        self.generator: Any = None
        self.tickets: dict[int, Ticket] = {}

    def add(self, ticket: Ticket, cache: list | None, suffix: list[int], prefix: list[int]) -> None:
        if not self.tickets and not len(self.lone):
            if self.generator is not None:
                self.generator.close()
                self.generator = None
            self.lone.add(ticket, cache, suffix, prefix)
            return
        if len(self.lone):
            moving = self.lone.ticket
            start = self.lone.detach()
            try:
                self._insert(moving, *start, max_tokens=moving.max_tokens - moving.generated)
            except BaseException:
                self.lone.add(moving, *start)  # it goes on alone from where it was; the newcomer gets the error
                raise
        self._insert(ticket, cache, suffix, prefix, max_tokens=ticket.max_tokens)

    def _insert(
        self, ticket: Ticket, cache: list | None, suffix: list[int], prefix: list[int], *, max_tokens: int
    ) -> None:
        from mlx_lm.generate import BatchGenerator, StopSequences

        if self.generator is None:
            self.generator = BatchGenerator(
                self.loaded.model,
                completion_batch_size=self.max_batch,
                prefill_batch_size=self.max_batch,
                prefill_step_size=DEFAULT_PREFILL_STEP,
            )
        (uid,) = self.generator.insert(
            [suffix],
            max_tokens=[max_tokens],
            caches=[cache],
            all_tokens=[prefix],
            samplers=[ticket.sampler],
            logits_processors=[ticket.processors],
            stop_sequences=[StopSequences([[i] for i in ticket.prepared.eos.ids])],
        )
        ticket.uid = uid
        self.tickets[uid] = ticket

    def step(self) -> list[tuple[Ticket, str, Any]]:
        """One step: ``(ticket, kind, payload)`` with kind ``prefill`` or ``token`` (token, logprobs, finish,
        cache, tokens)."""
        if len(self.lone):
            return self.lone.step()
        prompt_responses, generation_responses = self.generator.next()
        out: list[tuple[Ticket, str, Any]] = []
        for response in prompt_responses:
            ticket = self.tickets.get(response.uid)
            if ticket is not None:
                out.append((ticket, "prefill", response.progress))
        for response in generation_responses:
            ticket = self.tickets.get(response.uid)
            if ticket is None:
                continue
            payload = (
                response.token,
                response.logprobs,
                response.finish_reason,
                response.prompt_cache,
                response.all_tokens,
            )
            out.append((ticket, "token", payload))
            if response.finish_reason is not None:
                del self.tickets[response.uid]
        return out

    def remove(self, ticket: Ticket) -> tuple[list | None, list[int]]:
        """Take a request out; returns its KV cache and the tokens it holds."""
        if ticket is self.lone.ticket:
            return self.lone.remove(ticket)
        if ticket.uid is None or ticket.uid not in self.tickets:
            return None, []
        del self.tickets[ticket.uid]
        caches = self.generator.remove([ticket.uid], return_prompt_caches=True)
        cache, tokens = caches.get(ticket.uid, (None, []))
        return cache, list(tokens or [])

    def running(self) -> list[Ticket]:
        return self.lone.running() + list(self.tickets.values())

    def __len__(self) -> int:
        return len(self.lone) + len(self.tickets)

    def close(self) -> None:
        self.lone.close()
        if self.generator is not None:
            self.generator.close()


def with_context(processors: list[Callable], prefix: list[int]) -> list[Callable]:
    """Logits processors that also see ``prefix``: ``generate_step`` gives them only the tokens it was asked
    to feed, so a prompt whose start came from a reused KV cache would otherwise be penalised as if that
    start were not there (a batch gets the whole sequence through ``all_tokens``)."""
    if not processors or not prefix:
        return processors
    import mlx.core as mx

    before = mx.array(prefix)
    return [lambda tokens, logits, p=p: p(mx.concatenate([before, tokens]), logits) for p in processors]


def _detokenizer(prepared: PreparedChat) -> Any:
    """A fresh streaming detokenizer for a reply. mlx-lm's detokenizers drop the leading space of the first
    text they produce, which suits a new chat reply but not a continuation (Continue, the Notebook): there
    the detokenizer is first fed the prompt's last token, whose text is discarded, so " = 9." after "4 + 5"
    keeps its space."""
    detokenizer = prepared.loaded.tokenizer.detokenizer
    if (prepared.raw or prepared.request.continue_final) and prepared.token_ids:
        detokenizer.add_token(int(prepared.token_ids[-1]))
        detokenizer.finalize()
        _ = detokenizer.last_segment  # the primer's text is not part of the reply
    return detokenizer


def _batchable(model: Any) -> bool:
    from mlx_lm.models.cache import make_prompt_cache

    try:
        return all(hasattr(c, "merge") for c in make_prompt_cache(model))
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- scheduler


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
        cache: PromptCacheState | None = None,
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
        make_unit = getattr(getattr(loaded, "vision", None), "make_unit", None)
        if make_unit is not None:  # vision-language models: their own unit (mlx-vlm), one request at a time
            unit = self._units.get(serial)
            if unit is None:
                unit = self._units[serial] = make_unit(loaded)
                return unit
            return None if len(unit) else unit
        if serial not in self._batchable:
            self._batchable[serial] = self.batching and _batchable(loaded.model)
        unit = self._units.get(serial)
        if self._batchable[serial]:
            if unit is None:
                unit = self._units[serial] = _BatchUnit(loaded, self.max_batch)
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
        ticket.detokenizer = _detokenizer(prepared)
        ticket.info = _TokenInfoMaker(prepared, self._info_stream()) if prepared.request.logprobs else None
        ticket.sampler = make_sampler(prepared.settings, ticket.seed)
        ticket.processors = make_logits_processors(prepared.settings)
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
        return ticket.event(
            finish_reason=finish,
            stop_token=stop_token,
            status="done",
            tokens=tuple(tokens),
            warnings=ticket.prepared.warnings,
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
                    self._on_token(ticket, unit, *payload)
        self._close_idle()

    def _on_token(self, ticket: Ticket, unit: Any, token, logprobs, finish, cache, all_tokens) -> None:
        if ticket.finished:
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
