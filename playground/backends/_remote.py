"""What every server backend shares: the prompt as sent (BOS handling), the reply as events.

A server gets the playground's rendered prompt as raw text and tokenizes it itself, with special tokens:
a prompt that already starts with the BOS token would get a second one. :func:`prompt_to_send` decides,
per server, what to send so the server's tokens are the prompt's tokens, and says what it did.

:class:`ReplyAssembler` turns the text a server streams into the same :class:`GenerationEvent` stream the
local backend produces: text deltas, then one final event with the finish reason, the stop token, token
counts, time to first token, speeds, reused prompt tokens, the source and every warning. It also cuts the
reply at the wired EOS tokens and the user's stop strings: servers stop only on their tokenizer's EOS,
and some return the stop text.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from ..events import GenerationEvent, TokenAlternative, TokenInfo
from ..prepare import PreparedChat

#: The note of a reply the server stopped without saying on which token or string (its ``stop_token`` is None:
#: a stop token is a token or nothing, never an explanation).
SERVER_STOP = "the server stopped the reply without saying on which token or string"


# ---------------------------------------------------------------------------------------------- the prompt


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether tokenizing with special tokens (what servers do) puts the BOS token first."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    try:
        ids = list(tokenizer.encode("a", add_special_tokens=True))
    except Exception:
        return False
    return bool(ids) and ids[0] == bos_id


@dataclass(frozen=True)
class PromptPlan:
    """The text sent for a prepared prompt, whether to ask the server not to add special tokens, and why."""

    text: str
    add_special_tokens: bool | None  # None: the server has no such switch
    notes: tuple[str, ...] = ()


def prompt_to_send(prepared: PreparedChat, *, server: str, can_disable_special: bool) -> PromptPlan:
    """The prompt text for a server that tokenizes with special tokens, so that it gets our tokens.

    ``can_disable_special``: the server takes ``add_special_tokens: false`` (vLLM); then the exact text of
    our tokens is sent, BOS included. Otherwise a leading BOS the server will add itself is stripped.
    """
    tokenizer = prepared.loaded.tokenizer
    bos = getattr(tokenizer, "bos_token", None) or ""
    text = prepared.text
    adds = tokenizer_adds_bos(tokenizer)
    if can_disable_special:
        if prepared.bos_added and bos:
            return PromptPlan(
                bos + text,
                False,
                (
                    f"sent to {server} with {bos} written out and add_special_tokens off, "
                    "so it gets exactly these tokens",
                ),
            )
        return PromptPlan(text, False, ())
    if not adds or not bos:
        return PromptPlan(text, None, ())
    if text.startswith(bos):
        return PromptPlan(
            text[len(bos) :],
            None,
            (
                f"sent to {server} without the leading {bos}: the server adds {bos} itself "
                f"(it tokenizes with special tokens), so the model still gets one {bos}, not two",
            ),
        )
    if prepared.raw:
        return PromptPlan(
            text,
            None,
            (
                f"{server} adds {bos} before the raw text (it tokenizes with special tokens and cannot be told "
                f"not to): the model gets one token more than shown",
            ),
        )
    return PromptPlan(text, None, ())


def eos_texts(prepared: PreparedChat) -> tuple[str, ...]:
    """The wired EOS tokens as the text a server's detokenizer writes for them."""
    tokenizer = prepared.loaded.tokenizer
    texts = []
    for token_id, name in zip(prepared.eos.ids, prepared.eos.tokens):
        try:
            text = tokenizer.decode([token_id])
        except Exception:
            text = ""
        texts.append(text or name)
    return tuple(dict.fromkeys(t for t in texts if t))


def stop_strings(prepared: PreparedChat) -> tuple[str, ...]:
    """The wired EOS tokens and the user's stop strings, as text (servers stop only on their own EOS)."""
    return tuple(dict.fromkeys(s for s in (*eos_texts(prepared), *prepared.settings.stop) if s))


# ---------------------------------------------------------------------------------------------- tokens


@dataclass
class TokenRecord:
    """One generated token as a server reports it (any of the fields may be missing)."""

    text: str | None = None
    id: int | None = None
    logprob: float | None = None
    top: list[tuple[str | None, int | None, float]] = field(default_factory=list)


class TokenNamer:
    """Fills in what servers leave out of token reports: ids from text and text from ids (cached)."""

    def __init__(self, prepared: PreparedChat):
        self.tokenizer = prepared.loaded.tokenizer
        self.eos_ids = list(prepared.eos.ids)
        self.special = set(getattr(self.tokenizer, "all_special_ids", []) or []) | set(self.eos_ids)
        self._pieces: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self.history: list[int] = []

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            try:
                self._pieces[token_id] = self.tokenizer.decode([token_id])
            except Exception:
                self._pieces[token_id] = ""
        return self._pieces[token_id]

    def name(self, token_id: int) -> str:
        try:
            return str(self.tokenizer.convert_ids_to_tokens(int(token_id)))
        except Exception:
            return self.piece(token_id)

    def id_for(self, text: str | None) -> int:
        """The id of a token given as text (vocabulary form, ``token_id:N`` or decoded text); -1 if unknown."""
        if text is None:
            return -1
        if text.startswith("token_id:") and text[9:].lstrip("-").isdigit():
            return int(text[9:])
        if text in self._ids:
            return self._ids[text]
        found = -1
        vocab = getattr(self.tokenizer, "get_vocab", lambda: {})()
        if text in vocab:
            found = vocab[text]
        else:
            try:
                ids = list(self.tokenizer.encode(text, add_special_tokens=False))
            except Exception:
                ids = []
            if len(ids) == 1:
                found = ids[0]
        self._ids[text] = found
        return found

    def text_in_context(self, token_id: int) -> str:
        """The text ``token_id`` adds after the tokens seen so far (a window of them: spaces, byte merges)."""
        window = self.history[-8:]
        try:
            before = self.tokenizer.decode(window) if window else ""
            after = self.tokenizer.decode([*window, token_id])
        except Exception:
            return self.piece(token_id)
        return after[len(before) :] if after.startswith(before) else self.piece(token_id)

    def info(self, record: TokenRecord) -> TokenInfo:
        """A TokenInfo like the local backend's: the token's text, id, log-probability and alternatives."""
        token_id = record.id if record.id is not None and record.id >= 0 else self.id_for(record.text)
        alternatives = []
        for text, alt_id, logprob in record.top:
            alt = alt_id if alt_id is not None and alt_id >= 0 else self.id_for(text)
            alternatives.append(TokenAlternative(self.piece(alt) if alt >= 0 else (text or ""), alt, float(logprob)))
        alternatives.sort(key=lambda a: a.logprob, reverse=True)
        if token_id >= 0 and token_id in self.eos_ids:
            text = self.name(token_id)
        elif token_id >= 0:
            text = self.text_in_context(token_id)
        else:
            text = record.text or ""
        logprob = record.logprob
        if logprob is None:
            logprob = next((a.logprob for a in alternatives if a.id == token_id), -math.inf)
        eos = [a.logprob for a in alternatives if a.id in self.eos_ids]
        eos_logprob = _logsumexp(eos) if eos else None
        if token_id >= 0:
            self.history.append(token_id)
        return TokenInfo(
            text=text,
            id=token_id,
            logprob=float(logprob) if math.isfinite(logprob) else -1e9,
            top=tuple(alternatives),
            eos_logprob=eos_logprob,
            special=token_id in self.special,
        )


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


# ---------------------------------------------------------------------------------------------- the reply


class ReplyAssembler:
    """Builds the event stream of one server reply (text deltas, then the final event)."""

    def __init__(self, prepared: PreparedChat, *, source: str, stops: tuple[str, ...], notes=(), seed=None):
        self.prepared = prepared
        self.source = source
        self.seed = seed  # the seed the server got (None: none sent)
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.notes: list[str] = list(dict.fromkeys(notes))
        self.text = ""
        self.emitted = 0
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0  # tokens seen so far (token reports, else text chunks)
        self.hit: str | None = None  # the stop string that ended the reply here
        self.reused = 0
        self.server_prompt_tokens: int | None = None
        self.server_completion_tokens: int | None = None
        self.server_prompt_tps: float | None = None
        self.server_generation_tps: float | None = None
        self.infos: list[TokenInfo] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # ------------------------------------------------------------------ events

    def _event(self, text: str = "", **extra: Any) -> GenerationEvent:
        now = time.perf_counter()
        first = self.first
        ttft = (first - self.started) if first is not None else 0.0
        prefilled = max(0, self.prepared.prompt_tokens - self.reused)
        prompt_tps = self.server_prompt_tps
        if prompt_tps is None:
            prompt_tps = prefilled / ttft if ttft > 0 else 0.0
        span = ((self.last or now) - first) if first is not None else 0.0
        gen_tps = self.server_generation_tps
        if gen_tps is None:
            if self.count > 1 and span > 0.001:
                gen_tps = (self.count - 1) / span
            elif self.count and self.last is not None and self.last > self.started:  # arrived in one burst:
                gen_tps = self.count / (self.last - self.started)  # a lower bound (includes the prefill)
            else:
                gen_tps = 0.0
        extra.setdefault("token", None)
        extra.setdefault("generation_tokens", self.count)
        return GenerationEvent(
            text=text,
            prompt_tokens=self.prepared.prompt_tokens,
            ttft_s=ttft,
            prompt_tps=prompt_tps,
            generation_tps=gen_tps,
            peak_memory_gb=0.0,
            reused_tokens=self.reused,
            seed=self.seed,
            batch_size=1,
            source=self.source,
            **extra,
        )

    def started_event(self) -> GenerationEvent:
        """The first event: the request is on its way (the server prefills)."""
        return self._event(status="prefill")

    def add(
        self, delta: str, *, tokens: int | None = None, infos: tuple[TokenInfo, ...] = ()
    ) -> GenerationEvent | None:
        """Take a piece of the reply. Returns an event to yield (or None); after a stop string, :attr:`hit`
        is set and the caller ends the stream."""
        if not delta and not infos:
            return None
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += tokens if tokens is not None else (len(infos) if infos else 1)
        self.infos.extend(infos)
        self.text += delta
        found = self._find_stop()
        if found is not None:
            index, stop = found
            self.text = self.text[:index]
            self.hit = stop
            return None
        safe = len(self.text) - self.hold if self.stops else len(self.text)
        if safe > self.emitted or infos:
            piece = self.text[self.emitted : safe] if safe > self.emitted else ""
            self.emitted = max(self.emitted, safe)
            last_id = infos[-1].id if infos else None
            return self._event(piece, tokens=tuple(infos), token=last_id)
        return None

    def _find_stop(self) -> tuple[int, str] | None:
        if not self.stops:
            return None
        window = max(0, self.emitted - self.hold)
        hits = [(self.text.find(s, window), s) for s in self.stops]
        hits = [(i, s) for i, s in hits if i >= 0]
        return min(hits) if hits else None

    def estimate_tokens(self, stopped: bool) -> int:
        tokenizer = self.prepared.loaded.tokenizer
        try:
            count = len(tokenizer.encode(self.text, add_special_tokens=False)) if self.text else 0
        except Exception:
            count = self.count
        return count + (1 if stopped else 0)

    def flush(self) -> GenerationEvent | None:
        """The text held back (it might have begun a stop string) as an event, when the stream fails: it came,
        so it belongs to the partial reply."""
        tail = self.text[self.emitted :]
        if not tail:
            return None
        self.emitted = len(self.text)
        return self._event(tail)

    def final(self, finish: str, stop_token: str | None, *, infos: tuple[TokenInfo, ...] = ()) -> GenerationEvent:
        """The last event: the text still held back, counts, speeds and every warning. A reply the server stopped
        without naming the token (``stop_token`` None) says so in a note."""
        self.infos.extend(infos)
        if finish == "stop" and stop_token is None:
            self.note(SERVER_STOP)
        tail = self.text[self.emitted :]
        self.emitted = len(self.text)
        if finish == "cancelled":
            generated = max(self.count, len(self.infos))
        elif self.server_completion_tokens is not None and self.hit is None:
            generated = self.server_completion_tokens
        elif self.infos:
            generated = len(self.infos)
        else:
            generated = self.estimate_tokens(stopped=finish == "stop")
            self.note("generated-token count estimated by tokenizing the reply here (the server did not report it)")
        if self.server_prompt_tokens is not None and self.server_prompt_tokens != self.prepared.prompt_tokens:
            self.note(
                f"the server counted {self.server_prompt_tokens} prompt tokens where the playground counts "
                f"{self.prepared.prompt_tokens}: its tokenizer or model differs from --model's, or it added or "
                "dropped special tokens"
            )
        warnings = tuple(dict.fromkeys([*self.prepared.warnings, *self.notes]))
        last_id = infos[-1].id if infos else None
        return self._event(
            tail,
            finish_reason=finish,
            stop_token=stop_token,
            status="done",
            tokens=tuple(infos),
            warnings=warnings,
            generation_tokens=generated,
            token=last_id,
        )


def finish_reason(value: Any) -> str:
    """A server's finish reason as ours (``stop`` or ``length``)."""
    text = str(value or "").lower()
    if text in ("length", "max_tokens", "limit", "n_predict"):
        return "length"
    return "stop"


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
