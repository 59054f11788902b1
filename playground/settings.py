"""Generation settings: one validated dataclass generated from the options table, and mlx-lm samplers.

:class:`GenerationSettings` has one field per :data:`playground.options.OPTIONS` entry (plus ``seed`` and
``stop``). Every field is optional: ``None`` means "not set by the user", and :meth:`resolve` fills it from
the model's or family's defaults, then from the option's default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from .errors import SettingsError
from .options import DEFAULT_REPETITION_CONTEXT_SIZE, DEFAULT_TOP_P, OptionValueError, defaultable_names, get_option
from .options import options as declared_options

MAX_STOP_STRINGS = 16
MAX_STOP_LENGTH = 200

#: Settings a model's generation_config.json or a preset file may give defaults for.
DEFAULTABLE_FIELDS = defaultable_names()


def check_value(name: str, value: Any) -> float | int:
    """Validate one numeric setting and return it converted to its type.

    Raises:
        SettingsError: naming the field, the bad value and the allowed range.
    """
    try:
        return get_option(name).check(value)
    except OptionValueError as exc:
        raise SettingsError(str(exc), hint=exc.hint) from None


def _check_seed(seed: Any) -> int:
    original = seed
    if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
        seed = int(seed)
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise SettingsError(
            f"seed must be an integer in [0, {2**32 - 1}], got {original!r}",
            hint="leave the seed empty for a random one",
        )
    return seed


def _check_stop(stop: Any) -> tuple[str, ...]:
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
    return stop


class _Settings:
    """The behaviour of :class:`GenerationSettings` (its fields come from the options table)."""

    def __post_init__(self) -> None:
        for option in declared_options():
            value = getattr(self, option.name)
            if value is not None:
                object.__setattr__(self, option.name, check_value(option.name, value))
        if self.seed is not None:
            object.__setattr__(self, "seed", _check_seed(self.seed))
        object.__setattr__(self, "stop", _check_stop(self.stop))

    def resolve(self, defaults: Mapping[str, Any] | None = None) -> GenerationSettings:
        """Fill unset fields from ``defaults`` (the model's and family's), then from the options' defaults."""
        defaults = defaults or {}
        values = {}
        for option in declared_options():
            value = getattr(self, option.name)
            values[option.name] = defaults.get(option.name, option.default) if value is None else value
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
        return cls(**dict(data))


GenerationSettings = dataclasses.make_dataclass(
    "GenerationSettings",
    [
        *[(o.name, f"{o.kind.__name__} | None", field(default=None)) for o in declared_options()],
        ("seed", "int | None", field(default=None)),
        ("stop", "tuple[str, ...]", field(default_factory=tuple)),
    ],
    bases=(_Settings,),
    frozen=True,
)
GenerationSettings.__module__ = __name__
GenerationSettings.__doc__ = """What the user asked for; ``None`` means "use the model's or family's default".

One field per option of :data:`playground.options.OPTIONS`, plus ``seed`` and ``stop``."""


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
