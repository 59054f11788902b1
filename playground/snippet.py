"""'Copy as code': a standalone mlx-lm script that reproduces a playground generation exactly."""

from __future__ import annotations

from .settings import GenerationSettings
from .templates import RenderedPrompt


def mlx_lm_snippet(
    model: str,
    template: str,
    rendered: RenderedPrompt,
    settings: GenerationSettings,
    eos_tokens: tuple[str, ...],
    extra_vars: dict | None = None,
) -> str:
    """Python source using mlx-lm that renders the same prompt and samples with the same settings."""
    s = settings
    messages = [dict(m) for m in rendered.messages]
    lines = [
        "# Reproduces a generation from MLX Template Playground with plain mlx-lm.",
        "import mlx.core as mx",
        "from mlx_lm import load, stream_generate",
        "from mlx_lm.sample_utils import make_logits_processors, make_sampler",
        "",
        f"model, tokenizer = load({model!r})",
        f"for token in {list(eos_tokens)!r}:  # the EOS tokens the playground wired",
        "    tokenizer.add_eos_token(token)",
        "",
        f"TEMPLATE = {template!r}",
        f"messages = {messages!r}",
        "prompt = tokenizer.apply_chat_template(",
        f"    messages, chat_template=TEMPLATE, add_generation_prompt={rendered.add_generation_prompt!r},",
        "    tokenize=False,",
        f"    bos_token={rendered.bos_token!r}, eos_token={rendered.eos_token!r}, **{dict(extra_vars or {})!r}",
        ")",
        f"assert prompt == {rendered.text!r}, 'the prompt differs from the playground'",
        "",
    ]
    if s.seed is not None:
        lines.append(f"mx.random.seed({s.seed})")
    lines += [
        f"sampler = make_sampler(temp={s.temperature!r}, top_p={s.top_p!r}, min_p={s.min_p!r}, top_k={s.top_k!r})",
        "logits_processors = make_logits_processors(",
        f"    repetition_penalty={s.repetition_penalty if s.repetition_penalty != 1.0 else None!r},",
        f"    repetition_context_size={s.repetition_context_size!r},",
        f"    presence_penalty={s.presence_penalty or None!r}, presence_context_size={s.repetition_context_size!r},",
        f"    frequency_penalty={s.frequency_penalty or None!r}, frequency_context_size={s.repetition_context_size!r},",
        ")",
        f"stop = {list(s.stop)!r}",
        "text = ''",
        "bos = tokenizer.bos_token",
        "tokens = tokenizer.encode(prompt, add_special_tokens=bos is None or not prompt.startswith(bos))",
        f"for response in stream_generate(model, tokenizer, tokens, max_tokens={s.max_tokens!r},",
        "                                sampler=sampler, logits_processors=logits_processors):",
        "    text += response.text",
        "    if any(s in text for s in stop):",
        "        text = text[: min(text.find(s) for s in stop if s in text)]",
        "        break",
        "print(text)",
    ]
    return "\n".join(lines) + "\n"
