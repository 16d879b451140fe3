"""What the workers of a deployment share: login buckets, stream slots, worker records.

:class:`SharedState` is the interface; :mod:`.memory` (one process), :mod:`.local`
(a SQLite file on this host, for ``num_processes`` above 1), :mod:`.redis_state`
(Redis, for a master cluster) and :mod:`.layered` (Redis, falling back to host-local
state) implement it; :mod:`.select` picks one from the configuration.

Every method is a coroutine that answers within the store's deadline: a store that
does not answer raises :class:`~salt_ext_rest.shared.redis_link.StoreUnavailable`,
which :mod:`.layered` turns into a fallback.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: a stream slot's lease lasts this long unless renewed (a dead worker's slots expire)
SLOT_LEASE = 30.0
#: held leases are renewed this often
SLOT_RENEW = 10.0
#: workers publish their counters this often
HEARTBEAT = 1.0
#: a worker record older than this is left out of /stats
WORKER_FRESH = 5.0
#: a worker record is dropped from the store after this long without a heartbeat
WORKER_TTL = 60.0

_leases = itertools.count(1)


@dataclass(frozen=True)
class Bucket:
    """One token bucket: ``burst`` tokens refilled at ``rate`` per second (burst 0: no limit)."""

    kind: str  # "user" or "address"
    key: str
    burst: int
    rate: float

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"


def token_digest(token: str) -> str:
    """The name a token's stream slots are kept under (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_lease() -> str:
    """A lease id unique in the deployment: host, process, counter."""
    return f"{socket.gethostname()}:{os.getpid()}:{next(_leases)}"


def worker_record(counters: dict[str, Any], index: int | None) -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "worker": index,
        "counters": counters,
        "updated": time.time(),
    }


def fresh(records: Sequence[dict[str, Any]], now: float | None = None) -> list[dict[str, Any]]:
    """Records updated within :data:`WORKER_FRESH`, by host then pid."""
    now = time.time() if now is None else now
    kept = [r for r in records if now - float(r.get("updated") or 0) <= WORKER_FRESH]
    return sorted(kept, key=lambda r: (str(r.get("host")), int(r.get("pid") or 0)))


class SharedState(Protocol):
    kind: str

    async def take(self, buckets: Sequence[Bucket], cost: float, check: bool) -> float:
        """Take ``cost`` tokens from each bucket and return 0; with ``check``, when a
        bucket has less than one token take nothing and return the seconds to wait."""

    async def acquire_slot(self, digest: str, lease: str, limit: int) -> bool:
        """Hold a stream slot ``lease`` for ``digest`` unless ``limit`` are held."""

    async def release_slot(self, digest: str, lease: str) -> None: ...

    async def renew_slots(self, leases: dict[str, str]) -> None:
        """Extend the leases (lease -> digest) this worker holds."""

    async def publish_worker(self, record: dict[str, Any]) -> None: ...

    async def workers(self) -> list[dict[str, Any]]:
        """Every worker record the store holds (stale ones included)."""

    def status(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
