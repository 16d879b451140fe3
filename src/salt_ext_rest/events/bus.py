"""One subscription to the master event bus per worker process, fanned out.

Events are redacted once, numbered ``<epoch>-<seq>`` (the epoch is per process, so a
resume id from another process or an earlier run is recognised as foreign), kept in
a bounded replay buffer and offered to every subscription without waiting on any.
When the bus connection drops (master restart) the client reconnects by itself and
every subscriber gets a notice that events may have been missed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.bus_client import master_subscriber, unpack
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.redact import redact
from salt_ext_rest.events.subscription import Matcher, Subscription

log = logging.getLogger(__name__)

NOTICE_PREFIX = "salt/netapi/rest_ext/stream/"
#: events rest_ext fires for its own workers (revocation notices): handed to the
#: callbacks registered with :meth:`EventBus.on_internal`, never to a stream
INTERNAL_PREFIX = "salt/netapi/rest_ext/internal/"
InternalHandler = Callable[[dict[str, Any]], None]
# C0 controls, DEL and C1 controls: line breaks and NUL would let a tag forge SSE
# frames (a ``/hook`` path or a minion's ``event.send`` chooses the tag).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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
        self.epoch = secrets.token_hex(4)
        self.queue_size = queue_size
        self.replay: deque[BusEvent] = deque(maxlen=replay_size)
        self.subscriptions: set[Subscription] = set()
        self.received = 0
        self.connected = asyncio.Event()
        self._seq = 0
        self._task: asyncio.Task | None = None
        self._client: Any = None
        self._ever_connected = False
        self._internal: dict[str, list[InternalHandler]] = {}
        self._on_reconnect: list[Callable[[], None]] = []

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for sub in list(self.subscriptions):
            sub.close("the server is shutting down", 1001)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            self._client.close()

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
        self.notice("disconnected", {"reason": "event bus connection lost", "missed": True})

    # -- fan-out -------------------------------------------------------------------
    def _publish_raw(self, raw: bytes) -> None:
        try:
            tag, data = unpack(raw)
        except Exception:  # a malformed event must never stop the bus
            log.warning("rest_ext: dropped an event that could not be decoded")
            return
        if isinstance(tag, str) and tag.startswith(INTERNAL_PREFIX):
            self._dispatch_internal(tag[len(INTERNAL_PREFIX) :], data)
            return
        self.publish(tag, data if isinstance(data, dict) else {"data": data})

    def publish(self, tag: str, data: dict[str, Any]) -> BusEvent:
        self.received += 1
        # Escaped once here, so every transport and formatter gets a single-line tag.
        safe_tag = escape_controls(str(tag))
        event = BusEvent(self._next_id(), safe_tag, self.redact(data), stamp=time.time())
        self.replay.append(event)
        for sub in tuple(self.subscriptions):
            sub.offer(event)
        return event

    def _dispatch_internal(self, kind: str, data: Any) -> None:
        for handler in self._internal.get(kind, ()):
            try:
                handler(data if isinstance(data, dict) else {})
            except Exception:  # one bad handler must not stop the bus
                log.exception("rest_ext: internal event handler failed (%s)", kind)

    def notice(self, kind: str, data: dict[str, Any]) -> None:
        """A stream notice (not from the bus): to every subscriber, never replayed."""
        event = BusEvent(
            self._next_id(), NOTICE_PREFIX + kind, data, notice=True, stamp=time.time()
        )
        for sub in tuple(self.subscriptions):
            sub.offer(event)

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self.epoch}-{self._seq}"

    # -- subscribing ---------------------------------------------------------------
    def subscribe(
        self, identity: Identity | None, matcher: Matcher, last_id: str | None = None
    ) -> Subscription:
        """A new subscription, first fed what it missed after ``last_id`` (if resumable)."""
        sub = Subscription(identity, matcher, self.queue_size)
        if last_id:
            self._replay_into(sub, last_id)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    def _replay_into(self, sub: Subscription, last_id: str) -> None:
        epoch, _, seq = last_id.partition("-")
        first = self.replay[0] if self.replay else None
        if epoch != self.epoch or not seq.isdigit():
            reason = "resume id is from another server process or an earlier run"
        elif first is not None and int(seq) + 1 < int(first.id.split("-")[1]):
            reason = "resume id is older than the replay buffer"
        else:
            for event in self.replay:
                if int(event.id.split("-")[1]) > int(seq):
                    sub.offer(event)
            return
        sub.offer(
            BusEvent(self._next_id(), NOTICE_PREFIX + "resume_incomplete",
                     {"reason": reason, "missed": True, "last_event_id": last_id}, notice=True)
        )  # fmt: skip

    def close_token(self, token: str, reason: str) -> int:
        """Close every subscription authenticated by ``token`` (logout)."""
        closed = 0
        for sub in tuple(self.subscriptions):
            if sub.identity is not None and sub.identity.token == token:
                sub.close(reason, 1008)
                closed += 1
        return closed
