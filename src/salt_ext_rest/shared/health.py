"""Health of a store other than Redis (the host-local SQLite file): as :class:`RedisLink`,
a failure is logged once, shown in ``/stats``, and calls fail at once for a second."""

from __future__ import annotations

import logging
import time
from typing import Any

from salt_ext_rest.shared.redis_link import RETRY_AFTER, StoreUnavailable

log = logging.getLogger(__name__)


class Health:
    def __init__(self, name: str) -> None:
        self.name = name
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
        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
        self._retry_at = time.monotonic() + RETRY_AFTER
        if self.available:
            self.available = False
            self.degraded_since = time.time()
            log.warning(
                "rest_ext: shared state %s unavailable (%s); using this process's state",
                self.name,
                self.last_error,
            )
        return StoreUnavailable(self.last_error)

    def succeeded(self) -> None:
        if not self.available:
            log.warning("rest_ext: shared state %s is back", self.name)
            self.available = True
            self.degraded_since = None

    def status(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "degraded_since": self.degraded_since,
            "failures": self.failures,
            "last_error": self.last_error or None,
        }
