"""Parts of the event bus (:mod:`salt_ext_rest.events.bus`): tag escaping, what it
needs of a shared history, a subscription waiting for its resume id, the backlog of
events nobody wanted yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from salt_ext_rest.backend.bus_client import decode
from salt_ext_rest.events.history import EventHistory, base_of, content_id, strip_peer
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.subscription import Subscription

log = logging.getLogger(__name__)

# C0 controls, DEL and C1 controls: line breaks and NUL would let a tag forge SSE
# frames (a ``/hook`` path or a minion's ``event.send`` chooses the tag).
NOTICE_PREFIX = "salt/netapi/rest_ext/stream/"
UNKNOWN = (
    "resume id is not in the event history (too old, from another host without a shared "
    "history, or from before a loss of the event bus)"
)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def escape_controls(text: str) -> str:
    """``text`` with each control character written as ``%XX`` (``%0D`` for CR)."""
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


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


def incomplete(sub: Subscription, last_id: str, reason: str) -> None:
    """Tell ``sub`` that its resume from ``last_id`` misses events, and why."""
    data = {"reason": reason, "missed": True, "last_event_id": last_id}
    sub.offer(BusEvent("", NOTICE_PREFIX + "resume_incomplete", data, notice=True))


def close_token(subs: tuple[Subscription, ...], token: str, reason: str) -> int:
    """Close every subscription of ``subs`` authenticated by ``token`` (logout)."""
    closed = 0
    for sub in subs:
        if sub.identity is not None and sub.identity.token == token:
            sub.close(reason, 1008)
            closed += 1
    return closed


class Backlog:
    """Events nobody wanted when they came, undecoded: ``(tag, body, arrival time)``,
    as many as the history keeps. When it is full, everything the history holds is
    older than a whole history (so evicted: a resume from it is "too old", never a
    silent gap), and the oldest undecoded event is dropped; its id is computed only
    if a resume asks for an id this worker does not know (:meth:`gone_ids`)."""

    def __init__(self, size: int, redact: Callable[[Any], Any]) -> None:
        self.redact = redact
        self.events: deque[tuple[str, bytes, float]] = deque(maxlen=size)
        self.gone: deque[tuple[str, bytes, float]] = deque(maxlen=size)
        self.undecodable = 0  # malformed bodies found when the backlog was decoded

    def __len__(self) -> int:
        return len(self.events)

    def add(self, tag: str, body: bytes, stamp: float, history: EventHistory) -> None:
        if len(self.events) == self.events.maxlen:
            if history:  # emptied when the backlog first filled: rarely anything to do
                history.evict_all()
            self.gone.append(self.events[0])
        self.events.append((tag, body, stamp))

    def drain(self) -> Iterator[tuple[str, dict[str, Any], float]]:
        """The events in bus order, decoded (a malformed one is dropped), and forgotten."""
        while self.events:
            tag, body, stamp = self.events.popleft()
            try:
                data = decode(body)
            except Exception:
                self.undecodable += 1
                continue
            yield tag, data if isinstance(data, dict) else {"data": data}, stamp

    def dropped(self, last_id: str, history: EventHistory) -> bool:
        """Was ``last_id`` an event dropped undecoded? (the ids of the dropped events are
        computed once, as the bus computes them, and remembered as evicted)"""
        while self.gone:
            tag, body, _stamp = self.gone.popleft()
            with contextlib.suppress(Exception):
                data = decode(body)
                clean = self.redact(strip_peer(data if isinstance(data, dict) else {"data": data}))
                history.mark_gone(content_id(escape_controls(tag), clean))
        return history.evicted(base_of(last_id))

    def clear(self) -> None:
        self.events.clear()
        self.gone.clear()


#: an event body not decoded (yet): nobody wanted it when it came
UNDECODED = object()


def feed_consumers(tag: str, body: bytes, jobs: Any, watchers: Any) -> Any:
    """The event's data, decoded now only for a call waiting on its job (``jobs``) or a
    raw consumer that needs it decoded, and handed to them (a ``raw`` consumer such as
    the job index gets the body undecoded, or the data when it was decoded anyway);
    else :data:`UNDECODED`. Raises on a malformed body (when it is decoded here)."""
    target = jobs.wants(tag)
    data = UNDECODED
    if target:
        data = decode(body)
        jobs.feed(tag, data, target)
    return watchers.feed(tag, data, body, UNDECODED)


def dispatch_internal(
    handlers: dict[str, list[Callable[[dict], None]]], kind: str, data: Any
) -> None:
    """An internal event (``INTERNAL_PREFIX + kind``) to its handlers."""
    for handler in handlers.get(kind, ()):
        try:
            handler(data if isinstance(data, dict) else {})
        except Exception:  # one bad handler must not stop the bus
            log.exception("rest_ext: internal event handler failed (%s)", kind)


def idle(bus: Any) -> bool | float:
    """Nobody needs the bus's events promptly: no stream (but the server's own taps),
    no resume waiting for its id, no request in flight, no shared history, no call
    waiting on a job (the reader may then hold its reads: True). When the only ones
    waiting are calls still waiting for many returns, each the only request in flight
    (:meth:`JobReturns.relaxed`): as long as their slack allows."""
    jobs = bus.jobs
    if bus.waiting or bus.shared is not None:
        return False
    if not all(sub.background for sub in bus.subscriptions):
        return False
    if jobs.jobs or jobs.runs or jobs.publishing:
        return (jobs.relaxed() or False) if len(bus.requests) <= len(jobs.jobs) else False
    return not bus.requests
