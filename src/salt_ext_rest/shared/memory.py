"""Shared state of one process: the buckets, slots and record live in this worker.

What a single worker (``num_processes: 1``) uses, and the last fallback of the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from salt_ext_rest.auth.throttle import TokenBuckets
from salt_ext_rest.shared.state import Bucket


class MemoryState:
    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[tuple[str, int, float], TokenBuckets] = {}
        self.slots: dict[str, set[str]] = {}
        self.records: dict[str, dict[str, Any]] = {}

    def _buckets(self, bucket: Bucket) -> TokenBuckets:
        index = (bucket.kind, bucket.burst, bucket.rate)
        found = self.buckets.get(index)
        if found is None:
            found = self.buckets[index] = TokenBuckets(bucket.burst, bucket.rate, self.clock)
        return found

    async def take(self, buckets: Sequence[Bucket], cost: float, check: bool) -> float:
        if check:
            wait = max((self._buckets(b).wait(b.key) for b in buckets), default=0.0)
            if wait > 0:
                return wait
        for bucket in buckets:
            self._buckets(bucket).take(bucket.key, cost)
        return 0.0

    async def acquire_slot(self, digest: str, lease: str, limit: int) -> bool:
        held = self.slots.setdefault(digest, set())
        if len(held) >= limit:
            return False
        held.add(lease)
        return True

    async def release_slot(self, digest: str, lease: str) -> None:
        held = self.slots.get(digest)
        if held is not None:
            held.discard(lease)
            if not held:
                del self.slots[digest]

    async def renew_slots(self, leases: dict[str, str]) -> None:
        return None  # nothing expires in one process

    async def publish_worker(self, record: dict[str, Any]) -> None:
        self.records[f"{record['host']}:{record['pid']}"] = record

    async def workers(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "available": True, "degraded_since": None}

    async def close(self) -> None:
        return None
