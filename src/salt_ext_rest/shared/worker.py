"""This worker's side of the shared state: the heartbeat, the leases it holds, /stats.

:class:`WorkerShare` is ``ApiContext.shared``. Once started (with the event streams)
it publishes this worker's counters every second and renews its stream-slot leases
every ten; ``deployment()`` is the ``deployment`` part of ``/stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from salt_ext_rest import workers
from salt_ext_rest.shared.redis_link import StoreUnavailable
from salt_ext_rest.shared.state import (
    HEARTBEAT,
    SLOT_RENEW,
    SharedState,
    fresh,
    worker_record,
)

log = logging.getLogger(__name__)

#: seconds the other workers' records, read for ``/stats``, are reused: they change
#: once per heartbeat, and a store read per request made ``/stats`` with several
#: workers cost about 0.2 ms more CPU than with one
RECORDS_MAX_AGE = HEARTBEAT / 2


def no_counters() -> dict[str, Any]:
    return {}


class WorkerShare:
    def __init__(self, state: SharedState) -> None:
        self.state = state
        #: this worker's counters for the others (set by the application)
        self.counters: Callable[[], dict[str, Any]] = no_counters
        #: stream-slot leases held by this worker: lease -> token digest
        self.held: dict[str, str] = {}
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        self._records: tuple[float, list[dict[str, Any]]] = (-RECORDS_MAX_AGE, [])

    def record(self) -> dict[str, Any]:
        return worker_record(self.counters(), workers.worker_index())

    def start(self) -> None:
        """Start the heartbeat, unless the state is this process's memory (one worker):
        nobody else reads its record, ``/stats`` reads the live one, and its slots
        never expire (a beat a second was most of an idle worker's CPU)."""
        if self._task is None and self.state.kind != "memory":
            self._task = asyncio.get_running_loop().create_task(self._heartbeat())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            await asyncio.wait(self._pending, timeout=1.0)
        with contextlib.suppress(StoreUnavailable):
            await self.state.close()

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background (a release: nobody waits for it)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, Exception) and not isinstance(error, StoreUnavailable):
            log.warning("rest_ext: shared state update failed", exc_info=error)

    async def _heartbeat(self) -> None:
        renewed = time.monotonic()
        while True:
            await self._beat(self.state.publish_worker(self.record()))
            if time.monotonic() - renewed >= SLOT_RENEW:
                renewed = time.monotonic()
                await self._beat(self.state.renew_slots(dict(self.held)))
            await asyncio.sleep(HEARTBEAT)

    async def _beat(self, operation: Any) -> None:
        """One heartbeat step; a failure never stops the next (nor the other step)."""
        try:
            await operation
        except StoreUnavailable:
            pass  # logged once by the store; the next beat tries again
        except Exception:
            log.exception("rest_ext: worker heartbeat failed")

    async def deployment(self) -> dict[str, Any]:
        """The store's status, the fresh worker records and their summed counters."""
        records = fresh(await self.stored_records())
        # This worker's own record is always the live one (also before its first
        # heartbeat, or while the store is away).
        mine = self.record()
        me = (mine["host"], mine["pid"])
        records = [r for r in records if (r.get("host"), r.get("pid")) != me]
        records = fresh([*records, mine])
        return {
            "store": self.state.status(),
            "workers": records,
            "totals": totals([r.get("counters") or {} for r in records]),
        }

    async def stored_records(self) -> list[dict[str, Any]]:
        """The worker records in the store, read at most every RECORDS_MAX_AGE seconds."""
        read_at, records = self._records
        if time.monotonic() - read_at < RECORDS_MAX_AGE:
            return records
        try:
            records = await self.state.workers()
        except StoreUnavailable:
            return []
        self._records = (time.monotonic(), records)
        return records


def totals(counters: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers summed key by key; nested dicts (``by_status``) summed the same way."""
    summed: dict[str, Any] = {}
    for item in counters:
        for key, value in item.items():
            if isinstance(value, dict):
                summed[key] = totals([summed.get(key) or {}, value])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                summed[key] = summed.get(key, 0) + value
    return dict(sorted(summed.items()))
