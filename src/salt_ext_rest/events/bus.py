"""One subscription to the master event bus per worker process, fanned out.

Events are redacted once, given an id derived from their content (the same on every
worker and every master: :mod:`salt_ext_rest.events.history`), kept in a bounded
history and offered to every subscription without waiting on any. With a shared
history (:mod:`salt_ext_rest.events.shared_history`, Redis) subscriptions are fed
from it instead, in the one order every host delivers. When the bus connection drops
(master restart) the client reconnects by itself, the history is dropped (what came
meanwhile is unknown) and every subscriber gets a notice that events may have been
missed. Notices carry no id: a client never resumes from one. An event no one wants
when it comes (by its tag) waits undecoded until a subscription needs the history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakSet

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.bus_client import decode, master_subscriber, split
from salt_ext_rest.events.bus_parts import (  # re-exported
    NOTICE_PREFIX,
    UNDECODED,
    UNKNOWN,
    Backlog,
    SharedFeed,
    Waiting,
    close_token,
    dispatch_internal,
    escape_controls,
    feed_consumers,
    has_controls,
    idle,
    incomplete,
)
from salt_ext_rest.events.history import RESUME_WAIT, EventHistory, strip_peer
from salt_ext_rest.events.job_returns import JobReturns
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.redact import redact
from salt_ext_rest.events.subscription import Matcher, Subscription
from salt_ext_rest.events.watchers import TagWatchers

log = logging.getLogger(__name__)

#: rest_ext's events for its own workers (revocations): to on_internal callbacks, never streams
INTERNAL_PREFIX = "salt/netapi/rest_ext/internal/"
InternalHandler = Callable[[dict[str, Any]], None]
__all__ = ["NOTICE_PREFIX", "EventBus", "escape_controls", "has_controls"]


class EventBus:
    def __init__(
        self,
        opts: dict[str, Any],
        replay_size: int = 1000,
        queue_size: int = 1000,
        redactor: Callable[[Any], Any] = redact,
        idle_hold: float = 0.0,
    ):
        self.opts, self.idle_hold = opts, idle_hold  # idle_hold: see bus_reader.py
        self.requests: WeakSet[Any] = WeakSet()  # requests in flight: reads never held
        self.redact = redactor
        self.queue_size = queue_size
        self.history = EventHistory(replay_size)
        self.backlog = Backlog(self.history.size, redactor)  # events nobody wanted yet, undecoded
        self.jobs = JobReturns()  # the jids synchronous calls wait for
        self.shared: SharedFeed | None = None
        self.subscriptions: set[Subscription] = set()
        self.waiting: dict[Subscription, Waiting] = {}
        self.received = 0
        self.queued = self.undecodable = self.slow_dropped = self.cut = self.reconnects = 0
        self.last_delivered: str | None = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client: Any = None
        self._ever_connected = False
        self._internal: dict[str, list[InternalHandler]] = {}
        self._on_reconnect: list[Callable[[], None]] = []
        self.watchers = TagWatchers()  # raw events by tag prefix (the job index)

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if self.shared is not None:
            self.shared.start()

    async def stop(self) -> None:
        for sub in self.everyone():
            sub.close("the server is shutting down", 1001)
        if self.shared is not None:
            await self.shared.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            self._client.close()

    @property
    def running(self) -> bool:
        """The subscription's reader is started and has not ended (readiness)."""
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._client = master_subscriber(self.opts, loop, self.idle_hold)
        self._client.idle, self._client.read_every = lambda: idle(self), self.jobs.read_every
        await self._client.run(self._publish_raw, self._on_connect, self._on_disconnect)

    def flush(self) -> None:
        """Read what the bus holds now (before a request, a stream or a wait starts)."""
        self._client is not None and self._client.flush()

    def on_internal(self, kind: str, handler: InternalHandler) -> None:
        """Call ``handler(data)`` for each bus event tagged ``INTERNAL_PREFIX + kind``."""
        self._internal.setdefault(kind, []).append(handler)

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` when the bus comes back after a loss (events were missed)."""
        self._on_reconnect.append(handler)

    async def _on_connect(self, _connected: bool) -> None:
        if self._ever_connected:
            log.warning("rest_ext: reconnected to the master event bus")
            self.reconnects += 1
            for handler in self._on_reconnect:
                handler()
            self.notice("reconnected", {"reason": "event bus reconnected", "missed": True})
        self._ever_connected = True
        self.connected.set()

    async def _on_disconnect(self) -> None:
        log.warning("rest_ext: lost the master event bus; reconnecting")
        self.connected.clear()
        self.history.clear()  # ids from before the loss can no longer be resumed here
        self.backlog.clear()
        self.notice("disconnected", {"reason": "event bus connection lost", "missed": True})

    # -- fan-out -------------------------------------------------------------------
    def _publish_raw(self, raw: bytes) -> bool:
        """The tag first: the body is decoded for who wants it now (a stream, a job, a
        resume), others wait undecoded in the backlog. True: it went to the streams."""
        try:
            tag, body = split(raw)
            data = feed_consumers(tag, body, self.jobs, self.watchers)
            if tag.startswith(INTERNAL_PREFIX):
                data = decode(body) if data is UNDECODED else data
                dispatch_internal(self._internal, tag[len(INTERNAL_PREFIX) :], data)
                return False
            if not self._wanted(tag):
                self.received += 1
                self.backlog.add(tag, body, time.time(), self.history)
                return False
            self.catch_up()
            data = decode(body) if data is UNDECODED else data
        except Exception:  # a malformed event must never stop the bus
            log.warning("rest_ext: dropped an event that could not be decoded")
            self.undecodable += 1
            return False
        self.publish(tag, data if isinstance(data, dict) else {"data": data})
        return True

    def _wanted(self, tag: str) -> bool:
        if self.shared is not None or self.waiting:
            return True
        return bool(self.subscriptions) and any(sub.wants(tag) for sub in self.subscriptions)

    def catch_up(self) -> None:
        """Decode, id and keep the backlog's events in bus order (for nobody's stream)."""
        for tag, data, stamp in self.backlog.drain():
            self._keep(tag, data, stamp)

    def publish(self, tag: str, data: dict[str, Any]) -> BusEvent:
        """Take one event from the bus: id it, keep it, deliver it (or hand it to the
        shared history, which delivers it in the cluster's order)."""
        self.received += 1
        event = self._keep(tag, data, time.time())
        if self.shared is not None and self.shared.active:
            self.shared.submit(event)
        else:
            self.deliver(event)
        return event

    def _keep(self, tag: str, data: dict[str, Any], stamp: float) -> BusEvent:
        # Escaped once here, so every transport and formatter gets a single-line tag.
        safe_tag, clean = escape_controls(str(tag)), self.redact(strip_peer(data))
        event = BusEvent(self.history.assign(safe_tag, clean), safe_tag, clean, stamp=stamp)
        self.history.add(event)
        return event

    def deliver(self, event: BusEvent, skip: Any = ()) -> None:
        """Offer ``event`` to every subscription (but those in ``skip``)."""
        targets = tuple(self.subscriptions)  # before a waiting resume joins on this event
        if not event.notice:
            self.last_delivered = event.id
            if self.waiting:
                self._feed_waiting(event)
        self.queued += sum(1 for sub in targets if sub not in skip and sub.offer(event))

    def notice(self, kind: str, data: dict[str, Any]) -> None:
        """A stream notice (not from the bus): to every subscriber, never replayed,
        without an id (a client resumes from the last event, not from a notice)."""
        event = BusEvent("", NOTICE_PREFIX + kind, data, notice=True, stamp=time.time())
        for sub in self.everyone():
            sub.offer(event)

    # -- subscribing ---------------------------------------------------------------
    def subscribe(
        self,
        identity: Identity | None,
        matcher: Matcher,
        last_id: str | None = None,
        tags: Callable[[str], bool] | None = None,
    ) -> Subscription:
        """A new subscription, first fed what it missed after ``last_id`` (if resumable);
        ``tags``: the tags it can want (asked before an event is decoded), default all."""
        self.flush()
        self.catch_up()
        sub = Subscription(identity, matcher, self.queue_size, self._cut, tags)
        if not last_id:
            self.subscriptions.add(sub)
        elif self.shared is not None and self.shared.active:
            self.shared.resume(sub, last_id)
        else:
            self.resume_local(sub, last_id)
        return sub

    def _cut(self, dropped: int) -> None:
        """A subscriber too slow was closed; ``dropped`` events it will never get."""
        self.cut += 1
        self.slow_dropped += dropped

    def everyone(self) -> tuple[Subscription, ...]:
        """Every subscription: live, waiting for a resume id, replaying a shared history."""
        pending = self.shared.pending if self.shared is not None else ()
        return (*self.subscriptions, *self.waiting, *pending)

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
        if self.shared is not None:
            self.shared.pending.discard(sub)
        waiting = self.waiting.pop(sub, None)
        if waiting is not None and waiting.timer is not None:
            waiting.timer.cancel()

    def resume_local(self, sub: Subscription, last_id: str) -> None:
        """Replay this worker's history after ``last_id``; an id not seen yet waits
        RESUME_WAIT for its event; a gap is announced, never silent."""
        missed = self.history.after(last_id)
        if missed is not None:
            for event in missed:
                sub.offer(event)
            self.subscriptions.add(sub)
        elif self.history.evicted(last_id) or self.backlog.dropped(last_id, self.history):
            self.incomplete(sub, last_id, "resume id is older than the event history")
            self.subscriptions.add(sub)
        else:
            loop = asyncio.get_running_loop()
            waiting = self.waiting[sub] = Waiting(last_id)
            waiting.timer = loop.call_later(RESUME_WAIT, self._give_up, sub)

    def _feed_waiting(self, event: BusEvent) -> None:
        for sub, waiting in tuple(self.waiting.items()):
            if event.id == waiting.last_id:  # what came before it, the client has
                self.unsubscribe(sub)
                self.subscriptions.add(sub)
            elif len(waiting.held) < self.queue_size:
                waiting.held.append(event)

    def _give_up(self, sub: Subscription) -> None:
        waiting = self.waiting.pop(sub, None)
        if waiting is None:
            return
        self.incomplete(sub, waiting.last_id, UNKNOWN)
        for event in waiting.held:  # live from the moment it subscribed
            sub.offer(event)
        self.subscriptions.add(sub)

    incomplete = staticmethod(incomplete)

    def close_token(self, token: str, reason: str) -> int:
        """Close every subscription authenticated by ``token`` (logout)."""
        return close_token(self.everyone(), token, reason)

    def id_status(self) -> dict[str, Any]:
        """For ``/stats``: where ids and history come from, and how much is kept."""
        self.catch_up()
        status: dict[str, Any] = {
            "mode": "shared" if self.shared is not None and self.shared.active else "local",
            "history": self.history.status(),
            "resuming": len(self.waiting),
            "held_reads": getattr(self._client, "holds", 0),  # event_idle_hold
        }
        if self.shared is not None:
            status["shared"] = self.shared.status()
        return status
