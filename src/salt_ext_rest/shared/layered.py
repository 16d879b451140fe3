"""A shared store with a host-local fallback: Redis first, then the SQLite file or memory.

Each operation goes to the primary; when it raises :class:`StoreUnavailable` (logged
once by the primary, which also fails at once for a second after a failure) the same
operation goes to the fallback. Releases go to both, so a slot taken during an outage
is freed wherever it was taken. Worker records are written to both and read from the
primary while it answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from salt_ext_rest.shared.redis_link import StoreUnavailable
from salt_ext_rest.shared.state import Bucket, SharedState


class LayeredState:
    def __init__(self, primary: SharedState, fallback: SharedState) -> None:
        self.primary, self.fallback = primary, fallback
        self.kind = primary.kind

    async def take(self, buckets: Sequence[Bucket], cost: float, check: bool) -> float:
        try:
            return await self.primary.take(buckets, cost, check)
        except StoreUnavailable:
            return await self.fallback.take(buckets, cost, check)

    async def acquire_slot(self, digest: str, lease: str, limit: int) -> bool:
        try:
            return await self.primary.acquire_slot(digest, lease, limit)
        except StoreUnavailable:
            return await self.fallback.acquire_slot(digest, lease, limit)

    async def release_slot(self, digest: str, lease: str) -> None:
        for state in (self.primary, self.fallback):
            # a lease in an unreachable store expires by itself
            with contextlib.suppress(StoreUnavailable):
                await state.release_slot(digest, lease)

    async def renew_slots(self, leases: dict[str, str]) -> None:
        try:
            await self.primary.renew_slots(leases)
        except StoreUnavailable:
            await self.fallback.renew_slots(leases)

    async def publish_worker(self, record: dict[str, Any]) -> None:
        try:
            await self.fallback.publish_worker(record)
        finally:
            await self.primary.publish_worker(record)

    async def workers(self) -> list[dict[str, Any]]:
        try:
            return await self.primary.workers()
        except StoreUnavailable:
            return await self.fallback.workers()

    def status(self) -> dict[str, Any]:
        return {**self.primary.status(), "fallback": self.fallback.status()}

    async def close(self) -> None:
        try:
            await self.primary.close()
        finally:
            await self.fallback.close()
