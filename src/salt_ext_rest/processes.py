"""Stopping daemons that were started in process groups of their own (demo, benchmarks).

A Salt daemon forks (salt-master's workers, salt-api's netapi child), so stopping its
``Popen`` is not enough: the whole group gets SIGTERM, then SIGKILL after a grace
period, and any member that left the group is killed by pid (psutil checks reuse).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil  # a Salt dependency


def family(procs: list[subprocess.Popen]) -> list[psutil.Process]:
    """The processes and all their descendants alive now."""
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            top = psutil.Process(proc.pid)
            found += [top, *top.children(recursive=True)]
    return found


def stop_groups(procs: list[subprocess.Popen], grace: float) -> None:
    """SIGTERM each daemon's process group; SIGKILL whatever is left after ``grace``."""
    members = family(procs)
    for proc in procs:
        _killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(map(_running, members)) and time.monotonic() < deadline:
        time.sleep(0.1)
        for proc in procs:
            proc.poll()  # reap the daemons themselves
    for proc in procs:
        _killpg(proc.pid, signal.SIGKILL)
    for leftover in members + family(procs):
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _running(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    return False
