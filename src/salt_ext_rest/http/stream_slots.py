"""At most ``max_streams_per_token`` open event streams per token, in this worker.

An SSE connection, a ``/ws``, ``/all_events`` or ``/formatted_events`` connection, and
each ``/stream`` subscription take one slot from before the stream opens until it
ends; a caller over the cap gets 429 and nothing is opened. Workers count apart.
"""

from __future__ import annotations

from salt_ext_rest.errors import TooManyRequests


class StreamSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def acquire(self, token: str) -> None:
        """Take a slot for ``token``; :class:`TooManyRequests` when it has none left."""
        held = self.counts.get(token, 0)
        if held >= self.limit:
            raise TooManyRequests(
                f"At most {self.limit} event streams may be open with one token; close one first"
            )
        self.counts[token] = held + 1

    def release(self, token: str) -> None:
        held = self.counts.get(token, 0) - 1
        if held > 0:
            self.counts[token] = held
        else:
            self.counts.pop(token, None)
