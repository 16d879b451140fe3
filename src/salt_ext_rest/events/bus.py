"""One subscription to the master event bus per worker process, fanned out.

Events are redacted once, given an id derived from their content (the same on every
worker and every master: :mod:`salt_ext_rest.events.history`), kept in a bounded
history and offered to every subscription without waiting on any. With a shared
history (:mod:`salt_ext_rest.events.shared_history`, Redis) subscriptions are fed
from it instead, in the one order every host delivers. When the bus connection drops
(master restart) the client reconnects by itself, the history is dropped (what came
meanwhile is unknown) and every subscriber gets a notice that events may have been
missed. Notices carry no id: a client never resumes from one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.bus_client import master_subscriber, unpack
from salt_ext_rest.events.history import RESUME_WAIT, EventHistory, strip_peer
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.redact import redact
from salt_ext_rest.events.subscription import Matcher, Subscription
from salt_ext_rest.events.watchers import TagWatchers

log = logging.getLogger(__name__)

NOTICE_PREFIX = "salt/netapi/rest_ext/stream/"
#: events rest_ext fires for its own workers (revocation notices): handed to the
#: callbacks registered with :meth:`EventBus.on_internal`, never to a stream
INTERNAL_PREFIX = "salt/netapi/rest_ext/internal/"
InternalHandler = Callable[[dict[str, Any]], None]
# C0 controls, DEL and C1 controls: line breaks and NUL would let a tag forge SSE
# frames (a ``/hook`` path or a minion's ``event.send`` chooses the tag).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
UNKNOWN = (
    "resume id is not in the event history (too old, from another host without a shared "
    "history, or from before a loss of the event bus)"
)


class SharedFeed(Protocol):
    """What the bus needs of a shared history (:mod:`.shared_history`)."""

    active: bool  # False: deliver this master's events directly (no store, or it failed)
    pending: set[Subscription]  # resumes being replayed

    def start(self) -> None: ...
    async def stop(self) -> None: ...
    def submit(self, event: BusEvent) -> None: ...
    def resume(self, sub: Subscription, last_id: str) -> None: ...
    def status(self) -> dict[str, Any]: ...


@dataclass
class Waiting:
    """A subscription resuming from an id not seen here yet."""

    last_id: str
    timer: asyncio.TimerHandle | None = None
    held: list[BusEvent] = field(default_factory=list)


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def escape_controls(text: str) -> str:
    """``text`` with each control character written as ``%XX`` (``%0D`` for CR)."""
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


class EventBus:
    def __init__(
        self,
        opts: dict[str, Any],
        replay_size: int = 1000,
        queue_size: int = 1000,
        redactor: Callable[[Any], Any] = redact,
    ):
        self.opts = opts
        self.redact = redactor
        self.queue_size = queue_size
        self.history = EventHistory(replay_size)
        self.shared: SharedFeed | None = None
        self.subscriptions: set[Subscription] = set()
        self.waiting: dict[Subscription, Waiting] = {}
        self.received = 0
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
        self._client = master_subscriber(self.opts, loop)
        await self._client.connect(
            connect_callback=self._on_connect, disconnect_callback=self._on_disconnect
        )
        while True:
            raw = await self._client.recv()
            if raw:
                self._publish_raw(raw)

    def on_internal(self, kind: str, handler: InternalHandler) -> None:
        """Call ``handler(data)`` for each bus event tagged ``INTERNAL_PREFIX + kind``."""
        self._internal.setdefault(kind, []).append(handler)

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` when the bus comes back after a loss (events were missed)."""
        self._on_reconnect.append(handler)

    async def _on_connect(self, _connected: bool) -> None:
        if self._ever_connected:
            log.warning("rest_ext: reconnected to the master event bus")
            for handler in self._on_reconnect:
                handler()
            self.notice("reconnected", {"reason": "event bus reconnected", "missed": True})
        self._ever_connected = True
        self.connected.set()

    async def _on_disconnect(self) -> None:
        log.warning("rest_ext: lost the master event bus; reconnecting")
        self.connected.clear()
        self.history.clear()  # ids from before the loss can no longer be resumed here
        self.notice("disconnected", {"reason": "event bus connection lost", "missed": True})

    # -- fan-out -------------------------------------------------------------------
    def _publish_raw(self, raw: bytes) -> None:
        try:
            tag, data = unpack(raw)
        except Exception:  # a malformed event must never stop the bus
            log.warning("rest_ext: dropped an event that could not be decoded")
            return
        if self.watchers.handlers:
            self.watchers.feed(tag, data)
        if isinstance(tag, str) and tag.startswith(INTERNAL_PREFIX):
            self._dispatch_internal(tag[len(INTERNAL_PREFIX) :], data)
            return
        self.publish(tag, data if isinstance(data, dict) else {"data": data})

    def publish(self, tag: str, data: dict[str, Any]) -> BusEvent:
        """Take one event from the bus: id it, keep it, deliver it (or hand it to the
        shared history, which delivers it in the cluster's order)."""
        self.received += 1
        # Escaped once here, so every transport and formatter gets a single-line tag.
        safe_tag = escape_controls(str(tag))
        clean = self.redact(strip_peer(data))
        event_id = self.history.assign(safe_tag, clean)
        event = BusEvent(event_id, safe_tag, clean, stamp=time.time())
        self.history.add(event)
        if self.shared is not None and self.shared.active:
            self.shared.submit(event)
        else:
            self.deliver(event)
        return event

    def deliver(self, event: BusEvent, skip: Any = ()) -> None:
        """Offer ``event`` to every subscription (but those in ``skip``)."""
        targets = tuple(self.subscriptions)  # before a waiting resume joins on this event
        if not event.notice:
            self.last_delivered = event.id
            if self.waiting:
                self._feed_waiting(event)
        for sub in targets:
            if sub not in skip:
                sub.offer(event)

    def _dispatch_internal(self, kind: str, data: Any) -> None:
        for handler in self._internal.get(kind, ()):
            try:
                handler(data if isinstance(data, dict) else {})
            except Exception:  # one bad handler must not stop the bus
                log.exception("rest_ext: internal event handler failed (%s)", kind)

    def notice(self, kind: str, data: dict[str, Any]) -> None:
        """A stream notice (not from the bus): to every subscriber, never replayed,
        without an id (a client resumes from the last event, not from a notice)."""
        event = BusEvent("", NOTICE_PREFIX + kind, data, notice=True, stamp=time.time())
        for sub in self.everyone():
            sub.offer(event)

    # -- subscribing ---------------------------------------------------------------
    def subscribe(
        self, identity: Identity | None, matcher: Matcher, last_id: str | None = None
    ) -> Subscription:
        """A new subscription, first fed what it missed after ``last_id`` (if resumable)."""
        sub = Subscription(identity, matcher, self.queue_size)
        if not last_id:
            self.subscriptions.add(sub)
        elif self.shared is not None and self.shared.active:
            self.shared.resume(sub, last_id)
        else:
            self.resume_local(sub, last_id)
        return sub

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
        elif self.history.evicted(last_id):
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

    @staticmethod
    def incomplete(sub: Subscription, last_id: str, reason: str) -> None:
        data = {"reason": reason, "missed": True, "last_event_id": last_id}
        sub.offer(BusEvent("", NOTICE_PREFIX + "resume_incomplete", data, notice=True))

    def close_token(self, token: str, reason: str) -> int:
        """Close every subscription authenticated by ``token`` (logout)."""
        closed = 0
        for sub in self.everyone():
            if sub.identity is not None and sub.identity.token == token:
                sub.close(reason, 1008)
                closed += 1
        return closed

    def id_status(self) -> dict[str, Any]:
        """For ``/stats``: where ids and history come from, and how much is kept."""
        status: dict[str, Any] = {
            "mode": "shared" if self.shared is not None and self.shared.active else "local",
            "history": self.history.status(),
            "resuming": len(self.waiting),
        }
        if self.shared is not None:
            status["shared"] = self.shared.status()
        return status
