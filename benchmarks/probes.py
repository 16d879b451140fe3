"""What the probes cost: ``/healthz`` and ``/readyz`` under a probe storm, beside ``GET /``.

    python benchmarks/probes.py [--count N] [--seconds S] [--rounds R] [--keep]

Starts a private salt-master and one rest_ext salt-api (127.0.0.1, a temporary
directory; no minion: the probes need none), then per round and concurrency (1, 10)
sends ``GET /`` (the baseline: no Salt call), ``GET /healthz``, ``GET /readyz``
anonymous and with a token. For each: requests per second, p50/p99 wall latency, the
salt-api's CPU ms per request (psutil, its process tree) and the master's CPU share
while the storm lasts, beside the master's share while idle for as long. The readiness
checks run at most once a second per worker whatever the probe rate, so a storm should
cost the master about what idling costs. Medians over rounds are printed. Last, probes
1.1 s apart (each a fresh round of checks): the salt-api's CPU per round and its open
file descriptors before and after (a leaked channel or socket would show).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks import procs  # noqa: E402
from benchmarks.loadgen.http import HttpClient, run_load  # noqa: E402
from benchmarks.report import print_case_medians  # noqa: E402
from benchmarks.stack import BIN, Stack, http_answers  # noqa: E402
from benchmarks.workloads.common import Api, login  # noqa: E402

MODULE = "rest_ext"


def start(stack: Stack) -> None:
    stack.write_configs()
    stack.start("master", [str(BIN / "salt-master"), "-c", str(stack.conf_dir("master"))])
    api_conf = str(stack.conf_dir(f"api-{MODULE}"))
    stack.start(MODULE, [str(BIN / "salt-api"), "-c", api_conf])
    url = stack.url(MODULE)
    stack.wait(MODULE, lambda: http_answers(url), 120)
    stack.wait("/readyz 200", lambda: status(url + "/readyz") == 200, 120)


def status(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status)
    except urllib.request.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def op(path: str, want: int):
    async def get(client: HttpClient, index: int) -> bool:
        return (await client.request("GET", path)).status == want

    return get


async def measure(stack: Stack, api: Api, token: str, count: int, seconds: float) -> dict:
    pids = {"api": stack.pid(MODULE), "master": stack.pid("master")}
    cases = {
        "GET /": (api.client, op("/", 200)),
        "GET /healthz": (api.client, op("/healthz", 200)),
        "GET /readyz": (api.client, op("/readyz", 200)),
        "GET /readyz +token": (lambda: api.client(token), op("/readyz", 200)),
    }
    rows: dict[str, dict[str, float]] = {}
    with procs.CpuWatch(pids) as idle:
        await asyncio.sleep(seconds)
    rows["idle"] = {"master_cpu_share": idle.share("master"), "api_cpu_share": idle.share("api")}
    for concurrency in (1, 10):
        for name, (make_client, get) in cases.items():
            with procs.CpuWatch(pids) as watch:
                result = await run_load(make_client, get, concurrency, count, seconds)
            done = max(result.ok, 1)
            lat = [x * 1000 for x in result.latencies]
            rows[f"{name} c={concurrency}"] = {
                "req_per_s": result.rate,
                "errors": result.errors,
                "p50_ms": procs.percentile(lat, 50) or 0.0,
                "p99_ms": procs.percentile(lat, 99) or 0.0,
                "api_cpu_ms_per_req": watch.used["api"] * 1000 / done,
                "master_cpu_share": watch.share("master"),
            }
    return rows


async def spaced_rounds(stack: Stack, api: Api, count: int) -> dict:
    """``count`` probes 1.1 s apart: each runs a fresh round of checks. The salt-api's
    CPU per round (the checks and one request) and its open fds before and after (a
    leak of channels or sockets would grow them)."""
    pid = stack.pid(MODULE)
    client = api.client()
    await client.request("GET", "/readyz")
    fds = procs.open_fds(pid)
    busy = 0.0
    try:
        for _ in range(count):
            await asyncio.sleep(1.1)
            before = procs.cpu_seconds(pid)
            response = await client.request("GET", "/readyz")
            await asyncio.sleep(0.2)  # a round's tail (channel close) is counted too
            busy += procs.cpu_seconds(pid) - before
            assert response.status == 200, response.body
    finally:
        client.close()
    return {
        "api_cpu_ms_per_round": busy * 1000 / count,
        "open_fds_before": fds,
        "open_fds_after": procs.open_fds(pid),
    }


def print_medians(rounds: list[dict]) -> None:
    print_case_medians(rounds, "process trees", 24)
    base = {c: statistics.median(r[f"GET / c={c}"]["api_cpu_ms_per_req"] for r in rounds)
            for c in (1, 10)}  # fmt: skip
    for c in (1, 10):
        for case in ("GET /healthz", "GET /readyz", "GET /readyz +token"):
            cpu = statistics.median(r[f"{case} c={c}"]["api_cpu_ms_per_req"] for r in rounds)
            print(f"  ratio api CPU/req {case} / GET / (c={c}): {cpu / base[c]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spaced", type=int, default=20, help="readiness rounds, 1.1 s apart")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    stack = Stack(keep=args.keep)
    try:
        start(stack)
        api = Api(MODULE, stack.url(MODULE), stack.api_ports[MODULE], stack.pid(MODULE))
        token = asyncio.run(login(api))
        rounds = []
        for index in range(args.rounds):
            started = time.monotonic()
            rounds.append(asyncio.run(measure(stack, api, token, args.count, args.seconds)))
            print(f"round {index + 1}: {time.monotonic() - started:.1f}s", flush=True)
        print_medians(rounds)
        spaced = asyncio.run(spaced_rounds(stack, api, args.spaced))
        print(f"\n{args.spaced} readiness rounds 1.1 s apart:", spaced)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
