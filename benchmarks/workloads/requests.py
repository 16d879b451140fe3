"""Request/response workloads: ``/login``, a cheap authenticated request, a long mixed soak.

The cheap authenticated request is ``POST /hook/bench`` with ``X-Auth-Token``: the only
authenticated route all three modules serve that does not run a Salt job. It validates
the token (Salt's token store), parses a small JSON body and fires one event on the
master's bus (an IPC push; nothing waits for the master). rest_tornado has no ``/stats``
or ``/keys``, and its ``GET /`` checks no token; ``/minions/<id>``, ``/jobs`` and the
runner/wheel clients all run Salt jobs, which is what the ping workloads measure.
``GET /stats`` (token check only, no Salt call) is measured too, for rest_ext and
rest_cherrypy.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient, run_load
from benchmarks.stack import EAUTH, USER
from benchmarks.workloads.common import Bench, load_metrics, login
from benchmarks.workloads.jobs import FAST

LOGIN = {"username": USER, "password": "x", "eauth": EAUTH}
BAD_TOKEN = "0" * 64


async def do_login(client: HttpClient, index: int) -> bool:
    resp = await client.request("POST", "/login", LOGIN)
    return resp.status == 200 and b'"token"' in resp.body


async def do_hook(client: HttpClient, index: int) -> bool:
    resp = await client.request("POST", "/hook/bench", {"n": index, "source": "benchmark"})
    return resp.status == 200


async def do_stats(client: HttpClient, index: int) -> bool:
    return (await client.request("GET", "/stats")).status == 200


async def run_login(bench: Bench, round_index: int) -> None:
    p = bench.params["login"]
    for concurrency in p["concurrency"]:
        for name in bench.order(round_index):
            api = bench.apis[name]
            with procs.CpuWatch(bench.watched(name)) as watch:
                result = await run_load(api.client, do_login, concurrency, p["count"], p["seconds"])
            bench.record(
                "login", f"c={concurrency}", name, round_index, load_metrics(result, watch)
            )


async def run_cheap(bench: Bench, round_index: int) -> None:
    """``POST /hook/bench`` on all three; ``GET /stats`` where it exists (not rest_tornado)."""
    p = bench.params["cheap"]
    tokens = {name: await login(bench.apis[name]) for name in bench.apis}
    cases = [
        ("cheap_auth_hook", do_hook, list(bench.apis)),
        ("cheap_auth_stats", do_stats, ["rest_ext", "rest_cherrypy"]),
    ]
    for workload, op, names in cases:
        for concurrency in p["concurrency"]:
            for name in bench.order(round_index, names):
                api = bench.apis[name]
                with procs.CpuWatch(bench.watched(name)) as watch:
                    result = await run_load(
                        lambda a=api, t=tokens[name]: a.client(t),
                        op,
                        concurrency,
                        p["count"],
                        p["seconds"],
                    )
                metrics = load_metrics(result, watch)
                bench.record(workload, f"c={concurrency}", name, round_index, metrics)


def mixed_op(token: str, minion: str, counter: dict):
    """60% hook, 15% GET /, 10% login, 10% bad token (401), 2% 404, 3% local test.ping
    (to a simulated minion, so that a real minion's job cost does not set the pace)."""
    ping = {"client": "local", "tgt": minion, "fun": "test.ping"}
    auth = {"X-Auth-Token": token}

    async def call(client: HttpClient, index: int) -> tuple[str, bool, int]:
        slot = index % 100
        if slot < 60:
            resp = await client.request("POST", "/hook/bench", {"n": index}, auth)
            return "hook", resp.status == 200, resp.status
        if slot < 75:
            resp = await client.request("GET", "/")
            return "root", resp.status == 200, resp.status
        if slot < 85:
            resp = await client.request("POST", "/login", LOGIN)
            return "login", resp.status == 200, resp.status
        if slot < 95:
            resp = await client.request("POST", "/", [ping], {"X-Auth-Token": BAD_TOKEN})
            return "bad_token", resp.status == 401, resp.status
        if slot < 97:
            resp = await client.request("GET", "/no/such/path", None, auth)
            return "404", resp.status == 404, resp.status
        resp = await client.request("POST", "/", [ping], auth)
        return "ping", resp.status == 200 and b"true" in resp.body, resp.status

    async def op(client: HttpClient, index: int) -> bool:
        counter["n"] += 1
        kind, good, status = await call(client, index)
        if not good:
            key = f"{kind}:{status}"
            counter["failures"][key] = counter["failures"].get(key, 0) + 1
        return good

    return op


async def run_soak(bench: Bench, round_index: int) -> None:
    """RSS and open files of each API over ``count`` mixed requests (bounded in time)."""
    p = bench.params["soak"]
    for name in bench.order(round_index):
        api = bench.apis[name]
        token = await login(api)
        counter: dict = {"n": 0, "failures": {}}
        samples: list[tuple[int, int, int]] = []
        stop = asyncio.Event()
        sampling = sampler(api.pid, counter, samples, stop, p["sample_every"])
        task = asyncio.get_running_loop().create_task(sampling)
        with procs.CpuWatch(bench.watched(name)) as watch:
            result = await run_load(
                lambda a=api, t=token: a.client(t),
                mixed_op(token, FAST[0], counter),
                p["concurrency"],
                p["count"],
                p.get(f"seconds_{name}", p["seconds"]),
            )
        stop.set()
        await task
        samples.append((counter["n"], procs.rss_bytes(api.pid), procs.open_fds(api.pid)))
        metrics = load_metrics(result, watch)
        metrics.update(soak_metrics(samples, p["warmup_fraction"]))
        if counter["failures"]:
            metrics["failures"] = counter["failures"]
        bench.record("soak_mixed", f"c={p['concurrency']}", name, round_index, metrics)


async def sampler(pid: int, counter: dict, samples: list, stop: asyncio.Event, every: float):
    while not stop.is_set():
        samples.append((counter["n"], procs.rss_bytes(pid), procs.open_fds(pid)))
        await asyncio.sleep(every)


def soak_metrics(samples: list[tuple[int, int, int]], warmup: float) -> dict:
    total = samples[-1][0] or 1
    steady = [s for s in samples if s[0] >= warmup * total] or samples
    xs = [s[0] / 1000 for s in steady]
    rss_slope = procs.slope(xs, [s[1] / 2**20 for s in steady])
    fd_slope = procs.slope(xs, [float(s[2]) for s in steady])
    return {
        "requests": samples[-1][0],
        "rss_start_mb": samples[0][1] / 2**20,
        "rss_after_warmup_mb": steady[0][1] / 2**20,
        "rss_end_mb": samples[-1][1] / 2**20,
        "rss_mb_per_1k_req": rss_slope,
        "fds_start": samples[0][2],
        "fds_after_warmup": steady[0][2],
        "fds_end": samples[-1][2],
        "fds_per_1k_req": fd_slope,
        "samples": [[n, round(r / 2**20, 2), f] for n, r, f in samples],
        "sampled_at": time.time(),
    }
