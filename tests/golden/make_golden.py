"""Write the golden renders of presets: what each family's OFFICIAL template produces, via transformers.

For every preset named on the command line this reads the official template from the reference folder
(``NAME.jinja`` plus ``sources.json``; see ../shared/reference-templates in the project's workspace),
renders the cases below with transformers' own renderer (after the same message normalisation that
``apply_chat_template`` applies: None-valued keys dropped) at a pinned clock, and writes
``tests/golden/NAME.json``. ``tests/test_golden.py`` then renders OUR preset with the same inputs and
compares byte for byte. The official template text is not committed, only its sha256 and its source.

    python tests/golden/make_golden.py --reference-dir ../shared/reference-templates qwen3 gpt-oss ...

A case where the official template raises is recorded with its error; our preset must raise too.
The cases come from the preset's TOML: its BOS/EOS strings, the shape its template wants for tool-call
arguments (``tool_arguments``), and one case per declared template keyword value.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playground.families import Family, get_family  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parent
#: The clock templates see (``strftime_now``) in every golden case.
NOW = datetime(2026, 1, 15, 9, 30, 0)
DEFAULT_REFERENCE_DIR = ROOT.parent / "shared" / "reference-templates"

U, A, S, T = "user", "assistant", "system", "tool"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
]
#: A tool with what schemas also hold (nested objects and arrays, enums, nullable and boolean fields, defaults, a
#: response declaration) and one with no parameters: templates that rewrite schemas in their own notation differ here.
RICH_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the catalogue.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words to look for"},
                    "limit": {"type": "integer", "description": "At most this many", "nullable": True},
                    "sort": {"type": "string", "enum": ["new", "old"]},
                    "filters": {
                        "type": "object",
                        "description": "Narrow it down",
                        "properties": {
                            "year": {"type": "integer"},
                            "tags": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["year"],
                    },
                    "options": {"type": "object"},
                    "points": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                            "required": ["x", "y"],
                        },
                    },
                    "exact": {"type": "boolean", "default": False},
                },
                "required": ["query"],
            },
            "response": {"type": "object", "description": "The hits."},
        },
    },
    {"type": "function", "function": {"name": "now", "description": "The current time."}},
]
RICH_ARGS = {
    "query": "Grüße",
    "filters": {"year": 2024, "tags": ["a", "b"]},
    "exact": True,
    "points": [{"x": 1.5, "y": 2}],
}
CALL_ID = "call0A1b2"  # 9 alphanumerics: Mistral's templates reject other ids
WEATHER_ARGS = {"city": "Paris", "unit": "celsius"}


def _m(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in turns]


def _kwarg_samples(kwarg) -> list:
    """Values worth a case for one declared keyword: every non-default value (and the default itself)."""
    if kwarg.type == "bool":
        return [False, True]
    if kwarg.type == "choice":
        return list(kwarg.choices)
    if kwarg.type == "string":
        samples = {"date_string": "15 Jan 2026", "model_identity": "You are Testy, a model made for tests."}
        return [samples.get(kwarg.name, "test value")]
    if kwarg.type == "int":  # a thinking budget: off, a gear, between gears, past the last gear
        return [0, 512, 1000, 20000] if "budget" in kwarg.name else [0, 1]
    if kwarg.name == "builtin_tools":
        return [["browser", "python"]]
    if kwarg.name.endswith("tools"):  # custom_tools, xml_tools, available_tools...: a list of tool definitions
        return [TOOLS]
    return [{"x": 1}]


def build_cases(family: Family, reference: str = "") -> dict[str, dict]:
    """Case name -> inputs (messages, add_generation_prompt, tools, kwargs); `reference` is the official template
    (what it reads decides a few extra cases; our preset's template when not given)."""
    arguments = json.dumps(WEATHER_ARGS) if family.tool_arguments == "string" else dict(WEATHER_ARGS)
    call = {"type": "function", "id": CALL_ID, "function": {"name": "get_weather", "arguments": arguments}}
    tool_result = {"role": T, "tool_call_id": CALL_ID, "name": "get_weather", "content": '{"temperature": 18}'}
    reasoning_chat = [
        {"role": U, "content": "Hi"},
        {"role": A, "reasoning_content": "The user greets me. I greet back.", "content": "Hello! How can I help?"},
        {"role": U, "content": "What is 2+2?"},
    ]

    def case(messages, agp=True, tools=None, kwargs=None) -> dict:
        return {"messages": messages, "add_generation_prompt": agp, "tools": tools, "kwargs": kwargs or {}}

    cases = {
        "single": case(_m((U, "Hello!"))),
        "system": case(_m((S, "You are a helpful assistant."), (U, "Hi"))),
        "multi_turn": case(_m((U, "Hi"), (A, "Hello! How can I help?"), (U, "What is 2+2?"))),
        "no_generation_prompt": case(_m((S, "Be brief."), (U, "Hi"), (A, "Hello!")), agp=False),
        "whitespace": case(_m((S, "  Be brief. \n"), (U, "  padded \n"), (A, "\n reply  \n"), (U, "\tagain "))),
        "non_ascii": case(_m((U, "Grüße aus München 🌍 — 你好"), (A, "Hallo! 👋"), (U, "¿Qué tal?"))),
        "reasoning_history": case(reasoning_chat),
        "reasoning_final": case(
            [
                {"role": U, "content": "What is 2+2?"},
                {"role": A, "reasoning_content": "2 plus 2 is 4.", "content": "4"},
            ],
            agp=False,
        ),
        "reasoning_alias": case(
            [
                {"role": U, "content": "Hi"},
                {"role": A, "thinking": "A greeting.", "content": "Hello!"},
                {"role": U, "content": "Bye"},
                {"role": A, "reasoning": "A farewell.", "content": "Goodbye!"},
            ],
            agp=False,
        ),
        "tools_declared": case(_m((S, "You are a weather bot."), (U, "Weather in Paris?")), tools=TOOLS),
        "tool_call": case(
            [{"role": U, "content": "Weather in Paris?"}, {"role": A, "content": None, "tool_calls": [call]}],
            agp=False,
            tools=TOOLS,
        ),
        "tool_result": case(
            [
                {"role": U, "content": "Weather in Paris?"},
                {"role": A, "content": "", "tool_calls": [call]},
                tool_result,
            ],
            tools=TOOLS,
        ),
        "tool_round_trip": case(
            [
                {"role": S, "content": "You are a weather bot."},
                {"role": U, "content": "Weather in Paris?"},
                {"role": A, "content": None, "tool_calls": [call]},
                tool_result,
                {"role": A, "content": "It is 18 °C in Paris."},
                {"role": U, "content": "Thanks!"},
            ],
            tools=TOOLS,
        ),
    }
    # What real conversations also send: a tool-call turn with empty text (templates that need text reject a
    # missing content), the other tool-argument shape (a template may re-encode or reject it), reasoning written
    # inline in the content, and reasoning carried across a tool call after the last user turn.
    other_arguments = dict(WEATHER_ARGS) if family.tool_arguments == "string" else json.dumps(WEATHER_ARGS)
    other_call = {**call, "function": {"name": "get_weather", "arguments": other_arguments}}
    cases["tool_round_trip_text"] = case(
        [
            {"role": U, "content": "Weather in Paris?"},
            {"role": A, "content": "", "tool_calls": [call]},
            tool_result,
            {"role": A, "content": "It is 18 °C in Paris."},
            {"role": U, "content": "Thanks!"},
        ],
        tools=TOOLS,
    )
    cases["tool_call_other_arguments"] = case(
        [{"role": U, "content": "Weather in Paris?"}, {"role": A, "content": "", "tool_calls": [other_call]}],
        agp=False,
        tools=TOOLS,
    )
    cases["reasoning_inline"] = case(
        _m((U, "Hi"), (A, "<think>\nThe user greets me.\n</think>\n\nHello!"), (U, "What is 2+2?"))
    )
    cases["reasoning_tool_chain"] = case(
        [
            {"role": U, "content": "Weather in Paris?"},
            {"role": A, "reasoning_content": "I need the weather.", "content": "", "tool_calls": [call]},
            tool_result,
            {"role": A, "reasoning_content": "18 degrees.", "content": "It is 18 °C in Paris."},
        ],
        agp=False,
        tools=TOOLS,
    )
    rich_arguments = json.dumps(RICH_ARGS, ensure_ascii=False) if family.tool_arguments == "string" else RICH_ARGS
    rich_call = {"type": "function", "id": CALL_ID, "function": {"name": "search", "arguments": rich_arguments}}
    cases["tools_rich"] = case(
        [
            {"role": U, "content": "Find Grüße from 2024."},
            {"role": A, "content": "", "tool_calls": [rich_call]},
            {"role": T, "tool_call_id": CALL_ID, "name": "search", "content": '{"hits": []}'},
        ],
        tools=RICH_TOOLS,
    )
    # Content given as a list of text parts (OpenAI-style clients send it so); templates join, skip or re-encode them.
    cases["content_parts"] = case(
        [
            {"role": U, "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}]},
            {"role": A, "content": [{"type": "text", "text": "Hello! How can I help?"}]},
            {"role": U, "content": "What is 2+2?"},
        ]
    )
    cases.update(_extra_cases(family, reference or family.template, call, tool_result, case))
    # Phi-4-mini takes its tools only from the system message's own "tools" field (a JSON string).
    cases["tools_in_system_message"] = case(
        [
            {"role": S, "content": "You are a weather bot.", "tools": json.dumps([t["function"] for t in TOOLS])},
            {"role": U, "content": "Weather in Paris?"},
        ]
    )
    for kwarg in family.kwargs:
        for value in _kwarg_samples(kwarg):
            label = json.dumps(value, ensure_ascii=False).strip('"').replace(" ", "_")[:24]
            cases[f"kwarg_{kwarg.name}_{label}"] = case(reasoning_chat, kwargs={kwarg.name: value})
            cases[f"kwarg_{kwarg.name}_{label}_tools"] = case(
                [{"role": U, "content": "Weather in Paris?"}], tools=TOOLS, kwargs={kwarg.name: value}
            )
    return cases


#: Presets whose official template is the "tool_use" entry of a named template set: transformers applies it only
#: when tools are passed (the "default" entry otherwise), so every case of theirs passes tools.
TOOL_USE_TEMPLATES = {"hermes"}
SECOND_CALL_ID = "call1C2d3"
DOCUMENTS = [
    {"title": "Paris weather", "text": "Paris is mild in spring, about 18 °C."},
    {"title": "Notes", "text": "Umbrellas recommended."},
]


def _extra_cases(family: Family, template: str, call: dict, tool_result: dict, case) -> dict[str, dict]:
    """Cases beyond the common set: parallel calls (several results in a row), and what a template reads that
    others do not (documents, Command R7B's tool_plan, Nemotron's /think and /no_think flags)."""
    add_args = {"a": 2, "b": 3}
    add_args = json.dumps(add_args) if family.tool_arguments == "string" else add_args
    second = {"type": "function", "id": SECOND_CALL_ID, "function": {"name": "add", "arguments": add_args}}
    add_result = {"role": T, "tool_call_id": SECOND_CALL_ID, "name": "add", "content": "5"}
    extra = {
        "tool_parallel": case(
            [
                {"role": U, "content": "Weather in Paris, and 2+3?"},
                {"role": A, "content": "", "tool_calls": [call, second]},
                tool_result,
                add_result,
            ],
            tools=TOOLS,
        )
    }
    # Tools given as bare function schemas (no {"type": "function", "function": ...} wrapper), as some clients send
    # them and as Apertus' template reads them (tool.name, tool.description).
    functions = [t["function"] for t in TOOLS]
    extra["tools_as_functions"] = case(_m((S, "You are a weather bot."), (U, "Weather in Paris?")), tools=functions)
    extra["tool_round_trip_functions"] = case(
        [
            {"role": U, "content": "Weather in Paris?"},
            {"role": A, "content": "", "tool_calls": [call]},
            tool_result,
            {"role": A, "content": "It is 18 °C in Paris."},
            {"role": U, "content": "Thanks!"},
        ],
        tools=functions,
    )
    extra["tools_rich_as_functions"] = case(
        _m((U, "Find Grüße from 2024.")), tools=[t.get("function", t) for t in RICH_TOOLS]
    )
    if "documents" in template:
        extra["documents"] = {**case(_m((U, "Is it warm in Paris?"))), "documents": DOCUMENTS}
        extra["documents_tools"] = {**case(_m((U, "Is it warm in Paris?")), tools=TOOLS), "documents": DOCUMENTS}
    if "tool_plan" in template:
        planned = {**call, "id": CALL_ID}
        extra["tool_plan"] = case(
            [
                {"role": U, "content": "Weather in Paris?"},
                {"role": A, "content": "", "tool_plan": "I will look up the weather.", "tool_calls": [planned]},
                tool_result,
            ],
            tools=TOOLS,
        )
    if "/no_think" in template:
        extra["flag_no_think_system"] = case(_m((S, "Be brief. /no_think"), (U, "Hi")))
        extra["flag_think_user"] = case(_m((S, "/no_think"), (U, "Hi"), (A, "Hello!"), (U, "/think What is 2+2?")))
    return extra


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102 - the pinned clock
        return NOW


def render_official(template: str, family: Family, inputs: dict) -> dict:
    """The official template's output (or its error) for one case, rendered by transformers."""
    from transformers.utils import chat_template_utils as ctu

    messages = [{k: v for k, v in m.items() if v is not None} for m in inputs["messages"]]  # apply_chat_template
    with mock.patch.object(ctu, "datetime", _FixedClock):
        try:
            rendered, _ = ctu.render_jinja_template(
                [messages],
                tools=inputs["tools"],
                documents=inputs.get("documents"),
                chat_template=template,
                add_generation_prompt=inputs["add_generation_prompt"],
                bos_token=family.bos_token,
                eos_token=family.eos_token,
                **inputs["kwargs"],
            )
        except Exception as exc:  # the official template rejects this case: ours must too
            return {"error": f"{type(exc).__name__}: {exc}"}
    return {"expected": rendered[0]}


def make(name: str, reference_dir: Path) -> Path:
    family = get_family(name)
    template = (reference_dir / f"{name}.jinja").read_text(encoding="utf-8")
    sources = json.loads((reference_dir / "sources.json").read_text(encoding="utf-8"))
    cases = {}
    for case_name, inputs in build_cases(family, template).items():
        if name in TOOL_USE_TEMPLATES and not inputs["tools"]:
            inputs = {**inputs, "tools": TOOLS}
        cases[case_name] = {**inputs, **render_official(template, family, inputs)}
    data = {
        "preset": name,
        "official_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "official_source": sources.get(name, {}).get("source"),
        "now": NOW.isoformat(),
        "bos_token": family.bos_token,
        "eos_token": family.eos_token,
        "cases": cases,
    }
    out = GOLDEN_DIR / f"{name}.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("presets", nargs="+", metavar="PRESET")
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR)
    args = parser.parse_args()
    for name in args.presets:
        out = make(name, args.reference_dir)
        data = json.loads(out.read_text(encoding="utf-8"))
        errors = sum("error" in c for c in data["cases"].values())
        print(f"{out.relative_to(ROOT)}: {len(data['cases'])} cases ({errors} raise in the official template)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
