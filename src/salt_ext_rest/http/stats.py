"""Request counters of this worker process and ``GET /stats``, in rest_cherrypy's shape.

``/stats`` answers for the worker that serves it, and adds ``deployment``: the shared
store's status, the records every worker published in the last 5 s (see
:mod:`salt_ext_rest.shared.worker`) and their counters summed.

The counters are kept by :class:`~salt_ext_rest.http.application.RestApplication`:
a request is *in flight* from routing until its handler finishes. Streams (requests
that ask for ``text/event-stream``, or handlers marked ``long_lived = True``) are
counted apart, because a graceful shutdown waits only for ordinary requests.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import threading
import time
import weakref
from typing import Any

import psutil
import tornado.httputil
import tornado.web

import salt_ext_rest
from salt_ext_rest import workers
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.plugins.manager import plugin_names

DRAIN_POLL = 0.05
#: the process figures (RSS, open files, CPU: four /proc reads) are sampled at most
#: this often; a monitoring poller asking many times a second gets the same sample
PROCESS_SAMPLE_AGE = 1.0


def is_long_lived(request: tornado.httputil.HTTPServerRequest, handler_class: type) -> bool:
    if getattr(handler_class, "long_lived", False):
        return True
    return "text/event-stream" in request.headers.get("Accept", "")


class ServerStats:
    """Counters of one worker process (each worker of ``num_processes`` has its own)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.served = 0
        self.statuses: collections.Counter[str] = collections.Counter()
        # request -> is it a stream? Weak keys: a request dropped without finishing
        # (client gone before its handler ran) does not stay "in flight" forever.
        self._open: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
        self._process: tuple[float, dict[str, Any]] = (-PROCESS_SAMPLE_AGE, {})

    def process(self) -> dict[str, Any]:
        """This process's RSS, open files, threads and CPU, at most PROCESS_SAMPLE_AGE old."""
        taken, sample = self._process
        now = time.monotonic()
        if now - taken >= PROCESS_SAMPLE_AGE:
            sample = _process()
            self._process = (now, sample)
        return sample

    def begin(self, request: tornado.httputil.HTTPServerRequest, handler_class: type) -> None:
        self._open[request] = is_long_lived(request, handler_class)

    def end(self, handler: tornado.web.RequestHandler) -> None:
        if self._open.pop(handler.request, None) is None:
            return
        self.served += 1
        self.statuses[f"{handler.get_status() // 100}xx"] += 1

    def counters(self) -> dict[str, Any]:
        """What this worker publishes for the deployment's totals (``/stats``)."""
        return {
            "served": self.served,
            "in_flight": self.in_flight,
            "streams": self.streams,
            "by_status": dict(sorted(self.statuses.items())),
        }

    @property
    def in_flight(self) -> int:
        """Ordinary requests being served now (streams excluded)."""
        return sum(1 for stream in list(self._open.values()) if not stream)

    @property
    def streams(self) -> int:
        return sum(1 for stream in list(self._open.values()) if stream)

    async def drain(self, timeout: float) -> bool:
        """Wait until no ordinary request is in flight; ``False`` if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self.in_flight:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(DRAIN_POLL)
        return True


def _process() -> dict[str, Any]:
    proc = psutil.Process()
    with proc.oneshot():
        cpu = proc.cpu_times()
        return {
            "rss_bytes": proc.memory_info().rss,
            "open_fds": proc.num_fds(),
            "threads": threading.active_count(),
            "cpu_seconds": round(cpu.user + cpu.system, 3),
            # objects frozen at startup (never walked by the collector) and
            # collections run per generation since
            "gc": {
                "frozen_objects": gc.get_freeze_count(),
                "collections": [gen["collections"] for gen in gc.get_stats()],
            },
        }


def snapshot(handler: ApiHandler) -> dict[str, Any]:
    context = handler.context
    stats: ServerStats = handler.application.stats  # type: ignore[attr-defined]
    now = time.time()
    return {
        "version": salt_ext_rest.__version__,
        "pid": os.getpid(),
        "worker": workers.worker_index(),
        "workers": context.config.num_processes,
        "started": stats.started,
        "uptime": round(now - stats.started, 3),
        "requests": stats.counters(),
        "process": stats.process(),
        "thread_pools": {
            **context.gateway.pool_stats(),
        },
        "plugins": plugin_names(context.pm),
        "events": context.bus.id_status(),
        # the job index: is this worker its writer, which pid is (issue 14)
        "job_index": context.job_index.status() if context.job_index is not None else None,
    }


class StatsHandler(ApiHandler):
    """``GET /stats``: 401 without a valid token unless ``stats_disable_auth``."""

    async def get(self) -> None:
        if not self.context.config.stats_disable_auth:
            await self.identify()
        # ``deployment``: the shared store's state, every worker's record, their totals
        self.send({**snapshot(self), "deployment": await self.context.shared.deployment()})
