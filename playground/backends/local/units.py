"""What the scheduler decodes with: a request's :class:`Ticket`, and the units that run tickets on a model.

A :class:`SoloUnit` runs one request on mlx-lm's ``generate_step`` (no batch bookkeeping per token); a
:class:`BatchUnit` runs several in one mlx-lm ``BatchGenerator``. The vision unit
(:mod:`playground.backends.local.vision`) is a solo unit with mlx-vlm's start. The scheduler
(:mod:`playground.backends.local.scheduler`) owns the thread they run on.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...events import GenerationEvent, TokenAlternative, TokenInfo
from ...prepare import PreparedChat
from .prompt_cache import PromptCache

DEFAULT_PREFILL_STEP = 512


# ---------------------------------------------------------------------------------------------- tickets


@dataclass(eq=False)
class Ticket:
    """One request's state while it waits or runs on the worker."""

    prepared: PreparedChat
    cancel: threading.Event
    cache: PromptCache | None
    out: queue.Queue = field(default_factory=queue.Queue)
    seed: int = 0
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
    info: TokenInfoMaker | None = None
    sampler: Callable | None = None
    processors: list[Callable] = field(default_factory=list)
    steering: Any = None  # a playground.constraints.SteeringProcessor, among the processors

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
            peak_memory_gb=peak_memory_gb(),
            reused_tokens=self.reused,
            seed=self.seed,
            batch_size=self.batch_size,
            **extra,
        )

    def put(self, event: GenerationEvent) -> None:
        self.out.put(("item", event))


def peak_memory_gb() -> float:
    import mlx.core as mx

    return mx.get_peak_memory() / 1e9


# ---------------------------------------------------------------------------------------------- token info


class TokenInfoMaker:
    """Per-token probabilities for one request (only built when the request asks for them).

    They are computed on ``stream``, a stream of their own: on MLX's default stream, reading them waited for
    the next token's forward pass that the generator had already queued (8.5 ms a token instead of 0.75 on
    the bench model), and the next step's graph was only built after it, so decoding lost 4 %.
    """

    def __init__(self, prepared: PreparedChat, stream: Any, steering: Any = None):
        self.k = prepared.request.logprobs
        self.stream = stream
        self.steering = steering  # a SteeringProcessor: what the constraint did at each step
        self.position = prepared.prompt_tokens  # the sequence index of the next generated token
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

        note = self.steering.take_note(self.position) if self.steering is not None else None
        self.position += 1
        flat = logprobs.reshape(-1)
        if flat.dtype != mx.float32:  # half precision sums to ~1.0005: renormalise in float32
            flat = flat.astype(mx.float32)
            flat = flat - mx.logsumexp(flat)
        k = min(self.k, flat.shape[0])
        top_ids = mx.argpartition(flat, kth=flat.shape[0] - k)[-k:]  # 5x faster on CPU than -flat, kth=k-1
        arrays = [flat[token], top_ids, flat[top_ids]]
        arrays.append(mx.logsumexp(flat[mx.array(self.eos_ids)]) if self.eos_ids else mx.array(0.0))
        if note is not None:
            arrays += [note.top, note.top_logprob]
        mx.eval(arrays)
        finite = [(lp, i) for lp, i in zip(arrays[2].tolist(), arrays[1].tolist()) if math.isfinite(lp)]
        eos = float(arrays[3].item()) if self.eos_ids else None
        info = TokenInfo(
            text=text,
            id=token,
            logprob=float(arrays[0].item()),
            top=tuple(TokenAlternative(self.piece(i), i, lp) for lp, i in sorted(finite, reverse=True)),
            eos_logprob=eos if eos is None or math.isfinite(eos) else -1e9,
            special=token in self.special,
        )
        if note is None:
            return info
        wanted_id = int(arrays[4].item())
        wanted = None
        if note.removed(wanted_id):
            wanted = TokenAlternative(self.piece(wanted_id), wanted_id, float(arrays[5].item()))
        return dataclasses.replace(info, allowed=note.allowed, forced=note.forced, wanted=wanted)


# ---------------------------------------------------------------------------------------------- units


class SoloUnit:
    """One request at a time, decoded by mlx-lm's ``generate_step`` (a token a step): models whose KV cache
    cannot be batched, and the lone request of a batch unit (as fast as ``stream_generate``)."""


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


class BatchUnit:
    """All active requests of one loaded model, decoded together.

    A lone request runs on a :class:`SoloUnit` (mlx-lm's ``generate_step``: no batch bookkeeping per token).
    When a second request arrives, the lone one moves into an mlx-lm ``BatchGenerator`` between two tokens,
    with its KV cache, token context and sampler state, and every later request joins that batch.
    """


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


def detokenizer(prepared: PreparedChat) -> Any:
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


def batchable(model: Any) -> bool:
    from mlx_lm.models.cache import make_prompt_cache

    try:
        return all(hasattr(c, "merge") for c in make_prompt_cache(model))
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- scheduler
