"""API CPU per job and per master event (issue 14): ``local test.ping`` at c=1 and c=10
on the two real minions, ``runner test.arg`` and ``wheel key.list_all`` at c=1 and
c=10, and the API's CPU per
master event while no stream is open. CPU is process CPU (psutil) of each salt-api's
process tree, robust on a busy machine; wall time is only reported beside it."""

from __future__ import annotations

import asyncio

from benchmarks import procs
from benchmarks.loadgen.http import run_load
from benchmarks.stack import MINIONS, MODULES
from benchmarks.workloads.common import Bench, load_metrics, login
from benchmarks.workloads.jobs import TARGET, lowstate_op, ping_op

RUNNER = {"client": "runner", "fun": "test.arg", "arg": ["a"], "kwarg": {"k": "v"}}


def runner_op(incomplete: dict):
    """``runner test.arg``: its return echoes the arguments."""
    return lowstate_op(
        RUNNER, incomplete, lambda ret: isinstance(ret, dict) and ret.get("args") == ["a"]
    )


WHEEL = {"client": "wheel", "fun": "key.list_all"}


def wheel_op(incomplete: dict):
    """``wheel key.list_all``: every API answers Salt's master shape, ``{tag, data}``."""

    def complete(ret) -> bool:
        keys = ret.get("data", {}).get("return", {}) if isinstance(ret, dict) else {}
        return isinstance(keys, dict) and set(MINIONS) <= set(keys.get("minions", []))

    return lowstate_op(WHEEL, incomplete, complete)


#: the kinds of job measured, and each one's load
KINDS = {
    "local test.ping": lambda incomplete: ping_op(list(MINIONS), TARGET, incomplete),
    "runner test.arg": runner_op,
    "wheel key.list_all": wheel_op,
}


#: APIs that have no such client (Salt's rest_tornado has no ``wheel``: every call fails)
NOT_OFFERED = {"wheel key.list_all": {"rest_tornado"}}


async def run_jobcost(bench: Bench, round_index: int) -> None:
    p = bench.params["jobcost"]
    tokens = {name: await login(bench.apis[name]) for name in bench.apis}
    for kind, make_op in KINDS.items():
        for concurrency in (1, 10):
            for name in bench.order(round_index):
                if name in NOT_OFFERED.get(kind, ()):
                    continue
                api, incomplete = bench.apis[name], {}
                op = make_op(incomplete)
                # warm-up, unmeasured: every executor thread the load uses builds its
                # Salt objects first (a LocalClient is ~70 ms of CPU), once per process
                await run_load(
                    lambda a=api, t=tokens[name]: a.client(t),
                    op,
                    concurrency,
                    2 * concurrency,
                    p["seconds"],
                )
                incomplete.clear()
                with procs.CpuWatch(bench.watched(name)) as watch:
                    result = await run_load(
                        lambda a=api, t=tokens[name]: a.client(t),
                        op,
                        concurrency,
                        p["count"] * concurrency,
                        p["seconds"],
                    )
                metrics = load_metrics(result, watch, unit="job")
                metrics["incomplete_jobs"] = incomplete.get("jobs", 0)
                metrics["http_errors"] = incomplete.get("http_errors", 0)
                bench.record("job_cpu", f"{kind} c={concurrency}", name, round_index, metrics)
    await run_idle_events(bench, round_index)


async def run_idle_events(bench: Bench, round_index: int) -> None:
    """Fire events nobody streams; every API's CPU per event over the same burst."""
    p = bench.params["jobcost"]
    loop = asyncio.get_running_loop()
    pids = {name: bench.apis[name].pid for name in MODULES if name in bench.apis}
    await asyncio.sleep(1.0)  # let the APIs settle after the jobs
    with procs.CpuWatch(pids) as quiet:
        await asyncio.sleep(p["quiet_seconds"])
    with procs.CpuWatch(pids) as watch:
        sent = await loop.run_in_executor(
            None, bench.fire, f"idle{round_index}", p["event_rate"], p["events"], 60.0
        )
        await asyncio.sleep(1.0)  # the last events are read
    for name in pids:
        idle_rate = quiet.used[name] / quiet.wall if quiet.wall else 0.0
        busy = watch.used[name] - idle_rate * watch.wall  # minus the API's idle ticking
        bench.record(
            "idle_events",
            f"{p['events']} events at {p['event_rate']}/s, no stream open",
            name,
            round_index,
            {
                "fired": sent["sent"],
                "api_cpu_us_per_event": busy * 1e6 / max(1, sent["sent"]),
                "api_cpu_us_per_event_raw": watch.used[name] * 1e6 / max(1, sent["sent"]),
            },
        )
