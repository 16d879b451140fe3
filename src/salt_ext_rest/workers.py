"""Worker processes for ``num_processes > 1``: fork, supervise, stop cleanly.

The process salt-api started (its ``RunNetapi`` process) becomes a small supervisor:
it forks the workers (each binds its own ``SO_REUSEPORT`` socket, see
:mod:`salt_ext_rest.server`), restarts a worker that dies while the API is running,
and on SIGTERM or SIGINT forwards SIGTERM to every worker and waits for them to
finish their in-flight requests before it exits. A worker that outlives the grace
period gets SIGKILL. Workers also receive SIGTERM if the
supervisor itself dies (``PR_SET_PDEATHSIG`` on Linux), so none is left behind.

Unlike :func:`tornado.process.fork_processes`, the supervisor never exits before its
workers and never restarts them once stopping.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

POLL = 0.1
RESTART_DELAY = 1.0
MAX_RESTARTS = 20
PR_SET_PDEATHSIG = 1

_index: int | None = None


def worker_index() -> int | None:
    """This worker's number (0-based), or ``None`` when the API runs in one process."""
    return _index


class Supervisor:
    def __init__(
        self, count: int, grace: float, on_exit: Callable[[int], None] | None = None
    ) -> None:
        self.count = count
        self.on_exit = on_exit  # called with the pid of each worker that ended
        self.grace = grace
        self.children: dict[int, int] = {}
        self.stop_deadline: float | None = None
        self.restarts = 0
        self.pid = os.getpid()

    # -- entry point ---------------------------------------------------------------
    def run(self) -> int | None:
        """In a worker: its index. In the supervisor: ``None`` once every worker is gone."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        for index in range(self.count):
            if self._spawn(index):
                return _index
        log.info("rest_ext: %d worker processes started", self.count)
        while self.children:
            self._reap()
        log.info("rest_ext: all worker processes stopped")
        if self.stop_deadline is None:
            raise SystemExit(1)  # gave up restarting
        return None

    # -- forking -------------------------------------------------------------------
    def _spawn(self, index: int) -> bool:
        """Fork worker ``index``; ``True`` in the new worker."""
        pid = os.fork()
        if pid:
            self.children[pid] = index
            return False
        global _index
        _index = index
        self.children.clear()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        random.seed()
        _die_with_parent(self.pid)
        return True

    # -- supervising ---------------------------------------------------------------
    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            self.children.clear()
            return
        if pid == 0:
            self._wait_a_little()
            return
        index = self.children.pop(pid, None)
        if index is not None and self.on_exit is not None:
            with contextlib.suppress(Exception):
                self.on_exit(pid)
        if index is None or self.stop_deadline is not None:
            return
        log.warning("rest_ext: worker %d (pid %d) ended (%s)", index, pid, _describe(status))
        self._restart(index)

    def _restart(self, index: int) -> None:
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            log.critical("rest_ext: workers keep dying; stopping after %d restarts", MAX_RESTARTS)
            self._signal_all(signal.SIGTERM)
            self._give_up()
            return
        time.sleep(RESTART_DELAY)
        if self.stop_deadline is None and self._spawn(index):
            raise _Worker()

    def _give_up(self) -> None:
        deadline = time.monotonic() + self.grace
        while self.children and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid:
                    self.children.pop(pid, None)
                    continue
            time.sleep(POLL)
        self._signal_all(signal.SIGKILL)
        self.children.clear()

    def _wait_a_little(self) -> None:
        time.sleep(POLL)
        if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
            log.warning("rest_ext: workers still busy after %ss; killing them", self.grace)
            self._signal_all(signal.SIGKILL)
            self.stop_deadline = float("inf")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self.pid:
            return
        if self.stop_deadline is None:
            log.info("rest_ext: stopping %d worker processes", len(self.children))
            self.stop_deadline = time.monotonic() + self.grace
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


class _Worker(Exception):
    """Raised inside a freshly re-forked worker to leave the supervisor loop."""


def fork_workers(
    count: int, grace: float, on_exit: Callable[[int], None] | None = None
) -> int | None:
    """Fork ``count`` workers. Returns the worker index in a worker, ``None`` in the
    supervisor after all workers have stopped (the caller then returns). ``on_exit(pid)``
    runs in the supervisor for each worker that ended."""
    supervisor = Supervisor(count, grace, on_exit)
    try:
        return supervisor.run()
    except _Worker:
        return _index


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when the supervisor dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
