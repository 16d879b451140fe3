"""Login throttling: a token bucket per username and one per client address.

Every eauth attempt takes one token from the bucket of its username and one from the
bucket of the client's TCP address; a refused attempt takes :data:`FAILURE_COST` in
all. An empty bucket means 429 with ``Retry-After`` (the seconds until the next
token). The buckets live in the deployment's shared state
(:mod:`salt_ext_rest.shared`): this process's memory with one worker, a file shared
by the workers of a host, or Redis for several hosts; the limits hold for all of them.
:class:`TokenBuckets` is the in-memory implementation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from salt_ext_rest.errors import TooManyRequests

if TYPE_CHECKING:
    from salt_ext_rest.shared.state import SharedState

#: tokens a refused login costs in all (one on the attempt, the rest once refused)
FAILURE_COST = 3
#: buckets kept before full ones are dropped
PRUNE_ABOVE = 4096


class LoginThrottled(TooManyRequests):
    """429 with the seconds to wait, sent as ``Retry-After``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``rate`` per second; ``burst`` 0: no limit."""

    def __init__(
        self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.rate, self.clock = burst, rate, clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        if not self.burst:
            return 0.0
        bucket = self._bucket(key)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def take(self, key: str, cost: float = 1) -> None:
        if self.burst:
            self._bucket(key).tokens -= cost

    def _prune(self, now: float) -> None:
        """Forget buckets that are full again (they hold nothing worth keeping)."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


class LoginThrottle:
    """The username and address buckets of the deployment, in its shared state."""

    def __init__(
        self, state: SharedState, users: tuple[int, float], addresses: tuple[int, float]
    ) -> None:
        self.state, self.users, self.addresses = state, users, addresses

    def _buckets(self, username: str, address: str | None) -> list:
        from salt_ext_rest.shared.state import Bucket

        return [
            Bucket("user", username.lower(), *self.users),
            Bucket("address", address or "unknown", *self.addresses),
        ]

    async def begin(self, username: str, address: str | None) -> None:
        """Take one token from each bucket, or raise :class:`LoginThrottled`."""
        wait = await self.state.take(self._buckets(username, address), 1, check=True)
        if wait > 0:
            raise LoginThrottled("Too many login attempts; retry later", wait)

    async def refused(self, username: str, address: str | None) -> None:
        """Charge the rest of a refused attempt's cost."""
        await self.state.take(self._buckets(username, address), FAILURE_COST - 1, check=False)
