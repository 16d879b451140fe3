"""Waiting for a job's minion returns, with Salt's rules, on the IOLoop.

This is ``LocalClient.get_iter_returns`` (salt/client/__init__.py) for a master that
does not order syndics, fed by :class:`~salt_ext_rest.events.job_returns.JobWatch`
instead of a bus listener of its own:

* wait until every targeted minion returned, or ``timeout`` passed;
* then ask the minions still silent (and accepted) whether they still run the job
  (``saltutil.find_job``, through ``find_job``) and wait ``gather_job_timeout`` for
  the answers; a minion that still runs it gets ``timeout`` more, and is asked again;
* the minions that never returned are the ``missing`` ones (Salt then marks them
  ``failed``: see :func:`salt_ext_rest.backend.dispatch.silent_placeholders`).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.events.job_returns import JobWatch

#: while more minions than this are pending, the job's returns may be read a little
#: late (the bus holds its reads as long as the slack allows at the pace returns come:
#: :meth:`JobWatch.hold`): one wake-up per many returns; the last ones are read at
#: once, so the call still ends when the last return comes (with 50, the prompt last
#: returns were a quarter of a 1,000-minion ping's wake-ups)
PROMPT_LAST = 10
#: ``find_job(pending minions)`` → the watch of the find_job job's jid, or ``None``
FindJob = Callable[[set[str]], Awaitable[JobWatch | None]]


@dataclass
class Gathered:
    """What a job's returns came to: Salt's per-minion dicts, and who never answered."""

    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    minions: set[str] = field(default_factory=set)
    #: targets the master listed as missing when it published (a listed unknown id)
    listed_missing: set[str] = field(default_factory=set)
    #: Salt's ``success`` flag of each return that carried one
    success: dict[str, Any] = field(default_factory=dict)
    #: silent minions whose find_job answer said they do not run the job
    not_running: set[str] = field(default_factory=set)
    #: the job's new-job event (``fun``, ``tgt``, ``tgt_type``, ``user``...)
    new: dict[str, Any] = field(default_factory=dict)

    #: targeted minions not heard from yet, kept as returns come (never recomputed:
    #: with 5,000 minions a set difference per return made the wait quadratic)
    pending: set[str] = field(default_factory=set)
    #: minions that became pending since the waiter last looked (their clocks start)
    fresh: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pending = self.minions - set(self.returns)
        self.fresh = list(self.pending)

    def add_minions(self, mids: Any) -> None:
        for mid in mids:
            if mid not in self.minions:
                self.minions.add(mid)
                if mid not in self.returns:
                    self.pending.add(mid)
                    self.fresh.append(mid)

    def drop_minion(self, mid: str) -> None:
        self.minions.discard(mid)
        self.pending.discard(mid)

    def take_fresh(self) -> list[str]:
        fresh, self.fresh = self.fresh, []
        return fresh

    @property
    def missing(self) -> set[str]:
        return set(self.pending)

    @property
    def never_returned(self) -> set[str]:
        """Every target Salt marks failed: the silent ones and those listed missing."""
        return self.missing | (self.listed_missing - set(self.returns))


def display_id(data: dict[str, Any]) -> Any:
    """Salt's key for a return: the resource id if there is one, else the minion id."""
    rid = data.get("resource_id")
    return rid if rid not in (None, "") else data.get("id")


def take_return(jid: str, tag: str, data: dict[str, Any], got: Gathered, prefix: str = "") -> None:
    """Fold one ``salt/job/<jid>/...`` event into ``got`` as get_iter_returns does
    (``prefix``: ``salt/job/<jid>/ret/``, when the caller has it already)."""
    if "minions" in data:  # the job's new-job event (or a syndic's list of minions)
        got.add_minions(data["minions"])
        got.listed_missing.update(data.get("missing") or ())
        if not got.new and tag.endswith("/new"):
            got.new = dict(data)
        return
    if "return" not in data or not tag.startswith(prefix or f"salt/job/{jid}/ret/"):
        return
    rid = data.get("resource_id")  # display_id(), inline: once per return
    mid = rid if rid is not None and rid != "" else data.get("id")
    if mid is None or mid in got.returns:  # malformed, or a replayed duplicate
        return
    ret = {"ret": data["return"]}
    for key in ("out", "retcode", "jid"):
        if key in data:
            ret[key] = data[key]
    got.returns[mid] = ret
    got.pending.discard(mid)
    if "success" in data:
        got.success[mid] = data["success"]


def still_running(data: dict[str, Any]) -> bool | None:
    """A find_job answer: ``True`` running, ``False`` failed, ``None`` not running."""
    if data.get("retcode", 0) and isinstance(data.get("retcode"), int) and data["retcode"] > 0:
        return False
    ret = data.get("return")
    if not ret or isinstance(ret, str):
        return None
    if isinstance(ret, dict) and "return" in ret and ret["return"] == {}:
        return None
    return True


def take_answer(data: dict[str, Any], got: Gathered) -> str | None:
    """Fold one find_job answer into ``got``: the minion's id if it still runs the job."""
    verdict = still_running(data)
    answered = data.get("id")
    if not isinstance(answered, str):
        return None
    if verdict:
        got.add_minions((answered,))
        got.not_running.discard(answered)
        return answered
    got.not_running.add(answered)
    if verdict is False:
        got.drop_minion(answered)
    return None


async def gather(
    watch: JobWatch,
    minions: set[str],
    timeout: float,
    gather_job_timeout: float,
    find_job: FindJob,
    clock: Callable[[], float] = time.time,
) -> Gathered:
    got = Gathered(minions=set(minions))
    timeout_at = clock() + timeout
    deadlines = Deadlines()
    running = True  # ask at least once
    jinfo: JobWatch | None = None
    prefix = f"salt/job/{watch.jid}/ret/"
    while True:
        watch.wake.clear()
        for tag, data in watch.drain():
            take_return(watch.jid, tag, data, got, prefix)
        if not got.pending:
            return got
        watch.slack = len(got.pending) - PROMPT_LAST  # the bus may hold reads meanwhile
        watch.until = timeout_at  # ... never past the timeout (the silent are asked then)
        now = clock()
        deadlines.setdefault_many(got.take_fresh(), now + timeout)
        if now > timeout_at and running:
            pending = got.missing
            jinfo = await find_job(pending) if pending else None
            running = False
            timeout_at = clock() + gather_job_timeout
        for _tag, data in jinfo.drain() if jinfo is not None else ():
            answered = take_answer(data, got)
            if answered is not None:
                deadlines.push(answered, clock() + timeout)
                running = True
        got.take_fresh()  # a minion find_job added has its deadline already
        now = clock()
        last = deadlines.last(got.pending)
        if now > timeout_at and not running and (last is None or now >= last):
            return got
        if now > timeout_at and running:
            continue  # a minion still runs it: ask again at once
        due = [t for t in (timeout_at, deadlines.next_after(now, got.pending)) if t and t > now]
        await _sleep_or_wake(watch.wake, max(0.01, min(due, default=now) - now + 0.01))


#: the heap entry of minions that were given one deadline together (their first)
SHARED = ""


class Deadlines:
    """Each pending minion's own deadline: the latest one, and the next one ahead, in
    O(log n) per change (two heaps, stale entries skipped when they surface). Minions
    given their first deadline together share one entry of each heap (a job's
    targets all get theirs at once: 5,000 heap pushes were a wake-up's work)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._soonest: list[tuple[float, str]] = []
        self._latest: list[tuple[float, str]] = []

    def push(self, mid: str, when: float) -> None:
        self.at[mid] = when
        heapq.heappush(self._soonest, (when, mid))
        heapq.heappush(self._latest, (-when, mid))

    def setdefault(self, mid: str, when: float) -> None:
        self.push(mid, self.at.get(mid, when))

    def setdefault_many(self, mids: list[str], when: float) -> None:
        """:meth:`setdefault` for each of ``mids``; those without a deadline share one."""
        first = [mid for mid in mids if mid not in self.at]
        for mid in mids:
            if mid in self.at:
                self.push(mid, self.at[mid])
        if first:
            self.at.update(dict.fromkeys(first, when))
            self.push(SHARED, when)
            del self.at[SHARED]

    def _kept(self, mid: str, when: float, pending: set[str]) -> bool:
        """Is ``(when, mid)`` the deadline of a pending minion (of one of a shared entry)?"""
        if mid != SHARED:
            return mid in pending and self.at.get(mid) == when
        at = self.at
        return any(at.get(one) == when for one in pending)

    def last(self, pending: set[str]) -> float | None:
        """The latest deadline of a pending minion."""
        while self._latest:
            when, mid = self._latest[0]
            if self._kept(mid, -when, pending):
                return -when
            heapq.heappop(self._latest)
        return None

    def next_after(self, now: float, pending: set[str]) -> float | None:
        """The earliest deadline of a pending minion still ahead of ``now``."""
        while self._soonest:
            when, mid = self._soonest[0]
            if when > now and self._kept(mid, when, pending):
                return when
            heapq.heappop(self._soonest)
        return None


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` is set or ``seconds`` passed (a timer, not ``wait_for``'s task
    per wake-up: with 5,000 minions the waiter wakes thousands of times)."""
    if wake.is_set():
        return
    timer = asyncio.get_running_loop().call_later(seconds, wake.set)
    try:
        await wake.wait()
    finally:
        timer.cancel()
