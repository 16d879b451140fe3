"""Salt jobs through the APIs: ``local`` test.ping (latency, throughput) and ``local_async``
followed by its returns on the API's own event stream (the big swarm: ``swarmload.py``)."""

from __future__ import annotations

import asyncio
import json
import re
import time

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient, LoadResult, run_load
from benchmarks.loadgen.streams import Collector, open_many, sse_request, ws_request
from benchmarks.stack import HOST, MINIONS
from benchmarks.workloads.common import Bench, load_metrics, login

TARGET = "bench-minion-*"
#: two simulated minions (swarm.py) that answer at once: the API and master are measured,
#: not the real minions' per-job cost (a real minion reloads its modules for every job)
FAST_PREFIX = "fast-"
FAST = [f"{FAST_PREFIX}{i:04d}" for i in range(2)]
PING_SETS = {"real": (TARGET, list(MINIONS)), "sim": (f"{FAST_PREFIX}*", FAST)}
#: the stream each API is watched on: (kind, path); {token} is filled in
EVENT_STREAM = {
    "rest_ext": ("sse", "/events"),
    "rest_cherrypy": ("sse", "/events"),
    "rest_tornado": ("ws", "/all_events/{token}"),
}
RET_TAG = re.compile(rb"salt/job/([0-9]{20})/ret/([A-Za-z0-9_.-]+)")


def count_up(incomplete: dict, key: str, by: int = 1) -> None:
    incomplete[key] = incomplete.get(key, 0) + by


def lowstate_op(chunk: dict, incomplete: dict, complete):
    """``POST /`` with one lowstate ``chunk``; ``complete(ret)`` judges its return.
    HTTP errors and incomplete returns are counted in ``incomplete``."""

    async def op(client: HttpClient, index: int) -> bool:
        resp = await client.request("POST", "/", [chunk])
        if resp.status != 200:
            count_up(incomplete, "http_errors")
            return False
        if not complete(resp.json()["return"][0]):
            count_up(incomplete, "jobs")
            return False
        return True

    return op


def ping_op(expected: list[str], target: str, incomplete: dict, timeout: int | None = None):
    """``local test.ping``: complete when every expected minion returned ``True``
    (``incomplete["returns"]`` counts the returns)."""
    chunk = {"client": "local", "tgt": target, "fun": "test.ping"}
    if timeout:
        chunk["timeout"] = timeout

    def complete(ret) -> bool:
        got = sum(1 for m in expected if isinstance(ret, dict) and ret.get(m) is True)
        count_up(incomplete, "returns", got)
        return got == len(expected)

    return lowstate_op(chunk, incomplete, complete)


async def run_ping(bench: Bench, round_index: int) -> None:
    p = bench.params["ping"]
    tokens = {name: await login(bench.apis[name]) for name in bench.apis}
    for minions, (target, expected) in PING_SETS.items():
        seconds10 = p["seconds"] if minions == "sim" else p.get("seconds_real", p["seconds"])
        for concurrency, count, seconds in (
            (1, p["latency_count"], p["latency_seconds"]),
            (10, p["count"], seconds10),
        ):
            for name in bench.order(round_index):
                api, incomplete = bench.apis[name], {}
                op = ping_op(expected, target, incomplete)
                with procs.CpuWatch(bench.watched(name)) as watch:
                    result = await run_load(
                        lambda a=api, t=tokens[name]: a.client(t), op, concurrency, count, seconds
                    )
                metrics = load_metrics(result, watch, unit="job")
                metrics["incomplete_jobs"] = incomplete.get("jobs", 0)
                metrics["http_errors"] = incomplete.get("http_errors", 0)
                variant = f"c={concurrency} {minions}"
                bench.record("local_ping", variant, name, round_index, metrics)


async def run_async_events(bench: Bench, round_index: int) -> None:
    """``local_async`` test.ping, then wait for every return on the API's event stream."""
    for name in bench.order(round_index):
        await async_events_one(bench, name, round_index)


class ReturnWatcher:
    """Which minions' returns the stream has shown, per jid, and when."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {}
        self.waiters: dict[str, asyncio.Event] = {}

    def on_match(self, match: re.Match, now: float) -> None:
        jid, minion = match.group(1).decode(), match.group(2).decode()
        got = self.seen.setdefault(jid, {})
        got.setdefault(minion, now)
        if jid in self.waiters and all(m in got for m in MINIONS):
            self.waiters[jid].set()

    def waiter(self, jid: str) -> asyncio.Event:
        event = self.waiters[jid] = asyncio.Event()
        if all(m in self.seen.get(jid, {}) for m in MINIONS):
            event.set()
        return event


async def async_events_one(bench: Bench, name: str, round_index: int) -> None:
    p = bench.params["async_events"]
    api = bench.apis[name]
    token = await login(api)
    watcher = ReturnWatcher()
    collector = Collector(pattern=RET_TAG, on_match=watcher.on_match)
    kind, path = EVENT_STREAM[name]
    path = path.format(token=token)

    def maker() -> bytes:
        if kind == "sse":
            return sse_request(HOST, api.port, path, token)
        return ws_request(HOST, api.port, path)

    subs = await open_many(HOST, api.port, kind, maker, 1, collector, 1, 10.0)
    if not subs[0].ready.done() or not subs[0].ready.result():
        bench.note(f"{name}: event stream {path} did not open ({subs[0].close_reason})")
        return
    await asyncio.sleep(0.5)  # WebSocket servers subscribe after "websocket client ready"
    client = api.client(token)
    result, timeouts = LoadResult(), 0
    chunk = [{"client": "local_async", "tgt": TARGET, "fun": "test.ping"}]
    start = time.perf_counter()
    with procs.CpuWatch(bench.watched(name)) as watch:
        for _ in range(p["count"]):
            if time.perf_counter() - start > p["seconds"]:
                break
            t0 = time.time()
            resp = await client.request("POST", "/", chunk)
            jid = json.loads(resp.body)["return"][0].get("jid") if resp.status == 200 else None
            if not jid:
                result.errors += 1
                continue
            try:
                await asyncio.wait_for(watcher.waiter(jid).wait(), p["job_timeout"])
            except asyncio.TimeoutError:
                timeouts += 1
                result.errors += 1
                continue
            result.ok += 1
            result.latencies.append(max(watcher.seen[jid].values()) - t0)
    result.wall = time.perf_counter() - start
    client.close()
    subs[0].close()
    metrics = load_metrics(result, watch, unit="job")
    metrics["returns_missing_jobs"] = timeouts
    bench.record("local_async_events", f"c=1 via {kind}", name, round_index, metrics)
