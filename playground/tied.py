"""Child processes that die with their parent, even when the parent is killed (SIGKILL, a CI timeout, Ctrl-C).

``tied_popen`` starts a server (``mlx-playground serve`` for the bench's UI figures, ``mlx_lm.server`` in the
tests) that must not outlive the process that started it: a forgotten server keeps a core busy for good.

- Linux: the child asks the kernel for a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``) and exits at
  once if the parent is already gone by then. It does so in a small Python step of its own that then execs the
  command (``python -m playground.tied --exec PARENT -- CMD``), never between fork and exec in this process: a
  ``preexec_fn`` makes ``subprocess`` fork with the fork handlers of every loaded library, and OpenBLAS's can hang
  for good in a process that has run BLAS work (the bench did, once, after minutes of generation); without one,
  ``subprocess`` uses vfork, which runs none. The signal follows the thread that started the child: call
  ``tied_popen`` from a thread that lives as long as the child should (the main thread, in the bench and in
  pytest fixtures).
- A command that starts processes of its own (``mlx.launch`` and its ranks: ``group=True``), and every command
  where there is no parent-death signal (macOS), runs under a small watcher (``python -m playground.tied
  PARENT_PID -- CMD``): it starts the command in a process group of its own and ends that whole group when the
  parent is gone (it looks twice a second) or when it is told to stop (SIGTERM, SIGINT).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent (the watcher's; Linux also gets the parent-death signal).
WATCH_INTERVAL_S = 0.5
#: Seconds a stopped group gets to end before it is killed.
STOP_GRACE_S = 10.0


def _die_with(parent: int, signum: int) -> None:
    """Linux: this process gets ``signum`` when ``parent`` dies; it exits now if ``parent`` is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def tied_popen(args: Sequence[str], *, group: bool = False, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(args, **kwargs)`` for a child that dies with this process. ``group``: the command starts
    processes of its own, which must end with it (they run in a process group the watcher ends)."""
    parent = str(os.getpid())
    linux = sys.platform.startswith("linux")
    if group or not linux:  # the watcher ends the group (and, on Linux, gets SIGTERM when this process dies)
        command = [sys.executable, "-m", "playground.tied", parent, "--", *args]
    else:  # a lone child is killed outright
        command = [sys.executable, "-m", "playground.tied", "--exec", parent, "--", *args]
    return subprocess.Popen(command, **kwargs)


def wait_serving(process: subprocess.Popen, url: str, *, name: str, timeout_s: float, interval_s: float = 0.2) -> None:
    """Return once ``url`` answers 200; RuntimeError if ``process`` (serving it) exits first or ``timeout_s`` pass."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or not ready (an HTTP error)
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer within {timeout_s:g} s")
        time.sleep(interval_s)


def _stop_group(child: subprocess.Popen) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, signum)
            child.wait(timeout=STOP_GRACE_S)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def watch(parent: int, args: Sequence[str]) -> int:
    """Run ``args`` in a process group of its own while ``parent`` lives; end the group when the parent is gone
    or when this watcher is told to stop."""
    _die_with(parent, signal.SIGTERM)
    child = subprocess.Popen(list(args), start_new_session=True)

    def stop(*_: Any) -> None:
        _stop_group(child)
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while child.poll() is None:
        if os.getppid() != parent:
            stop()
        time.sleep(WATCH_INTERVAL_S)
    return child.returncode


def run(parent: int, args: Sequence[str]) -> int:
    """Become ``args`` (exec), killed by the kernel when ``parent`` dies (Linux)."""
    _die_with(parent, signal.SIGKILL)
    try:
        os.execvp(args[0], list(args))
    except OSError as exc:  # as Popen would have said it
        print(f"cannot run {args[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    exec_mode = bool(argv) and argv[0] == "--exec"
    argv = argv[1:] if exec_mode else argv
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print("usage: python -m playground.tied [--exec] PARENT_PID -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return (run if exec_mode else watch)(int(argv[0]), argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
