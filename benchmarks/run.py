"""rest_ext side by side with rest_cherrypy and rest_tornado, on one private Salt master.

    python benchmarks/run.py [--quick] [--out DIR] [--swarm N] [--swarm-jobs N] [--keep]
                              [--only W,W]
    python benchmarks/run.py --only cluster [--quick]   # a master cluster of 1, 2, 3 masters

Starts (under a temporary directory, 127.0.0.1 only) a salt-master, two real minions, a
swarm of simulated minions in one process (``swarm.py``), the three salt-api processes
and a bare Tornado server (``bare.py``); runs every workload in interleaved rounds (the
API order is reversed every other round, so each pair runs A B B A and drift cancels);
prints the medians, the ratios and the issue's targets, and writes ``results.json`` and
``results.md`` to ``--out`` (default ``benchmarks/results/``, git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import cluster, procs, report  # noqa: E402
from benchmarks.stack import HERE, HOST, Stack, StackError  # noqa: E402
from benchmarks.workloads import (  # noqa: E402
    fanout,
    idle,
    jobcost,
    jobs,
    limits,
    requests,
    resume,
    scaleout,
    swarmload,
)
from benchmarks.workloads.common import Api, Bench, login  # noqa: E402

QUICK = {
    "rounds": 2,
    "login": {"concurrency": [1, 10, 50], "count": 5000, "seconds": 1.5},
    "cheap": {"concurrency": [1, 10], "count": 20000, "seconds": 1.5},
    "ping": {"latency_count": 15, "latency_seconds": 2.0, "count": 20000, "seconds": 3.0},
    "async_events": {"count": 10, "seconds": 3.0, "job_timeout": 10.0},
    "swarm": {"rounds": 1, "count": 2, "seconds": 20.0, "timeout": 30},
    "bus": {"count": 5000, "seconds": 5.0},
    "jobcost": {
        "count": 15,
        "seconds": 6.0,
        "events": 5000,
        "event_rate": 1000,
        "quiet_seconds": 2.0,
    },
    "fanout": {
        "rounds": 1,
        "k": [1, 100, 500, 1000],
        "rates": [100, 300],
        "seconds": 1.0,
        "connect_seconds": 5.0,
        "drain_idle": 1.0,
        "drain_max": 5.0,
    },
    "soak": {
        "rounds": 1,
        "count": 10000,
        "seconds": 12.0,
        "concurrency": 10,
        "sample_every": 0.5,
        "warmup_fraction": 0.3,
    },
    "idle_ws": {
        "rounds": 1,
        "count": 5000,
        "connect_seconds": 60.0,
        "settle_seconds": 2.0,
        "idle_cpu_seconds": 6.0,  # > stream_recheck_interval (5 s)
        "cherrypy_cap": 50,
    },
    "resume": {"rounds": 1, "count": 2000, "rate": 200, "kill_at": 1000},
    "scaleout": {
        "concurrency": 32,
        "warmup": 2000,
        "slices": 6,
        "count": 20000,
        "seconds": 2.0,
        "trials": 40,
    },
}
FULL = {
    "rounds": 2,
    "login": {"concurrency": [1, 10, 50], "count": 20000, "seconds": 4.0},
    "cheap": {"concurrency": [1, 10], "count": 50000, "seconds": 4.0},
    "ping": {
        "latency_count": 100,
        "latency_seconds": 6.0,
        "count": 100000,
        "seconds": 30.0,  # c=10 throughput, simulated minions
        "seconds_real": 12.0,  # c=10 throughput, real minions (a real minion sets the pace)
    },
    "async_events": {"count": 60, "seconds": 10.0, "job_timeout": 10.0},
    "swarm": {"rounds": 2, "count": 5, "seconds": 30.0, "timeout": 30},
    "bus": {"count": 50000, "seconds": 15.0},
    "jobcost": {
        "count": 40,
        "seconds": 15.0,
        "events": 20000,
        "event_rate": 2000,
        "quiet_seconds": 4.0,
    },
    "fanout": {
        "rounds": 1,
        "k": [1, 10, 100, 500, 1000],
        "rates": [10, 50, 100, 200, 400, 1000],
        "seconds": 2.0,
        "connect_seconds": 5.0,
        "drain_idle": 1.5,
        "drain_max": 8.0,
    },
    "soak": {
        "rounds": 1,
        "count": 100000,
        "seconds": 90.0,  # rest_cherrypy and rest_tornado: as many as fit
        "seconds_rest_ext": 300.0,  # enough for 100k requests
        "concurrency": 10,
        "sample_every": 1.0,
        "warmup_fraction": 0.2,
    },
    "idle_ws": {
        "rounds": 1,
        "count": 10000,
        "connect_seconds": 90.0,
        "settle_seconds": 3.0,
        "idle_cpu_seconds": 10.0,
        "cherrypy_cap": 50,
    },
    # 10,000 events at 200/s, the API serving the stream killed at ~5,000
    "resume": {"rounds": 1, "count": 10000, "rate": 200, "kill_at": 5000},
    "scaleout": {
        "concurrency": 32,
        "warmup": 5000,
        "slices": 12,
        "count": 50000,
        "seconds": 3.0,
        "trials": 200,
    },
}

# (name, function, params key whose "rounds" overrides the global count, or None)
WORKLOADS = [
    ("login", requests.run_login, None),
    ("cheap", requests.run_cheap, None),
    ("bare_http", limits.run_bare_http, None),
    ("ping", jobs.run_ping, None),
    ("direct", limits.run_direct_localclient, None),
    ("async_events", jobs.run_async_events, None),
    ("jobcost", jobcost.run_jobcost, None),
    ("bus", limits.run_bus_read, None),
    ("fanout", fanout.run_fanout, "fanout"),
    ("soak", requests.run_soak, "soak"),
    ("idle_ws", idle.run_idle_ws, "idle_ws"),
    ("resume", resume.run_resume, "resume"),
    ("scaleout", scaleout.run_scaleout, None),
]
#: after all rounds (it starts the big swarm, which would slow every other workload)
FINAL = [("swarm", swarmload.run_swarm)]
#: only with ``--only cluster``: a master cluster of 1, 2 and 3 masters (benchmarks/cluster.py)
CLUSTER = "cluster"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short version (a few minutes)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument("--swarm", type=int, default=500, help="simulated minions (0: none)")
    parser.add_argument(
        "--swarm-jobs",
        type=int,
        metavar="N",
        help="jobs per API in the swarm workload (a job lasts ~25 s at 5,000 minions;"
        " more jobs make CPU per minion more precise)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--only",
        help="comma-separated workloads: "
        + ",".join(w[0] for w in [*WORKLOADS, *FINAL])
        + f",{CLUSTER}",
    )
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="only rebuild the tables from a results.json"
    )
    return parser.parse_args(argv)


def start_helpers(bench: Bench) -> None:
    """The bare Tornado server and the two fast simulated minions."""
    stack = bench.stack
    bare = stack.start(
        "bare",
        [sys.executable, str(HERE / "bare.py"), str(stack.bare_port)],
        stdout=subprocess.PIPE,
    )
    if bare.stdout.readline().strip() != b"ready":  # type: ignore[union-attr]
        raise StackError("bare Tornado server did not start\n" + stack.tail("bare"))
    bench.bare = Api("bare", f"http://{HOST}:{stack.bare_port}", stack.bare_port, bare.pid)
    stack.start_swarm("fast", len(jobs.FAST), jobs.FAST_PREFIX, 60)


async def warm_up(bench: Bench) -> None:
    """One login and one job per API, so no workload pays first-use costs."""
    for api in bench.apis.values():
        token = await login(api)
        client = api.client(token)
        resp = await client.request(
            "POST", "/", [{"client": "local", "tgt": jobs.TARGET, "fun": "test.ping"}]
        )
        client.close()
        if resp.status != 200:
            bench.note(f"warm-up: {api.name} answered {resp.status} to local test.ping")


async def run_all(bench: Bench, rounds: int, only: set[str] | None) -> None:
    await warm_up(bench)
    for round_index in range(rounds):
        for name, func, key in WORKLOADS:
            wanted = bench.params[key]["rounds"] if key else rounds
            if round_index >= wanted or (only and name not in only):
                continue
            print(f"== round {round_index + 1}/{rounds}: {name}", flush=True)
            started = time.monotonic()
            try:
                await func(bench, round_index)
            except Exception as exc:
                bench.note(f"{name} round {round_index}: failed: {exc!r}"[:500])
            print(f"   ({time.monotonic() - started:.1f}s)", flush=True)
            bench.stack.check_alive()
    for name, final in FINAL:
        if bench.swarm_wanted and (not only or name in only):
            final_rounds = bench.params[name]["rounds"]
            print(f"== {name}: {bench.swarm_wanted} simulated minions", flush=True)
            try:
                await final(bench, final_rounds)
            except Exception as exc:
                bench.note(f"{name}: failed: {exc!r}"[:2000])


def git_state() -> str:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = len(git("status", "--porcelain").splitlines())
    return f"{git('rev-parse', '--short', 'HEAD')} ({changed} changed files in the tree)"


def environment(
    args: argparse.Namespace, params: dict, nofile: int, started: float, tree: str
) -> dict:
    import psutil
    import salt.version
    import tornado

    now = git_state()
    memory = round(psutil.virtual_memory().total / 2**30)
    return {
        "mode": "quick" if args.quick else "full",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "git": tree if now == tree else f"{tree} at the start, {now} at the end",
        "python": platform.python_version(),
        "salt": salt.version.__version__,
        "tornado": tornado.version,
        "cpus": procs.cores(),
        "machine": f"{platform.machine()}, {memory} GB RAM",
        "RLIMIT_NOFILE": nofile,
        "duration_s": round(time.monotonic() - started),
        "params": params,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        print(report.write(args.out, saved["records"], saved["env"], saved["notes"]))
        return 0
    params = copy.deepcopy(QUICK if args.quick else FULL)
    if args.swarm_jobs:
        # a bound on wall time too: the count is what stops the load
        params["swarm"].update(count=args.swarm_jobs, seconds=120.0 * args.swarm_jobs)
    rounds = args.rounds or params["rounds"]
    only = set(args.only.split(",")) if args.only else None
    if only and CLUSTER in only:
        # Its own clusters of 1-3 masters (benchmarks/cluster.py), not the stack below.
        code = cluster.main([*(["--quick"] if args.quick else []), "--out", str(args.out)])
        only.discard(CLUSTER)
        if not only or code:
            return code
    started = time.monotonic()
    tree = git_state()  # the code under test is what the tree holds now
    nofile = procs.raise_nofile()  # before any daemon starts: they inherit it
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = Stack(keep=args.keep)
    print(f"benchmark directory: {stack.tmp}", flush=True)
    code = 0
    try:
        stack.write_configs()
        stack.start_salt()
        stack.wait_ready()
        print(
            f"salt-master, 2 minions and 3 salt-api up in {time.monotonic() - started:.1f}s",
            flush=True,
        )
        bench = Bench(stack, args.quick, params, swarm_wanted=args.swarm)
        start_helpers(bench)
        asyncio.run(run_all(bench, rounds, only))
        env = environment(args, params, nofile, started, tree)
        print("\n" + report.write(args.out, bench.records, env, bench.notes))
        print(f"\nresults: {args.out / 'results.md'} and {args.out / 'results.json'}")
    except StackError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.close()
        if args.keep:
            print(f"kept {stack.tmp}")
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
