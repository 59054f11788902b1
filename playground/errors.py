"""Domain errors raised by the engine.

Every error carries a message that names what was wrong and a hint that says how to fix it.
The edges translate them: the CLI prints ``error: ...`` plus the hint and exits with code 2,
the UI shows them as ``gr.Error``.
"""

from __future__ import annotations


class PlaygroundError(Exception):
    """Base class for errors a user can act on."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """The message and its hint on one line, for terminals and toasts."""
        text = " ".join(self.message.split("\n")) if "\n" in self.message else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class PresetError(PlaygroundError):
    """An unknown preset name or an invalid preset file."""


class MessagesError(PlaygroundError, ValueError):
    """A conversation that is not a list of {role, content} messages."""


class TemplateError(PlaygroundError):
    """A chat template failed to compile or render."""

    def __init__(self, message: str, hint: str | None = None, lineno: int | None = None):
        super().__init__(message, hint)
        self.lineno = lineno


class TemplateSyntaxError(TemplateError):
    """The template is not valid Jinja."""


class TemplateRaisedError(TemplateError):
    """The template called ``raise_exception`` (or failed while rendering)."""


class TemplateSecurityError(TemplateError):
    """The template tried to reach Python internals."""


class TemplateLimitError(TemplateError):
    """The template ran too long or produced too much output."""


class DetectionError(PlaygroundError):
    """A model folder or repo id could not be read."""


class ModelLoadError(PlaygroundError):
    """A model could not be loaded."""


class SettingsError(PlaygroundError, ValueError):
    """A generation setting is out of range."""


class ConstraintError(PlaygroundError, ValueError):
    """A structured-output constraint (JSON schema, regex, grammar, required tool call) that cannot be used."""


class GenerationError(PlaygroundError):
    """Generation could not run or failed part-way (memory limit, a model failure, a server error)."""


class BackendError(GenerationError):
    """An inference server could not be reached, refused the request, or does not know the model."""
