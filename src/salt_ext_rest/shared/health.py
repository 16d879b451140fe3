"""Health of a shared store (Redis, or the host-local SQLite file).

A failure is logged once (not once per request), shown in ``/stats``, and for the next
:data:`RETRY_AFTER` seconds every call fails at once with :class:`StoreUnavailable`, so
that no request waits on a dead store; the first call that succeeds after that logs
the recovery. Callers fall back to host-local state meanwhile.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

#: seconds operations fail at once after a failure, before the store is tried again
RETRY_AFTER = 1.0


class StoreUnavailable(Exception):
    """The shared store did not answer in time (or refused); use host-local state."""


class Health:
    """``what`` names the store in the log lines, ``instead`` says what is used meanwhile."""

    def __init__(self, what: str, instead: str) -> None:
        self.what, self.instead = what, instead
        self.available = True
        self.degraded_since: float | None = None
        self.last_error = ""
        self.failures = 0
        self._retry_at = 0.0

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` at once while the store is resting."""
        if not self.available and time.monotonic() < self._retry_at:
            raise StoreUnavailable(self.last_error)

    def failed(self, exc: BaseException) -> StoreUnavailable:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__
        self._retry_at = time.monotonic() + RETRY_AFTER
        if self.available:
            self.available = False
            self.degraded_since = time.time()
            log.warning(
                "rest_ext: %s unavailable (%s); using %s", self.what, self.last_error, self.instead
            )
        return StoreUnavailable(self.last_error)

    def succeeded(self) -> None:
        if not self.available:
            down = time.time() - (self.degraded_since or time.time())
            log.warning("rest_ext: %s is back after %.1f s", self.what, down)
            self.available = True
            self.degraded_since = None

    def status(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "degraded_since": self.degraded_since,
            "failures": self.failures,
            "last_error": self.last_error or None,
        }
