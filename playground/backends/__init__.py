"""Where tokens come from: one protocol, several backends.

Every backend turns a :class:`~playground.prepare.PreparedChat` (our exact rendered prompt and its
settings) into the same typed :class:`~playground.events.GenerationEvent` stream. ``local`` decodes with
mlx-lm in this process (batched, see :mod:`playground.backends.local.scheduler`); ``openai`` and ``ollama``
send the rendered prompt as raw text to an inference server's completions endpoint, so the server applies
no template of its own. The UI and the CLI never know which one they talk to, except to show it.

Layout: :mod:`.spec` (``BackendSpec``, a leaf that :mod:`playground.prepare` uses), :mod:`.base` (the
``Backend`` protocol and ``make_backend``), :mod:`.local` (the scheduler, prompt cache, BLAS and MLX runtime),
:mod:`.openai`, :mod:`.ollama`. This file imports nothing, so a leaf like ``backends.spec`` loads alone.
"""
