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
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

# StoreUnavailable and RETRY_AFTER are imported from here by the store's users.
from salt_ext_rest.shared.health import RETRY_AFTER, Health, StoreUnavailable

__all__ = ["RETRY_AFTER", "RedisLink", "StoreUnavailable", "safe_url"]

T = TypeVar("T")


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
        self.health = Health(
            f"shared store {safe_url(url)}", "host-local state until it answers again"
        )
        self._client: Any = None

    @property
    def available(self) -> bool:
        return self.health.available

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
        self.health.check()
        try:
            result = await asyncio.wait_for(operation(self.client), timeout or self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis errors, OSError, TimeoutError: all mean "not now"
            raise self.health.failed(exc) from None
        self.health.succeeded()
        return result

    def status(self) -> dict[str, Any]:
        return {
            "kind": "redis",
            "url": safe_url(self.url),
            **self.health.status(),
        }

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
