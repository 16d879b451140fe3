"""At most ``max_streams_per_token`` open event streams per token, in the deployment.

An SSE connection, a ``/ws``, ``/all_events`` or ``/formatted_events`` connection, and
each ``/stream`` subscription take one slot from before the stream opens until it
ends; a caller over the cap gets 429 and nothing is opened. The slots are leases in
the shared state (:mod:`salt_ext_rest.shared`), kept under the SHA-256 of the token,
so the cap holds across the workers (and, with Redis, the hosts); a worker renews
the leases it holds, and those of a worker that died expire.
"""

from __future__ import annotations

from salt_ext_rest.errors import TooManyRequests
from salt_ext_rest.shared.state import new_lease, token_digest
from salt_ext_rest.shared.worker import WorkerShare


class StreamSlots:
    def __init__(self, limit: int, share: WorkerShare) -> None:
        self.limit, self.share = limit, share
        #: token -> the leases this worker holds for it
        self.counts: dict[str, list[str]] = {}

    async def acquire(self, token: str) -> None:
        """Take a slot for ``token``; :class:`TooManyRequests` when it has none left."""
        digest, lease = token_digest(token), new_lease()
        if not await self.share.state.acquire_slot(digest, lease, self.limit):
            raise TooManyRequests(
                f"At most {self.limit} event streams may be open with one token; close one first"
            )
        self.share.held[lease] = digest
        self.counts.setdefault(token, []).append(lease)

    def release(self, token: str) -> None:
        """Give one of ``token``'s slots back (at once here, in the store soon after)."""
        leases = self.counts.get(token)
        if not leases:
            return
        lease = leases.pop()
        if not leases:
            del self.counts[token]
        digest = self.share.held.pop(lease, token_digest(token))
        self.share.spawn(self.share.state.release_slot(digest, lease))
