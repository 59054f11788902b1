"""What every tab's handlers share: the engine, the sessions, the session's model, one prepare path."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..backends.spec import BackendSpec
from ..engine import ChatSetup, Engine
from ..errors import BackendError, PlaygroundError
from ..families import registry
from ..loaded import LoadedModel
from ..messages import shape_tool_arguments
from ..models import DEMO_MODEL_ALIAS, list_cached_models
from ..prepare import PreparedChat, choice_family, resolve_settings, template_choice
from ..templates import CUSTOM_CHOICE, MODEL_CHOICE
from . import views
from .inputs import ChatInputs
from .state import Sessions, SessionState

AUTO = "auto"
# Streamed updates are coalesced to at most 10 a second, shared by the running streams: each costs Gradio's server
# a few ms of CPU that decoding on the same cores does not get (bench, 2-core CPU: 20 a second cost 6 % of the
# tokens/s, 10 a second under 2 %).
UPDATE_INTERVAL_S = 0.1
MAX_UPDATE_INTERVAL_S = 1.0
CHARS_PER_SECOND_OF_INTERVAL = 20_000
#: Seconds an unreachable server is not asked again for the prompt panel's notes (every keystroke would wait).
RECHECK_UNREACHABLE_S = 10.0
IMAGES_ON_A_SERVER = BackendError(
    "images need the local backend: a server's completions endpoint gets the prompt text without the images",
    hint="choose 'local' under Generation backend (or, in Compare, 'local' for the column), or remove the image",
)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
#: The backends' hints name command-line options; the page names its own fields.
_PAGE_WORDS = (
    ("with --api-key KEY or the MLX_PLAYGROUND_API_KEY environment variable", "in the API key box"),
    ("pass --served-model with one of:", "put one of these in 'Model name on the server':"),
    ("pass --served-model NAME", "fill in 'Model name on the server'"),
    ("pass --served-model with", "put in 'Model name on the server'"),
    ("--served-model", "'Model name on the server'"),
    ("check --base-url", "check the Server URL"),
    ("--base-url", "the Server URL"),
    ("use --backend openai", "choose openai"),
)


def page_words(text: str) -> str:
    """A backend's message as the page says it: its fields instead of command-line options, and never
    credentials written into a URL (``http://user:key@host``)."""
    for cli, page in _PAGE_WORDS:
        text = text.replace(cli, page)
    return _USERINFO.sub("***@", text)


def update_interval(chars: int, streams: int = 1) -> float:
    """Seconds between two streamed updates of a reply ``chars`` characters long while ``streams`` replies stream
    from this server: 10 updates a second in all, shared by the streams (every update costs the server CPU time
    that the model's decoding on the same cores would otherwise get); fewer as the reply grows (the browser
    renders the whole message again at each update, so a long, fast reply would otherwise keep it too busy to
    react to Stop); and at least one a second."""
    shared = UPDATE_INTERVAL_S * max(1, streams)
    return min(MAX_UPDATE_INTERVAL_S, max(shared, chars / CHARS_PER_SECOND_OF_INTERVAL))


class StreamCount:
    """How many replies (a chat reply, a Compare run, a Notebook run) this server is streaming right now."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def counted(self, events: Iterable[Any]) -> Iterator[Any]:
        """``events``, counted as one stream while they are read."""
        with self.streaming():
            yield from events


class Core:
    """The UI's server side: one engine, many sessions."""

    def __init__(self, engine: Engine | None = None, default_model: str = DEMO_MODEL_ALIAS):
        self.engine = engine or Engine()
        self.default_model = default_model
        self.sessions = Sessions(shared_cache=self.engine.prompt_cache)
        self.streams = StreamCount()
        self.exposed = False  # reachable from other machines (--host / --share): no server file paths in imports
        self._unreachable: dict[BackendSpec, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def session(self, request: Any) -> SessionState:
        return self.sessions.get(request, self.default_model)

    def spec(self, inputs: Any) -> BackendSpec:
        """The backend the panel's fields name. An empty API key box means the key the server was started with
        (``--api-key`` / ``MLX_PLAYGROUND_API_KEY``), but only for that same server: a URL typed in the page never
        gets it (whoever can reach the page could otherwise collect it with a server of their own)."""
        spec = inputs.spec()
        default = self.engine.default_backend
        if (
            spec.remote
            and spec.api_key is None
            and default.api_key
            and (spec.kind, spec.base_url) == (default.kind, default.base_url)
        ):
            spec = dataclasses.replace(spec, api_key=default.api_key)
        return spec

    def secrets(self, spec: BackendSpec | None = None) -> tuple[str, ...]:
        """API keys that must never appear in anything shown."""
        keys = (self.engine.default_backend.api_key, spec.api_key if spec is not None else None)
        return tuple(k for k in dict.fromkeys(keys) if k)

    def scrub(self, text: str, spec: BackendSpec | None = None) -> str:
        """``text`` as the page may show it: without API keys (see :func:`page_words`)."""
        for secret in self.secrets(spec):
            text = text.replace(secret, "***")
        return page_words(text)

    def backend_notes(self, prepared: PreparedChat) -> list[str]:
        """What a server backend does to this prompt before sending it (BOS stripped, stop strings, think-text
        removal, logprob limits, ...): the backend's own ``prompt_notes``; nothing for the local backend.
        An unreachable server is one note, and is not asked again for a few seconds."""
        spec = prepared.request.backend or self.engine.default_backend
        if not spec.remote:
            return []
        if prepared.vision is not None:
            return [f"{IMAGES_ON_A_SERVER.message} ({IMAGES_ON_A_SERVER.hint})"]
        with self._lock:
            failed = self._unreachable.get(spec)
        if failed is not None and time.monotonic() - failed[0] < RECHECK_UNREACHABLE_S:
            return [failed[1]]
        try:
            backend = self.engine.backend(spec)
            notes = list(backend.prompt_notes(prepared))
        except PlaygroundError as exc:
            notes = [f"the server cannot be used yet: {exc.one_line()}"]
        unreachable = next((n for n in notes if n.startswith("the server cannot be used yet")), None)
        with self._lock:
            if unreachable is not None:
                self._unreachable[spec] = (time.monotonic(), unreachable)
            else:
                self._unreachable.pop(spec, None)
        return [self.scrub(n, spec) for n in notes]

    def forget_unreachable(self, spec: BackendSpec) -> None:
        """Ask the server again next time (after a Test connection)."""
        with self._lock:
            self._unreachable.pop(spec, None)

    def prompt_view(self, prepared: PreparedChat, label: str) -> str:
        """The prompt panel for ``prepared``: the exact prompt, and what its backend does to it."""
        spec = prepared.request.backend or self.engine.default_backend
        if not spec.remote:
            return views.prompt_html(prepared, label)
        notes = self.backend_notes(prepared)
        return views.prompt_html(prepared, label, backend=self.scrub(spec.describe(), spec), backend_notes=notes)

    @staticmethod
    def check_sendable(prepared: PreparedChat) -> None:
        """Refuse, before anything is sent, what the request's backend cannot do (images on a server)."""
        backend = prepared.request.backend
        if backend is not None and backend.remote and prepared.vision is not None:
            raise IMAGES_ON_A_SERVER

    def loaded(self, state: SessionState, backend: BackendSpec | None = None) -> LoadedModel:
        """The session's current model (loaded with weights unless tokens come from a server)."""
        weights = not (backend or self.engine.default_backend).remote
        return self.engine.load(state.model or self.default_model, weights=weights)

    def prepare_chat(self, state: SessionState, inputs: ChatInputs, conversation: list[dict], **changes: Any):
        """The one prepared request of the Chat tab (preview, Send, regenerate, continue, copy-as-code)."""
        spec = self.spec(inputs)
        loaded = self.loaded(state, spec)
        choice = template_choice(loaded, inputs.template or AUTO, state.custom_template)
        family = choice_family(choice)
        if family is not None:  # imported and stored tool calls in the shape this template expects
            conversation = shape_tool_arguments(conversation, family.tool_arguments, f"the {family.name} template")
        request = inputs.request(
            conversation, custom_template=state.custom_template, backend=spec, defaults=defaults(loaded), **changes
        )
        self.engine.set_chat_setup(loaded, chat_setup(request))  # API requests for this model render the same way
        return self.engine.prepare(loaded, request)

    def template_family(self, state: SessionState, template: str, backend: BackendSpec | None = None):
        """The family whose keywords (thinking, effort) apply to the chosen template, or None."""
        try:
            loaded = self.loaded(state, backend)
            return choice_family(template_choice(loaded, template or AUTO, state.custom_template))
        except PlaygroundError:
            return None

    @staticmethod
    def template_choices(loaded: LoadedModel | None, custom: str = "") -> list[tuple[str, str]]:
        """The template dropdown: auto, the model's own (if any), every preset, and the custom one (if any)."""
        choices = [(f"{AUTO} (own template or detected preset)", AUTO)]
        if loaded is not None and loaded.metadata.own_template:
            choices.append(("model's own template", MODEL_CHOICE))
        choices += [(name, name) for name in registry().names()]
        if custom:
            choices.append(("custom (from the Template lab)", CUSTOM_CHOICE))
        return choices

    def model_choices(self) -> list[str]:
        return list(dict.fromkeys([self.default_model, DEMO_MODEL_ALIAS, *list_cached_models()]))


def defaults(loaded: LoadedModel) -> dict[str, Any]:
    """The settings ``loaded`` uses when none is chosen (its generation_config.json, its family's, ours)."""
    return resolve_settings(loaded, None)[0].to_dict()


def chat_setup(request: Any) -> ChatSetup:
    """The template choice of a Chat request, as the engine keeps it for the model's API requests."""
    return ChatSetup(
        template=request.template,
        custom_template=request.custom_template,
        system_strategy=request.system_strategy,
        wire_eos=request.wire_eos,
        source="the page",
    )


def error_view(exc: PlaygroundError) -> str:
    return views.error_html(page_words(exc.message), page_words(exc.hint or "") or None)
