"""Several workers on one master: do they share the load, and how fast a logout spreads.

Extra rest_ext salt-apis on the benchmark's master, started for the workload and
stopped after it: ``num_processes`` 1, 2 and 4.

* ``scaleout_stats``: ``GET /stats`` with ``X-Auth-Token`` (a cached token check, no
  Salt call) from the Python load generator, 1 and 2 workers in alternating slices;
  the ratio 2 vs 1 is the target (on 2 cores, the load generator taking part of one).
  The load generator is ``wrk`` where it is installed or can be (apt-get, as root):
  the Python one's CPU per request would cap the ratio; otherwise the Python one.
* ``scaleout_revocation``: 4 workers, one keep-alive connection pinned to each (``/stats``
  names the worker). Per trial: a fresh token, checked on every worker (so each caches
  it), ``/logout`` on one worker, then each of the three others polled until it refuses
  the token: the time from the logout's answer to that refusal.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from benchmarks import procs
from benchmarks.loadgen import wrk
from benchmarks.loadgen.http import HttpClient, run_load
from benchmarks.stack import BIN, HOST, free_ports, http_answers, netapi_block
from benchmarks.workloads.common import Api, Bench, load_metrics, login

PIN_ATTEMPTS = 200
#: a login per revocation trial: far more than the default login throttle lets through
NO_LOGIN_THROTTLE = {
    "login_user_burst": 1_000_000,
    "login_user_rate": 1_000_000.0,
    "login_address_burst": 1_000_000,
    "login_address_rate": 1_000_000.0,
}
GIVE_UP = 2.0  # seconds a worker may take to refuse a revoked token before it counts as missed


def start_api(bench: Bench, workers: int) -> Api:
    """A rest_ext salt-api with ``num_processes: workers`` on the benchmark's master."""
    stack = bench.stack
    name = f"scaleout-{workers}"
    port = free_ports(1)[0]
    conf = json.loads(stack.master_conf.read_text())
    block = {**netapi_block("rest_ext", port), **NO_LOGIN_THROTTLE, "num_processes": workers}
    conf["rest_ext"] = block
    conf["api_pidfile"] = stack.under("run", f"api-{name}.pid")
    conf["api_logfile"] = stack.under("logs", f"api-{name}.log")
    stack.write(stack.conf_dir(f"api-{name}") / "master", conf)
    proc = stack.start(name, [str(BIN / "salt-api"), "-c", str(stack.conf_dir(f"api-{name}"))])
    url = f"http://{HOST}:{port}"
    stack.wait(name, lambda: http_answers(url), 90, names=(name,))
    return Api(name, url, port, proc.pid)


async def do_stats(client: HttpClient, index: int) -> bool:
    return (await client.request("GET", "/stats")).status == 200


async def run_scaleout(bench: Bench, round_index: int) -> None:
    p = bench.params["scaleout"]
    await measure_stats(bench, round_index, p)
    await measure_revocation(bench, round_index, p)


async def measure_stats(bench: Bench, round_index: int, p: dict) -> None:
    """1 and 2 workers side by side, measured in short alternating slices (A B B A):
    on a shared machine the load from elsewhere drifts, and each slice pair sees the
    same drift. Each slice is a record; the report takes their median."""
    apis: dict[int, Api] = {}
    try:
        for workers in (1, 2):
            apis[workers] = start_api(bench, workers)
        tokens = {n: await login(api) for n, api in apis.items()}
        for n, api in apis.items():
            await run_load(clients(api, tokens[n]), do_stats, p["concurrency"], p["warmup"], 10)
        for index in range(p["slices"]):
            rates = {}
            for n in (1, 2) if index % 2 == 0 else (2, 1):
                rates[n] = await stats_slice(bench, round_index, apis[n], tokens[n], n, p)
            print(f"  scaleout: 2 workers vs 1: {rates[2] / max(rates[1], 1):.2f}x", flush=True)
    finally:
        bench.stack.stop([api.name for api in apis.values()])


def clients(api: Api, token: str) -> Callable[[], HttpClient]:
    return lambda: api.client(token)


async def stats_slice(bench: Bench, round_index: int, api: Api, token: str, n: int, p: dict):
    watch_pids = {"api": api.pid, "master": bench.stack.pid("master")}
    tool = wrk.find() if p.get("wrk", True) else None
    figures: dict[str, float] = {}
    with procs.CpuWatch(watch_pids) as watch:
        if tool:
            auth = {"X-Auth-Token": token, "Accept": "application/json"}
            url = f"{api.url}/stats"
            result, figures = await wrk.run(tool, url, auth, p["concurrency"], p["seconds"])
        else:
            make = clients(api, token)
            result = await run_load(make, do_stats, p["concurrency"], p["count"], p["seconds"])
    metrics = load_metrics(result, watch)
    if tool:  # wrk's percentiles and CPU, not the (empty) per-request figures
        metrics.update({k: v for k, v in figures.items() if k != "cpu_s"})
        metrics["loadgen_cpu_share"] = (watch.used["loadgen"] + figures["cpu_s"]) / watch.wall
    metrics["loadgen"] = "wrk" if tool else "python"
    variant = f"workers={n} c={p['concurrency']}"
    bench.record("scaleout_stats", variant, "rest_ext", round_index, metrics)
    return result.rate


async def pin(api: Api, token: str, workers: int) -> dict[int, HttpClient]:
    """One keep-alive connection per worker: new connections until each worker has one."""
    pinned: dict[int, HttpClient] = {}
    for _ in range(PIN_ATTEMPTS):
        client = api.client(token)
        worker = (await client.request("GET", "/stats")).json()["worker"]
        if worker in pinned:
            client.close()
        else:
            pinned[worker] = client
        if len(pinned) == workers:
            return pinned
    raise RuntimeError(f"{PIN_ATTEMPTS} connections reached only workers {sorted(pinned)}")


async def until_refused(client: HttpClient, auth: dict[str, str], since: float) -> float | None:
    while time.perf_counter() - since < GIVE_UP:
        if (await client.request("GET", "/stats", headers=auth)).status == 401:
            return time.perf_counter() - since
    return None


async def revocation_trial(api: Api, pinned: dict[int, HttpClient], out: int) -> list:
    auth = {"X-Auth-Token": await login(api)}
    for client in pinned.values():  # every worker has the token cached now
        if (await client.request("GET", "/stats", headers=auth)).status != 200:
            raise RuntimeError("a fresh token was refused")
    if (await pinned[out].request("POST", "/logout", b"", auth)).status != 200:
        raise RuntimeError("/logout failed")
    since = time.perf_counter()
    others = [c for w, c in pinned.items() if w != out]
    return await asyncio.gather(*(until_refused(c, auth, since) for c in others))


async def measure_revocation(bench: Bench, round_index: int, p: dict) -> None:
    workers = 4
    api = start_api(bench, workers)
    pinned: dict[int, HttpClient] = {}
    try:
        pinned = await pin(api, await login(api), workers)
        samples: list[float | None] = []
        for trial in range(p["trials"]):
            samples += await revocation_trial(api, pinned, trial % workers)
        got = [s * 1000 for s in samples if s is not None]
        metrics = {
            "samples": len(samples),
            "missed": len(samples) - len(got),
            "p50_ms": procs.percentile(got, 50),
            "p99_ms": procs.percentile(got, 99),
            "max_ms": max(got) if got else None,
        }
        bench.record("scaleout_revocation", f"workers={workers}", "rest_ext", round_index, metrics)
    finally:
        for client in pinned.values():
            client.close()
        bench.stack.stop([api.name])
