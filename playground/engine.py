"""The engine's small interface: load a model, render a conversation, stream a reply.

The CLI and the UI call only this (plus the typed results it returns); they never touch mlx-lm,
Jinja or Gradio types directly here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TemplateError
from .families import get_family
from .generate import GenerationEvent, encode_prompt, stream_events
from .messages import Message
from .models import DEFAULT_MAX_MODELS, LoadedModel, ModelCache
from .prompt_cache import PromptCacheState
from .prompting import CUSTOM_CHOICE, MODEL_CHOICE, TemplateChoice, choose_template
from .settings import GenerationSettings
from .templates import DEFAULT_SYSTEM_STRATEGY, RenderedPrompt
from .worker import GenerationWorker


@dataclass
class ChatStream:
    """A rendered prompt and the events of its reply (iterate ``events`` to generate)."""

    prompt: RenderedPrompt
    settings: GenerationSettings
    events: Iterator[GenerationEvent]


class Engine:
    """Holds the model cache; everything else is passed in, so sessions never share state by accident."""

    def __init__(self, max_models: int = DEFAULT_MAX_MODELS):
        self.models = ModelCache(max_models)
        self.worker = GenerationWorker()

    def load(self, model: str | Path, *, wire_eos: bool = True) -> LoadedModel:
        """Load (or reuse) a model. Loading runs on the worker thread (see :mod:`playground.worker`)."""
        cached = self.models.peek(model, wire=wire_eos)
        if cached is not None:
            return cached
        return self.worker.call(lambda: self.models.get(model, wire=wire_eos))

    @staticmethod
    def template_choice(loaded: LoadedModel, choice: str | None = None, custom: str | None = None) -> TemplateChoice:
        """``choice``: ``None``/``"auto"`` (own template or detected preset), ``"model"``, a preset, or ``"custom"``."""
        if choice == CUSTOM_CHOICE:
            if not custom or not custom.strip():
                raise TemplateError(
                    "no custom template yet", hint="write one in the Template lab and click 'Use this template'"
                )
            return choose_template(loaded.metadata, loaded.detection, template=custom)
        if choice in (None, "", "auto"):
            return choose_template(loaded.metadata, loaded.detection)
        if choice == MODEL_CHOICE:
            return choose_template(loaded.metadata, loaded.detection, preset=MODEL_CHOICE)
        return choose_template(loaded.metadata, loaded.detection, preset=choice)

    def render(
        self,
        loaded: LoadedModel,
        messages: list[Message],
        *,
        choice: str | None = None,
        custom: str | None = None,
        system_strategy: str = DEFAULT_SYSTEM_STRATEGY,
        **kwargs: Any,
    ) -> RenderedPrompt:
        """The exact prompt ``loaded`` would receive for ``messages``."""
        template = self.template_choice(loaded, choice, custom)
        return template.render(messages, system_strategy=system_strategy, **kwargs)

    @staticmethod
    def defaults(loaded: LoadedModel) -> dict[str, Any]:
        """The generation defaults of the model's family."""
        return dict(get_family(loaded.detection.family).defaults)

    def resolve_settings(self, loaded: LoadedModel, settings: GenerationSettings | None) -> GenerationSettings:
        """User settings with the family defaults filled in."""
        return (settings or GenerationSettings()).resolve(self.defaults(loaded))

    def stream_chat(
        self,
        loaded: LoadedModel,
        messages: list[Message],
        settings: GenerationSettings | None = None,
        *,
        choice: str | None = None,
        custom: str | None = None,
        system_strategy: str = DEFAULT_SYSTEM_STRATEGY,
        cancel: threading.Event | None = None,
        cache: PromptCacheState | None = None,
        rendered: RenderedPrompt | None = None,
    ) -> ChatStream:
        """Render and start a reply. Generation is serialized: one model call runs at a time."""
        prompt = rendered or self.render(
            loaded, messages, choice=choice, custom=custom, system_strategy=system_strategy
        )
        resolved = self.resolve_settings(loaded, settings)
        return ChatStream(prompt, resolved, self._events(loaded, prompt.text, resolved, cancel, cache))

    def stream_prompt(
        self,
        loaded: LoadedModel,
        prompt: str,
        settings: GenerationSettings | None = None,
        *,
        cancel: threading.Event | None = None,
        cache: PromptCacheState | None = None,
    ) -> Iterator[GenerationEvent]:
        """Stream a reply to an already rendered prompt."""
        return self._events(loaded, prompt, self.resolve_settings(loaded, settings), cancel, cache)

    def _events(
        self,
        loaded: LoadedModel,
        prompt: str,
        settings: GenerationSettings,
        cancel: threading.Event | None,
        cache: PromptCacheState | None,
    ) -> Iterator[GenerationEvent]:
        """All MLX work of a reply runs on the engine's worker thread; events come back here."""
        cancel = cancel if cancel is not None else threading.Event()

        def job() -> Iterator[GenerationEvent]:
            tokens = encode_prompt(loaded.tokenizer, prompt)
            prompt_cache, suffix, reused = cache.prepare(loaded.model, tokens) if cache else (None, tokens, 0)
            produced: list[int] = []
            try:
                yield from stream_events(
                    loaded.model,
                    loaded.tokenizer,
                    suffix,
                    settings,
                    cancel=cancel,
                    context_length=loaded.context_length,
                    prompt_cache=prompt_cache,
                    reused_tokens=reused,
                    total_prompt_tokens=len(tokens),
                    record=produced,
                )
            finally:
                if cache is not None:
                    cache.finish(tokens, produced)

        return self.worker.run(job, cancel)
