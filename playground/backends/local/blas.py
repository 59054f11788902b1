"""Fast CPU math on Linux: load an optimized BLAS before ``mlx.core`` is first imported.

The ``mlx-cpu`` wheel ships a reference BLAS; a 1024x1024 matmul with it is about 20x slower than with
OpenBLAS. Loading a library that exports the standard CBLAS symbols with ``RTLD_GLOBAL`` before MLX
loads makes MLX's BLAS calls resolve to it. Set ``MLX_PLAYGROUND_NO_BLAS=1`` to turn this off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from functools import lru_cache

DISABLE_ENV = "MLX_PLAYGROUND_NO_BLAS"
LIBRARY_ENV = "MLX_PLAYGROUND_BLAS"  # an explicit library path or name
_CANDIDATES = (
    "libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "libopenblas.so",
)


@dataclass(frozen=True)
class BlasStatus:
    """Which BLAS MLX uses on this machine, and why."""

    name: str
    library: str | None
    detail: str

    def describe(self) -> str:
        return f"{self.name} ({self.detail})"


@lru_cache(maxsize=1)
def ensure_fast_blas() -> BlasStatus:
    """Preload OpenBLAS on Linux if possible (idempotent; call before importing ``mlx.core``).

    Also installs the exit hook that clears MLX's per-thread state in time (see :mod:`.mlx_runtime`).
    """
    from .mlx_runtime import register_exit_cleanup

    register_exit_cleanup()
    if sys.platform == "darwin":
        return BlasStatus("Accelerate", None, "macOS: MLX uses Accelerate and Metal")
    if not sys.platform.startswith("linux"):
        return BlasStatus("mlx default", None, f"no BLAS preloading on {sys.platform}")
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return BlasStatus("reference", None, f"{DISABLE_ENV} is set: using the mlx-cpu wheel's reference BLAS")
    already = "mlx.core" in sys.modules
    candidates = [os.environ[LIBRARY_ENV]] if os.environ.get(LIBRARY_ENV) else []
    found = ctypes.util.find_library("openblas")
    candidates += ([found] if found else []) + list(_CANDIDATES)
    errors = []
    for name in dict.fromkeys(candidates):
        try:
            lib = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            errors.append(str(exc))
            continue
        if not hasattr(lib, "cblas_sgemm"):
            continue
        if already:
            return BlasStatus(
                "reference",
                name,
                "mlx.core was imported before OpenBLAS could be loaded; import playground first",
            )
        return BlasStatus("openblas", name, f"loaded {name} before mlx.core")
    return BlasStatus(
        "reference",
        None,
        "no OpenBLAS found: install it (Debian/Ubuntu: apt-get install libopenblas0-pthread) for ~20x faster matmuls",
    )
