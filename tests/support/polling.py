"""Polling a condition from a test, without sleeping longer than needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.5) -> T:
    """Call ``check`` until it gives a true value or ``timeout`` seconds pass; its last
    result (the value itself, so a test can use what it found)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
