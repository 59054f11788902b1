"""One thread that runs every model computation.

mlx-lm's generators hold MLX stream contexts that must be opened and closed on the same thread, while
web servers resume request handlers on whatever thread is free. So each generation runs start to end on
this worker, and callers get its events through a queue; jobs run one at a time, in order of arrival.

Model loading (with its warm-up) runs here too. A thread that ran a model owns thread-local MLX state
(the ``mx.compile`` cache) whose destructor needs the GIL; if such a thread exits while the interpreter
shuts down, the process aborts. This daemon thread never exits before the process does, and keeping all
model work on it keeps that state off short-lived threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .mlx_runtime import track_worker

_DONE = object()


class _Job:
    def __init__(self, make: Callable[[], Iterator[Any]], cancel: threading.Event):
        self.make = make
        self.cancel = cancel
        self.out: queue.Queue = queue.Queue()


class GenerationWorker:
    """Runs generation jobs on a single daemon thread."""

    def __init__(self, name: str = "mlx-generation") -> None:
        track_worker(self)
        self._name = name
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def pending(self) -> int:
        """Jobs waiting to start."""
        return self._jobs.qsize()

    def run(self, make: Callable[[], Iterator[Any]], cancel: threading.Event | None = None) -> Iterator[Any]:
        """Run ``make()`` on the worker and yield its items here. Closing this iterator early cancels the job."""
        cancel = cancel if cancel is not None else threading.Event()
        job = _Job(make, cancel)
        self._ensure_started()
        self._jobs.put(job)
        finished = False
        try:
            while True:
                kind, value = job.out.get()
                if kind == "item":
                    yield value
                elif kind == "error":
                    finished = True
                    raise value
                else:
                    finished = True
                    return
        finally:
            if not finished:
                cancel.set()  # the caller went away: stop the job at its next step

    def submit_cleanup(self, fn: Callable[[], Any]) -> queue.Queue:
        """Queue ``fn`` to run on the worker thread (if it was started); the returned queue gets one item."""
        done: queue.Queue = queue.Queue()
        if self._thread is None or not self._thread.is_alive():
            done.put(None)
            return done

        def job() -> Iterator[Any]:
            fn()
            done.put(None)
            return iter(())

        self._jobs.put(_Job(job, threading.Event()))
        return done

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the worker (after the jobs ahead of it) and return its result here."""
        for result in self.run(lambda: iter((fn(),))):
            return result
        raise RuntimeError("the worker returned no result")  # pragma: no cover

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                for item in job.make():
                    job.out.put(("item", item))
                job.out.put(("done", _DONE))
            except BaseException as exc:  # handed to the caller, never kills the worker
                job.out.put(("error", exc))
            finally:
                # Drop the job (and the model arrays its closure holds) now: arrays kept alive by an idle
                # daemon thread would be destroyed after MLX itself at interpreter exit.
                del job
