"""A bounded per-subscriber queue: the bus never waits for a subscriber.

A subscriber that falls ``maxsize`` events behind is closed alone, with a reason;
the others are not delayed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.events.model import BusEvent

T = TypeVar("T")


class StreamClosed(Exception):
    """The subscription ended; ``reason`` says why (told to the client)."""

    def __init__(self, reason: str, code: int = 1000) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


Matcher = Callable[[BusEvent], bool]

SLOW = "subscriber too slow: more than {} events behind"
CLOSE_TRY_AGAIN = 1013


class Subscription:
    #: a tap of the server's own (the formatted view) that needs no event promptly:
    #: the bus may hold its reads while only such subscriptions are open
    background = False

    def __init__(
        self,
        identity: Identity | None,
        matcher: Matcher,
        maxsize: int,
        on_cut: Callable[[int], None] | None = None,
        tags: Callable[[str], bool] | None = None,
    ) -> None:
        self.identity = identity
        self.on_cut = on_cut  # told how many events a slow subscriber lost when cut
        self.matcher = matcher
        self.tags = tags  # the tags it can want; None: any
        self.maxsize = maxsize
        self._queue: deque[BusEvent] = deque()
        self._waiter: asyncio.Future[bool] | None = None
        self.closed: StreamClosed | None = None
        self.delivered = 0
        # Idle detection for ``next(timeout)``: one timer per idle period, re-armed
        # when it fires early, instead of a timer per wait (per event, per subscriber).
        self._active = time.monotonic()  # last event or idle notice handed out
        self._idle_after: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    def wants(self, tag: str) -> bool:
        """Could an event with this tag matter to it? (asked before decoding)"""
        return self.tags is None or self.tags(tag)

    def offer(self, event: BusEvent) -> bool:
        """Called by the bus for every event; never blocks. ``True`` when queued."""
        if self.closed is not None:
            return False
        if not event.notice and not self.matcher(event):
            return False
        if len(self._queue) >= self.maxsize and not event.notice:
            self.close(SLOW.format(self.maxsize), CLOSE_TRY_AGAIN)
            if self.on_cut is not None:
                self.on_cut(len(self._queue) + 1)
            return False
        self._queue.append(event)
        self._wake()
        return True

    def close(self, reason: str, code: int = 1000) -> None:
        if self.closed is None:
            self.closed = StreamClosed(reason, code)
            self._wake()
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    async def next(self, timeout: float | None = None) -> BusEvent | None:
        """The next event; ``None`` after ``timeout`` idle seconds; raises StreamClosed.

        Idle means: no event handed out (and no ``None``) for ``timeout`` seconds.
        Once closed, the reason is raised at once: what was still queued is dropped.
        """
        while True:
            if self.closed is not None:
                raise self.closed
            if self._queue:
                self.delivered += 1
                self._active = time.monotonic()
                return self._queue.popleft()
            if timeout is not None and timeout <= 0:
                return None
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            if timeout is not None:
                self._arm_idle(loop, timeout)
            try:
                woken = await waiter
            finally:
                self._waiter = None
            if not woken:
                self._active = time.monotonic()
                return None

    def _arm_idle(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._idle_after = timeout
        if self._idle_timer is None:
            delay = max(0.0, self._active + timeout - time.monotonic())
            self._idle_timer = loop.call_later(delay, self._idle_check, loop)

    def _idle_check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle_timer = None
        if self._idle_after is None or self.closed is not None:
            return
        due = self._active + self._idle_after
        if time.monotonic() < due - 0.001:  # events came meanwhile: wait the rest
            self._idle_timer = loop.call_later(due - time.monotonic(), self._idle_check, loop)
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(False)
        # else the consumer is busy, not waiting: its next wait re-arms the timer

    def take(self, limit: int) -> list[BusEvent]:
        """Up to ``limit`` already queued events, without waiting; raises StreamClosed."""
        if self.closed is not None:
            raise self.closed
        queue = self._queue
        events = [queue.popleft() for _ in range(min(limit, len(queue)))]
        if events:
            self.delivered += len(events)
            self._active = time.monotonic()
        return events

    def backlog(self) -> int:
        return len(self._queue)
