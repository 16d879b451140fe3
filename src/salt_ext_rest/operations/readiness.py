"""Readiness: named checks run side by side, each bounded, the result shared for a second.

A check is a coroutine function that returns a short detail when it passes and raises
when it fails (the exception's message, cut short, is the detail). :class:`Readiness`
runs every check at once, each within ``timeout`` seconds; the report is reused for
``max_age`` seconds and concurrent callers share one run (single flight), so a storm
of probes costs one round of checks per second per worker. A check that did not
finish within its bound keeps running in the background and is not started again
until it has ended: a hung store never piles up threads or connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Check = Callable[[], Coroutine[Any, Any, str]]
#: seconds a report is reused (also the ``Retry-After`` of a 503)
MAX_AGE = 1.0
DETAIL_LENGTH = 120


@dataclass(frozen=True)
class Outcome:
    ok: bool
    ms: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": self.ms, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, outcome in self.outcomes.items() if not outcome.ok]

    def body(self, details: bool) -> dict[str, Any]:
        """The ``/readyz`` body; ``details`` adds every check's outcome."""
        body: dict[str, Any] = {"ready": self.ready, "failing": self.failing}
        if details:
            body["checks"] = {name: o.as_dict() for name, o in self.outcomes.items()}
        return body


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:DETAIL_LENGTH]


class Readiness:
    def __init__(
        self,
        checks: Mapping[str, Check],
        timeout: float,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = dict(checks)
        self.timeout, self.max_age, self.clock = timeout, max_age, clock
        self._report: Report | None = None
        self._taken = 0.0
        self._round: asyncio.Task[Report] | None = None
        #: checks still running after their bound: name -> (task, started)
        self._overdue: dict[str, tuple[asyncio.Task[str], float]] = {}

    async def report(self) -> Report:
        """The latest report, at most ``max_age`` old; one round at a time."""
        if self._report is not None and self.clock() - self._taken < self.max_age:
            return self._report
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_task(self._run_round())
        return await asyncio.shield(self._round)

    async def _run_round(self) -> Report:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._run_one(name) for name in names))
        report = Report(dict(zip(names, outcomes, strict=True)))
        previous, self._report, self._taken = self._report, report, self.clock()
        if report.ready != (previous.ready if previous else True):
            _log_change(report)
        return report

    async def _run_one(self, name: str) -> Outcome:
        started = self.clock()
        overdue = self._overdue.get(name)
        if overdue is not None:
            task, since = overdue
            if not task.done():
                return Outcome(False, 0.0, f"the previous check is still running "
                                           f"({started - since:.1f}s)")  # fmt: skip
            del self._overdue[name]
        task = asyncio.get_running_loop().create_task(self.checks[name]())
        try:
            detail = await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except asyncio.TimeoutError:
            self._overdue[name] = (task, started)
            task.add_done_callback(_retrieve)
            return self._outcome(False, started, f"no answer within {self.timeout:g}s")
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception as exc:
            log.debug("rest_ext: readiness check %s failed", name, exc_info=True)
            return self._outcome(False, started, short(exc))
        return self._outcome(True, started, str(detail or "ok")[:DETAIL_LENGTH])

    def _outcome(self, ok: bool, started: float, detail: str) -> Outcome:
        return Outcome(ok, round((self.clock() - started) * 1000.0, 2), detail)


def _log_change(report: Report) -> None:
    """Once per change (not per probe): not ready, and why; ready again."""
    if report.ready:
        log.warning("rest_ext: ready again")
        return
    reasons = "; ".join(f"{n}: {report.outcomes[n].detail}" for n in report.failing)
    log.warning("rest_ext: not ready (%s)", reasons)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an overdue check's late failure is not an unhandled error
