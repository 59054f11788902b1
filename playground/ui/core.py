"""What every tab's handlers share: the engine, the sessions, the session's model, one prepare path."""

from __future__ import annotations

from typing import Any

from ..engine import Engine
from ..errors import PlaygroundError
from ..families import registry
from ..models import DEMO_MODEL_ALIAS, LoadedModel, list_cached_models
from ..prepare import BackendSpec, PreparedChat, choice_family, template_choice
from ..prompting import CUSTOM_CHOICE, MODEL_CHOICE
from . import views
from .inputs import ChatInputs
from .state import Sessions, SessionState

AUTO = "auto"
UPDATE_INTERVAL_S = 0.05  # streamed updates are coalesced to at most 20 per second
MAX_UPDATE_INTERVAL_S = 1.0
CHARS_PER_SECOND_OF_INTERVAL = 20_000


def update_interval(chars: int) -> float:
    """Seconds between two streamed updates of a reply ``chars`` characters long: 20 a second while it is short,
    fewer as it grows (the browser renders the whole message again at each update, so a long, fast reply would
    otherwise keep it too busy to react to Stop), and at least one a second."""
    return min(MAX_UPDATE_INTERVAL_S, max(UPDATE_INTERVAL_S, chars / CHARS_PER_SECOND_OF_INTERVAL))


class Core:
    """The UI's server side: one engine, many sessions."""

    def __init__(self, engine: Engine | None = None, default_model: str = DEMO_MODEL_ALIAS):
        self.engine = engine or Engine()
        self.default_model = default_model
        self.sessions = Sessions()

    def session(self, request: Any) -> SessionState:
        return self.sessions.get(request, self.default_model)

    def loaded(self, state: SessionState, backend: BackendSpec | None = None) -> LoadedModel:
        """The session's current model (loaded with weights unless tokens come from a server)."""
        weights = not (backend or self.engine.default_backend).remote
        return self.engine.load(state.model or self.default_model, weights=weights)

    def prepare_chat(self, state: SessionState, inputs: ChatInputs, conversation: list[dict], **changes: Any):
        """The one prepared request of the Chat tab (preview, Send, regenerate, continue, copy-as-code)."""
        loaded = self.loaded(state, inputs.spec())
        choice = template_choice(loaded, inputs.template or AUTO, state.custom_template)
        request = inputs.request(
            conversation, family=choice_family(choice), custom_template=state.custom_template, **changes
        )
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


def error_view(exc: PlaygroundError) -> str:
    return views.error_html(exc.message, exc.hint)


def prepared_label(prepared: PreparedChat, label: str) -> str:
    return views.prompt_html(prepared, label)
