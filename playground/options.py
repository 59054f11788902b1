"""The generation settings, each declared once: name, type, range, default, CLI flag, label, help, backends.

Everything that shows or sends a setting is generated from :data:`OPTIONS`: the fields and checks of
:class:`~playground.settings.GenerationSettings`, the CLI's flags (:func:`add_arguments`), the page's sliders,
saved settings, the exported command line (:func:`command_args`), the mlx-lm script of "copy as code" and the
server backends' request fields (:func:`server_fields`). Adding a setting is adding one :class:`Option` here
(and, if mlx-lm has no argument for it, its sampler or logits processor in :mod:`playground.settings`).

This module imports nothing of the project, so any layer may read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

#: Server kinds an option may name a request field for (see :mod:`playground.backends.openai` and ``ollama``).
SERVER_KINDS = ("mlx_lm.server", "vllm", "llama.cpp", "openai-compatible", "ollama")


@dataclass(frozen=True)
class Option:
    """One numeric generation setting.

    ``slider`` is the part of the valid range the page's slider spans (min, max, step); a value typed outside
    it (the CLI, saved settings) is still valid when it is in [low, high]. ``neutral`` is the value that
    changes nothing (penalties of 1.0 or 0.0): the server kinds in ``omit_neutral`` are not sent it (their own
    value for an unsent field is neutral too); others get every value, so none of their own defaults applies.
    ``defaultable``: a model's generation_config.json or a family preset may give it a default. ``compare``:
    every Compare column has its own slider. ``server`` maps a server kind to the setting's name in a request
    (a kind not named does not take it). ``mlx_lm``: the mlx-lm factory and argument that take it
    (``("sampler", "temp")``, ``("processors", "repetition_penalty")``), for the copy-as-code script.
    """

    name: str
    kind: type
    low: float
    high: float
    default: float | int | None  # None: unset means off (the thinking budget)
    flag: str
    label: str
    help: str
    slider: tuple[float, float, float]
    low_inclusive: bool = True
    high_inclusive: bool = True
    neutral: float | int | None = None
    omit_neutral: frozenset[str] = frozenset()
    defaultable: bool = True
    compare: bool = False
    server: Mapping[str, str] = field(default_factory=dict)
    mlx_lm: tuple[str, str] | None = None

    @property
    def dest(self) -> str:
        """The argparse destination of :attr:`flag`."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def elem_id(self) -> str:
        """The page element that holds its slider (``#temperature``, ``#repetition-penalty``, ...)."""
        return self.name.replace("_", "-")

    def describe_range(self) -> str:
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive else ")"
        what = "an integer" if self.kind is int else "a number"
        return f"{what} in {left}{self.low}, {self.high}{right}"

    def check(self, value: Any) -> float | int:
        """``value`` as this option's type; :class:`OptionValueError` names the option, the value and the range."""
        bad = f"{self.name} must be {self.describe_range()}, got {value!r}"
        number = value
        if isinstance(number, str):
            try:
                number = float(number)
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise OptionValueError(bad, f"set {self.name} to a number")
        if self.kind is int:
            if float(number) != int(number):
                raise OptionValueError(bad, f"use a whole number for {self.name}")
            number = int(number)
        else:
            number = float(number)
        too_low = number < self.low or (number == self.low and not self.low_inclusive)
        too_high = number > self.high or (number == self.high and not self.high_inclusive)
        if too_low or too_high:
            raise OptionValueError(bad, f"choose a {self.name} within the range")
        return number


MLX_LM, VLLM, LLAMA_CPP, OPENAI, OLLAMA = SERVER_KINDS


class OptionValueError(ValueError):
    """A value an option does not take; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def _servers(name: str | None, **by_kind: str | None) -> dict[str, str]:
    """Server field names: ``name`` for every kind, except the kinds given by keyword (None: not taken)."""
    kinds = {"mlx_lm": MLX_LM, "vllm": VLLM, "llama_cpp": LLAMA_CPP, "openai": OPENAI, "ollama": OLLAMA}
    out = dict.fromkeys(SERVER_KINDS, name)
    out.update({kinds[key]: value for key, value in by_kind.items()})
    return {kind: value for kind, value in out.items() if value}


#: Fields outside the OpenAI API: a plain OpenAI-compatible server gets them only when they do something.
_NONSTANDARD = frozenset({OPENAI})
#: mlx_lm.server (like the local backend) runs a penalty only when it is given one.
_PENALTY = frozenset({MLX_LM, OPENAI})

#: Every numeric generation setting, in the order the page and the help show them.
OPTIONS: list[Option] = [
    Option(
        "temperature", float, 0.0, 5.0, DEFAULT_TEMPERATURE, "--temp", "Temperature",
        "How random the choice of each token is: 0 always takes the most likely token (greedy).",
        slider=(0.0, 2.0, 0.05), compare=True, server=_servers("temperature"),
        mlx_lm=("sampler", "temp"),
    ),
    Option(
        "top_p", float, 0.0, 1.0, DEFAULT_TOP_P, "--top-p", "Top-p",
        "Sample only from the most likely tokens whose probabilities add up to this (1 = all).",
        slider=(0.01, 1.0, 0.01), low_inclusive=False, server=_servers("top_p"),
        mlx_lm=("sampler", "top_p"),
    ),
    Option(
        "min_p", float, 0.0, 1.0, DEFAULT_MIN_P, "--min-p", "Min-p",
        "Drop tokens less likely than this fraction of the most likely one (0 = off).",
        slider=(0.0, 1.0, 0.01), neutral=0.0, omit_neutral=_NONSTANDARD, server=_servers("min_p"),
        mlx_lm=("sampler", "min_p"),
    ),
    Option(
        "top_k", int, 0, 100_000, DEFAULT_TOP_K, "--top-k", "Top-k",
        "Sample only from the k most likely tokens (0 = all).",
        slider=(0, 200, 1), neutral=0, omit_neutral=_NONSTANDARD, server=_servers("top_k"),
        mlx_lm=("sampler", "top_k"),
    ),
    Option(
        "repetition_penalty", float, 0.0, 10.0, DEFAULT_REPETITION_PENALTY, "--repetition-penalty",
        "Repetition penalty", "Make tokens seen in the last N tokens less likely (1 = off; 1.1-1.3 is common).",
        slider=(0.5, 2.0, 0.01), low_inclusive=False, neutral=1.0, omit_neutral=_PENALTY, compare=True,
        server=_servers("repetition_penalty", llama_cpp="repeat_penalty", ollama="repeat_penalty"),
        mlx_lm=("processors", "repetition_penalty"),
    ),
    Option(
        "repetition_context_size", int, 1, 16_384, DEFAULT_REPETITION_CONTEXT_SIZE, "--repetition-context-size",
        "Repetition context size", "How many of the last tokens the repetition, presence and frequency penalties see.",
        slider=(1, 1024, 1), server=_servers(None, mlx_lm="repetition_context_size", llama_cpp="repeat_last_n",
                                              ollama="repeat_last_n"),
        mlx_lm=("processors", "repetition_context_size"),
    ),
    Option(
        "presence_penalty", float, -10.0, 10.0, DEFAULT_PRESENCE_PENALTY, "--presence-penalty", "Presence penalty",
        "Subtract this from the logit of every token already seen (0 = off).",
        slider=(-2.0, 2.0, 0.05), neutral=0.0, omit_neutral=_PENALTY, server=_servers("presence_penalty"),
        mlx_lm=("processors", "presence_penalty"),
    ),
    Option(
        "frequency_penalty", float, -10.0, 10.0, DEFAULT_FREQUENCY_PENALTY, "--frequency-penalty",
        "Frequency penalty", "Subtract this times the count of each token already seen (0 = off).",
        slider=(-2.0, 2.0, 0.05), neutral=0.0, omit_neutral=_PENALTY, server=_servers("frequency_penalty"),
        mlx_lm=("processors", "frequency_penalty"),
    ),
    Option(
        "max_tokens", int, 1, MAX_MAX_TOKENS, DEFAULT_MAX_TOKENS, "--max-tokens", "Max tokens",
        "The most tokens a reply may have (lowered to fit the model's context).",
        slider=(1, 4096, 1), server=_servers("max_tokens", ollama="num_predict"),
    ),
    Option(
        "thinking_budget", int, 0, MAX_MAX_TOKENS, None, "--thinking-budget", "Thinking budget",
        "After this many thinking tokens the end-of-thinking marker is forced and the model answers (empty = no "
        "limit; reasoning families, local backend).",
        slider=(0, 4096, 1), defaultable=False, compare=True,
    ),
]  # fmt: skip


def options() -> tuple[Option, ...]:
    """The declared options (read at call time, so an option added to :data:`OPTIONS` is seen everywhere)."""
    return tuple(OPTIONS)


def get_option(name: str) -> Option:
    for option in OPTIONS:
        if option.name == name:
            return option
    raise KeyError(f"no generation setting named {name!r}; known: {', '.join(o.name for o in OPTIONS)}")


def defaultable_names() -> frozenset[str]:
    """Settings a model's generation_config.json or a family preset may give a default for."""
    return frozenset(o.name for o in OPTIONS if o.defaultable)


def add_arguments(parser: Any) -> None:
    """One CLI flag per option (``--temp``, ``--top-p``, ...), with its range in the help."""
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.dest,
            type=option.kind,
            metavar="N" if option.kind is int else "X",
            help=f"{option.help} ({option.describe_range()}; default: "
            + (f"the model's, else {option.default})" if option.default is not None else "none)"),
        )


def values_from_args(args: Any) -> dict[str, Any]:
    """The options' values from parsed CLI arguments (None: not given)."""
    return {o.name: getattr(args, o.dest, None) for o in OPTIONS}


def command_args(values: Mapping[str, Any]) -> list[str]:
    """The CLI flags that reproduce ``values`` (resolved settings): every option, so the command does not depend
    on the model's defaults."""
    out: list[str] = []
    for option in OPTIONS:
        value = values.get(option.name)
        if value is not None:
            out += [option.flag, str(value)]
    return out


def server_fields(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields a server of ``kind`` takes for ``values`` (resolved settings), in its names."""
    fields: dict[str, Any] = {}
    for option in OPTIONS:
        name = option.server.get(kind)
        value = values.get(option.name)
        if name is None or value is None or (kind in option.omit_neutral and value == option.neutral):
            continue
        fields[name] = value
    return fields
