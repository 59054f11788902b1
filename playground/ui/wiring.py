"""Events: which handler runs on which trigger, with which inputs, writing which outputs, all by name.

Handlers return (or, while streaming, yield) ``{name: value}``; :func:`named` turns that into Gradio's outputs in
the order of the names it is wired with (a name left out is left as it is on the page).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gradio as gr

from .layout import Page

GENERATION = "generation"  # concurrency group of the events that run the model
LIGHT: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}


def ordered(out: dict[str, Any], names: Sequence[str]) -> Any:
    """``out`` as Gradio's outputs for ``names``: values in order, a missing name left as it is on the page."""
    unknown = set(out) - set(names)
    if unknown:
        raise KeyError(f"outputs {sorted(unknown)} are not wired (wired: {', '.join(names)})")
    values = tuple(out[name] if name in out else gr.skip() for name in names)
    return values[0] if len(values) == 1 else values


def named(handler: Callable, names: Sequence[str]) -> Callable:
    """``handler`` (returning or yielding ``{name: value}``) as a Gradio function writing ``names``. The wrapper
    keeps the handler's signature (Gradio reads it for the request, event data and keyword inputs)."""
    names = tuple(names)
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def stream(*args: Any, **kwargs: Any):
            for out in handler(*args, **kwargs):
                yield ordered(out, names)

        return stream

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        return ordered(handler(*args, **kwargs), names)

    return call


class Wiring:
    """Registers events on ``page`` by name."""

    def __init__(self, page: Page, generation_concurrency: int = 8):
        self.page = page
        self.heavy: dict[str, Any] = {
            "concurrency_id": GENERATION,
            "concurrency_limit": generation_concurrency,
            "show_progress": "hidden",
        }

    def inputs(self, names: Iterable[str] | dict[str, Any] | None) -> dict[str, Any] | None:
        """Keyword inputs: names of page components, or ``{parameter: component}``."""
        if names is None:
            return None
        if isinstance(names, dict):
            return dict(names)
        return {name: self.page[name] for name in names}

    def on(
        self,
        triggers: Any,
        handler: Callable,
        inputs: Iterable[str] | dict[str, Any] | None = None,
        outputs: Sequence[str] = (),
        **options: Any,
    ) -> Any:
        """``handler`` on ``triggers`` (one event or a list); ``options``: Gradio's (api_name, trigger_mode, ...)."""
        fn, kwargs = self._event(handler, inputs, outputs, options)
        return gr.on(triggers if isinstance(triggers, list) else [triggers], fn, **kwargs)

    def then(
        self,
        event: Any,
        handler: Callable,
        inputs: Iterable[str] | dict[str, Any] | None = None,
        outputs: Sequence[str] = (),
        **options: Any,
    ) -> Any:
        fn, kwargs = self._event(handler, inputs, outputs, options)
        return event.then(fn, **kwargs)

    def _event(
        self, handler: Callable, inputs: Any, outputs: Sequence[str], options: dict[str, Any]
    ) -> tuple[Callable, dict[str, Any]]:
        """The Gradio function and keyword arguments of one event (light and private unless ``options`` say)."""
        kwargs = {
            **LIGHT,
            "api_visibility": "private",
            **options,
            "inputs_kwargs": self.inputs(inputs),
            "outputs": [self.page[name] for name in outputs] or None,
        }
        return (named(handler, outputs) if outputs else handler), kwargs
