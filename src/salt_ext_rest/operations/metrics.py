"""Prometheus metrics of the whole deployment on this host (``GET /metrics``).

prometheus-client's multiprocess mode: each worker writes its values to its own
memory-mapped files in one directory per deployment (``<sock_dir>/rest_ext-<port>-metrics``,
mode 0700, emptied by the process that starts the workers), and a scrape, served by any
worker, sums every worker's files. A dead worker's live gauges are removed
(:func:`mark_process_dead`). With one process the same code path runs.

Hot paths keep plain integer tallies (the bus, the token cache, the executors, and
the per-request counts: requests, latencies, authentication results);
:meth:`Metrics.sample` moves what changed into the metrics once a second and before
each scrape: a memory-mapped write costs 2-5 µs, a request would pay 4 of them. The
rarer figures (chunks, jobs, throttled logins, streams) are recorded as they happen.

prometheus-client chooses the value class of every metric from a module global
(``prometheus_client.values.ValueClass``) and the files' directory from
``PROMETHEUS_MULTIPROC_DIR``: both are set here, before any metric is created; they
are the only process-wide state. A worker killed (SIGKILL) loses at most its last
second of buffered counts.
"""

from __future__ import annotations

import bisect
import collections
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import tornado.ioloop
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.exposition import generate_latest

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "rest_ext_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BOUNDS = (*LATENCY_BUCKETS, math.inf)  # the histogram's buckets, +Inf last
#: the classic text format (what generate_latest writes for names like ours)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE_INTERVAL = 1.0


def metrics_directory(opts: dict[str, Any], port: int) -> str:
    sock_dir = opts.get("sock_dir") or tempfile.gettempdir()
    return os.path.join(os.fspath(sock_dir), f"rest_ext-{port}-metrics")


def prepare_directory(path: str) -> str:
    """An empty, private directory for this deployment's metric files (at start)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def mark_process_dead(path: str, pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay: they were counted)."""
    multiprocess.mark_process_dead(pid, path)


def _use_directory(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.environ[ENV] = path
    # A fresh value class: its file cache is bound to this directory and process.
    values.ValueClass = values.MultiProcessValue()


class NullMetrics:
    """Metrics off (``metrics: false``): every record is a no-op."""

    enabled = False

    def request(self, route: str, method: str, status: int, seconds: float) -> None: ...
    def auth(self, backend: str, result: str) -> None: ...
    def login_throttled(self) -> None: ...
    def chunk(self, client: str, outcome: str) -> None: ...
    def job_published(self, client: str) -> None: ...
    def stream_opened(self, transport: str, fmt: str) -> Callable[[], None]:
        return _nothing

    def watch(self, name: str, read: Callable[[], float]) -> None: ...
    def sample(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


def _nothing() -> None:
    return None


class Metrics(NullMetrics):
    """The metrics of one worker process, written to the deployment's directory."""

    enabled = True

    def __init__(self, directory: str, periodic: bool = True) -> None:
        _use_directory(directory)
        self.directory = directory
        #: sample every SAMPLE_INTERVAL (other workers read this one's files); a lone
        #: worker is sampled only when scraped (``GET /metrics`` samples first)
        self.periodic = periodic
        self._tallies: dict[str, tuple[Callable[[], float], Callable[[float], None]]] = {}
        self._last: dict[str, float] = {}
        # (metric attribute, label values) -> count; (route, method) -> [per bucket..., sum]
        self._counts: collections.Counter[tuple[str, tuple[str, ...]]] = collections.Counter()
        self._latencies: dict[tuple[str, str], list[float]] = {}
        self._sampler: tornado.ioloop.PeriodicCallback | None = None
        self._define()

    def _define(self) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=None)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(PREFIX + name, doc, labels, registry=None, multiprocess_mode="livesum")

        self.requests = counter("http_requests", "Requests served", ("route", "method", "status"))
        self.latency = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from reading a request to finishing its response",
            ("route", "method"),
            registry=None,
            buckets=LATENCY_BUCKETS,
        )
        self.auths = counter("auth_results", "Authentication results", ("backend", "result"))
        self.throttled = counter("logins_throttled", "Logins refused by the login throttle")
        self.chunks = counter("lowstate_chunks", "Lowstate chunks run", ("client", "outcome"))
        self.jobs = counter("jobs_published", "Jobs published to the master", ("client",))
        self.streams = gauge("streams_open", "Open event streams", ("transport", "format"))
        self.received = counter("events_received", "Events taken from the master's bus")
        self.delivered = counter("events_delivered", "Events queued for a subscriber")
        self.dropped = counter("events_dropped", "Events dropped", ("reason",))
        self.cut = counter("slow_consumers_cut", "Streams closed for falling too far behind")
        self.reconnects = counter("bus_reconnects", "Reconnections to the master's event bus")
        self.queue = gauge(
            "executor_queue_depth", "Calls waiting for an executor thread", ("pool",)
        )
        self.token_cache = counter("token_cache_lookups", "Token cache lookups", ("result",))
        self.workers = gauge("workers", "Worker processes serving the API")
        self.workers.inc()

    # -- recorded as they happen -----------------------------------------------------
    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._counts["requests", (route, method, str(status))] += 1
        slots = self._latencies.get((route, method))
        if slots is None:
            slots = self._latencies[route, method] = [0.0] * (len(_BOUNDS) + 1)
        slots[bisect.bisect_left(_BOUNDS, seconds)] += 1
        slots[-1] += seconds

    def auth(self, backend: str, result: str) -> None:
        self._counts["auths", (backend, result)] += 1

    def login_throttled(self) -> None:
        self.throttled.inc()

    def chunk(self, client: str, outcome: str) -> None:
        self.chunks.labels(client, outcome).inc()

    def job_published(self, client: str) -> None:
        self.jobs.labels(client).inc()

    def stream_opened(self, transport: str, fmt: str) -> Callable[[], None]:
        """Count an open stream; returns what counts it closed (once)."""
        gauge = self.streams.labels(transport, fmt)
        gauge.inc()
        done: list[bool] = []

        def closed() -> None:
            if not done:
                done.append(True)
                gauge.dec()

        return closed

    # -- sampled from the components' own tallies ------------------------------------
    def watch(self, name: str, read: Callable[[], float]) -> None:
        """Follow a tally ``read()`` under ``name`` (see :data:`SAMPLED`)."""
        self._tallies[name] = (read, self._sink(name))

    def _sink(self, name: str) -> Callable[[float], None]:
        kind, metric, *labels = SAMPLED[name]
        child = getattr(self, metric)
        if labels:
            child = child.labels(*labels)
        if kind == "gauge":
            return child.set
        return child.inc

    def _flush(self) -> None:
        counts, self._counts = self._counts, collections.Counter()
        for (attr, labels), count in counts.items():
            getattr(self, attr).labels(*labels).inc(count)
        latencies, self._latencies = self._latencies, {}
        for key, slots in latencies.items():
            # Histogram.observe() per request, in one go: its per-bucket values (not
            # cumulative) and sum (prometheus-client's own attributes; a unit test
            # checks the result matches observe()).
            child = self.latency.labels(*key)
            for bucket, observed in zip(child._buckets, slots[:-1], strict=True):
                if observed:
                    bucket.inc(observed)
            child._sum.inc(slots[-1])

    def sample(self) -> None:
        """Move the tallies' changes into the metrics (gauges: their current value)."""
        self._flush()
        for name, (read, sink) in self._tallies.items():
            value = read()
            if SAMPLED[name][0] == "gauge":
                if value != self._last.get(name):
                    sink(value)
            else:
                delta = value - self._last.get(name, 0)
                if delta > 0:
                    sink(delta)
            self._last[name] = value

    def start(self) -> None:
        """Sample the tallies every :data:`SAMPLE_INTERVAL` seconds on the running loop
        (when other workers read this one's files)."""
        if self._sampler is None and self.periodic:
            self._sampler = tornado.ioloop.PeriodicCallback(self.sample, SAMPLE_INTERVAL * 1000)
            self._sampler.start()

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self.sample()
        self.workers.dec()

    def exposition(self) -> bytes:
        """The text exposition of every worker's files (run on an executor thread)."""
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        return generate_latest(registry)


#: tally name -> (counter|gauge, metric attribute, label values...)
SAMPLED: dict[str, tuple[str, ...]] = {
    "events_received": ("counter", "received"),
    "events_delivered": ("counter", "delivered"),
    "events_dropped_undecodable": ("counter", "dropped", "undecodable"),
    "events_dropped_slow_consumer": ("counter", "dropped", "slow_consumer"),
    "slow_consumers_cut": ("counter", "cut"),
    "bus_reconnects": ("counter", "reconnects"),
    "token_cache_hit": ("counter", "token_cache", "hit"),
    "token_cache_miss": ("counter", "token_cache", "miss"),
    "queue_salt": ("gauge", "queue", "salt"),
    "queue_auth": ("gauge", "queue", "auth"),
}
