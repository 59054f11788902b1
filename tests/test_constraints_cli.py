"""Structured output and the thinking budget from the command line: generate and compare take the constraint
flags (one at a time) and --thinking-budget (an entry of the options table); bad input gets error + hint, exit 2."""

from __future__ import annotations

import json

import jsonschema

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 100}, "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
    "additionalProperties": False,
}


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_generate_json_schema_with_token_probabilities(cli, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    code, out, err = cli(
        "generate",
        "--prompt",
        "What is 4 + 5?",
        "--json-schema",
        str(schema),
        "--temp",
        "1",
        "--seed",
        "4",
        "--logprobs",
        "2",
        "--json",
    )
    assert code == 0, err
    data = last_json(out)
    jsonschema.validate(json.loads(data["text"]), SCHEMA)
    assert data["steering"]["complete"] is True and data["steering_plan"]["constraint"]["schema"] == SCHEMA
    first = data["tokens"][0]
    assert (first["text"], first["allowed"], first["forced"]) == ("{", 1, "constraint") and first["wanted"]["text"]


def test_generate_regex_streams_the_constrained_answer(cli):
    code, out, err = cli("generate", "--prompt", "Hello!", "--regex", "(Hi|Hello)! I am [A-Z][a-z]+\\.", "--temp", "0")
    assert code == 0, err
    assert out.strip().startswith(("Hi! I am ", "Hello! I am ")) and out.strip().endswith(".")


def test_compare_one_grammar_for_every_column(cli, tmp_path):
    grammar = tmp_path / "yes-no.lark"
    grammar.write_text('start: "Answer: " ("yes" | "no")')
    code, out, err = cli(
        "compare",
        "--prompt",
        "Hello!",
        "--preset",
        "chatml",
        "--preset",
        "llama2",
        "--grammar",
        str(grammar),
        "--temp",
        "0",
        "--json",
    )
    assert code == 0, err
    columns = last_json(out)["columns"]
    assert [c["text"] in ("Answer: yes", "Answer: no") for c in columns] == [True, True]
    assert all(c["batch_size"] == 2 and c["steering"]["complete"] for c in columns)


def test_thinking_budget_is_a_flag_of_the_options_table(cli):
    code, out, err = cli("generate", "--prompt", "Hello!", "--thinking-budget", "5", "--max-tokens", "8", "--json")
    assert code == 0, err
    data = last_json(out)
    assert data["settings"]["thinking_budget"] == 5
    assert any("thinking budget has no effect" in w for w in data["warnings"])  # the demo model does not think


def test_bad_constraint_flags_get_error_and_hint(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "objectx"}')
    cases = [
        (["--json-schema", str(bad)], "error: the JSON schema is not valid: Invalid type: objectx", "hint: fix the"),
        (["--json-schema", str(tmp_path / "none.json")], "error: JSON schema file", "hint:"),
        (["--regex", "a(b"], "error: the regular expression is not valid", "hint: fix the regular expression"),
        (["--require-tool-call"], "error: 'require a tool call' is not available for the 'none'", "hint: it works"),
        (["--regex", "a", "--json-object"], "not allowed with argument", "hint:"),
        (["--thinking-budget", "-1"], "thinking_budget must be an integer in [0, 32768], got -1", "hint:"),
    ]
    for flags, message, hint in cases:
        code, _, err = cli("generate", "--prompt", "Hello!", *flags)
        assert code == 2 and message in err and hint in err, (flags, err)
        assert "Traceback" not in err


def test_render_json_reports_the_requests_constraint(cli, tmp_path):
    messages = tmp_path / "chat.json"
    messages.write_text(json.dumps([{"role": "user", "content": "Hello!"}]))
    code, out, err = cli("render", "--preset", "chatml", "--messages", str(messages), "--regex", "[0-9]+", "--json")
    assert code == 0, err
    assert last_json(out)["constraint"] == {"kind": "regex", "regex": "[0-9]+"}
    code, out, _ = cli("render", "--preset", "chatml", "--messages", str(messages), "--json")
    assert "constraint" not in last_json(out)
