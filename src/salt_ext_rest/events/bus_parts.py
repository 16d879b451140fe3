"""Parts of the event bus (:mod:`salt_ext_rest.events.bus`): tag escaping, what it
needs of a shared history, a subscription waiting for its resume id."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.subscription import Subscription

# C0 controls, DEL and C1 controls: line breaks and NUL would let a tag forge SSE
# frames (a ``/hook`` path or a minion's ``event.send`` chooses the tag).
NOTICE_PREFIX = "salt/netapi/rest_ext/stream/"
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
