"""Where tokens come from: :class:`BackendSpec` names a backend kind and, for a server, its address, key and model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BackendError
from ._http import check_base_url

#: Backend kinds, in the order the CLI and the UI offer them.
BACKEND_KINDS = ("local", "openai", "ollama")
#: Where each server backend looks when no base URL is given (mlx_lm.server's and Ollama's defaults).
DEFAULT_BASE_URLS = {"openai": "http://127.0.0.1:8080/v1", "ollama": "http://127.0.0.1:11434"}


@dataclass(frozen=True)
class BackendSpec:
    """Where tokens come from: ``local`` (mlx-lm in this process) or a server (``openai``, ``ollama``)."""

    kind: str = "local"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never shown
    served_model: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in BACKEND_KINDS:
            raise BackendError(f"unknown backend {self.kind!r}", hint=f"use one of: {', '.join(BACKEND_KINDS)}")
        if self.kind == "local":
            if self.base_url or self.api_key or self.served_model:
                raise BackendError(
                    "a base URL, API key or served model name needs a server backend",
                    hint="add --backend openai or --backend ollama (or drop those options)",
                )
            return
        url = (self.base_url or "").strip() or DEFAULT_BASE_URLS[self.kind]
        object.__setattr__(self, "base_url", check_base_url(url, what=f"{self.kind} server"))
        object.__setattr__(self, "served_model", (self.served_model or "").strip() or None)
        object.__setattr__(self, "api_key", (self.api_key or "").strip() or None)

    @property
    def remote(self) -> bool:
        return self.kind != "local"

    def describe(self) -> str:
        if not self.remote:
            return "local (mlx-lm in this process)"
        model = f", model {self.served_model}" if self.served_model else ""
        return f"{self.kind} server at {self.base_url}{model}"
