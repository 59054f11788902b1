"""The API's errors, in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}`` plus our ``hint``.

Every :class:`~playground.errors.PlaygroundError` becomes one (a 400, or a 404 for a model the server does not
have), with its message and hint; nothing reaches a client as a 500 with a traceback.
"""

from __future__ import annotations

from typing import Any

from ..errors import PlaygroundError


class ApiError(Exception):
    """An error answered with ``status`` and an OpenAI-style JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        if self.hint:
            error["hint"] = self.hint
        return {"error": error}


def bad_field(param: str, message: str, hint: str | None = None) -> ApiError:
    """A request field of the wrong type or shape (422)."""
    return ApiError(422, message, param=param, code="invalid_type", hint=hint)


def unsupported(param: str, message: str, hint: str | None = None) -> ApiError:
    """A request field the API knows but cannot honour (400), never silently ignored."""
    return ApiError(400, message, param=param, code="unsupported_parameter", hint=hint)


def from_playground(exc: PlaygroundError) -> ApiError:
    """A 400 with the engine's message and hint."""
    return ApiError(400, exc.message, hint=exc.hint, code=type(exc).__name__)
