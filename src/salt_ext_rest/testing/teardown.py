"""Stopping test daemons without tripping on processes that end meanwhile."""

from __future__ import annotations

import logging
from typing import Any

import psutil

log = logging.getLogger(__name__)


def terminate(daemon: Any, attempts: int = 3) -> Any:
    """``daemon.terminate()``, again if a process exits under it: after the daemon is
    gone, pytest-shell-utilities walks every process on the machine for leftover
    listeners and raises ``psutil.NoSuchProcess`` when one ends meanwhile."""
    for attempt in range(attempts):
        try:
            return daemon.terminate()
        except psutil.NoSuchProcess:
            if attempt == attempts - 1:
                raise
            log.debug("teardown: a process ended while listeners were checked")
    return None
