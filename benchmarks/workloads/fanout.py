"""Event fan-out: K subscribers on one API, events fired straight onto the master's bus.

For each K the subscribers connect once, then a rate ladder runs: ``rate * seconds``
events are fired (by a separate process, ``busprobe.py fire``), each carrying its send
time; we wait until every subscriber has them all, or nothing arrived for a while.
Reported per step: delivered fraction (over K requested subscribers, not just the ones
that connected), per-client rate, p50/p99 latency (sampled on up to 50 subscribers), API
CPU per delivered event, API RSS, deliveries per second (first fire to last delivery).
A ladder stops at the first step below 90% delivered or above 1 s p99 (the API is
saturated; higher rates only queue).

The bare Tornado broadcast (``bare.py``) runs the same ladder: the physical limit.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient
from benchmarks.loadgen.streams import Collector, connected, open_many, sse_request, ws_request
from benchmarks.stack import HOST
from benchmarks.workloads.common import Api, Bench, login

#: (api, kind, path) fan-out targets; {token} is filled in
TARGETS = [
    ("rest_ext", "sse", "/events"),
    ("rest_ext", "ws", "/all_events/{token}"),
    ("rest_cherrypy", "sse", "/events"),
    ("rest_tornado", "ws", "/all_events/{token}"),
]
BARE = ("bare", "ws", "/ws")
SAMPLED = 50


def target_order(round_index: int) -> list[tuple[str, str, str]]:
    order = [*TARGETS, BARE]
    return order if round_index % 2 == 0 else order[::-1]


async def run_fanout(bench: Bench, round_index: int) -> None:
    for name, kind, path in target_order(round_index):
        api = bench.bare if name == "bare" else bench.apis[name]
        if api is None:
            continue
        token = "" if name == "bare" else await login(api)
        previous_connected: tuple[int, int] | None = None
        for k in bench.params["fanout"]["k"]:
            if previous_connected and previous_connected[0] < 0.5 * previous_connected[1]:
                bench.note(
                    f"fan-out {name}/{kind}: K={k} skipped, only "
                    f"{previous_connected[0]} of {previous_connected[1]} connected before"
                )
                continue
            got = await fanout_k(bench, api, kind, path.format(token=token), token, k, round_index)
            previous_connected = (got, k)


async def fanout_k(
    bench: Bench, api: Api, kind: str, path: str, token: str, k: int, round_index: int
) -> int:
    p = bench.params["fanout"]
    collector = Collector()
    rss0 = procs.rss_bytes(api.pid)

    def maker() -> bytes:
        if kind == "sse":
            return sse_request(HOST, api.port, path, token)
        return ws_request(HOST, api.port, path)

    t0 = time.perf_counter()
    subs = await open_many(
        HOST,
        api.port,
        kind,
        maker,
        k,
        collector,
        min(k, SAMPLED),
        timeout=p["connect_seconds"] + k / 100,
    )
    connect_s = time.perf_counter() - t0
    n_conn = connected(subs)
    await asyncio.sleep(0.5)  # WebSocket servers subscribe after "websocket client ready"
    rss_per_sub = (procs.rss_bytes(api.pid) - rss0) / max(1, n_conn) / 1024
    failures = sorted({s.close_reason for s in subs if s.close_reason})[:3]
    variant = f"{kind} K={k}"
    for rate in p["rates"]:
        step = f"{api.name[:4]}{kind}{k}r{rate}n{round_index}".replace("_", "")
        collector.new_step(step)
        for sub in subs:
            sub.count = 0
        count = max(1, int(rate * p["seconds"]))
        started = time.time()
        with procs.CpuWatch(bench.watched(api.name)) as watch:
            sent = await send(bench, api, step, rate, count, p["seconds"] * 3)
            await drain(subs, sent["sent"] * n_conn, p["drain_idle"], p["drain_max"])
        delivered = sum(s.count for s in subs)
        frac = delivered / (sent["sent"] * k) if sent["sent"] else 0.0
        lat = [x * 1000 for x in collector.latencies]
        p99 = procs.percentile(lat, 99)
        metrics = {
            "offered_rate": rate,
            "sent": sent["sent"],
            "send_rate": sent["sent"] / sent["elapsed"],
            "subscribers": k,
            "connected": n_conn,
            "connect_s": connect_s,
            "delivered_fraction": frac,
            "per_client_rate": delivered / max(1, n_conn) / max(sent["elapsed"], 1e-9),
            # first fire to last delivery: the drain's idle wait is not counted
            "deliveries_per_s": delivered / max(1e-3, collector.last - started),
            "p50_ms": procs.percentile(lat, 50),
            "p99_ms": p99,
            "api_cpu_us_per_delivery": watch.used["api"] * 1e6 / max(1, delivered),
            "api_cpu_share": watch.share("api"),
            "loadgen_cpu_share": watch.share("loadgen"),
            "master_cpu_share": watch.share("master"),
            "api_rss_mb": procs.rss_bytes(api.pid) / 2**20,
            "rss_kb_per_subscriber": rss_per_sub,
            "closed_streams": sum(1 for s in subs if s.closed),
        }
        if failures:
            metrics["failures"] = failures
        bench.record("fanout", f"{variant} @{rate}/s", api.name, round_index, metrics)
        if frac < 0.9 or (p99 or 0) > 1000:
            break  # saturated: higher rates only queue up
    for sub in subs:
        sub.close()
    await asyncio.sleep(1.0)
    return n_conn


async def send(bench: Bench, api: Api, step: str, rate: float, count: int, seconds: float) -> dict:
    if api.name == "bare":
        client = HttpClient(api.url, timeout=seconds + 30)
        try:
            resp = await client.request(
                "POST",
                "/broadcast",
                {"step": step, "rate": rate, "count": count, "seconds": seconds},
            )
        finally:
            client.close()
        return resp.json()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, bench.fire, step, rate, count, seconds)


async def drain(subs: list, expected: int, idle: float, longest: float) -> None:
    """Wait until ``expected`` deliveries, or no progress for ``idle`` s, or ``longest`` s."""
    start = last_change = time.perf_counter()
    last = -1
    while True:
        total = sum(s.count for s in subs)
        now = time.perf_counter()
        if total >= expected or now - start > longest:
            return
        if total != last:
            last, last_change = total, now
        elif now - last_change > idle:
            return
        await asyncio.sleep(0.05)
