"""A bounded per-subscriber queue: the bus never waits for a subscriber.

A subscriber that falls ``maxsize`` events behind is closed alone, with a reason;
the others are not delayed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.auth.identity import Identity


@dataclass(frozen=True)
class BusEvent:
    """One event from the master bus (data already redacted), or a stream notice."""

    id: str
    tag: str
    data: dict[str, Any]
    notice: bool = False
    stamp: float = field(default=0.0, compare=False)
    # Renderings shared by every subscriber (formatters are pure functions of the event).
    rendered: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def render(self, key: str, make: Callable[[BusEvent], str | None]) -> str | None:
        """``make(self)``, computed once per event for all subscribers."""
        try:
            return self.rendered[key]
        except KeyError:
            value = self.rendered[key] = make(self)
            return value

    def as_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "data": self.data}


class StreamClosed(Exception):
    """The subscription ended; ``reason`` says why (told to the client)."""

    def __init__(self, reason: str, code: int = 1000) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


Matcher = Callable[[BusEvent], bool]

SLOW = "subscriber too slow: more than {} events behind"
CLOSE_TRY_AGAIN = 1013


class Subscription:
    def __init__(self, identity: Identity | None, matcher: Matcher, maxsize: int) -> None:
        self.identity = identity
        self.matcher = matcher
        self.maxsize = maxsize
        self._queue: deque[BusEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed: StreamClosed | None = None
        self.delivered = 0

    def offer(self, event: BusEvent) -> None:
        """Called by the bus for every event; never blocks."""
        if self.closed is not None:
            return
        if not event.notice and not self.matcher(event):
            return
        if len(self._queue) >= self.maxsize and not event.notice:
            self.close(SLOW.format(self.maxsize), CLOSE_TRY_AGAIN)
            return
        self._queue.append(event)
        self._wake()

    def close(self, reason: str, code: int = 1000) -> None:
        if self.closed is None:
            self.closed = StreamClosed(reason, code)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> BusEvent | None:
        """The next event; ``None`` after ``timeout`` idle seconds; raises StreamClosed.

        Once closed, the reason is raised at once: what was still queued is dropped.
        """
        while True:
            if self.closed is not None:
                raise self.closed
            if self._queue:
                self.delivered += 1
                return self._queue.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            except asyncio.TimeoutError:
                return None
            finally:
                self._waiter = None

    def backlog(self) -> int:
        return len(self._queue)
