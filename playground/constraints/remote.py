"""A constraint sent to an inference server, in that server's own fields, or refused: never silently dropped.

The backends send our rendered prompt to a completions endpoint, so a server applies a constraint from the first
token it generates. That rules out what only the local processor does: a constraint that waits for the end of
the thinking, a thinking budget, a required tool call (its grammar wraps a schema in the family's markup), and
resuming a constrained reply (``continue``). What each server takes:

==============  =====================================================================  ===========================
server          JSON schema / any JSON                                                 regex / grammar
==============  =====================================================================  ===========================
vLLM            ``structured_outputs: {json}`` (``guided_json`` before 0.10.2)          ``regex`` / ``grammar``
llama.cpp       ``json_schema``                                                        GBNF ``grammar`` (no regex)
Ollama          ``format`` (a schema, or ``"json"``)                                   no
mlx_lm.server   no (it ignores ``response_format``)                                    no
==============  =====================================================================  ===========================
"""

from __future__ import annotations

from typing import Any

from ..errors import BackendError

#: The first vLLM release with ``structured_outputs`` (the ``guided_*`` fields were removed in 0.12.0).
VLLM_STRUCTURED_OUTPUTS = (0, 10, 2)
_LOCAL_HINT = "use the local backend (it applies every constraint), or remove the constraint"


def _refuse(message: str, hint: str = _LOCAL_HINT) -> BackendError:
    return BackendError(message, hint=hint)


def check_remote(prepared: Any, server: str) -> Any:
    """The request's steering plan if ``server`` could apply it as a whole, else one error that says why."""
    plan = prepared.steering
    if plan is None:
        return None
    if plan.budget is not None:
        raise _refuse(
            f"the thinking budget needs the local backend: {server} gets a prompt, not the budget",
            hint="use the local backend, or clear the thinking budget",
        )
    if plan.constraint is None:
        return None
    if plan.after_thinking:
        raise _refuse(
            f"{server} would apply the constraint from the first token, to the thinking too "
            "(the local backend starts it after the thinking)",
            hint="turn thinking off (e.g. enable_thinking false), or use the local backend",
        )
    if plan.resume_ids:
        raise _refuse(f"{server} cannot resume a constrained reply (continue) from the text already there")
    if plan.constraint.kind == "tool_call":
        raise _refuse(f"'require a tool call' is applied by the local backend only, not by {server}")
    return plan


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in (text or "").split("+")[0].split(".")[:3])
    except ValueError:
        return None


def openai_fields(kind: str, prepared: Any, version: str | None = None) -> dict[str, Any]:
    """The body fields that carry the constraint to an OpenAI-compatible server of ``kind`` (``vllm``,
    ``llama.cpp``, ``mlx_lm.server``, or another: unknown); {} without one.

    Raises:
        BackendError: the server cannot apply this constraint (or any).
    """
    server = {"vllm": "vLLM", "llama.cpp": "llama.cpp", "mlx_lm.server": "mlx_lm.server"}.get(kind, "this server")
    plan = check_remote(prepared, server)
    if plan is None:
        return {}
    constraint = plan.constraint
    if kind == "mlx_lm.server":
        raise _refuse(
            "mlx_lm.server has no structured output: it ignores response_format, so the reply would be unconstrained",
            hint="use the local backend (same MLX model, with the constraint), or a vLLM or llama.cpp server",
        )
    if kind == "vllm":
        fields = {
            "json_schema": ("json", constraint.schema),
            "json_object": ("json", constraint.schema),
            "regex": ("regex", lambda: constraint.value),
            "grammar": ("grammar", lambda: constraint.value),
        }
        name, value = fields[constraint.kind]
        parsed = _version(version)
        if parsed is not None and parsed < VLLM_STRUCTURED_OUTPUTS:
            return {f"guided_{name}": value()}
        return {"structured_outputs": {name: value()}}
    if kind == "llama.cpp":
        if constraint.kind in ("json_schema", "json_object"):
            return {"json_schema": constraint.schema()}
        if constraint.kind == "grammar" and not _is_lark(constraint.value):
            return {"grammar": constraint.value}
        what = "a regular expression" if constraint.kind == "regex" else "a Lark grammar"
        raise _refuse(
            f"llama.cpp cannot apply {what}: it takes a JSON schema or a GBNF grammar",
            hint="write it as a GBNF grammar (root ::= ...), or use the local backend",
        )
    raise _refuse(
        "this server's kind is unknown, so how it takes a constraint is unknown: the reply would be unconstrained",
        hint="use the local backend, or a vLLM, llama.cpp or Ollama server",
    )


def ollama_format(prepared: Any) -> dict[str, Any]:
    """The ``format`` field for Ollama ({} without a constraint).

    Raises:
        BackendError: Ollama cannot apply this constraint.
    """
    plan = check_remote(prepared, "Ollama")
    if plan is None:
        return {}
    if plan.constraint.kind == "json_object":
        return {"format": "json"}
    if plan.constraint.kind == "json_schema":
        return {"format": plan.constraint.schema()}
    raise _refuse(
        f"Ollama takes a JSON schema or any JSON as format, not a {plan.constraint.kind}",
        hint="use a JSON schema, or the local backend",
    )


def _is_lark(text: str) -> bool:
    from llguidance.gbnf_to_lark import is_lark_syntax

    return is_lark_syntax(text)
