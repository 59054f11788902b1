"""Children started with ``tied_popen`` die with their parent, and starting one runs no fork handler.

A fork handler is where a process that has run BLAS work can hang: OpenBLAS's own (``blas_thread_shutdown_``) once
held the bench in ``fork()`` for good, after minutes of generation, before it could start its UI server. A child
started without code between fork and exec is started with vfork/posix_spawn, which runs no handler at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from playground.tied import tied_popen

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork path is Linux's")


def test_starting_a_tied_child_runs_no_fork_handler():
    forks = []
    os.register_at_fork(before=lambda: forks.append("before"))  # stands for OpenBLAS's C handler
    for group in (False, True):
        child = tied_popen([sys.executable, "-c", "pass"], group=group)
        assert child.wait(timeout=30) == 0
    assert forks == []


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("group", [False, True], ids=["lone", "group"])
def test_a_tied_child_dies_when_its_parent_is_killed(group):
    code = (
        "import sys, time\n"
        "from playground.tied import tied_popen\n"
        f"child = tied_popen(['sleep', '60'], group={group})\n"
        "time.sleep(1.0)\n"  # the watcher (group) has started its command by now
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    sleepers = subprocess.run(["pgrep", "-f", "sleep 60", "-P", str(child if group else parent.pid)],
                              capture_output=True, text=True).stdout.split()  # fmt: skip
    assert alive(child) and sleepers
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while (alive(child) or any(alive(int(p)) for p in sleepers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child) and not any(alive(int(p)) for p in sleepers)
