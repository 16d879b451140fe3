"""What the fixtures that run a Debian program (redis-server, haproxy) share.

:func:`require_program` skips a test when the program is missing, and fails it under
CI (``bash scripts/test`` installs the packages there); :class:`ManagedProcess` is one
child process with ``start()`` / ``stop()`` and a ``with`` block around both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TypeVar

import pytest

STOP_TIMEOUT = 5.0
M = TypeVar("M", bound="ManagedProcess")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_program(program: str) -> None:
    """Skip (or under CI fail) the test when ``program`` is not on the PATH."""
    if shutil.which(program) is None:
        message = f"{program} is not installed (bash scripts/test installs Debian's package)"
        if under_ci():
            pytest.fail(message)
        pytest.skip(message)


class ManagedProcess:
    """A child process: subclasses start it in ``start()`` and set ``self.process``."""

    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Terminate the process; kill it if it is still there after a few seconds."""
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self: M) -> M:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
