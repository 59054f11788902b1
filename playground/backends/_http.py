"""HTTP for the server backends: one httpx client per backend, errors a user can act on, SSE and NDJSON.

Why httpx: it is already installed (Gradio depends on it), it streams response bodies as they arrive,
it has separate connect / read / write / pool timeouts (a server that takes minutes to prefill a long
prompt must not look like a dead one), it pools keep-alive connections, and closing a streamed response
closes its connection, which is how a server learns that the user pressed Stop. The server-sent events
of ``/v1/completions`` are simple enough (``data:`` lines, ``:`` keep-alive comments, ``[DONE]``) to be
read here in a few lines, so httpx-sse is not needed.

Retries happen only where they are safe: when the connection could not be opened (nothing reached the
server). A generation request that reached the server is never sent twice.

Every failure becomes one :class:`~playground.errors.BackendError` with a hint; the API key is never part
of a message (it is sent only in the ``Authorization`` header and scrubbed from anything a server echoes).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import BackendError

#: Seconds to open a TCP connection (a server that is down or firewalled fails fast).
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for the next bytes of a response: long, because a server may prefill a long prompt
#: (mlx_lm.server and llama.cpp send keep-alive comments meanwhile; others send nothing).
READ_TIMEOUT = 300.0
#: Seconds for read-only requests (model lists, health, version).
PROBE_TIMEOUT = 5.0
#: Extra attempts when the connection could not be opened, with these pauses (seconds).
CONNECT_RETRY_DELAYS = (0.25, 0.75)

#: A keep-alive comment in a server-sent event stream (yielded so callers can check for Stop).
KEEPALIVE = object()

ErrorExplainer = Callable[[int, str, Any], "BackendError | None"]


def user_agent() -> str:
    from .. import __version__

    return f"mlx-template-playground/{__version__}"


def check_base_url(url: str | None, *, what: str) -> str:
    """A usable ``http(s)://host[:port][/path]`` URL without a trailing slash, or a BackendError."""
    text = (url or "").strip()
    hint = f"give the {what}'s address, e.g. http://HOST:8080/v1 (OpenAI-compatible) or http://HOST:11434 (Ollama)"
    if not text:
        raise BackendError(f"no base URL given for the {what}", hint=hint)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackendError(f"{text!r} is not an http:// or https:// URL", hint=hint)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise BackendError(f"{text!r} has an invalid port", hint=hint) from None
    if parts.query or parts.fragment:
        raise BackendError(f"{text!r} has a query or fragment; give only scheme, host, port and path", hint=hint)
    return text.rstrip("/")


def server_message(response: httpx.Response, secret: str | None = None) -> str:
    """The server's own error text (JSON ``error``/``message``/``detail`` or the body), short and scrubbed."""
    try:
        body = response.read()
    except (httpx.HTTPError, httpx.StreamError):
        body = b""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    message = text
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("detail")))
        if isinstance(error, dict):
            error = error.get("message") or error.get("msg") or json.dumps(error)
        if isinstance(error, list):  # FastAPI validation errors
            error = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in error)
        if error:
            message = str(error)
    message = " ".join(message.split())
    if secret:
        message = message.replace(secret, "***")
    return message[:300] + ("..." if len(message) > 300 else "")


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class HttpClient:
    """One server's HTTP client: timeouts, auth, safe retries and error translation."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        what: str = "server",
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        retry_delays: tuple[float, ...] = CONNECT_RETRY_DELAYS,
    ):
        self.base_url = base_url
        self.what = what
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.retry_delays = retry_delays
        self._secret = api_key or None
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=30.0),
            follow_redirects=False,
            trust_env=False,  # a proxy set for the internet must not capture a server on the LAN
        )

    # ------------------------------------------------------------------ errors

    def _unreachable(self, url: str, exc: Exception) -> BackendError:
        reason = type(exc).__name__
        detail = str(exc).strip()
        if self._secret:
            detail = detail.replace(self._secret, "***")
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"no answer within {self.connect_timeout:g} s"
        elif isinstance(exc, httpx.ConnectError):
            what = detail or "connection refused"
        else:
            what = f"{reason}: {detail}" if detail else reason
        return BackendError(
            f"cannot reach the {self.what} at {url} ({what})",
            hint=f"is the {self.what} running and listening there? check --base-url (and firewalls for other machines)",
        )

    def _timed_out(self, url: str) -> BackendError:
        return BackendError(
            f"the {self.what} at {url} sent nothing for {self.read_timeout:g} s",
            hint="the server may be overloaded or still loading the model; try again, or check its log",
        )

    def _status_error(self, response: httpx.Response, explain: ErrorExplainer | None) -> BackendError:
        status = response.status_code
        message = server_message(response, self._secret)
        url = str(response.request.url)
        if explain is not None:
            explained = explain(status, message, json_body(response))
            if explained is not None:
                return explained
        if status in (401, 403):
            return BackendError(
                f"the {self.what} refused the request (HTTP {status}{': ' + message if message else ''})",
                hint="give the server's API key with --api-key KEY or the MLX_PLAYGROUND_API_KEY environment variable",
            )
        if status == 404:
            return BackendError(
                f"{url} does not exist on the {self.what} (HTTP 404{': ' + message if message else ''})",
                hint="check --base-url (OpenAI-compatible servers usually want it to end in /v1)",
            )
        if status == 503:
            return BackendError(
                f"the {self.what} is not ready (HTTP 503{': ' + message if message else ''})",
                hint="it may still be loading the model; try again in a moment",
            )
        if 400 <= status < 500:
            return BackendError(
                f"the {self.what} rejected the request (HTTP {status}{': ' + message if message else ''})",
                hint="a setting may be outside what this server accepts; see the message, or the server's log",
            )
        return BackendError(
            f"the {self.what} failed (HTTP {status}{': ' + message if message else ''})",
            hint="see the server's log; the request itself was well-formed",
        )

    # ------------------------------------------------------------------ requests

    def _send(self, method: str, url: str, *, body: Any = None, stream: bool, timeout: float | None = None):
        options: dict[str, Any] = {}
        if timeout is not None:  # otherwise the client's (connect 5 s, read 300 s)
            options["timeout"] = httpx.Timeout(connect=self.connect_timeout, read=timeout, write=timeout, pool=timeout)
        request = self._client.build_request(method, url, json=body, **options)
        delays = list(self.retry_delays)
        while True:
            try:
                return self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing reached the server: safe to retry
                if not delays:
                    raise self._unreachable(url, exc) from None
                time.sleep(delays.pop(0))
            except httpx.TimeoutException:
                raise self._timed_out(url) from None
            except httpx.HTTPError as exc:
                raise self._unreachable(url, exc) from None

    def get(self, url: str, *, timeout: float = PROBE_TIMEOUT) -> httpx.Response:
        """A read-only GET; the response is fully read."""
        return self._send("GET", url, stream=False, timeout=timeout)

    def probe(self, url: str, *, timeout: float = PROBE_TIMEOUT) -> tuple[int, Any, httpx.Headers]:
        """GET ``url`` for detection: (status, JSON body or None, headers); never raises for HTTP errors."""
        response = self.get(url, timeout=timeout)
        return response.status_code, json_body(response), response.headers

    def post_json(self, url: str, body: dict, *, explain: ErrorExplainer | None = None) -> tuple[Any, httpx.Headers]:
        """A non-streamed POST; returns the JSON reply and headers or raises BackendError."""
        response = self._send("POST", url, body=body, stream=False)
        if response.status_code >= 400:
            raise self._status_error(response, explain)
        data = json_body(response)
        if data is None:
            raise BackendError(
                f"the {self.what} answered {url} with something that is not JSON",
                hint="check --base-url: it may point at another kind of server",
            )
        return data, response.headers

    @contextlib.contextmanager
    def stream(self, url: str, body: dict, *, explain: ErrorExplainer | None = None) -> Iterator[httpx.Response]:
        """A streamed POST: yields the open response (closed on exit, which tells the server to stop)."""
        response = self._send("POST", url, body=body, stream=True)
        try:
            if response.status_code >= 400:
                raise self._status_error(response, explain)
            yield response
        finally:
            response.close()

    def lines(self, response: httpx.Response) -> Iterator[str]:
        """The response's lines as they arrive; read failures become BackendError."""
        url = str(response.request.url)
        try:
            yield from response.iter_lines()
        except httpx.TimeoutException:
            raise self._timed_out(url) from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise BackendError(
                f"the connection to the {self.what} broke during the reply ({type(exc).__name__})",
                hint="the server may have crashed or restarted; check its log and try again",
            ) from None

    def close(self) -> None:
        self._client.close()


def iter_sse(lines: Iterator[str]) -> Iterator[Any]:
    """Server-sent events: the ``data`` of each event (a string), or :data:`KEEPALIVE` for comments."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            yield KEEPALIVE
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
    if data:
        yield "\n".join(data)


def iter_ndjson(lines: Iterator[str], *, what: str) -> Iterator[dict]:
    """One JSON object per non-empty line (Ollama's streaming format)."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise BackendError(
                f"the {what} sent a line that is not JSON: {line[:120]!r}",
                hint="check --base-url: it may point at another kind of server",
            ) from None
        if isinstance(item, dict):
            yield item
