"""One Redis connection per worker, every operation bounded, its health tracked.

An operation that fails or takes longer than ``shared_store_timeout`` raises
:class:`StoreUnavailable` and marks the store unavailable: that is logged once (not
once per request), shown by :meth:`RedisLink.status` (``/stats``), and for the next
second every operation fails at once, so that no request waits on a dead store. After
that second the next operation tries again; the first that succeeds logs the recovery.
Callers fall back to host-local state while the store is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds operations fail at once after a failure, before Redis is tried again
RETRY_AFTER = 1.0


class StoreUnavailable(Exception):
    """The shared store did not answer in time (or refused); use host-local state."""


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and ``/stats``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisLink:
    """A ``redis.asyncio`` client with a deadline on each operation and a health state."""

    def __init__(self, url: str, timeout: float, prefix: str) -> None:
        self.url, self.timeout, self.prefix = url, timeout, prefix
        self.available = True
        self.degraded_since: float | None = None
        self.last_error = ""
        self.failures = 0
        self._retry_at = 0.0
        self._client: Any = None

    def key(self, *parts: str) -> str:
        """A key in this deployment's namespace: ``prefix`` + ``:``-joined parts."""
        return self.prefix + ":".join(parts)

    @property
    def client(self) -> Any:
        if self._client is None:
            import redis.asyncio  # an optional dependency: salt-ext-rest[redis]
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as Disconnected

            # One immediate retry on a new connection when a pooled one turns out to be
            # dead (Redis restarted): the first operations after a recovery then succeed
            # instead of marking the store unavailable again. Still within the deadline.
            self._client = redis.asyncio.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry_on_timeout=False,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[Disconnected],
            )
        return self._client

    async def run(
        self, operation: Callable[[Any], Awaitable[T]], timeout: float | None = None
    ) -> T:
        """``await operation(client)`` within ``timeout`` (default: the store's timeout)."""
        if not self.available and time.monotonic() < self._retry_at:
            raise StoreUnavailable(self.last_error)
        try:
            result = await asyncio.wait_for(operation(self.client), timeout or self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis errors, OSError, TimeoutError: all mean "not now"
            self._failed(exc)
            raise StoreUnavailable(self.last_error) from None
        self._succeeded()
        return result

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__
        self._retry_at = time.monotonic() + RETRY_AFTER
        if self.available:
            self.available = False
            self.degraded_since = time.time()
            log.warning(
                "rest_ext: shared store %s unavailable (%s); using host-local state until it "
                "answers again",
                safe_url(self.url),
                self.last_error,
            )

    def _succeeded(self) -> None:
        if not self.available:
            down = time.time() - (self.degraded_since or time.time())
            log.warning(
                "rest_ext: shared store %s is back after %.1f s", safe_url(self.url), down
            )
            self.available = True
            self.degraded_since = None

    def status(self) -> dict[str, Any]:
        return {
            "kind": "redis",
            "url": safe_url(self.url),
            "available": self.available,
            "degraded_since": self.degraded_since,
            "failures": self.failures,
            "last_error": self.last_error or None,
        }

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
