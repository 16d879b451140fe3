"""Event ids derived from the event itself, and a bounded history of events by id.

Every worker of a master reads the same events, in the same order, from the master's
publisher; every master of a cluster reads every event too (Salt forwards them, adding
``data["__peer_id"]``). So an id computed from the event's content, the same wherever
it is computed, lets a client resume on any worker (and, with a shared history, on any
master) without a shared counter:

* the id is 18 hex characters of BLAKE2b over the JSON of ``(tag, data)``, with
  ``__peer_id`` removed and **after** redaction (a hash of the unredacted data would let
  anyone holding an id test guesses of a redacted secret offline; so every worker of a
  deployment must use the same ``event_redact_keys``);
* an event with the same content as one still in the history (Salt stamps each event
  with ``_stamp``, so this is rare) gets the suffix ``.1``, ``.2``, ...

:class:`EventHistory` keeps the last ``event_replay_size`` events and answers "the
events after id X". It also remembers the ids it evicted (ids only), so a resume from
an id that is too old is told so at once rather than after a wait.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from itertools import islice
from typing import Any

from salt_ext_rest.events.model import BusEvent

#: added by Salt to every event a master of a cluster forwards to its peers
PEER_KEY = "__peer_id"
DIGEST_BYTES = 9  # 18 hex characters
#: seconds a resume from an unknown id waits for that event to arrive here (another
#: worker or master may have delivered it a moment before this one received it)
RESUME_WAIT = 0.5


def strip_peer(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without ``__peer_id``: the same event looks the same on every master."""
    if PEER_KEY not in data:
        return data
    return {key: value for key, value in data.items() if key != PEER_KEY}


def content_id(tag: str, data: Any) -> str:
    """The base id of an event: a digest of its tag and (redacted) data."""
    try:
        blob = json.dumps([tag, data], sort_keys=True, separators=(",", ":"), default=repr)
    except TypeError:  # keys of mixed types cannot be sorted: keep Salt's order
        blob = json.dumps([tag, data], separators=(",", ":"), default=repr)
    raw = blob.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=DIGEST_BYTES).hexdigest()


def base_of(event_id: str) -> str:
    return event_id.partition(".")[0]


class EventHistory:
    """The last ``size`` events in bus order, found by id."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._events: deque[BusEvent] = deque()
        self._position: dict[str, int] = {}  # id -> position (0 = first ever kept)
        self._first = 0  # position of self._events[0]
        self._repeats: dict[str, list[int]] = {}  # base id -> [next suffix, kept]
        self._gone: deque[str] = deque(maxlen=self.size)
        self._gone_set: set[str] = set()

    def __len__(self) -> int:
        return len(self._events)

    def assign(self, tag: str, data: Any) -> str:
        """The id of a new event with this content (a suffix for a repeat)."""
        base = content_id(tag, data)
        counts = self._repeats.get(base)
        if counts is None:
            return base
        return f"{base}.{counts[0]}"

    def add(self, event: BusEvent) -> None:
        counts = self._repeats.setdefault(base_of(event.id), [0, 0])
        counts[0] += 1
        counts[1] += 1
        self._position[event.id] = self._first + len(self._events)
        self._events.append(event)
        if len(self._events) > self.size:
            self._evict()

    def _evict(self) -> None:
        old = self._events.popleft()
        self._first += 1
        self._position.pop(old.id, None)
        base = base_of(old.id)
        counts = self._repeats.get(base)
        if counts is not None:
            counts[1] -= 1
            if counts[1] <= 0:
                del self._repeats[base]
        self.mark_gone(old.id)

    def evict_all(self) -> None:
        while self._events:
            self._evict()

    def mark_gone(self, event_id: str) -> None:
        """Remember ``event_id`` as evicted (an event dropped before it was kept)."""
        if len(self._gone) == self._gone.maxlen:
            self._gone_set.discard(self._gone[0])
        self._gone.append(event_id)
        self._gone_set.add(event_id)

    def get(self, event_id: str) -> BusEvent | None:
        position = self._position.get(event_id)
        return None if position is None else self._events[position - self._first]

    def after(self, event_id: str) -> list[BusEvent] | None:
        """The events after ``event_id``, oldest first; ``None`` when it is not kept."""
        position = self._position.get(event_id)
        if position is None:
            return None
        return list(islice(self._events, position - self._first + 1, None))

    def evicted(self, event_id: str) -> bool:
        """Was ``event_id`` here once, and dropped because the history is full?"""
        return event_id in self._gone_set

    def clear(self) -> None:
        """Forget everything (the bus was lost: what came meanwhile is unknown)."""
        self._events.clear()
        self._position.clear()
        self._repeats.clear()
        self._gone.clear()
        self._gone_set.clear()
        self._first = 0

    def status(self) -> dict[str, Any]:
        return {
            "size": len(self._events),
            "capacity": self.size,
            "oldest_id": self._events[0].id if self._events else None,
            "newest_id": self._events[-1].id if self._events else None,
        }
