"""``GET /jobs`` at 1,000 to 100,000 jobs: rest_ext's paged index beside rest_cherrypy.

    python benchmarks/jobindex.py [--sizes 1000,10000,100000] [--count 30] [--cherrypy-max N]

Starts (under a temporary directory, 127.0.0.1) a private salt-master and seeds its
job cache through Salt's own ``local_cache`` returner (``save_load``, ``returner``:
:mod:`salt_ext_rest.testing.jobcache`), growing it to each size in turn. At each size
rest_ext's salt-api is (re)started, so its index is backfilled from the cache (the
time is reported), then for each query ``--count`` sequential requests give the p50
and p99 wall latency and the salt-api's CPU ms per request (psutil, its process
tree). rest_cherrypy's ``GET /jobs`` (``jobs.list_jobs``, every job read) is timed
beside it up to ``--cherrypy-max`` jobs (a few requests: it is slow).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks import procs  # noqa: E402
from benchmarks.stack import BIN, MINIONS, Stack, http_answers  # noqa: E402
from benchmarks.workloads.common import Api, login  # noqa: E402
from salt_ext_rest.testing import jobcache  # noqa: E402

USERS = tuple(f"user{i}" for i in range(10))
START = datetime.datetime.now() - datetime.timedelta(days=3)
T0 = START.astimezone(datetime.timezone.utc)


def queries(size: int) -> dict[str, str]:
    middle = (T0 + datetime.timedelta(seconds=size // 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (T0 + datetime.timedelta(seconds=size // 2 + 600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "limit=50": "/jobs?limit=50",
        "function=cmd.*": "/jobs?limit=50&function=cmd.*",
        "user=user3": "/jobs?limit=50&user=user3",
        "target_type=list": "/jobs?limit=50&target_type=list",
        "status=failed": "/jobs?limit=50&status=failed",
        "status=running (none)": "/jobs?limit=50&status=running",
        "start..end (10 min)": f"/jobs?limit=50&start={middle}&end={end}",
        "function+user+failed": "/jobs?limit=50&function=test.*&user=user7&status=failed",
        "function no match": "/jobs?limit=50&function=nomatch.*",
        "cursor mid-way": f"/jobs?limit=50&cursor={_cursor(jobcache.make_jid(START, size // 2))}",
    }


def _cursor(jid: str) -> str:
    from salt_ext_rest.http.job_pages import next_url

    return next_url("/", {}, jid).rpartition("cursor=")[2]


def start_api(stack: Stack, module: str) -> Api:
    stack.start(module, [str(BIN / "salt-api"), "-c", str(stack.conf_dir(f"api-{module}"))])
    url = stack.url(module)
    stack.wait(module, lambda: http_answers(url), 120)
    return Api(module, url, stack.api_ports[module], stack.pid(module))


async def timed(api: Api, token: str, path: str, count: int, timeout: float = 60.0) -> dict:
    client = api.client(token, timeout=timeout)
    walls = []
    try:
        await client.request("GET", path)  # warm: connection, caches
        before = procs.cpu_seconds(api.pid)
        for _ in range(count):
            started = time.perf_counter()
            response = await client.request("GET", path)
            walls.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, response.body[:300]
        cpu = (procs.cpu_seconds(api.pid) - before) * 1000 / count
    finally:
        client.close()
    return {"p50_ms": procs.percentile(walls, 50), "p99_ms": procs.percentile(walls, 99),
            "api_cpu_ms": cpu}  # fmt: skip


async def wait_backfilled(api: Api, token: str, oldest: str, timeout: float) -> float:
    """Seconds until ``oldest`` (the oldest jid seeded last) is in the index: the
    backfill goes newest first."""
    from salt_ext_rest.backend.job_index import jid_time

    client = api.client(token)
    when = jid_time(oldest, False)
    path = f"/jobs?limit=1&start={when - 0.5}&end={when + 0.5}"
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            response = await client.request("GET", path)
            if response.status == 200 and response.json()["return"]:
                return time.monotonic() - started
            await asyncio.sleep(1)
    finally:
        client.close()
    raise TimeoutError("the index was not backfilled in time")


def seed_minions(opts: dict, count: int) -> None:
    """``count`` accepted keys and cached grains (the master's minion data cache)."""
    import salt.cache

    keys = Path(opts["pki_dir"]) / "minions"
    keys.mkdir(parents=True, exist_ok=True)
    pub = (Path(opts["pki_dir"]) / "master.pub").read_text()
    cache = salt.cache.factory(opts)
    for i in range(count):
        mid = f"sim-{i:05d}"
        (keys / mid).write_text(pub)
        grains = {"id": mid, "os": ("Ubuntu", "Debian", "Rocky", "Alpine")[i % 4],
                  "num_cpus": 2 + i % 8, "ipv4": [f"10.0.{i // 256}.{i % 256}"]}  # fmt: skip
        cache.store("grains", mid, grains)


def minions(stack: Stack, count: int, requests: int) -> None:
    """``GET /minions`` pages with ``count`` minions in the cache."""
    started = time.monotonic()
    seed_minions(stack.master_opts, count)
    print(f"seeded {count} minions ({time.monotonic() - started:.0f}s)", flush=True)
    api = Api("rest_ext", stack.url("rest_ext"), stack.api_ports["rest_ext"], stack.pid("rest_ext"))
    token = asyncio.run(login(api))
    cursor = next_minion_cursor(f"sim-{count // 2:05d}")
    cases = {
        "limit=100": "/minions?limit=100",
        "limit=100 cursor mid-way": f"/minions?limit=100&cursor={cursor}",
        "limit=100 grain=os:Rocky": "/minions?limit=100&grain=os:Rocky",
        "limit=100 grain no match": "/minions?limit=100&grain=os:Nothing",
        "unpaged GET /minions": "/minions",
    }
    for name, path in cases.items():
        n = 3 if "unpaged" in name or "no match" in name else requests
        print_row(count, f"rest_ext {name}", asyncio.run(timed(api, token, path, n, 600)))


def next_minion_cursor(mid: str) -> str:
    from salt_ext_rest.http import paging

    return paging.encode_cursor("m1", mid)


def print_row(size: int, name: str, row: dict) -> None:
    figures = "  ".join(f"{k}={v:.3g}" for k, v in row.items())
    print(f"  {size:>7} {name:<26} {figures}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--cherrypy-max", type=int, default=100000)
    parser.add_argument("--minions", type=int, default=5000, help="0: skip /minions")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    stack = Stack(keep=args.keep)
    try:
        stack.write_configs()
        stack.start("master", [str(BIN / "salt-master"), "-c", str(stack.conf_dir("master"))])
        seeded = 0
        cherry: Api | None = None
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.monotonic()
            first = seeded
            jobs = jobcache.plan(size - seeded, USERS, START, MINIONS, first_index=first)
            jobcache.seed(stack.master_opts, list(jobs))
            print(f"seeded {size} jobs ({time.monotonic() - started:.0f}s)", flush=True)
            seeded = size
            stack.stop(["rest_ext"])
            api = start_api(stack, "rest_ext")
            token = asyncio.run(login(api))
            oldest = jobcache.make_jid(START, first)
            took = asyncio.run(wait_backfilled(api, token, oldest, 3600))
            print_row(size, "rest_ext backfill", {"seconds": took})
            for name, path in queries(size).items():
                print_row(
                    size, f"rest_ext {name}", asyncio.run(timed(api, token, path, args.count))
                )
            if size <= args.cherrypy_max:
                cherry = cherry or start_api(stack, "rest_cherrypy")
                ctoken = asyncio.run(login(cherry))
                row = asyncio.run(timed(cherry, ctoken, "/jobs", 3, timeout=600))
                print_row(size, "rest_cherrypy GET /jobs", row)
        if args.minions:
            minions(stack, args.minions, args.count)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
