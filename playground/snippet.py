"""'Copy as code': a standalone mlx-lm script that reproduces a playground generation exactly."""

from __future__ import annotations

from .options import options
from .prepare import PreparedChat


def _sampling_lines(settings) -> list[str]:
    """``make_sampler`` and ``make_logits_processors`` calls with every setting of the options table that mlx-lm
    takes (a penalty at its neutral value is left out, as the playground runs none; each penalty sees the
    repetition context size); a setting mlx-lm has no argument for is written as a comment."""
    sampler, processors, other = [], [], []
    for option in options():
        value = getattr(settings, option.name)
        if value is None:  # unset and off (the thinking budget)
            continue
        if option.mlx_lm is None:
            other.append(f"# {option.name} = {value!r}: applied by the playground itself, not by mlx-lm")
        elif option.mlx_lm[0] == "sampler":
            sampler.append(f"{option.mlx_lm[1]}={value!r}")
        elif option.neutral is None or value != option.neutral:
            processors.append(f"    {option.mlx_lm[1]}={value!r},")
    context = settings.repetition_context_size
    for penalty in ("presence", "frequency"):
        if any(line.startswith(f"    {penalty}_penalty=") for line in processors):
            processors.append(f"    {penalty}_context_size={context!r},")
    return [*other, f"sampler = make_sampler({', '.join(sampler)})", "logits_processors = make_logits_processors(",
            *processors]


def mlx_lm_snippet(prepared: PreparedChat) -> str:
    """Python source using plain mlx-lm that renders the same prompt and samples with the same settings.

    The script asserts that transformers renders the identical prompt from the same template and inputs.
    """
    s = prepared.settings
    request = prepared.request
    model = prepared.loaded.name if prepared.loaded.name != "demo-model" else str(prepared.loaded.path)
    lines = [
        "# Reproduces a generation from MLX Template Playground with plain mlx-lm.",
        "import mlx.core as mx",
        "from mlx_lm import load, stream_generate",
        "from mlx_lm.sample_utils import make_logits_processors, make_sampler",
        "",
        f"model, tokenizer = load({model!r})",
        f"for token in {list(prepared.eos.tokens)!r}:  # the EOS tokens this request stops on",
        "    tokenizer.add_eos_token(token)",
        "",
    ]
    if prepared.raw:
        lines += [f"prompt = {prepared.text!r}  # raw mode: no template", ""]
    elif prepared.template.encoder:  # mlx-lm's own Python encoder (DeepSeek V3.2), not a template
        rendered = prepared.rendered
        tools = list(request.tools) if request.tools is not None else None
        lines += [
            f"from mlx_lm.chat_templates import {prepared.template.encoder} as encoder",
            f"messages = {[dict(m) for m in rendered.messages]!r}",
            "prompt = encoder.apply_chat_template(",
            f"    messages, add_generation_prompt={rendered.add_generation_prompt!r},",
            f"    continue_final_message={request.continue_final!r},",
            f"    **{({'tools': tools} if tools else {}) | dict(request.template_kwargs)!r}",
            ")",
            f"assert prompt == {prepared.text!r}, 'the prompt differs from the playground'",
            "",
        ]
    else:
        rendered = prepared.rendered
        extra = dict(request.template_kwargs)
        messages = [dict(m) for m in rendered.messages]
        lines += [
            f"TEMPLATE = {prepared.template.template!r}",
            f"messages = {messages!r}",
            f"tools = {list(request.tools) if request.tools is not None else None!r}",
            "prompt = tokenizer.apply_chat_template(",
            "    messages, tools=tools, chat_template=TEMPLATE,",
            f"    add_generation_prompt={rendered.add_generation_prompt!r},",
            f"    continue_final_message={request.continue_final!r}, tokenize=False,",
            f"    bos_token={rendered.bos_token!r}, eos_token={rendered.eos_token!r}, **{extra!r}",
            ")",
            f"assert prompt == {prepared.text!r}, 'the prompt differs from the playground'",
            "",
        ]
    if s.seed is not None:
        lines.append(f"mx.random.seed({s.seed})  # sampled replies may differ: the playground draws with its own key")
    lines += [*_sampling_lines(s), ")"]
    lines += [
        f"stop = {list(s.stop)!r}",
        "text = ''",
    ]
    if prepared.raw:
        lines.append("tokens = tokenizer.encode(prompt, add_special_tokens=False)")
    else:
        lines += [
            "bos = tokenizer.bos_token",
            "tokens = tokenizer.encode(prompt, add_special_tokens=bos is None or not prompt.startswith(bos))",
        ]
    lines += [
        f"for response in stream_generate(model, tokenizer, tokens, max_tokens={s.max_tokens!r},",
        "                                sampler=sampler, logits_processors=logits_processors):",
        "    text += response.text",
        "    if any(s in text for s in stop):",
        "        text = text[: min(text.find(s) for s in stop if s in text)]",
        "        break",
        "print(text)",
    ]
    return "\n".join(lines) + "\n"
