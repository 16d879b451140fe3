"""One order of events for every master: a Redis stream all workers write and read.

Used when ``shared_store`` is a Redis URL. Each worker of each master sees every event
(Salt forwards them between the masters of a cluster) and gives it the same id
(:mod:`salt_ext_rest.events.history`). Whoever submits an id first adds the event to
the stream ``<prefix>events`` (``MAXLEN ~ event_history_size``) and to the index
``<prefix>event-ids`` (event id -> stream entry id, trimmed with the stream through
the list ``<prefix>event-order``), which keeps the others from adding it again and
lets any worker find any id still in the stream. Submissions are gathered for
``COALESCE`` seconds, at most 500 events per round trip (one Lua call).

Every worker reads the stream (``XREAD BLOCK``) and feeds its subscriptions from it,
so every host delivers the same events in the same order. A resume looks the id up
(this worker's memory of what it read, else the index in Redis, waiting up to
``RESUME_WAIT`` for it), replays the stream after that entry (``XRANGE``), then joins
the live feed with no duplicate. An id older than the stream gets the
``resume_incomplete`` notice.

Every call goes through :class:`~salt_ext_rest.shared.redis_link.RedisLink` (bounded,
health-tracked). When Redis fails, the worker falls back to its own bus and history
(what it had not delivered yet is delivered from its history) and open streams get
the notice ``salt/netapi/rest_ext/stream/shared_history`` ``{"missed": true, "mode":
"local"}``; when Redis answers again it switches back with ``"mode": "shared"``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from functools import partial
from typing import TYPE_CHECKING, Any

from salt_ext_rest.events.history import RESUME_WAIT
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.subscription import Subscription
from salt_ext_rest.shared.event_stream import ADD_EVENTS, sid_key
from salt_ext_rest.shared.event_stream import text as _text
from salt_ext_rest.shared.redis_link import RedisLink, StoreUnavailable

if TYPE_CHECKING:
    from salt_ext_rest.events.bus import EventBus

BATCH = 500
RECENT = 2000  # stream entries a worker keeps in memory, to join resumes to the live feed
RETRY_PAUSE = 0.25
MAX_ID = 64
#: seconds events are gathered before a round trip (a submission, the next read): at
#: steady rates, several events per call instead of one, for a few ms of latency
COALESCE = 0.01
UNKNOWN = "resume id is not in the shared event history (too old, or never seen)"
OLDER = "resume id is older than the shared event history"


class SharedHistory:
    def __init__(self, bus: EventBus, link: RedisLink, size: int) -> None:
        self.bus, self.link, self.size = bus, link, size
        self.key = link.key("events")
        self.ids_key, self.order_key = link.key("event-ids"), link.key("event-order")
        self.count_key = link.key("event-count")
        # a little longer than the stream (trimmed approximately): the stream is the limit
        self.index_size = size + size // 10 + 100
        self.active = False
        self.mode: str | None = None  # the mode streams were last told about
        self.block_ms = max(10, int(link.timeout * 400))  # well within the socket timeout
        self.added = self.read = self.switches = 0
        self.pending: set[Subscription] = set()  # resumes replaying from the stream
        self._cursor = "0-0"  # the last stream entry read
        self._number = 0  # and its number (0: none yet)
        self._recent: deque[tuple[str, BusEvent]] = deque(maxlen=RECENT)
        self._index: OrderedDict[str, str] = OrderedDict()  # event id -> stream entry id
        self._ahead: dict[Subscription, str] = {}  # joined ahead of the reader
        self._queue: list[BusEvent] = []
        self._script: Any = None
        self._tasks: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._reader, self._flusher, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.link.close()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- writing -------------------------------------------------------------------
    def submit(self, event: BusEvent) -> None:
        """Add ``event`` to the stream (unless another worker did); never waits."""
        self._queue.append(event)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(COALESCE)
        while self._queue and self.active:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            args: list[Any] = [self.size, self.index_size]
            for event in batch:
                args += [event.id, json.dumps(event.as_dict(), default=str)]
            try:
                self.added += await self.link.run(partial(self._add, args=args))
            except StoreUnavailable:
                self._to_local()
        self._queue.clear()  # (local mode: the bus delivers them from its history)

    async def _add(self, client: Any, args: list[Any]) -> int:
        if self._script is None:
            self._script = client.register_script(ADD_EVENTS)
        keys = [self.key, self.ids_key, self.order_key, self.count_key]
        return int(await self._script(keys=keys, args=args, client=client))

    # -- reading -------------------------------------------------------------------
    async def _read_loop(self) -> None:
        timeout = self.block_ms / 1000 + self.link.timeout
        while True:
            try:
                if not self.active:
                    await self._to_shared()
                found = await self.link.run(partial(self._xread, cursor=self._cursor), timeout)
            except StoreUnavailable:
                self._to_local()
                await asyncio.sleep(RETRY_PAUSE)
                continue
            for _stream, entries in found or ():
                for sid, fields in entries:
                    self._take(_text(sid), fields)
            if found:
                await asyncio.sleep(COALESCE)

    def _xread(self, client: Any, cursor: str) -> Any:
        return client.xread({self.key: cursor}, count=BATCH, block=self.block_ms)

    def _take(self, sid: str, fields: dict[bytes, bytes]) -> None:
        number = int(fields.get(b"n", 0))
        if number and number != self._number + 1:
            reason = "events left the shared history before this worker read them"
            self.bus.notice("shared_history", {"missed": True, "mode": "shared", "reason": reason})
        self._number = number
        event = self._event(sid, fields)
        self._cursor = sid
        self.read += 1
        self._recent.append((sid, event))
        if self._ahead:
            here = sid_key(sid)
            for sub, joined in tuple(self._ahead.items()):
                if here > sid_key(joined):
                    del self._ahead[sub]
        self.bus.deliver(event, self._ahead)

    def _event(self, sid: str, fields: dict[bytes, bytes]) -> BusEvent:
        event_id = _text(fields.get(b"id", b""))
        self._index[event_id] = sid
        if len(self._index) > self.size:
            self._index.popitem(last=False)
        known = self.bus.history.get(event_id)  # the same event from this master's bus
        if known is not None:
            return known
        body = json.loads(fields.get(b"ev", b"{}"))
        return BusEvent(event_id, str(body.get("tag", "")), body.get("data") or {},
                        stamp=time.time())  # fmt: skip

    # -- resuming ------------------------------------------------------------------
    def resume(self, sub: Subscription, last_id: str) -> None:
        self.pending.add(sub)
        self._spawn(self._resume(sub, last_id))

    async def _resume(self, sub: Subscription, last_id: str) -> None:
        try:
            start = await self._locate(last_id)
            if start is None:
                self.bus.incomplete(sub, last_id, UNKNOWN)
                self._join(sub, self._cursor)
            else:
                await self._replay(sub, start)
        except StoreUnavailable:
            self.pending.discard(sub)
            if sub.closed is None:
                self.bus.resume_local(sub, last_id)

    async def _locate(self, last_id: str) -> str | None:
        if len(last_id) > MAX_ID:
            return None
        deadline = time.monotonic() + RESUME_WAIT
        while True:
            sid = self._index.get(last_id)
            if sid is None:
                found = await self.link.run(lambda c: c.hget(self.ids_key, last_id))
                sid = _text(found or b"") or None
            if sid is not None or time.monotonic() >= deadline:
                return sid
            await asyncio.sleep(0.05)

    async def _replay(self, sub: Subscription, cursor: str) -> None:
        low = cursor  # the first read includes the entry itself: is it still there?
        while sub.closed is None:
            if self._recent and sid_key(self._recent[0][0]) <= sid_key(cursor) and low != cursor:
                break  # what follows is in memory: _join hands it over
            entries = await self.link.run(partial(self._xrange, low=low))
            if low == cursor:
                if entries and _text(entries[0][0]) == cursor:
                    entries = entries[1:]
                else:
                    self.bus.incomplete(sub, cursor, OLDER)
            for sid, fields in entries:
                cursor = _text(sid)
                sub.offer(self._event(cursor, fields))
            low = "(" + cursor
            if not entries:
                break
        self._join(sub, cursor)

    def _xrange(self, client: Any, low: str) -> Any:
        return client.xrange(self.key, min=low, max="+", count=BATCH)

    def _join(self, sub: Subscription, cursor: str) -> None:
        """Join the live feed after stream entry ``cursor``: each event exactly once."""
        self.pending.discard(sub)
        if sub.closed is not None:
            return
        after = sid_key(cursor)
        for sid, event in self._recent:
            if sid_key(sid) > after:
                sub.offer(event)
        if sid_key(self._cursor) < after:  # the reader has yet to pass it
            self._ahead[sub] = cursor
        self.bus.subscriptions.add(sub)

    # -- switching -----------------------------------------------------------------
    async def _to_shared(self) -> None:
        last, count = await self.link.run(self._tail)
        self._cursor = _text(last[0][0]) if last else "0-0"
        self._number = int(count or 0)
        self._recent.clear()
        self.active = True
        self._tell("shared", "the shared event history is available again")

    async def _tail(self, client: Any) -> Any:
        """The last stream entry and the entry counter, read together (one MULTI)."""
        async with client.pipeline(transaction=True) as pipe:
            pipe.xrevrange(self.key, "+", "-", count=1)
            pipe.get(self.count_key)
            return await pipe.execute()

    def _to_local(self) -> None:
        was_active, self.active = self.active, False
        self._ahead.clear()
        self._tell("local", "the shared event history is unavailable: events of this master only")
        if not was_active:
            return
        undelivered = self._undelivered()
        for event in undelivered:
            self.bus.deliver(event)

    def _undelivered(self) -> list[BusEvent]:
        """This master's events not delivered through the stream yet, oldest first."""
        history = self.bus.history
        last = self.bus.last_delivered
        missed = history.after(last) if last else None
        if missed is not None:
            return missed
        for _sid, event in reversed(self._recent):
            missed = history.after(event.id)
            if missed is not None:
                return missed
        return []

    def _tell(self, mode: str, reason: str) -> None:
        if self.mode is not None and self.mode != mode:
            self.switches += 1
            self.bus.notice("shared_history", {"missed": True, "mode": mode, "reason": reason})
        self.mode = mode

    def status(self) -> dict[str, Any]:
        return {
            "store": self.link.status(),
            "stream": self.key,
            "last_entry": self._cursor,
            "added": self.added,
            "read": self.read,
            "switches": self.switches,
            "resuming": len(self.pending),
        }


def attach_shared_history(bus: EventBus, link: RedisLink, size: int):
    """Give ``bus`` a shared history in Redis through ``link`` (the worker's link)."""
    bus.shared = SharedHistory(bus, link, size)
    return bus.shared
