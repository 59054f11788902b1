"""Generation settings: one validated dataclass, family defaults, and mlx-lm samplers.

Every field is optional: ``None`` means "not set by the user", and :meth:`GenerationSettings.resolve`
fills it from the family's defaults, then from the ``DEFAULT_*`` constants below.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import SettingsError

DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 1.0
DEFAULT_MIN_P = 0.0
DEFAULT_TOP_K = 0
DEFAULT_REPETITION_PENALTY = 1.0
DEFAULT_REPETITION_CONTEXT_SIZE = 20
DEFAULT_PRESENCE_PENALTY = 0.0
DEFAULT_FREQUENCY_PENALTY = 0.0
DEFAULT_MAX_TOKENS = 512
MAX_MAX_TOKENS = 32768
MAX_STOP_STRINGS = 16
MAX_STOP_LENGTH = 200

# name -> (type, low, high, low_inclusive, high_inclusive, default)
_RANGES: dict[str, tuple[type, float, float, bool, bool, Any]] = {
    "temperature": (float, 0.0, 5.0, True, True, DEFAULT_TEMPERATURE),
    "top_p": (float, 0.0, 1.0, False, True, DEFAULT_TOP_P),
    "min_p": (float, 0.0, 1.0, True, True, DEFAULT_MIN_P),
    "top_k": (int, 0, 100_000, True, True, DEFAULT_TOP_K),
    "repetition_penalty": (float, 0.0, 10.0, False, True, DEFAULT_REPETITION_PENALTY),
    "repetition_context_size": (int, 1, 16_384, True, True, DEFAULT_REPETITION_CONTEXT_SIZE),
    "presence_penalty": (float, -10.0, 10.0, True, True, DEFAULT_PRESENCE_PENALTY),
    "frequency_penalty": (float, -10.0, 10.0, True, True, DEFAULT_FREQUENCY_PENALTY),
    "max_tokens": (int, 1, MAX_MAX_TOKENS, True, True, DEFAULT_MAX_TOKENS),
}

#: Settings a preset file may give defaults for.
DEFAULTABLE_FIELDS = frozenset(_RANGES)


def _describe_range(name: str) -> str:
    kind, low, high, low_inc, high_inc, _ = _RANGES[name]
    left = "[" if low_inc else "("
    right = "]" if high_inc else ")"
    what = "an integer" if kind is int else "a number"
    return f"{what} in {left}{low}, {high}{right}"


def check_value(name: str, value: Any) -> float | int:
    """Validate one numeric setting and return it converted to its type.

    Raises:
        SettingsError: naming the field, the bad value and the allowed range.
    """
    kind, low, high, low_inc, high_inc, _ = _RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SettingsError(
                f"{name} must be {_describe_range(name)}, got {value!r}",
                hint=f"set {name} to a number",
            )
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{name} must be {_describe_range(name)}, got {value!r}", hint=f"set {name} to a number")
    if kind is int:
        if float(value) != int(value):
            raise SettingsError(
                f"{name} must be {_describe_range(name)}, got {value!r}", hint=f"use a whole number for {name}"
            )
        value = int(value)
    else:
        value = float(value)
    too_low = value < low or (value == low and not low_inc)
    too_high = value > high or (value == high and not high_inc)
    if too_low or too_high:
        raise SettingsError(
            f"{name} must be {_describe_range(name)}, got {value!r}",
            hint=f"choose a {name} within the range",
        )
    return value


def check_thinking_budget(value: Any) -> int:
    """A thinking budget: a whole number of tokens in [0, MAX_MAX_TOKENS]."""
    number = value
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_MAX_TOKENS:
        raise SettingsError(
            f"thinking_budget must be an integer in [0, {MAX_MAX_TOKENS}], got {value!r}",
            hint="give the number of thinking tokens after which the model must answer, or leave it empty",
        )
    return number


@dataclass(frozen=True)
class GenerationSettings:
    """What the user asked for; ``None`` means "use the family default"."""

    temperature: float | None = None
    top_p: float | None = None
    min_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    repetition_context_size: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    thinking_budget: int | None = None  # thinking tokens before the end-of-thinking marker is forced

    def __post_init__(self) -> None:
        for name in _RANGES:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_value(name, value))
        if self.seed is not None:
            seed = self.seed
            if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
                seed = int(seed)
            if isinstance(seed, float) and seed.is_integer():
                seed = int(seed)
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
                raise SettingsError(
                    f"seed must be an integer in [0, {2**32 - 1}], got {self.seed!r}",
                    hint="leave the seed empty for a random one",
                )
            object.__setattr__(self, "seed", seed)
        if self.thinking_budget is not None:
            object.__setattr__(self, "thinking_budget", check_thinking_budget(self.thinking_budget))
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        stop = tuple(stop or ())
        for item in stop:
            if not isinstance(item, str) or not item:
                raise SettingsError(
                    f"stop strings must be non-empty text, got {item!r}", hint="remove the empty stop string"
                )
            if len(item) > MAX_STOP_LENGTH:
                raise SettingsError(
                    f"a stop string is {len(item)} characters long; the limit is {MAX_STOP_LENGTH}",
                    hint="use a shorter stop string",
                )
        if len(stop) > MAX_STOP_STRINGS:
            raise SettingsError(
                f"{len(stop)} stop strings given; the limit is {MAX_STOP_STRINGS}", hint="keep the ones that matter"
            )
        object.__setattr__(self, "stop", stop)

    def resolve(self, defaults: Mapping[str, Any] | None = None) -> GenerationSettings:
        """Fill unset fields from ``defaults`` (a family's), then from the module defaults."""
        defaults = defaults or {}
        values = {}
        for name, spec in _RANGES.items():
            value = getattr(self, name)
            if value is None:
                value = defaults.get(name, spec[5])
            values[name] = value
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict of the fields."""
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationSettings:
        """Build from a dict, rejecting unknown keys by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SettingsError(
                f"unknown generation setting(s): {', '.join(unknown)}",
                hint=f"valid settings: {', '.join(sorted(names))}",
            )
        return cls(**{k: v for k, v in data.items()})


def make_sampler(settings: GenerationSettings, seed: int | None = None) -> Callable:
    """The sampler for resolved settings: mlx-lm's filters (top-p, min-p, top-k), then a categorical draw.

    The draw uses this request's own random key (from ``seed``), not MLX's global random state, so a
    seeded request gives the same tokens whether it runs alone or in a batch with others.
    Temperature 0 is greedy (argmax) and needs no key.
    """
    from mlx_lm.sample_utils import apply_min_p, apply_top_k, apply_top_p, greedy_sampler

    temperature = settings.temperature or 0.0
    if temperature == 0:
        return greedy_sampler
    filters: list[Callable] = []
    top_p = settings.top_p if settings.top_p is not None else DEFAULT_TOP_P
    if 0 < top_p < 1.0:
        filters.append(lambda x: apply_top_p(x, top_p))
    if settings.min_p:
        filters.append(lambda x: apply_min_p(x, settings.min_p))
    if settings.top_k:
        filters.append(lambda x: apply_top_k(x, settings.top_k) if settings.top_k < x.shape[-1] else x)
    return SeededSampler(filters, seed if seed is not None else new_seed(), temperature)


class SeededSampler:
    """Filters, then a categorical draw keyed by this request's own chain of random keys (one split a draw).

    :meth:`rewind` takes back the last draw's key: the scheduler calls it when it throws away a step that
    was computed ahead (moving a running request into a batch), so the request draws the same tokens as if
    it had never moved.
    """

    def __init__(self, filters: list[Callable], seed: int, temperature: float):
        import mlx.core as mx

        self._filters = filters
        self._scale = 1.0 / temperature
        self._key = mx.random.key(seed)
        self._previous: Any = None

    def __call__(self, logprobs: Any) -> Any:
        import mlx.core as mx

        for apply in self._filters:
            logprobs = apply(logprobs)
        self._previous = self._key
        self._key, key = mx.random.split(self._key)
        return mx.random.categorical(logprobs * self._scale, key=key)

    def rewind(self) -> None:
        """Undo the key split of the last draw (once)."""
        if self._previous is None:
            raise RuntimeError("nothing to rewind: the sampler has not drawn since it was made or last rewound")
        self._key, self._previous = self._previous, None


def new_seed() -> int:
    """A random seed for a request that did not set one (reported back, so the run can be repeated)."""
    import secrets

    return secrets.randbelow(2**32)


def make_logits_processors(settings: GenerationSettings) -> list[Callable]:
    """Build mlx-lm logits processors (repetition, presence, frequency penalties)."""
    from mlx_lm.sample_utils import make_logits_processors as _make

    penalty = settings.repetition_penalty
    context = settings.repetition_context_size or DEFAULT_REPETITION_CONTEXT_SIZE
    return _make(
        repetition_penalty=penalty if penalty and penalty != 1.0 else None,
        repetition_context_size=context,
        presence_penalty=settings.presence_penalty or None,
        presence_context_size=context,
        frequency_penalty=settings.frequency_penalty or None,
        frequency_context_size=context,
    )
