"""Job returns taken from the bus's one subscription, for the calls waiting on them.

A synchronous ``local`` or ``runner`` call registers the jid it waits for here; the
bus (:mod:`salt_ext_rest.events.bus`) looks at each event's tag first and hands the
events of a registered jid to its :class:`JobWatch`. No call opens a bus listener of
its own, so a job costs the same at any concurrency (Salt's ``LocalClient.cmd`` opens
one per call, and each decodes every event on the bus).

A runner's jid is chosen by the master, so its return could come before the caller
knows the jid: while a runner call is being published (:meth:`JobReturns.runs`),
runner and wheel returns are kept a short while for it (:meth:`JobReturns.run_return`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

JOB_PREFIX = "salt/job/"
JOB_START = len(JOB_PREFIX)  # where the jid starts in a job tag
#: seconds a call with slack lets its events be held: at least this (as before) ...
JOB_HOLD = 0.1
#: ... and at most this: about half the time its slack lasts at the pace its events
#: came since the last hold (a 5,000-minion job's returns come over 30 s or more),
#: and never past the call's timeout (when it asks the silent minions). Handing over
#: 500 returns at once rather than 125 saved a fifth of the loop's CPU per return: each
#: handing over starts cold (caches, after the master ran)
JOB_WAIT_MAX = 2.0
#: meanwhile the socket is read (the events kept, not handed over) at least this often,
#: for the master's sake: while a worker reads nothing, events from anywhere (another
#: job's burst) pile up at the master's publisher, which drops a subscriber that leaves
#: 10,000 writes pending (``pub_server_write_queue_size``): 20,000 events/s for this long
JOB_HOLD_MAX = 0.5
#: ... and before this many of its events come at that pace: they wait in the kernel's
#: socket buffer, which holds 167 of them (Linux's default 208 KB send buffer counts
#: each write as about 1.3 KB, whatever its size; then the master's publisher keeps
#: the rest); a quarter of that is left for returns that come faster than the pace seen
HOLD_EVENTS = 125
#: ... but not more often than this
READ_MIN = 0.02
RUN_PREFIXES = ("salt/run/", "salt/wheel/")
#: runner/wheel returns kept for callers still learning their jid
EARLY_KEEP = 1000


class JobWatch:
    """The events of one jid, in bus order, until the caller takes them.

    ``slack``: how many more events may come before the caller needs them promptly
    (its waiter sets it while many minions are still pending: a return read a few ms
    late then delays nothing, so the bus may hold its reads; see :meth:`JobReturns.relaxed`).
    Each event counts, so it runs out before the last pending returns come."""

    def __init__(self, jid: str, wake: asyncio.Event) -> None:
        self.jid = jid
        self.wake = wake
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.slack = 0
        self.until = float("inf")  # (time.time()) the waiter's timeout: no hold past it
        self.seen = 0  # events put, ever
        self._paced: tuple[float, int] = (time.monotonic(), 0)  # (when, seen) last asked
        self.each = float("inf")  # seconds per event, at the last hold (unknown yet)

    def put(self, tag: str, data: dict[str, Any]) -> None:
        self.events.append((tag, data))
        self.slack -= 1
        self.seen += 1
        self.wake.set()

    def hold(self, now: float) -> float:
        """Seconds its events may be held: none without slack; else half the time the
        slack lasts at the pace of the events since the last time it was asked, within
        [:data:`JOB_HOLD`, :data:`JOB_WAIT_MAX`] (a burst after a lull is handed over at
        most :data:`JOB_WAIT_MAX` late), and never past :attr:`until`. Meanwhile the
        socket is read every :meth:`read_every` seconds."""
        if self.slack <= 0:
            return 0.0
        since, seen = self._paced
        self._paced = (now, self.seen)
        came = self.seen - seen
        most = min(JOB_WAIT_MAX, self.until - time.time())
        self.each = (now - since) / came if came > 0 else float("inf")  # s per event
        return max(0.0, min(most, max(JOB_HOLD, self.slack / 2 * self.each)))

    def read_every(self) -> float:
        """Seconds between reads while its events are held: before :data:`HOLD_EVENTS`
        of them come at their pace, and at most :data:`JOB_HOLD_MAX` (the master)."""
        return max(READ_MIN, min(JOB_HOLD_MAX, HOLD_EVENTS * self.each))

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        taken, self.events = self.events, []
        return taken


class JobReturns:
    """The jids someone waits for; fed by the bus, one dictionary look-up per event."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobWatch] = {}
        self.runs: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.publishing = 0  # runner calls whose jid is not known yet
        self.early: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- bus side ------------------------------------------------------------------
    def wants(self, tag: str) -> JobWatch | bool | None:
        """What awaits the event with this tag (asked before its body is decoded): its
        jid's :class:`JobWatch`, ``True`` (a runner's or wheel's return), or nothing."""
        if tag.startswith(JOB_PREFIX):
            if not self.jobs:
                return None
            end = tag.find("/", JOB_START)
            return self.jobs.get(tag[JOB_START:end] if end >= 0 else tag[JOB_START:])
        if (self.runs or self.publishing > 0) and tag.startswith(RUN_PREFIXES):
            return tag.endswith("/ret")
        return None

    def feed(self, tag: str, data: Any, target: JobWatch | bool | None = None) -> None:
        """Hand a decoded event to who awaits it (``target``: what :meth:`wants` said)."""
        if not isinstance(data, dict):
            return
        if isinstance(target, JobWatch):
            target.put(tag, data)
            return
        if tag.startswith(JOB_PREFIX):
            watch = self.jobs.get(_jid(tag, JOB_START))
            if watch is not None:
                watch.put(tag, data)
            return
        future = self.runs.get(tag)
        if future is not None and not future.done():
            future.set_result({"tag": tag, "data": data})
        elif self.publishing > 0:
            self.early[tag] = {"tag": tag, "data": data}
            while len(self.early) > EARLY_KEEP:
                self.early.popitem(last=False)

    def relaxed(self) -> float:
        """Seconds the bus may hold its reads: every call waiting here can take its
        events a little late (each watch has slack: the shortest hold of theirs), and
        no runner call waits; else 0."""
        if self.runs or self.publishing or not self.jobs:
            return 0.0
        now = time.monotonic()
        return min(watch.hold(now) for watch in self.jobs.values())

    def read_every(self) -> float:
        """Seconds between reads of the bus while it holds events (the most impatient
        call's: :meth:`JobWatch.read_every`)."""
        return min((w.read_every() for w in self.jobs.values()), default=JOB_HOLD_MAX)

    # -- caller side ---------------------------------------------------------------
    @contextlib.contextmanager
    def watch(self, jid: str, wake: asyncio.Event) -> Iterator[JobWatch]:
        """Collect the events of ``jid`` while the block runs."""
        watch = self.jobs[jid] = JobWatch(jid, wake)
        try:
            yield watch
        finally:
            if self.jobs.get(jid) is watch:
                del self.jobs[jid]

    @contextlib.contextmanager
    def publishing_run(self) -> Iterator[None]:
        """Keep runner and wheel returns while a runner call learns its jid."""
        self.publishing += 1
        try:
            yield
        finally:
            self.publishing -= 1
            if self.publishing == 0 and not self.runs:
                self.early.clear()

    async def run_return(self, tag: str, timeout: float) -> dict[str, Any] | None:
        """The ``{"tag", "data"}`` of the return event ``tag``; ``None`` after ``timeout``."""
        early = self.early.pop(tag, None)
        if early is not None:
            return early
        future = self.runs[tag] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self.runs.pop(tag, None)

    def status(self) -> dict[str, int]:
        return {"jobs": len(self.jobs), "runs": len(self.runs), "kept": len(self.early)}


def _jid(tag: str, start: int) -> str:
    end = tag.find("/", start)
    return tag[start:] if end < 0 else tag[start:end]
