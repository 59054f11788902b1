"""Reply parsers (playground.parsing): reasoning / answer / tool-call splitting per model-family format.

Every scripted reply is parsed whole, fed one character at a time, and fed in two chunks split at every position;
all must give the same ParsedReply, equal to the expected one, and the streamed Deltas must add up to it.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from playground.parsing import (
    REASONING_FORMATS,
    TOOL_CALL_FORMATS,
    Delta,
    ParsedReply,
    ReplyParser,
    ToolCall,
    join_deltas,
    parse_reply,
    reasoning_open,
)

DS_BEGIN, DS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL, DS_CALL_END, DS_SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
KIMI = (
    "<|tool_calls_section_begin|>",
    "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<|tool_calls_section_end|>",
)

# Every markup string of every format: content Deltas must never contain one.
TAGS = (
    "<think>", "</think>", "<response>", "</response>", "[THINK]", "[/THINK]",
    "<tool_call>", "</tool_call>", "<arg_key>", "<arg_value>", "<function=", "<parameter=",
    "<|python_tag|>", "<|python_start|>", "<|python_end|>", "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]",
    DS_BEGIN, DS_END, DS_CALL, DS_CALL_END, DS_SEP, *KIMI, "<|tool_call|>", "<|/tool_call|>", "functools[",
    "<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|call|>", "<|constrain|>",
    "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<minimax:tool_call>", "</minimax:tool_call>",
    "<invoke name=", "<|tool_call_start|>", "<|tool_call_end|>",
)

W = {"city": "Paris"}
WU = {"city": "Paris", "unit": "celsius"}
G4_CALL = '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>celsius<|"|>}<tool_call|>'
MM_CALL = (
    '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
    '<parameter name="unit">celsius</parameter>\n</invoke>\n</minimax:tool_call>'
)
MM_TWO = (
    '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n</invoke>\n'
    '<invoke name="get_time">\n<parameter name="tz">CET</parameter>\n</invoke>\n</minimax:tool_call>'
)
LFM_START, LFM_END = "<|tool_call_start|>", "<|tool_call_end|>"
HERMES_W = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
HERMES_T = '<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>'

# id, reasoning format, tool-call format, prompt, reply, content, reasoning, [(name, arguments, id)], error fragments
CASES = [
    # --- none / none --------------------------------------------------------------------------------------------
    ("plain", "none", "none", "", "Just an answer.\n\nWith two paragraphs.\n", "Just an answer.\n\nWith two paragraphs.\n", None, [], []),
    ("plain-keeps-tags-when-none", "none", "none", "", "<think>x</think>\n\ny", "<think>x</think>\n\ny", None, [], []),
    ("plain-non-ascii", "none", "none", "", "Grüße — 你好 😀\n", "Grüße — 你好 😀\n", None, [], []),
    # --- think ------------------------------------------------------------------------------------------------------
    ("think-basic", "think", "none", "<|im_start|>assistant\n", "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?", "Hello! How can I help?", "The user greets me.", [], []),
    ("think-prompt-opened", "think", "none", "<｜User｜>Hi<｜Assistant｜><think>\n", "Greeting.\nReply briefly.\n</think>\n\nHello!", "Hello!", "Greeting.\nReply briefly.", [], []),
    ("think-bare-close-not-opened", "think", "none", "<｜User｜>Hi<｜Assistant｜>", "Greeting.\nReply briefly.\n</think>\n\nHello!", "Hello!", "Greeting.\nReply briefly.", [], []),
    ("think-prompt-opened-repeated-tag", "think", "none", "<|im_start|>assistant\n<think>\n", "<think>\nx < y\n</think>\n\ny", "y", "x < y", [], []),
    ("think-unclosed-prompt-opened", "think", "none", "<|im_start|>assistant\n<think>\n", "Still thinking about\nit", "", "Still thinking about\nit", [], ["reasoning was not closed (no </think>)"]),
    ("think-unclosed-in-reply", "think", "none", "", "<think>\nHmm, let me see\n", "", "Hmm, let me see", [], ["reasoning was not closed"]),
    ("think-preamble", "think", "none", "", "Sure. <think>plan it</think>\n\nDone.", "Sure. Done.", "plan it", [], []),
    ("think-whitespace-preamble-dropped", "think", "none", "", "\n <think>plan</think>Done.", "Done.", "plan", [], []),
    ("think-no-markup", "think", "none", "", "No thinking here: a<b, c>d.\n", "No thinking here: a<b, c>d.\n", None, [], []),
    ("think-qwen3-thinking-disabled", "think", "none", "<|im_start|>assistant\n<think>\n\n</think>\n\n", "Hi there", "Hi there", None, [], []),
    ("think-empty-block", "think", "none", "", "<think>\n\n</think>\n\nAnswer", "Answer", "", [], []),
    ("think-non-ascii", "think", "none", "", "<think>\n思考中… ü\n</think>\n\nBonjour — ça va? 😀", "Bonjour — ça va? 😀", "思考中… ü", [], []),
    ("think-two-blocks", "think", "none", "", "<think>a</think>mid <think>\nb\n</think>end", "mid end", "a\n\nb", [], []),
    ("think-stray-close", "think", "none", "", "<think>a</think>b</think>c", "bc", "a", [], ["stray </think> ignored"]),
    ("think-partial-tags-are-text", "think", "none", "", "a <thin ice> </thinking> b", "a <thin ice> </thinking> b", None, [], []),
    ("think-inner-newlines-kept", "think", "none", "", "<think>\n\nline1\n\nline2\n\n</think>\n\n\nA\n\nB\n", "A\n\nB\n", "line1\n\nline2", [], []),
    # --- granite --------------------------------------------------------------------------------------------------------
    ("granite-think-response", "granite", "none", "", "<think>I should greet.</think><response>Hello!</response>", "Hello!", "I should greet.", [], []),
    ("granite-missing-response", "granite", "none", "", "<think>x</think>\nHello", "Hello", "x", [], []),
    ("granite-response-only", "granite", "none", "", "<response>Hi</response>", "Hi", None, [], []),
    ("granite-unclosed", "granite", "none", "", "<think>x", "", "x", [], ["reasoning was not closed"]),
    # --- mistral reasoning ---------------------------------------------------------------------------------------------
    ("mistral-think", "mistral", "none", "[INST]2+2?[/INST]", "[THINK]Let me compute 2+2.[/THINK]The answer is 4.", "The answer is 4.", "Let me compute 2+2.", [], []),
    ("mistral-think-prompt-opened", "mistral", "none", "[INST]q[/INST][THINK]", "x[/THINK]y", "y", "x", [], []),
    ("mistral-think-tool-call", "mistral", "mistral", "", '[THINK]Need weather[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', "", "Need weather", [("get_weather", W, None)], []),
    ("mistral-think-unclosed", "mistral", "none", "", "[THINK]x", "", "x", [], ["reasoning was not closed (no [/THINK])"]),
    # --- harmony ---------------------------------------------------------------------------------------------------------
    ("harmony-final", "harmony", "harmony", "<|start|>assistant", "<|channel|>analysis<|message|>User says hi.<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>", "Hello!", "User says hi.", [], []),
    ("harmony-final-no-return", "harmony", "none", "<|start|>assistant", "<|channel|>analysis<|message|>User says hi.<|end|><|start|>assistant<|channel|>final<|message|>Hello!", "Hello!", "User says hi.", [], []),
    ("harmony-call-constrain", "harmony", "harmony", "<|start|>assistant", '<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>', "", "Need weather.", [("get_weather", W, None)], []),
    ("harmony-call-recipient-in-header", "none", "harmony", "<|start|>assistant", ' to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>', "", None, [("get_weather", W, None)], []),
    ("harmony-preamble-then-call", "harmony", "harmony", "", '<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>commentary<|message|>Checking the weather.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}', "Checking the weather.", "a", [("get_weather", W, None)], []),
    ("harmony-invalid-json", "harmony", "harmony", "", "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{city: Paris}<|call|>", "", None, [("f", "{city: Paris}", None)], ["tool call 1 is not valid JSON"]),
    ("harmony-builtin-python", "harmony", "harmony", "", "<|channel|>analysis<|message|>run it<|end|><|start|>assistant<|channel|>analysis to=python code<|message|>print(1 + 1)<|call|>", "", "run it", [("python", "print(1 + 1)", None)], []),
    ("harmony-plain-text", "harmony", "harmony", "", "Hello there, no channels.", "Hello there, no channels.", None, [], []),
    ("harmony-unclosed-analysis", "harmony", "harmony", "", "<|channel|>analysis<|message|>thinking...", "", "thinking...", [], ["reasoning was not closed"]),
    ("harmony-prompt-in-analysis", "harmony", "harmony", "<|start|>assistant<|channel|>analysis<|message|>", "more thoughts<|end|><|start|>assistant<|channel|>final<|message|>ok", "ok", "more thoughts", [], []),
    ("harmony-non-ascii", "harmony", "harmony", "", "<|channel|>analysis<|message|>Überlegung 🤔<|end|><|start|>assistant<|channel|>final<|message|>Réponse: 是<|return|>", "Réponse: 是", "Überlegung 🤔", [], []),
    # --- hermes ------------------------------------------------------------------------------------------------------------
    ("hermes-single", "none", "hermes", "", HERMES_W, "", None, [("get_weather", W, None)], []),
    ("hermes-several-with-text", "none", "hermes", "", "Let me check.\n" + HERMES_W + "\n" + HERMES_T, "Let me check.", None, [("get_weather", W, None), ("get_time", {"tz": "CET"}, None)], []),
    ("hermes-content-after", "none", "hermes", "", HERMES_W + "\nThat was the weather call.\n", "\nThat was the weather call.", None, [("get_weather", W, None)], []),
    ("hermes-qwen3-think", "think", "hermes", "<|im_start|>assistant\n", "<think>\nNeed weather.\n</think>\n\n" + HERMES_W, "", "Need weather.", [("get_weather", W, None)], []),
    ("hermes-call-in-reasoning-ignored", "think", "hermes", "", "<think>maybe " + HERMES_W + "</think>\n\nNo tool needed.", "No tool needed.", "maybe " + HERMES_W, [], []),
    ("hermes-bare-close-drops-earlier-calls", "think", "hermes", "", "draft " + HERMES_W + "\n</think>\n\nFinal", "Final", "draft " + HERMES_W, [], []),
    ("hermes-invalid-json", "none", "hermes", "", '<tool_call>\n{"name": "f", "arguments": {"a": 1,}}\n</tool_call>', "", None, [("f", '{"a": 1,}', None)], ["tool call 1 is not valid JSON"]),
    ("hermes-second-invalid", "none", "hermes", "", HERMES_W + '\n<tool_call>\n{"name": "g", "arguments": {oops}}\n</tool_call>', "", None, [("get_weather", W, None), ("g", "{oops}", None)], ["tool call 2 is not valid JSON"]),
    ("hermes-unclosed", "none", "hermes", "", '<tool_call>\n{"name": "f", "arguments": {"a": 1}}', "", None, [("f", {"a": 1}, None)], ["tool call 1 was not closed (no </tool_call>)"]),
    ("hermes-parameters-key-and-string-args", "none", "hermes", "", '<tool_call>{"name": "f", "parameters": {"x": [1, 2]}}</tool_call><tool_call>{"name": "g", "arguments": "{\\"y\\": true}"}</tool_call>', "", None, [("f", {"x": [1, 2]}, None), ("g", {"y": True}, None)], []),
    ("hermes-non-ascii", "none", "hermes", "", 'Ich prüfe das… <tool_call>\n{"name": "wetter", "arguments": {"stadt": "Zürich", "emoji": "☀️"}}\n</tool_call>', "Ich prüfe das…", None, [("wetter", {"stadt": "Zürich", "emoji": "☀️"}, None)], []),
    ("hermes-ended-after-opener", "none", "hermes", "", "Calling now <tool_call>\n", "Calling now", None, [], ["the reply ended right after <tool_call>"]),
    ("hermes-no-markup", "none", "hermes", "", "No tools: x < y and <b>bold</b>.\n", "No tools: x < y and <b>bold</b>.\n", None, [], []),
    # --- qwen3-coder ---------------------------------------------------------------------------------------------------
    ("qwen3-coder", "none", "qwen3-coder", "", "I'll check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>", "I'll check.", None, [("get_weather", {"city": "Paris", "days": 3}, None)], []),
    # --- llama3 ------------------------------------------------------------------------------------------------------------
    ("llama3-json", "none", "llama3", "", '{"name": "get_weather", "parameters": {"city": "Paris"}}', "", None, [("get_weather", W, None)], []),
    ("llama3-python-tag", "none", "llama3", "", '<|python_tag|>{"name": "get_weather", "arguments": {"city": "Paris"}}', "", None, [("get_weather", W, None)], []),
    ("llama3-several", "none", "llama3", "", '{"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": 1}}', "", None, [("a", {}, None), ("b", {"x": 1}, None)], []),
    ("llama3-builtin", "none", "llama3", "", '<|python_tag|>brave_search.call(query="weather in Paris")', "", None, [("brave_search", {"query": "weather in Paris"}, None)], []),
    ("llama3-code-interpreter", "none", "llama3", "", "<|python_tag|>import math\nprint(math.pi)", "", None, [("code_interpreter", {"code": "import math\nprint(math.pi)"}, None)], []),
    ("llama3-json-answer", "none", "llama3", "", '{"answer": 42}', '{"answer": 42}', None, [], []),
    ("llama3-name-but-no-parameters", "none", "llama3", "", '{"name": "Bob", "age": 3}', '{"name": "Bob", "age": 3}', None, [], []),
    ("llama3-plain", "none", "llama3", "", "The weather is nice.", "The weather is nice.", None, [], []),
    ("llama3-invalid-json", "none", "llama3", "", '{"name": "f", "parameters": {"a": 1,}}', "", None, [("f", '{"a": 1,}', None)], ["tool call 1 is not valid JSON"]),
    ("llama3-content-after", "none", "llama3", "", '{"name": "f", "parameters": {}}\nI called f.', "\nI called f.", None, [("f", {}, None)], []),
    ("llama4-python-start", "none", "llama3", "", '<|python_start|><|python_end|>{"name": "get_weather", "parameters": {"city": "Paris"}}', "", None, [("get_weather", W, None)], []),
    ("llama3-python-tag-alone", "none", "llama3", "", "Hmm <|python_tag|>", "Hmm", None, [], ["the reply ended right after <|python_tag|>"]),
    ("llama3-non-ascii", "none", "llama3", "", '{"name": "météo", "parameters": {"ville": "Besançon"}}', "", None, [("météo", {"ville": "Besançon"}, None)], []),
    # --- mistral ------------------------------------------------------------------------------------------------------------
    ("mistral-v3", "none", "mistral", "", '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123def"}]', "", None, [("get_weather", W, "abc123def")], []),
    ("mistral-v3-several", "none", "mistral", "", '[TOOL_CALLS][{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": "ü"}}]', "", None, [("a", {}, None), ("b", {"x": "ü"}, None)], []),
    ("mistral-args", "none", "mistral", "", 'Let me check.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{}', "Let me check.", None, [("get_weather", W, None), ("get_time", {}, None)], []),
    ("mistral-call-id", "none", "mistral", "", '[TOOL_CALLS]get_weather[CALL_ID]abc123def[ARGS]{"city": "Paris"}', "", None, [("get_weather", W, "abc123def")], []),
    ("mistral-invalid-json", "none", "mistral", "", "[TOOL_CALLS]f[ARGS]{'a': 1}", "", None, [("f", "{'a': 1}", None)], ["tool call 1 is not valid JSON"]),
    ("mistral-no-args", "none", "mistral", "", "[TOOL_CALLS]get_weather", "", None, [("get_weather", "", None)], ["tool call 1 has no [ARGS]"]),
    ("mistral-content-after", "none", "mistral", "", '[TOOL_CALLS]f[ARGS]{"a": {"b": "}"}} then text', " then text", None, [("f", {"a": {"b": "}"}}, None)], []),
    # --- deepseek ------------------------------------------------------------------------------------------------------------
    ("deepseek-r1", "think", "deepseek", "<｜Assistant｜><think>\n", "Need two calls.\n</think>\n\n" + DS_BEGIN + DS_CALL + "function" + DS_SEP + 'get_weather\n```json\n{"city": "Paris"}\n```' + DS_CALL_END + "\n" + DS_CALL + "function" + DS_SEP + "get_time\n```json\n{}\n```" + DS_CALL_END + DS_END, "", "Need two calls.", [("get_weather", W, None), ("get_time", {}, None)], []),
    ("deepseek-text-before", "none", "deepseek", "", "Checking." + DS_BEGIN + DS_CALL + "function" + DS_SEP + 'get_weather\n```json\n{"city": "Paris"}\n```' + DS_CALL_END + DS_END, "Checking.", None, [("get_weather", W, None)], []),
    ("deepseek-unclosed", "none", "deepseek", "", DS_BEGIN + DS_CALL + "function" + DS_SEP + 'f\n```json\n{"a": 1}\n```', "", None, [("f", {"a": 1}, None)], ["tool call 1 was not closed"]),
    ("deepseek-v3.1", "none", "deepseek-v3.1", "", "Let me look." + DS_BEGIN + DS_CALL + "get_weather" + DS_SEP + '{"city": "Paris"}' + DS_CALL_END + DS_CALL + "get_time" + DS_SEP + "{}" + DS_CALL_END + DS_END, "Let me look.", None, [("get_weather", W, None), ("get_time", {}, None)], []),
    ("deepseek-v3.1-invalid", "none", "deepseek-v3.1", "", DS_BEGIN + DS_CALL + "f" + DS_SEP + "{nope" + DS_CALL_END + DS_END, "", None, [("f", "{nope", None)], ["tool call 1 is not valid JSON"]),
    # --- glm4.5 / glm4 -----------------------------------------------------------------------------------------------------
    ("glm45", "think", "glm4.5", "<|assistant|>", "\n<think>Need the weather.</think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>", "", "Need the weather.", [("get_weather", {"city": "Paris", "days": 3}, None)], []),
    ("glm45-thinking-off", "think", "glm4.5", "<|assistant|>\n<think></think>", "\nHello!", "\nHello!", None, [], []),
    ("glm45-two-calls-and-text", "none", "glm4.5", "", "Sure.\n<tool_call>a\n<arg_key>q</arg_key>\n<arg_value>{\"k\": [1]}</arg_value>\n</tool_call>\n<tool_call>b\n</tool_call>", "Sure.", None, [("a", {"q": {"k": [1]}}, None), ("b", {}, None)], []),
    ("glm4-call", "none", "glm4", "", 'get_weather\n{"city": "Paris"}', "", None, [("get_weather", W, None)], []),
    ("glm4-invalid-json", "none", "glm4", "", "search\n{query: 'Zürich'}", "", None, [("search", "{query: 'Zürich'}", None)], ["tool call 1 is not valid JSON"]),
    ("glm4-answer", "none", "glm4", "", "\nHello! I am ChatGLM.", "Hello! I am ChatGLM.", None, [], []),
    ("glm4-word-then-text", "none", "glm4", "", "Hello\nworld", "Hello\nworld", None, [], []),
    # --- kimi ------------------------------------------------------------------------------------------------------------------
    ("kimi", "none", "kimi", "", "Checking." + KIMI[0] + KIMI[1] + "functions.get_weather:0" + KIMI[2] + '{"city": "Paris"}' + KIMI[3] + KIMI[1] + "functions.get_time:1" + KIMI[2] + "{}" + KIMI[3] + KIMI[4], "Checking.", None, [("get_weather", W, "functions.get_weather:0"), ("get_time", {}, "functions.get_time:1")], []),
    ("kimi-thinking", "think", "kimi", "", "<think>call it</think>" + KIMI[0] + KIMI[1] + "functions.f:0" + KIMI[2] + "{bad" + KIMI[3] + KIMI[4], "", "call it", [("f", "{bad", "functions.f:0")], ["tool call 1 is not valid JSON"]),
    # --- granite / phi4-mini ------------------------------------------------------------------------------------------------
    ("granite-calls", "none", "granite", "", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "CET"}}]', "", None, [("get_weather", W, None), ("get_time", {"tz": "CET"}, None)], []),
    ("granite-marker-without-list", "none", "granite", "", "<|tool_call|>sorry", "sorry", None, [], ["<|tool_call|> is not followed by a JSON list"]),
    ("granite-invalid-json", "none", "granite", "", 'Using a tool.<|tool_call|>[{"name": "f", "arguments": {a: 1}}]', "Using a tool.", None, [("f", "{a: 1}", None)], ["tool call 1 is not valid JSON"]),
    ("granite-think-call", "granite", "granite", "", '<think>tool time</think><|tool_call|>[{"name": "f", "arguments": {}}]', "", "tool time", [("f", {}, None)], []),
    ("phi4-mini", "none", "phi4-mini", "", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>', "", None, [("get_weather", W, None)], []),
    ("phi4-mini-no-closer-text-after", "none", "phi4-mini", "", '<|tool_call|>[{"name": "f", "arguments": {}}] done', " done", None, [("f", {}, None)], []),
    ("phi4-mini-functools", "none", "phi4-mini", "", 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]', "", None, [("get_weather", W, None)], []),
    ("phi4-mini-plain-functools-word", "none", "phi4-mini", "", "Python's functools module is handy.", "Python's functools module is handy.", None, [], []),
    # --- pythonic -----------------------------------------------------------------------------------------------------------
    ("pythonic", "none", "pythonic", "", '[get_weather(city="Paris"), get_time(tz="CET")]', "", None, [("get_weather", W, None), ("get_time", {"tz": "CET"}, None)], []),
    ("pythonic-python-start", "none", "pythonic", "", '<|python_start|>[get_weather(city="Paris")]<|python_end|>', "", None, [("get_weather", W, None)], []),
    ("pythonic-list-answer", "none", "pythonic", "", "[1, 2, 3] are numbers", "[1, 2, 3] are numbers", None, [], []),
    # --- gemma4 (thought channel; calls parsed by mlx-lm's gemma4 parser) ---------------------------------------------
    ("gemma4-thought-call", "gemma4", "gemma4", "<|turn>model\n", "<|channel>thought\nThe user wants the weather.<channel|>" + G4_CALL, "", "The user wants the weather.", [("get_weather", WU, None)], []),
    ("gemma4-thinking-off", "gemma4", "gemma4", "<|turn>model\n<|channel>thought\n<channel|>", "Hello! How can I help?", "Hello! How can I help?", None, [], []),
    ("gemma4-text-then-two-calls", "gemma4", "gemma4", "", "Let me check. " + G4_CALL + '<|tool_call>call:add{a:1,b:2}<tool_call|>', "Let me check.", None, [("get_weather", WU, None), ("add", {"a": 1, "b": 2}, None)], []),
    ("gemma4-nested-non-ascii", "none", "gemma4", "", '<|tool_call>call:note{text:<|"|>Grüße, {ok}<|"|>,opts:{deep:true,tags:[<|"|>a<|"|>,2]}}<tool_call|>', "", None, [("note", {"text": "Grüße, {ok}", "opts": {"deep": True, "tags": ["a", 2]}}, None)], []),
    ("gemma4-unparsable", "none", "gemma4", "", "<|tool_call>call:get_weather{city:Paris}<tool_call|>", "", None, [("", "call:get_weather{city:Paris}", None)], ["tool call 1 could not be parsed"]),
    ("gemma4-unclosed", "none", "gemma4", "", "<|tool_call>call:add{a:1,b:2}", "", None, [("add", {"a": 1, "b": 2}, None)], ["tool call 1 was not closed (no <tool_call|>)"]),
    ("gemma4-ended-after-marker", "none", "gemma4", "", "Sure.<|tool_call>", "Sure.", None, [], ["the reply ended right after <|tool_call>"]),
    ("gemma4-thinking-on-text", "gemma4", "gemma4", "<bos><|turn>system\n<|think|><turn|>\n<|turn>model\n", "<|channel>thought\nA greeting; answer briefly.\n<channel|>Hello! How can I help?", "Hello! How can I help?", "A greeting; answer briefly.", [], []),
    # --- the new families that reuse a format: their real reply shapes after their own generation prompts ------------
    ("glm4.7-think-call", "think", "glm4.5", "[gMASK]<sop><|user|>Weather in Paris?<|assistant|><think>", "The user wants the weather.</think>I'll check.<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>", "I'll check.", "The user wants the weather.", [("get_weather", {"city": "Paris", "days": 3}, None)], []),
    ("glm4.7-thinking-off", "think", "glm4.5", "[gMASK]<sop><|user|>Hi<|assistant|></think>", "Hello!", "Hello!", None, [], []),
    ("nemotron3-think-call", "think", "qwen3-coder", "<|im_start|>assistant\n<think>\n", "Need the weather.\n</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>\n", "", "Need the weather.", [("get_weather", W, None)], []),
    ("nemotron3-thinking-off", "think", "qwen3-coder", "<|im_start|>assistant\n<think></think>", "Hi there!", "Hi there!", None, [], []),
    ("qwen3.5-think-text-call", "think", "qwen3-coder", "<|im_start|>assistant\n<think>\n", "Weather question.\n</think>\n\nLet me look.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>", "Let me look.", "Weather question.", [("get_weather", W, None)], []),
    ("kimi-k2-thinking-call", "think", "kimi", "<|im_assistant|>assistant<|im_middle|>", "<think>The weather tool.</think>One moment." + KIMI[0] + KIMI[1] + "functions.get_weather:0" + KIMI[2] + '{"city": "Paris"}' + KIMI[3] + KIMI[4], "One moment.", "The weather tool.", [("get_weather", W, "functions.get_weather:0")], []),
    # --- minimax-m2 (mlx-lm's minimax_m2 parser; without declared tools every value stays text) -------------------------
    ("minimax-think-call", "think", "minimax-m2", "]~b]ai\n<think>\n", "The user asks for the weather.\n</think>\n\n" + MM_CALL, "", "The user asks for the weather.", [("get_weather", WU, None)], []),
    ("minimax-two-invokes", "think", "minimax-m2", "]~b]ai\n<think>\n", "Two tools.</think>\n\nOn it." + MM_TWO, "On it.", "Two tools.", [("get_weather", W, None), ("get_time", {"tz": "CET"}, None)], []),
    ("minimax-answer", "think", "minimax-m2", "]~b]ai\n<think>\n", "Greeting.\n</think>\n\nHello!", "Hello!", "Greeting.", [], []),
    ("minimax-no-invoke", "none", "minimax-m2", "", "<minimax:tool_call>\nnothing here\n</minimax:tool_call>", "", None, [("", "nothing here", None)], ["tool call 1 could not be parsed (No tool call found)"]),
    # --- lfm2 (mlx-lm's pythonic parser between <|tool_call_start|> and <|tool_call_end|>; JSON bodies too) ----------------
    ("lfm2-call-then-text", "none", "lfm2", "", LFM_START + '[get_weather(city="Paris", unit="celsius")]' + LFM_END + "Checking the weather.", "Checking the weather.", None, [("get_weather", WU, None)], []),
    ("lfm2-two-calls", "none", "lfm2", "", LFM_START + '[add(a=1, b=2), get_weather(city="Paris")]' + LFM_END, "", None, [("add", {"a": 1, "b": 2}, None), ("get_weather", W, None)], []),
    ("lfm2-json-body", "none", "lfm2", "", LFM_START + '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n' + LFM_END, "", None, [("get_weather", W, None)], []),
    ("lfm2.5-think-call", "think", "lfm2", "<|im_start|>assistant\n", "<think>\nNeed the weather.\n</think>\n\n" + LFM_START + '[get_weather(city="Paris")]' + LFM_END, "", "Need the weather.", [("get_weather", W, None)], []),
    ("lfm2-unparsable", "none", "lfm2", "", LFM_START + "[get_weather(city=]" + LFM_END + " sorry", " sorry", None, [("", "[get_weather(city=]", None)], ["tool call 1 could not be parsed"]),
]

CASE_IDS = [case[0] for case in CASES]


def _feed(reasoning: str, tools: str, prompt: str, chunks: list[str]) -> tuple[ParsedReply, list[Delta]]:
    parser = ReplyParser(reasoning, tools, prompt=prompt)
    deltas: list[Delta] = []
    for chunk in chunks:
        deltas += parser.feed(chunk)
    deltas += parser.finish()
    return parser.result(), deltas


def _check_deltas(parsed: ParsedReply, deltas: list[Delta], *, markup: bool = True) -> None:
    assert join_deltas(deltas) == (parsed.content, parsed.reasoning, parsed.tool_calls)
    for delta in deltas:
        if delta.kind == "content":
            assert delta.text, "empty content Delta"
            assert not markup or not any(tag in delta.text for tag in TAGS), delta
        if delta.kind == "tool_call":
            assert delta.tool_call is not None and delta.text == delta.tool_call.raw
        else:
            assert delta.tool_call is None


def _expected_calls(calls):
    return [(name, arguments, call_id) for name, arguments, call_id in calls]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_whole_reply(case):
    _, reasoning, tools, prompt, reply, content, thinking, calls, errors = case
    parsed = parse_reply(reply, reasoning, tools, prompt=prompt)
    assert parsed.raw == reply
    assert parsed.content == content
    assert parsed.reasoning == thinking
    assert [(c.name, c.arguments, c.id) for c in parsed.tool_calls] == _expected_calls(calls)
    assert len(parsed.errors) == len(errors), parsed.errors
    for message, fragment in zip(parsed.errors, errors):
        assert fragment in message
    for call in parsed.tool_calls:
        assert call.raw and call.raw in reply
    assert not any(tag in parsed.content for tag in TAGS) or tools == reasoning == "none"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_character_at_a_time(case):
    _, reasoning, tools, prompt, reply, *_ = case
    whole = parse_reply(reply, reasoning, tools, prompt=prompt)
    parsed, deltas = _feed(reasoning, tools, prompt, list(reply))
    assert parsed == whole
    _check_deltas(parsed, deltas, markup=(reasoning, tools) != ("none", "none"))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_two_chunk_split(case):
    _, reasoning, tools, prompt, reply, *_ = case
    whole = parse_reply(reply, reasoning, tools, prompt=prompt)
    markup = (reasoning, tools) != ("none", "none")
    _, deltas = _feed(reasoning, tools, prompt, [reply])
    _check_deltas(whole, deltas, markup=markup)
    for i in range(len(reply) + 1):
        parsed, deltas = _feed(reasoning, tools, prompt, [reply[:i], reply[i:]])
        assert parsed == whole, f"split at {i}: {reply[:i]!r} | {reply[i:]!r}"
        _check_deltas(parsed, deltas, markup=markup)


@pytest.mark.parametrize("case", [c for c in CASES if len(c[4]) < 160], ids=[c[0] for c in CASES if len(c[4]) < 160])
def test_every_three_chunk_split(case):
    _, reasoning, tools, prompt, reply, *_ = case
    whole = parse_reply(reply, reasoning, tools, prompt=prompt)
    step = max(1, len(reply) // 40)
    for i in range(0, len(reply) + 1, step):
        for j in range(i, len(reply) + 1, step):
            parsed, deltas = _feed(reasoning, tools, prompt, [reply[:i], reply[i:j], reply[j:]])
            assert parsed == whole, (i, j)
            _check_deltas(parsed, deltas, markup=(reasoning, tools) != ("none", "none"))


# --- streaming behaviour ---------------------------------------------------------------------------------------------


def _texts(deltas: list[Delta], kind: str) -> str:
    return "".join(d.text for d in deltas if d.kind == kind)


def test_content_streams_immediately_and_holds_only_a_partial_tag():
    parser = ReplyParser("think", "none")
    assert _texts(parser.feed("Hello "), "content") == "Hello "
    assert parser.feed("<thi") == []  # could be <think>
    deltas = parser.feed("ck> sticks")
    assert _texts(deltas, "content") == "<thick> sticks"
    assert _texts(parser.finish(), "content") == ""
    assert parser.result().content == "Hello <thick> sticks"


def test_reasoning_streams_live_before_the_block_closes():
    parser = ReplyParser("think", "none")
    deltas = parser.feed("<think>\nstep one")
    assert [d.kind for d in deltas] == ["reasoning", "reasoning"]
    assert deltas[0].text == ""  # the block-opened marker
    assert _texts(deltas, "reasoning") == "step one"
    deltas = parser.feed(", step two\n")
    assert _texts(deltas, "reasoning") == ", step two"  # the trailing newline waits: it may end the block
    deltas = parser.feed("more</think>\n\nAnswer")
    assert _texts(deltas, "reasoning") == "\nmore"
    assert _texts(deltas, "content") == "Answer"


def test_prompt_opened_block_streams_as_reasoning_from_the_first_token():
    parser = ReplyParser("think", "hermes", prompt="<｜Assistant｜><think>\n")
    deltas = parser.feed("Okay, so")
    assert [(d.kind, d.text) for d in deltas] == [("reasoning", ""), ("reasoning", "Okay, so")]


def test_bare_close_streams_content_then_replaces_it_with_reasoning():
    parser = ReplyParser("think", "none", prompt="<｜Assistant｜>")
    first = parser.feed("Thinking about it. ")
    assert _texts(first, "content") == "Thinking about it. "
    second = parser.feed("Done.</think>\n\nThe answer.")
    replace = [d for d in second if d.replace]
    assert len(replace) == 1 and replace[0].kind == "reasoning"
    assert replace[0].text == "Thinking about it. Done."
    assert _texts(second[second.index(replace[0]):], "content") == "The answer."
    parser.finish()
    assert join_deltas(first + second) == ("The answer.", "Thinking about it. Done.", ())
    assert parser.result().content == "The answer."


def test_tool_call_is_one_delta_when_complete_and_never_content():
    parser = ReplyParser("none", "hermes")
    deltas = parser.feed("Checking.\n<tool_call>\n{\"name\": \"get_weather\", ")
    assert _texts(deltas, "content") == "Checking."
    assert not [d for d in deltas if d.kind == "tool_call"]
    deltas = parser.feed('"arguments": {"city": "Paris"}}\n</tool_call>')
    calls = [d for d in deltas if d.kind == "tool_call"]
    assert len(calls) == 1
    assert calls[0].tool_call == ToolCall("get_weather", W, None, HERMES_W)
    assert _texts(deltas, "content") == ""


def test_whitespace_after_content_waits_only_with_a_tool_format():
    with_tools = ReplyParser("none", "hermes")
    assert _texts(with_tools.feed("Hi\n"), "content") == "Hi"
    assert _texts(with_tools.finish(), "content") == "\n"  # no call came: the whitespace was content
    without = ReplyParser("none", "none")
    assert _texts(without.feed("Hi\n"), "content") == "Hi\n"


def test_harmony_streams_analysis_and_final():
    parser = ReplyParser("harmony", "harmony", prompt="<|start|>assistant")
    deltas = parser.feed("<|channel|>analysis<|message|>Think")
    assert _texts(deltas, "reasoning") == "Think"
    deltas = parser.feed("ing<|end|><|start|>assistant<|channel|>final<|message|>Hel")
    assert _texts(deltas, "reasoning") == "ing"
    assert _texts(deltas, "content") == "Hel"
    assert _texts(parser.feed("lo<|ret"), "content") == "lo"
    assert parser.feed("urn|>") == []
    assert parser.finish() == []
    assert parser.result().content == "Hello"
    cut = ReplyParser("harmony", "harmony")
    cut.feed("<|channel|>final<|message|>Hi <|ret")
    assert _texts(cut.finish(), "content") == "<|ret"  # a stream cut inside a tag: the text is not lost


def test_finish_is_idempotent_and_feed_after_finish_fails():
    parser = ReplyParser("think", "none")
    parser.feed("<think>a\n")
    assert parser.finish() == []  # the held newline is dropped (reasoning is stripped); the error is recorded
    assert parser.finish() == []
    assert parser.result().reasoning == "a"
    assert parser.result().errors == ("reasoning was not closed (no </think>)",)
    with pytest.raises(RuntimeError):
        parser.feed("more")


# --- reasoning_open -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "fmt", "expected"),
    [
        ("<｜User｜>Hi<｜Assistant｜><think>\n", "think", True),
        ("<|im_start|>assistant\n<think>\n", "think", True),
        ("<｜Assistant｜><think>", "think", True),
        ("<|im_start|>assistant\n<think>\n\n</think>\n\n", "think", False),
        ("<｜Assistant｜></think>", "think", False),
        ("<|im_start|>assistant\n", "think", False),
        ("", "think", False),
        ("<|im_start|>assistant\n<think>\n", "none", False),
        ("[SYSTEM_PROMPT]think: [THINK]drafts[/THINK] answer[/SYSTEM_PROMPT][INST]q[/INST]", "mistral", False),
        ("[INST]q[/INST][THINK]", "mistral", True),
        ("<|start_of_role|>assistant<|end_of_role|><think>", "granite", True),
        ("<|start|>assistant", "harmony", False),
        ("<|start|>assistant<|channel|>analysis<|message|>", "harmony", True),
        ("<|start|>assistant<|channel|>final<|message|>", "harmony", False),
        ("<|start|>assistant<|channel|>analysis<|message|>x<|end|>", "harmony", False),
    ],
)
def test_reasoning_open(prompt, fmt, expected):
    assert reasoning_open(prompt, fmt) is expected


def test_harmony_prompt_in_final_body_makes_the_reply_content():
    parsed = parse_reply("Hello", "harmony", "harmony", prompt="<|start|>assistant<|channel|>final<|message|>")
    assert (parsed.content, parsed.reasoning) == ("Hello", None)
    parsed = parse_reply("analysis<|message|>hm<|end|>", "harmony", "none", prompt="<|start|>assistant<|channel|>")
    assert (parsed.content, parsed.reasoning) == ("", "hm")


# --- formats, errors, messages ------------------------------------------------------------------------------------------


def test_format_names():
    assert REASONING_FORMATS[:5] == ("none", "think", "granite", "mistral", "harmony")
    for name in ("none", "hermes", "llama3", "mistral", "harmony", "deepseek", "deepseek-v3.1", "glm4.5", "glm4",
                 "kimi", "granite", "phi4-mini"):
        assert name in TOOL_CALL_FORMATS
    for reasoning in REASONING_FORMATS:
        for tools in TOOL_CALL_FORMATS:
            if "harmony" in (reasoning, tools) and {reasoning, tools} - {"harmony", "none"}:
                continue
            assert parse_reply("plain words", reasoning, tools).content == "plain words"


@pytest.mark.parametrize(
    ("reasoning", "tools", "message"),
    [("thinking", "none", "unknown reasoning format"), ("none", "json", "unknown tool-call format"),
     ("harmony", "hermes", "cannot be combined"), ("think", "harmony", "cannot be combined")],
)
def test_bad_format_names(reasoning, tools, message):
    with pytest.raises(ValueError, match=message):
        ReplyParser(reasoning, tools)
    with pytest.raises(ValueError, match="unknown reasoning format"):
        reasoning_open("", "bogus")


def test_errors_keep_text_order():
    reply = "<think>a</think>x</think>" + '<tool_call>{"name": "f", "arguments": {1}}</tool_call><tool_call>{"name": "g"'
    parsed = parse_reply(reply, "think", "hermes")
    assert parsed.errors[0] == "stray </think> ignored"
    assert parsed.errors[1].startswith("tool call 1 is not valid JSON: ")
    assert parsed.errors[2].startswith("tool call 2 is not valid JSON: ")
    assert parsed.errors[3] == "tool call 2 was not closed (no </tool_call>)"
    assert [c.name for c in parsed.tool_calls] == ["f", "g"]


def test_to_message_and_history_parts():
    reply = "<think>\nweather?\n</think>\n\nOne moment.\n" + HERMES_W
    parsed = parse_reply(reply, "think", "hermes")
    call = {"type": "function", "function": {"name": "get_weather", "arguments": W}}
    assert parsed.to_message() == {
        "role": "assistant", "content": "One moment.", "reasoning_content": "weather?", "tool_calls": [call],
    }
    as_text = parsed.to_message(json_arguments=True)["tool_calls"][0]["function"]["arguments"]
    assert json.loads(as_text) == W and isinstance(as_text, str)
    plain = parse_reply("Hi", "think", "hermes").to_message()
    assert plain == {"role": "assistant", "content": "Hi"}


def test_tool_call_ids_and_raw_arguments_in_messages():
    mistral = parse_reply('[TOOL_CALLS]f[CALL_ID]abc123def[ARGS]{"a": 1}', "none", "mistral")
    assert mistral.to_message()["tool_calls"] == [
        {"type": "function", "id": "abc123def", "function": {"name": "f", "arguments": {"a": 1}}}
    ]
    broken = parse_reply('<tool_call>{"name": "f", "arguments": {x}}</tool_call>', "none", "hermes")
    assert broken.to_message(json_arguments=True)["tool_calls"][0]["function"]["arguments"] == "{x}"
    assert ToolCall("f", {"ü": 1}).arguments_json() == '{"ü": 1}'


def test_history_round_trip_through_the_qwen3_split_rule():
    # Qwen3 / GLM templates split content on </think> the same way: reasoning .strip('\n'), content .lstrip('\n').
    reply = "<think>\n\nstep\n\n</think>\n\n\nAnswer\n"
    parsed = parse_reply(reply, "think")
    rendered_reasoning = reply.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
    assert parsed.reasoning == rendered_reasoning
    assert parsed.content == reply.split("</think>")[-1].lstrip("\n")


MUTATIONS = ["\n", " ", "x", "{", "}", '"', "]", ";", "ü", "<", "|", "</think>", "<think>", "<tool_call>", "</tool_call>",
             "[TOOL_CALLS]", "[ARGS]", "<|message|>", "<|end|>", "<|start|>", "<|channel|>", DS_CALL, DS_CALL_END, KIMI[1]]


def _mutants(seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        _, reasoning, tools, prompt, reply, *_ = rng.choice(CASES)
        for _ in range(rng.randint(1, 3)):
            i = rng.randint(0, len(reply))
            op = rng.random()
            if op < 0.5:
                reply = reply[:i] + rng.choice(MUTATIONS) + reply[i:]
            elif op < 0.8:
                reply = reply[:i] + reply[rng.randint(i, min(len(reply), i + 8)):]
            else:
                reply = reply[:i]
        yield reasoning, tools, prompt, reply


@pytest.mark.parametrize("seed", range(4))
def test_mangled_replies_parse_the_same_however_they_are_split(seed):
    """Broken markup (inserted tags, cut replies) must still parse identically whole, char by char, in two chunks."""
    for reasoning, tools, prompt, reply in _mutants(seed, 60):
        whole = parse_reply(reply, reasoning, tools, prompt=prompt)
        assert whole.raw == reply
        for chunks in [list(reply), *([reply[:i], reply[i:]] for i in range(0, len(reply) + 1, 3))]:
            parsed, deltas = _feed(reasoning, tools, prompt, chunks)
            assert parsed == whole, (reasoning, tools, prompt, reply, [len(c) for c in chunks])
            assert join_deltas(deltas) == (parsed.content, parsed.reasoning, parsed.tool_calls)


def test_long_tool_call_streams_in_linear_time():
    arguments = {"path": "a.py", "content": "x = {1: '}'}\n" * 3000}
    reply = json.dumps({"name": "write", "parameters": arguments})
    parser = ReplyParser("none", "llama3")
    start = time.perf_counter()
    for i in range(0, len(reply), 3):
        assert not parser.feed(reply[i:i + 3]) or i + 3 >= len(reply)
    parser.finish()
    assert parser.result().tool_calls[0].arguments == arguments
    assert time.perf_counter() - start < 5  # quadratic rescanning takes far longer
