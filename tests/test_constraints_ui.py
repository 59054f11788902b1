"""The page's Structured output section (Chat settings and each Compare column) through the UI's handlers."""

from __future__ import annotations

import json

import jsonschema
import pytest
from test_ui_handlers import app, compare_values, conversation, req, send  # noqa: F401 (app: a fixture)

from playground.errors import ConstraintError, SettingsError
from playground.ui.inputs import ChatInputs
from playground.ui.structured import SCHEMA_EXAMPLES, schema_example, shown

SCHEMA = SCHEMA_EXAMPLES["sentiment"]


def test_the_kind_selector_makes_the_requests_constraint():
    assert ChatInputs().constraint() is None
    made = ChatInputs(constraint_kind="JSON schema", json_schema=json.dumps(SCHEMA)).constraint()
    assert (made.kind, made.schema()) == ("json_schema", SCHEMA)
    assert ChatInputs(constraint_kind="regex", constraint_regex="[0-9]+").constraint().value == "[0-9]+"
    assert ChatInputs(constraint_kind="require a tool call", constraint_tool=" get_weather ").constraint().value == (
        "get_weather"
    )
    with pytest.raises(ConstraintError, match="the JSON schema is not valid JSON"):
        ChatInputs(constraint_kind="JSON schema", json_schema="{oops").constraint()
    with pytest.raises(SettingsError, match="unknown structured output kind 'yaml'"):
        ChatInputs(constraint_kind="yaml").constraint()


def test_the_kind_selector_shows_the_boxes_it_needs_and_examples_fill_the_schema():
    visible = [u["visible"] for u in shown("regex")]
    assert visible == [False, False, True, False, False]  # example, schema, regex, grammar, tool
    assert [u["visible"] for u in shown("JSON schema")] == [True, True, False, False, False]
    assert json.loads(schema_example("sentiment")) == SCHEMA


def test_a_chat_reply_under_a_schema_is_valid_json(app):  # noqa: F811
    r = req()
    schema = json.dumps(SCHEMA)
    send(app, r, "Hello!", temperature="1", seed="3", constraint_kind="JSON schema", json_schema=schema)
    reply = conversation(app, r)[-1]["content"]
    jsonschema.validate(json.loads(reply), SCHEMA)


def test_a_bad_constraint_is_refused_inline_with_the_text_kept(app):  # noqa: F811
    from test_ui_handlers import values

    accepted = app.chat.submit(req(), **values("Hello!", constraint_kind="regex", constraint_regex="a(b"))
    assert "the regular expression is not valid" in accepted[2]


def test_one_compare_column_constrained_beside_a_free_one(app):  # noqa: F811
    schema = json.dumps(SCHEMA)
    run = compare_values(constraint_kind_1="JSON schema", json_schema_1=schema, template_2="auto", max_tokens="40")
    final = list(app.compare.run(req(), **run))[-1]
    first, second = final[1], final[5]  # each column's chat view
    jsonschema.validate(json.loads(first[-1]["content"]), SCHEMA)
    assert second[-1]["content"] == "Hi! How can I help you today?"  # the free column answers as when alone
    assert "batch of 2" in final[2] and "batch of 2" in final[6]  # decoded together
