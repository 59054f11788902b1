"""Process-level MLX housekeeping at exit.

MLX 0.32 keeps per-thread state (streams and the ``mx.compile`` cache) whose C++ destructors touch
Python objects. Run after interpreter shutdown they crash the process (exit 134/139 after correct
output; ml-explore/mlx#4327). The remedy MLX's maintainers give is to call ``mx.clear_streams()`` on
every thread that used MLX before the interpreter shuts down: this module does that at exit, for the
main thread and for each registered worker thread.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

EXIT_WAIT_S = 5.0
_workers: weakref.WeakSet = weakref.WeakSet()
_registered = threading.Event()


def track_worker(worker: Any) -> None:
    """Clear this worker's MLX thread state at exit (it must offer ``submit_cleanup``)."""
    _workers.add(worker)


def register_exit_cleanup() -> None:
    """Install the exit hook once (idempotent)."""
    if not _registered.is_set():
        _registered.set()
        atexit.register(_clear_all)


def _clear_all() -> None:
    mx = sys.modules.get("mlx.core")
    clear: Callable[[], None] | None = getattr(mx, "clear_streams", None)
    if clear is None:
        return
    for worker in list(_workers):
        done: queue.Queue = worker.submit_cleanup(clear)
        with contextlib.suppress(queue.Empty):  # a running generation ends at its next step, or we give up
            done.get(timeout=EXIT_WAIT_S)
    clear()
