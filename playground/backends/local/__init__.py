"""The local backend: mlx-lm (and mlx-vlm) in this process.

:mod:`.backend` (``LocalBackend``), :mod:`.scheduler` (one worker thread, batched decoding), :mod:`.vision` (the
vision-language unit), :mod:`.prompt_cache` (KV-cache reuse), :mod:`.blas` (fast CPU math on Linux),
:mod:`.mlx_runtime` (MLX housekeeping at exit). This file imports nothing, so ``blas`` loads before ``mlx.core``.
"""
