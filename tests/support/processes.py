"""Processes a test kills or freezes: a salt-api worker, a salt-master's tree."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import psutil


def exited(pid: int) -> bool:
    """Has process ``pid`` exited (gone, or a zombie not yet reaped)? Its files are
    closed then: a killed worker's ``SO_REUSEPORT`` socket takes new connections until
    it is, and the kernel resets them as it closes."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _signal(process: psutil.Process, signum: int) -> bool:
    """False when the process has exited meanwhile (a master's short-lived child)."""
    try:
        process.send_signal(signum)
    except psutil.NoSuchProcess:
        return False
    return True


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """``pid`` and all its descendants stopped (SIGSTOP) inside the block, continued
    after it. A child that exits before it is signalled is skipped; one forked while
    the tree is being stopped is stopped too."""
    stopped: dict[int, psutil.Process] = {}
    seen: set[int] = set()
    top = psutil.Process(pid)
    try:
        found = [top]
        while found:
            for process in found:
                seen.add(process.pid)
                if _signal(process, signal.SIGSTOP):
                    stopped[process.pid] = process
            try:
                found = [p for p in top.children(recursive=True) if p.pid not in seen]
            except psutil.NoSuchProcess:
                found = []
        yield
    finally:
        for process in stopped.values():
            _signal(process, signal.SIGCONT)
