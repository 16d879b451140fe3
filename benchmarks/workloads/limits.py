"""Physical limits measured in the same run: what no API on this machine can beat.

* a bare Tornado handler's request rate (``bare.py``, same load generator);
* the raw event-bus read rate (``busprobe.py read`` while ``busprobe.py fire`` fires as
  fast as it can);
* a direct ``LocalClient`` job round trip (no HTTP, no API), to the two minions and to
  the swarm (``swarmload.py``).

The bare Tornado broadcast to K WebSockets runs with the fan-out ladder (``fanout.py``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient, LoadResult, run_load
from benchmarks.stack import HERE
from benchmarks.workloads.common import Bench, load_metrics
from benchmarks.workloads.jobs import PING_SETS


async def bare_get(client: HttpClient, index: int) -> bool:
    return (await client.request("GET", "/")).status == 200


async def run_bare_http(bench: Bench, round_index: int) -> None:
    p = bench.params["cheap"]
    for concurrency in p["concurrency"]:
        with procs.CpuWatch(bench.watched("bare")) as watch:
            result = await run_load(
                bench.bare.client,
                bare_get,
                concurrency,
                p["count"],  # type: ignore[union-attr]
                p["seconds"],
            )
        bench.record(
            "limit_bare_tornado_get",
            f"c={concurrency}",
            "bare",
            round_index,
            load_metrics(result, watch),
        )


async def run_bus_read(bench: Bench, round_index: int) -> None:
    p = bench.params["bus"]
    step = f"busread{round_index}"
    reader = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "busprobe.py"),
            "read",
            str(bench.stack.master_conf),
            step,
            str(p["count"]),
            str(p["seconds"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, reader.stdout.readline)  # type: ignore[union-attr]
        if line.strip() != b"ready":
            bench.note(f"bus reader did not start: {line[:200]!r}")
            return
        await asyncio.sleep(0.5)
        with procs.CpuWatch({"master": bench.stack.pid("master")}) as watch:
            sent = await loop.run_in_executor(None, bench.fire, step, 0, p["count"], p["seconds"])
            out, _ = await loop.run_in_executor(None, reader.communicate)
        got = json.loads(out.splitlines()[-1])
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    span = got["first_to_last"] or got["elapsed"]
    bench.record(
        "limit_event_bus",
        "fire+read as fast as possible",
        "bus",
        round_index,
        {
            "fired": sent["sent"],
            "fire_rate": sent["sent"] / sent["elapsed"],
            "received": got["received"],
            "read_rate": got["received"] / span if span else 0.0,
            "reader_cpu_us_per_event": got["cpu_s"] * 1e6 / max(1, got["received"]),
            "master_cpu_share": watch.share("master"),
        },
    )


def _direct_jobs(
    opts: dict,
    target: str,
    expected: list[str],
    count: int,
    seconds: float,
    threads: int,
    timeout: int,
) -> LoadResult:
    import salt.client

    result = LoadResult()
    lock = threading.Lock()
    issued = [0]
    start = time.perf_counter()

    def worker() -> None:
        client = salt.client.LocalClient(mopts=opts)
        try:
            while time.perf_counter() - start < seconds:
                with lock:
                    if issued[0] >= count:
                        return
                    issued[0] += 1
                t0 = time.perf_counter()
                ret = client.cmd(target, "test.ping", timeout=timeout)
                took = time.perf_counter() - t0
                with lock:
                    if all(ret.get(m) is True for m in expected):
                        result.ok += 1
                        result.latencies.append(took)
                    else:
                        result.errors += 1
        finally:
            client.destroy()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.wall = time.perf_counter() - start
    return result


async def run_direct_localclient(bench: Bench, round_index: int) -> None:
    p = bench.params["ping"]
    for minions, (target, expected) in PING_SETS.items():
        seconds10 = p["seconds"] if minions == "sim" else p.get("seconds_real", p["seconds"])
        for concurrency, count, seconds in (
            (1, p["latency_count"], p["latency_seconds"]),
            (10, p["count"], seconds10),
        ):
            variant = f"c={concurrency} {minions}"
            await direct(
                bench, variant, target, expected, count, seconds, concurrency, 10, round_index
            )


async def direct(
    bench: Bench,
    variant: str,
    target: str,
    expected: list[str],
    count: int,
    seconds: float,
    threads: int,
    timeout: int,
    round_index: int,
) -> None:
    loop = asyncio.get_running_loop()
    opts = bench.stack.master_opts
    with procs.CpuWatch(bench.watched("rest_ext")) as watch:
        result = await loop.run_in_executor(
            None, _direct_jobs, opts, target, expected, count, seconds, threads, timeout
        )
    metrics = load_metrics(result, watch, unit="job")
    for key in [k for k in metrics if k.startswith(("api_", "idle_"))]:
        del metrics[key]  # no API involved; loadgen_cpu_share is the LocalClient's
    bench.record("limit_direct_localclient", variant, "direct", round_index, metrics)
