"""The big swarm (issue 14 part 5): ``local test.ping`` to N simulated minions through each
API and through a direct ``LocalClient``, and ``GET /minions`` pages with N minions cached.

Figures per API: API CPU per job and per returned minion (psutil, the salt-api process
tree), every minion accounted for (``returns_per_job``, ``incomplete_jobs``), wall p50.
The direct ``LocalClient`` runs in this process; its CPU is this process's CPU.
"""

from __future__ import annotations

import asyncio
import os
import time

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient, run_load
from benchmarks.stack import MINIONS
from benchmarks.workloads.common import Bench, load_metrics, login
from benchmarks.workloads.jobs import ping_op

PREFIX = "swarm-"
#: the page size the issue's target is about, and how many pages are read per run
PAGE = 100
TORNADO_MAX = 1000


def expected_ids(size: int) -> list[str]:
    return [f"{PREFIX}{i:04d}" for i in range(size)]


def job_timeout(bench: Bench) -> int:
    """Salt's job timeout for the swarm: longer for bigger swarms on a busy machine."""
    return max(bench.params["swarm"]["timeout"], 30 + bench.swarm_size // 50)


async def run_swarm(bench: Bench, rounds: int) -> None:
    """Start the big swarm, ping it through each API (and directly), page /minions, stop."""
    stack = bench.stack
    started = time.monotonic()
    size = await asyncio.get_running_loop().run_in_executor(
        None, stack.start_swarm, "swarm", bench.swarm_wanted, PREFIX, 120 + bench.swarm_wanted / 5
    )
    bench.swarm_size = size
    took = time.monotonic() - started
    print(f"   swarm ready: {size} minions in {took:.1f}s", flush=True)
    bench.record("swarm_start", f"{size} minions", "swarm", 0, {"minions": size, "start_s": took})
    try:
        for round_index in range(rounds):
            await run_swarm_ping(bench, round_index)
        if os.environ.get("SWARM_APIS"):  # a quick loop on some APIs: no limit, no pages
            return
        await run_direct_swarm(bench)
        await run_minions_page(bench)
    finally:
        stack.stop(["swarm"])


async def run_swarm_ping(bench: Bench, round_index: int) -> None:
    p = bench.params["swarm"]
    expected = expected_ids(bench.swarm_size)
    timeout = job_timeout(bench)
    for name in bench.order(round_index, swarm_apis(bench)):
        api, incomplete = bench.apis[name], {}
        token = await login(api)
        await warm_up(api, token)
        op = ping_op(expected, f"{PREFIX}*", incomplete, timeout=timeout)
        with procs.CpuWatch(bench.watched(name)) as watch:
            result = await run_load(
                lambda a=api, t=token: a.client(t, timeout=timeout + 60),
                op,
                1,
                p["count"],
                p["seconds"],
            )
        metrics = load_metrics(result, watch, unit="job")
        per_minion(metrics, watch.used["api"], result.ok + result.errors, incomplete, expected)
        bench.record("swarm_ping", f"{len(expected)} minions", name, round_index, metrics)


async def warm_up(api, token: str) -> None:
    """One ping of the two real minions before the watch: the first calls of a worker's
    executor threads build Salt's per-thread objects (a LoadAuth loader: ~90 ms of CPU),
    which a swarm round of one or two jobs would otherwise count as cost per minion."""
    client = api.client(token, timeout=60)
    try:
        for _ in range(2):
            await ping_op(list(MINIONS), "bench-minion-*", {}, timeout=10)(client, 0)
        # rest_ext remembers a token 2 s (token_cache_ttl; /login put it there): a ping
        # after that reads it on an executor thread, which builds its LoadAuth now
        # rather than in the watched job (measured: ~25-90 ms of CPU, once per thread)
        await asyncio.sleep(2.5)
        await ping_op(list(MINIONS), "bench-minion-*", {}, timeout=10)(client, 0)
    finally:
        client.close()


def swarm_apis(bench: Bench) -> list[str]:
    """rest_tornado's CPU per job grows with the swarm squared (15 s of CPU per job at
    1,000 minions): above :data:`TORNADO_MAX` it would take hours; left out."""
    names = list(bench.apis)
    wanted = os.environ.get("SWARM_APIS")  # e.g. SWARM_APIS=rest_ext (quick loops)
    if wanted:
        return [name for name in names if name in wanted.split(",")]
    if bench.swarm_size > TORNADO_MAX:
        names.remove("rest_tornado")
        bench.note(f"swarm: rest_tornado left out above {TORNADO_MAX} minions")
    return names


def per_minion(metrics: dict, cpu: float, jobs: int, incomplete: dict, expected: list) -> None:
    """Returns per job and CPU per returned minion (``cpu``: the seconds to account)."""
    returns = incomplete.get("returns", 0)
    metrics["minions"] = len(expected)
    metrics["incomplete_jobs"] = incomplete.get("jobs", 0)
    metrics["http_errors"] = incomplete.get("http_errors", 0)
    metrics["returns_per_job"] = returns / max(1, jobs)
    metrics["cpu_us_per_returned_minion"] = cpu * 1e6 / max(1, returns)


async def run_direct_swarm(bench: Bench) -> None:
    """The physical limit: ``LocalClient.cmd`` in this process, no HTTP, no API."""
    from benchmarks.workloads.limits import _direct_jobs

    p, expected = bench.params["swarm"], expected_ids(bench.swarm_size)
    loop, opts = asyncio.get_running_loop(), bench.stack.master_opts
    args = (opts, f"{PREFIX}*", expected, p["count"], p["seconds"], 1, job_timeout(bench))
    with procs.CpuWatch(bench.watched("rest_ext")) as watch:
        result = await loop.run_in_executor(None, _direct_jobs, *args)
    metrics = load_metrics(result, watch, unit="job")
    for key in [k for k in metrics if k.startswith(("api_", "idle_"))]:
        del metrics[key]  # no API involved
    # the LocalClient's own CPU, beside each API's: what an API adds is the difference
    jobs = max(1, result.ok + result.errors)
    metrics["api_cpu_ms_per_job"] = watch.used["loadgen"] * 1000 / jobs
    returns = {"returns": result.ok * len(expected)}  # _direct_jobs counts complete jobs
    per_minion(metrics, watch.used["loadgen"], jobs, returns, expected)
    metrics["incomplete_jobs"] = result.errors
    bench.record("limit_direct_localclient", f"{len(expected)} minions", "direct", 0, metrics)


def seed_grains(bench: Bench, minions: list[str]) -> int:
    """Cache every simulated minion's grains as the master does on a minion's ``_pillar``
    request (``cache.store("grains", id, grains)``), copied from a real minion's."""
    import salt.cache

    cache = salt.cache.Cache(bench.stack.master_opts)
    model = cache.fetch("grains", MINIONS[0]) or {"os": "Linux", "kernel": "Linux"}
    for mid in minions:
        cache.store("grains", mid, dict(model, id=mid, nodename=mid, fqdn=mid))
    return len(minions)


async def run_minions_page(bench: Bench) -> None:
    """``GET /minions?limit=100`` (first page, then following pages by cursor) on rest_ext.
    rest_cherrypy and rest_tornado have no cache-only listing: their ``GET /minions``
    is a ``grains.items`` job to every minion, not comparable; not measured."""
    loop = asyncio.get_running_loop()
    seeded = await loop.run_in_executor(None, seed_grains, bench, expected_ids(bench.swarm_size))
    api = bench.apis["rest_ext"]
    client = api.client(await login(api))
    try:
        await page(client, "/minions?limit=100")  # warm-up: the accepted list is built once
        latencies, count, sizes = [], 0, []
        path: str | None = "/minions?limit=100"
        with procs.CpuWatch(bench.watched("rest_ext")) as watch:
            while path and count < 60:
                t0 = time.perf_counter()
                body = await page(client, path)
                latencies.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(body["return"][0]))
                count += 1
                path = next_path(body) or ("/minions?limit=100" if count < 10 else None)
    finally:
        client.close()
    bench.record(
        "minions_page",
        f"limit={PAGE}, {seeded} minions cached",
        "rest_ext",
        0,
        {
            "pages": count,
            "minions_first_page": sizes[0] if sizes else 0,
            "p50_ms": procs.percentile(latencies, 50),
            "p99_ms": procs.percentile(latencies, 99),
            "api_cpu_ms_per_req": watch.used["api"] * 1000 / max(1, count),
            "master_cpu_share": watch.share("master"),
        },
    )


async def page(client: HttpClient, path: str) -> dict:
    resp = await client.request("GET", path)
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {resp.body[:200]!r}")
    return resp.json()


def next_path(body: dict) -> str | None:
    """The ``next`` link's path (``?cursor=...``), if the body has one."""
    link = body.get("next") or (body.get("_links") or {}).get("next")
    if isinstance(link, dict):
        link = link.get("href")
    return link if isinstance(link, str) and link else None
