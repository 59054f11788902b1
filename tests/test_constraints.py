"""Structured output and the thinking budget (playground.constraints), on real models: the demo model (which answers
in chat text when free) and the tiny Qwen3 fixture (random weights, never picks a special token by itself)."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from test_scheduler import run_together, stream_while_another_joins

from playground.constraints import Constraint
from playground.errors import ConstraintError, SettingsError
from playground.parsing import parse_reply
from playground.prepare import ChatRequest
from playground.settings import GenerationSettings

#: Nested objects, enums, arrays and required fields; bounded, so a sampled reply can finish within the limit.
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "color": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 12},
                "zip": {"type": "integer", "minimum": 0, "maximum": 99999},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "color", "tags", "address"],
    "additionalProperties": False,
}
GREETING = r"(Hi|Hello)! My name is [A-Z][a-z]{1,10}\."
SEEDS = range(20)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


def request(text="Hello!", *, constraint=None, seed=0, temperature=1.0, max_tokens=120, **extra):
    settings = GenerationSettings(temperature=temperature, seed=seed, max_tokens=max_tokens)
    return ChatRequest(messages=({"role": "user", "content": text},), settings=settings, constraint=constraint, **extra)


def schema_constraint(schema=PERSON):
    return Constraint("json_schema", json.dumps(schema))


def parses_valid(text, schema=PERSON):
    try:
        jsonschema.validate(json.loads(text), schema)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


# ---------------------------------------------------------------------------------------------- the evidence


@pytest.mark.slow
def test_every_sampled_reply_is_json_valid_against_the_schema_and_the_free_ones_are_not(engine, demo):
    constrained = [
        engine.generate(engine.prepare(demo, request(constraint=schema_constraint(), seed=s))) for s in SEEDS
    ]
    free = [engine.generate(engine.prepare(demo, request(seed=s))) for s in SEEDS]
    assert all(parses_valid(r.text) for r in constrained), [r.text for r in constrained if not parses_valid(r.text)]
    assert all(r.final.finish_reason == "stop" and r.final.steering["complete"] for r in constrained)
    assert not any(parses_valid(r.text) for r in free)
    assert len({r.text for r in constrained}) > 5  # sampled at temperature 1.0, not one forced string


@pytest.mark.slow
def test_every_sampled_reply_matches_the_regex_and_the_free_ones_do_not(engine, demo):
    constraint = Constraint("regex", GREETING)
    constrained = [engine.generate(engine.prepare(demo, request(constraint=constraint, seed=s))).text for s in SEEDS]
    free = [engine.generate(engine.prepare(demo, request(seed=s))).text for s in SEEDS]
    assert all(re.fullmatch(GREETING, text) for text in constrained), constrained
    assert not any(re.fullmatch(GREETING, text) for text in free)


@pytest.mark.slow
def test_any_json_object_and_a_lark_and_a_gbnf_grammar(engine, demo):
    objects = [
        engine.generate(engine.prepare(demo, request(constraint=Constraint("json_object"), seed=s))) for s in SEEDS
    ]
    finished = [r for r in objects if r.final.finish_reason == "stop"]  # any object: free keys may run to the limit
    assert finished and all(isinstance(json.loads(r.text), dict) for r in finished)
    assert all(r.text.startswith("{") and r.final.steering["incomplete"] for r in objects if r not in finished)
    cases = [
        (Constraint("grammar", 'start: "Answer: " ("yes" | "no")'), lambda t: t in ("Answer: yes", "Answer: no")),
        (Constraint("grammar", 'root ::= "colour=" ("red" | "blue")'), lambda t: t in ("colour=red", "colour=blue")),
    ]
    for constraint, check in cases:
        for seed in range(3):
            text = engine.generate(engine.prepare(demo, request(constraint=constraint, seed=seed, max_tokens=60))).text
            assert check(text), (constraint, text)


def test_the_token_view_shows_what_the_constraint_did_and_p_eos_stays_correct(engine, demo):
    prepared = engine.prepare(demo, request(constraint=schema_constraint(), seed=3, logprobs=3))
    result = engine.generate(prepared)
    tokens = result.tokens
    assert tokens[0].text == "{" and tokens[0].allowed == 1 and tokens[0].forced == "constraint"
    assert tokens[0].wanted is not None and tokens[0].wanted.text != "{"  # the model wanted to chat
    assert all(t.allowed is not None and t.allowed >= 1 for t in tokens)
    assert any(t.allowed > 1 and t.forced is None for t in tokens)  # free choices among the allowed tokens
    for info in tokens:  # probabilities are over the allowed tokens: the chosen one is among them
        assert info.logprob > -1e8 and all(alt.logprob > -1e8 for alt in info.top)
        assert info.wanted is None or info.wanted.id != info.id
    *body, last = tokens
    assert all(t.eos_logprob == -1e9 for t in body)  # EOS is not allowed before the JSON is complete
    assert last.special and last.eos_logprob == pytest.approx(0.0, abs=1e-3)  # ... and the only choice after it
    assert last.to_dict()["allowed"] == len(prepared.eos.ids) == 2 and "wanted" in tokens[5].to_dict()


def test_free_tokens_carry_no_steering_fields(engine, demo):
    info = engine.generate(engine.prepare(demo, request(seed=3, logprobs=3, max_tokens=5))).tokens[0]
    assert info.allowed is None and info.forced is None and "allowed" not in info.to_dict()


def test_a_constraint_that_cannot_finish_ends_on_length_with_the_partial_text_kept(engine, demo):
    result = engine.generate(engine.prepare(demo, request(constraint=schema_constraint(), seed=1, max_tokens=6)))
    final = result.final
    assert final.finish_reason == "length" and final.generation_tokens == 6
    assert final.steering["incomplete"] is True and final.steering["complete"] is False
    assert any("before the constraint was complete" in w for w in final.warnings)
    assert result.text.startswith('{"name":')


# ---------------------------------------------------------------------------------------------- batching


@pytest.mark.slow
def test_a_constrained_request_in_a_batch_equals_itself_alone_and_so_does_its_free_neighbour(engine, demo):
    constrained = engine.prepare(demo, request(constraint=schema_constraint(), temperature=0))
    free = engine.prepare(demo, request("What is 4 + 5?", temperature=0))
    alone = [engine.generate(constrained), engine.generate(free)]
    together = run_together(engine, [constrained, free])
    assert [t[0] for t in together] == [a.text for a in alone]
    assert max(t[2] for t in together) == 2  # one batch
    assert parses_valid(together[0][0]) and together[1][0] == "4 + 5 = 9."


@pytest.mark.slow
@pytest.mark.parametrize("joins_at", [1, 8])
def test_a_constrained_reply_moved_into_a_batch_goes_on_as_if_alone(engine, demo, joins_at):
    """Moving from generate_step into the batch replays the step it threw away: the constraint must not feed
    that token twice (the mask of the replayed step is the same)."""
    constrained = engine.prepare(demo, request(constraint=schema_constraint(), seed=5, logprobs=2))
    other = engine.prepare(demo, request("What is 4 + 5?", max_tokens=60, temperature=0, wire_eos=False))
    alone = engine.generate(constrained)
    events, _ = stream_while_another_joins(engine, constrained, other, joins_at)
    assert events[-1].batch_size == 2
    assert "".join(e.text for e in events) == alone.text and parses_valid(alone.text)
    assert [t.allowed for e in events for t in e.tokens] == [t.allowed for t in alone.tokens]


# ---------------------------------------------------------------------------------------------- thinking budget


@pytest.fixture(scope="module")
def qwen3(engine, toy_qwen3):
    return engine.load(str(toy_qwen3))


def thinking_request(budget, max_tokens=20):
    """The prompt ends inside an open <think> block (continuing a reply that started thinking)."""
    return ChatRequest(
        messages=({"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "<think>\nthe"}),
        continue_final=True,
        logprobs=2,
        settings=GenerationSettings(temperature=1.0, seed=3, max_tokens=max_tokens, thinking_budget=budget),
    )


@pytest.mark.parametrize("budget", [0, 1, 6])
def test_the_thinking_budget_forces_the_end_marker_then_the_answer_follows(engine, qwen3, budget):
    prepared = engine.prepare(qwen3, thinking_request(budget))
    result = engine.generate(prepared)
    texts = [t.text.strip() for t in result.tokens]
    assert texts.index("</think>") == budget  # exactly N thinking tokens (the model never closes it itself)
    assert result.tokens[budget].forced == "thinking budget" and result.tokens[budget].allowed == 1
    assert all(t.forced is None for i, t in enumerate(result.tokens) if i != budget)
    parsed = parse_reply(result.text, "think", prompt=prepared.text)
    assert parsed.content.strip() and len(parsed.content.split()) == 20 - budget - 1
    assert result.final.steering["thinking_tokens"] == budget


def test_without_a_budget_the_thinking_runs_on(engine, qwen3):
    result = engine.generate(engine.prepare(qwen3, thinking_request(None)))
    assert "</think>" not in result.text and result.final.steering is None


@pytest.fixture(scope="module")
def qwen3_bytes(engine, tmp_path_factory):
    """The Qwen3 fixture with a byte-level tokenizer (llguidance reads it; the special tokens keep their ids, so
    the model still never picks one by itself)."""
    from toy_qwen3 import SPECIAL_TOKENS, build_toy_qwen3

    from playground.toy import write_byte_tokenizer

    folder = build_toy_qwen3(tmp_path_factory.mktemp("models") / "toy-qwen3-bytes", suppress_special=True)
    words = json.loads((folder / "tokenizer.json").read_text())["added_tokens"]
    tok = write_byte_tokenizer(folder, [], SPECIAL_TOKENS, 512, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    assert all(tok.token_to_id(t["content"]) == t["id"] for t in words if t["content"] in SPECIAL_TOKENS)
    return engine.load(str(folder))


@pytest.mark.parametrize("budget", [0, 4])
def test_the_constraint_starts_after_the_thinking_that_the_budget_ended(engine, qwen3_bytes, budget):
    request = thinking_request(budget, max_tokens=60).replace(constraint=Constraint("regex", "(yes|no)"))
    prepared = engine.prepare(qwen3_bytes, request)
    assert prepared.steering.summary()["applies"] == "after the thinking"
    result = engine.generate(prepared)
    end = [t.id for t in result.tokens].index(qwen3_bytes.tokenizer.convert_tokens_to_ids("</think>"))
    assert end == budget and all(t.allowed is None for t in result.tokens[:end])  # the thinking ran free
    assert all(t.allowed is not None for t in result.tokens[end + 1 :])  # then the answer was masked
    parsed = parse_reply(result.text, "think", prompt=prepared.text)
    assert parsed.content in ("yes", "no") and result.final.finish_reason == "stop"


def test_a_budget_on_a_family_without_thinking_is_reported(engine, demo):
    budget = GenerationSettings(thinking_budget=5, max_tokens=10)
    prepared = engine.prepare(demo, request().replace(settings=budget))
    assert any("thinking budget has no effect" in w for w in prepared.warnings)


def test_the_harmony_budget_forces_the_multi_token_channel_switch(tmp_path):
    """gpt-oss: from inside the analysis message the budget forces <|end|><|start|>assistant<|channel|>final
    <|message|> token by token, each marked forced; the processor then lets the answer run free."""
    import mlx.core as mx
    from transformers import AutoTokenizer

    from playground.constraints import SteeringProcessor
    from playground.constraints.plan import SteeringPlan
    from playground.constraints.thinking import thinking_plan
    from playground.toy import write_word_tokenizer

    specials = ["<|start|>", "<|end|>", "<|channel|>", "<|message|>", "<|return|>"]
    write_word_tokenizer(tmp_path, ["assistant", "final", "analysis", "hm"], specials, 64, eos_token="<|return|>")
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    prompt = "<|start|>user<|message|>hi<|end|><|start|>assistant<|channel|>analysis<|message|>hm"
    plan = thinking_plan("harmony", prompt, tokenizer)
    assert plan.start == "thinking"
    steering = SteeringPlan(None, None, plan, 2, (tokenizer.convert_tokens_to_ids("<|return|>"),))
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    processor = SteeringProcessor(steering, tokenizer, len(prompt_ids), explain=True)
    hm = tokenizer.convert_tokens_to_ids("hm")
    logits = mx.zeros((1, 64))
    logits[0, hm] = 5.0  # the model only wants to go on thinking
    sequence = list(prompt_ids)
    for _ in range(9):
        out = processor(mx.array(sequence), logits)
        sequence.append(int(mx.argmax(out, axis=-1).item()))
    generated = tokenizer.convert_ids_to_tokens(sequence[len(prompt_ids) :])
    assert generated == ["hm", "hm", "<|end|>", "<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "hm"]
    notes = [processor.take_note(len(prompt_ids) + i) for i in range(9)]
    assert [n.forced if n else None for n in notes] == [None, None] + ["thinking budget"] * 6 + [None]
    assert processor.phase == "answer" and processor.thought == 2


# ---------------------------------------------------------------------------------------------- continue, tools


@pytest.mark.slow
def test_continue_resumes_the_constraint_from_the_text_already_there(engine, demo):
    start = '{"name": "Max", "age": '
    messages = ({"role": "user", "content": "Hello!"}, {"role": "assistant", "content": start})
    for seed in range(5):
        prepared = engine.prepare(
            demo, request(constraint=schema_constraint(), seed=seed).replace(messages=messages, continue_final=True)
        )
        assert prepared.steering.resume_ids
        assert parses_valid(start + engine.generate(prepared).text)


def test_continue_refuses_a_reply_that_does_not_fit_the_constraint(engine, demo):
    messages = ({"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there"})
    with pytest.raises(ConstraintError, match="does not fit the constraint after 0 characters") as info:
        engine.prepare(demo, request(constraint=schema_constraint()).replace(messages=messages, continue_final=True))
    assert "edit the reply" in info.value.hint


@pytest.mark.parametrize(
    "template, tool_format",
    [("qwen3", "hermes"), ("llama3.1", "llama3"), ("mistral-v0.3", "mistral")],
)
@pytest.mark.slow
def test_require_a_tool_call_gives_a_parsed_call_with_valid_arguments(engine, demo, template, tool_format):
    base = request("What is the weather in Paris?", constraint=Constraint("tool_call"), tools=(WEATHER_TOOL,))
    for seed in range(5):
        prepared = engine.prepare(
            demo,
            base.replace(template=template, settings=GenerationSettings(temperature=1.0, seed=seed, max_tokens=150)),
        )
        assert prepared.tool_calls == tool_format
        result = engine.generate(prepared)
        parsed = parse_reply(result.text, prepared.reasoning, prepared.tool_calls, prompt=prepared.text)
        assert [call.name for call in parsed.tool_calls] == ["get_weather"], result.text
        jsonschema.validate(parsed.tool_calls[0].arguments, WEATHER_TOOL["function"]["parameters"])
        assert not parsed.errors and result.final.finish_reason == "stop"


def test_the_prepared_request_reports_its_steering(engine, demo):
    summary = engine.prepare(demo, request(constraint=Constraint("regex", GREETING))).summary()
    assert summary["steering"]["constraint"] == {"kind": "regex", "regex": GREETING}
    assert summary["steering"]["applies"] == "from the start of the reply"
    assert "steering" not in engine.prepare(demo, request()).summary()


# ---------------------------------------------------------------------------------------------- bad input

BAD = [
    ("json_schema", "{not json", "not valid JSON: Expecting property name", "write the schema as a JSON object"),
    ("json_schema", "[1, 2]", "must be a JSON object, got list", "write the schema as a JSON object"),
    ("json_schema", '{"type": "objectx"}', "the JSON schema is not valid: Invalid type: objectx", "fix the schema"),
    (
        "json_schema",
        '{"not": {"type": "string"}}',
        'does not support: Unimplemented keys: ["not"]',
        "remove or rewrite",
    ),
    ("json_schema", '{"type": "integer", "minimum": 5, "maximum": 2}', "Unsatisfiable schema", "fix the schema"),
    ("regex", "a(b", "the regular expression is not valid: ", "fix the regular expression"),
    ("regex", "", "the regex is empty", "regular expression"),
    ("grammar", "start: foo", 'the grammar is not valid: at 1(8): unknown name: "foo"', "Lark"),
    ("grammar", 'root ::= "yes" | (', "the grammar is neither Lark nor valid GBNF: Expected ')'", "GBNF"),
    ("tool_call", "", "not available for the 'none' tool-call format", "choose a template of such a family"),
    ("regex", "Hi[a&&b]", "no text can satisfy the regex 'Hi[a&&b]' constraint", "impossible part"),
]


@pytest.mark.parametrize("kind, value, message, hint", BAD)
def test_a_bad_constraint_gets_one_error_and_a_hint(engine, demo, kind, value, message, hint):
    with pytest.raises(ConstraintError) as info:
        engine.prepare(demo, request(constraint=Constraint(kind, value)))
    assert message in info.value.message and hint in info.value.hint


def test_a_tool_that_is_not_there_and_no_tools(engine, demo):
    asked = request(constraint=Constraint("tool_call", "get_time"), tools=(WEATHER_TOOL,))
    with pytest.raises(ConstraintError, match="no tool named 'get_time'") as info:
        engine.prepare(demo, asked.replace(template="qwen3"))
    assert info.value.hint == "choose one of: get_weather"
    with pytest.raises(ConstraintError, match="'require a tool call' needs tools in the request"):
        engine.prepare(demo, asked.replace(template="qwen3", tools=None))


def test_a_grammar_that_runs_into_a_dead_end_ends_the_reply_with_a_typed_error_and_the_text_kept(engine, demo):
    """The first step allows "Hi", after which nothing can follow: the reply fails there, never unconstrained."""
    dead_end = Constraint("grammar", 'start: "Hi" EMPTY\nEMPTY: /[a&&b]/')
    *_, reply = engine.reply(engine.prepare(demo, request(constraint=dead_end, temperature=0)))
    assert reply.finish_reason == "error" and reply.text == "Hi" and reply.partial
    assert "the constraint failed after 1 tokens: the constraint allows no token here" in reply.error.message
    assert "simplify the constraint" in reply.error.hint


def test_unknown_kinds_and_bad_budgets(tmp_path):
    with pytest.raises(ConstraintError, match="unknown constraint kind 'yaml'") as info:
        Constraint("yaml", "x")
    assert "json_schema" in info.value.hint
    for bad in (-1, 1.5, "many", True):
        with pytest.raises(SettingsError, match="thinking_budget must be an integer"):
            GenerationSettings(thinking_budget=bad)


def test_a_tokenizer_llguidance_cannot_read_is_refused_by_name(engine, qwen3):
    with pytest.raises(ConstraintError, match="tokenizer cannot be used for constraints") as info:
        engine.prepare(qwen3, request(constraint=Constraint("json_object")))
    assert "tokenizer.json" in info.value.hint


# ---------------------------------------------------------------------------------------------- the page's token view


@pytest.mark.slow
def test_the_token_view_marks_forced_tokens_and_says_what_the_model_wanted(engine, demo):
    from playground.ui.views import token_probs_html

    tokens = engine.generate(engine.prepare(demo, request(constraint=schema_constraint(), seed=3, logprobs=3))).tokens
    html = token_probs_html(tokens)
    first = html[html.index('data-index="0"') : html.index('data-index="1"')]
    assert 'data-allowed="1" data-forced="constraint"' in first and "pg-t-forced" in html
    assert "1 token allowed" in first and "forced by the constraint" in first
    assert f"the model wanted {tokens[0].wanted.text}" in first and "Steered:" in html
    free = token_probs_html(engine.generate(engine.prepare(demo, request(seed=3, logprobs=3, max_tokens=4))).tokens)
    assert "data-allowed" not in free and "Steered:" not in free and "⛓" not in free
