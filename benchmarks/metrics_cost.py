"""What ``/metrics`` costs: API CPU per cheap authenticated request, metrics on vs off,
and the time of a scrape of 4 workers.

    python benchmarks/metrics_cost.py [--rounds 4] [--seconds 5] [--concurrency 10]

A private salt-master (benchmarks/stack.py, no minions) and three rest_ext salt-apis on
it: ``metrics: true`` and ``metrics: false`` with one process each, and ``metrics:
true`` with ``num_processes: 4``. The cheap request is ``GET /stats`` with
``X-Auth-Token`` (a cached token check, no Salt call), loaded by two ``wrk`` at once,
one per API, in each round (so other load on the machine weighs on both alike).
Figures: each API process tree's CPU (psutil: user + system) per request, the median
over the rounds, and the ratio on/off, of the medians and the median of each round's
ratio (the goal is at most 1.05). Then, after load has given all 4 workers every label set,
sequential scrapes of the 4-worker API: wall ms per scrape (p50/p99; goal at most
20 ms) and API CPU ms per scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import procs  # noqa: E402
from benchmarks.loadgen import wrk  # noqa: E402
from benchmarks.stack import BIN, EAUTH, HOST, USER, Stack, free_ports, http_answers  # noqa: E402

SCRAPES = 200
MICRO = 100_000


def added_work_us() -> float:
    """CPU µs the metrics add to one request, in this process: the route label and the
    request's counts, a token check's count through the authenticator wrapper, and the
    once-a-second sampling spread over the requests of that second (1000 here).
    The machine's other load hardly moves this figure, unlike the API's CPU."""
    import os
    import tempfile

    from salt_ext_rest.auth.identity import Credentials
    from salt_ext_rest.operations import metrics
    from salt_ext_rest.operations.instrument import CountedAuthenticator
    from salt_ext_rest.operations.route_meter import RouteMeter

    directory = metrics.prepare_directory(tempfile.mkdtemp(prefix="rest_ext-metrics-"))
    os.environ[metrics.ENV] = directory
    recorder = metrics.Metrics(directory)
    meter = RouteMeter(recorder)
    ((_, _, kwargs),) = meter.label([("/stats/?", object, {})])

    class Request:
        method = "GET"

        def request_time(self) -> float:
            return 0.0004

    class Handler:
        def __init__(self, request: Request) -> None:
            self.request = request

        def get_status(self) -> int:
            return 200

    class Backend:
        name = "salt-token"

        async def authenticate(self, credentials: Credentials) -> object:
            return object()

    async def authenticate(backend, credentials: Credentials) -> float:
        started = time.process_time()
        for _ in range(MICRO):
            await backend.authenticate(credentials)
        return time.process_time() - started

    started = time.process_time()
    for index in range(MICRO):
        request = Request()
        meter.begin(request, kwargs)
        meter.end(Handler(request))  # type: ignore[arg-type]
        if index % 1000 == 999:
            recorder.sample()
    metered = time.process_time() - started
    started = time.process_time()
    for _ in range(MICRO):
        Handler(Request())
    bare = time.process_time() - started
    token = Credentials(token="a" * 64)
    plain = asyncio.run(authenticate(Backend(), token))
    counted = asyncio.run(authenticate(CountedAuthenticator(Backend(), recorder), token))
    return ((metered - bare) + (counted - plain)) * 1e6 / MICRO


def start_api(stack: Stack, name: str, block: dict) -> tuple[str, int]:
    port = free_ports(1)[0]
    conf = json.loads(stack.master_conf.read_text())
    conf["rest_ext"] = {"port": port, "host": HOST, "disable_ssl": True, **block}
    conf["api_pidfile"] = stack.under("run", f"api-{name}.pid")
    conf["api_logfile"] = stack.under("logs", f"api-{name}.log")
    stack.write(stack.conf_dir(f"api-{name}") / "master", conf)
    proc = stack.start(name, [str(BIN / "salt-api"), "-c", str(stack.conf_dir(f"api-{name}"))])
    url = f"http://{HOST}:{port}"
    stack.wait(name, lambda: http_answers(url), 90, names=(name,))
    return url, proc.pid


def login(url: str) -> str:
    body = json.dumps({"username": USER, "password": "x", "eauth": EAUTH}).encode()
    request = urllib.request.Request(
        f"{url}/login", body, {"Content-Type": "application/json", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["return"][0]["token"]


async def cpu_per_request(path: str, url: str, pid: int, token: str, args) -> dict:
    before = procs.cpu_seconds(pid)
    result, figures = await wrk.run(
        path, f"{url}/stats", {"X-Auth-Token": token}, args.concurrency, args.seconds
    )
    used = procs.cpu_seconds(pid) - before
    return {
        "req_per_s": result.rate,
        "errors": result.errors,
        "cpu_ms_per_req": used * 1000 / max(result.ok, 1),
        "p50_ms": figures.get("p50_ms"),
    }


def scrape_figures(url: str, pid: int, token: str) -> dict:
    headers = {"X-Auth-Token": token}
    times = []
    before = procs.cpu_seconds(pid)
    size = 0
    for _ in range(SCRAPES):
        started = time.perf_counter()
        request = urllib.request.Request(f"{url}/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            size = len(answer.read())
        times.append((time.perf_counter() - started) * 1000)
    used = procs.cpu_seconds(pid) - before
    return {
        "p50_ms": procs.percentile(times, 50),
        "p99_ms": procs.percentile(times, 99),
        "cpu_ms_per_scrape": used * 1000 / SCRAPES,
        "bytes": size,
    }


async def main_async(args) -> dict:
    path = wrk.find()
    if path is None:
        raise SystemExit("wrk is needed (Debian package wrk)")
    stack = Stack()
    try:
        stack.write_configs()
        stack.start("master", [str(BIN / "salt-master"), "-c", str(stack.conf_dir("master"))])
        apis = {
            # --control: both off, to see the noise floor of the comparison
            "on": start_api(stack, "metrics-on", {"metrics": not args.control}),
            "off": start_api(stack, "metrics-off", {"metrics": False}),
            "four": start_api(stack, "metrics-4", {"num_processes": 4}),
        }
        tokens = {name: login(url) for name, (url, _) in apis.items()}
        runs: dict[str, list[dict]] = {"on": [], "off": []}
        for _ in range(args.rounds):
            # both at once: whatever else the machine does weighs on both alike
            on, off = await asyncio.gather(
                *(cpu_per_request(path, *apis[name], tokens[name], args) for name in runs)
            )
            runs["on"].append(on)
            runs["off"].append(off)
        url, pid = apis["four"]
        for _ in range(2):  # every worker sees requests, logins and scrapes
            await wrk.run(path, f"{url}/stats", {"X-Auth-Token": tokens["four"]}, 16, 2)
        return {"runs": runs, "scrape": scrape_figures(url, pid, tokens["four"])}
    finally:
        stack.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--control", action="store_true", help="'on' runs with metrics off too")
    args = parser.parse_args(argv)
    added = added_work_us()
    figures = asyncio.run(main_async(args))
    cpu = {
        name: statistics.median(r["cpu_ms_per_req"] for r in runs)
        for name, runs in figures["runs"].items()
    }
    rate = {
        name: statistics.median(r["req_per_s"] for r in runs)
        for name, runs in figures["runs"].items()
    }
    for name in ("on", "off"):
        per_round = ", ".join(f"{r['cpu_ms_per_req']:.4f}" for r in figures["runs"][name])
        print(f"metrics {name:3}: {cpu[name]:.4f} ms API CPU/req (rounds: {per_round}), "
              f"{rate[name]:.0f} req/s")  # fmt: skip
    ratio = cpu["on"] / cpu["off"]
    paired = statistics.median(
        on["cpu_ms_per_req"] / off["cpu_ms_per_req"]
        for on, off in zip(figures["runs"]["on"], figures["runs"]["off"], strict=True)
    )
    verdict = "met" if max(ratio, paired) <= 1.05 else "MISSED"
    print(f"ratio on/off: {ratio:.3f} of the medians, {paired:.3f} median of the rounds' "
          f"(goal <= 1.05: {verdict})")  # fmt: skip
    share = added / 10 / cpu["off"]
    print(f"added work per request, in-process: {added:.2f} µs = {share:.2f} % "
          "of the API's CPU per request with metrics off")  # fmt: skip
    scrape = figures["scrape"]
    print(
        f"scrape, 4 workers: p50 {scrape['p50_ms']:.2f} ms, p99 {scrape['p99_ms']:.2f} ms "
        f"(goal <= 20 ms: {'met' if scrape['p50_ms'] <= 20 else 'MISSED'}), "
        f"{scrape['cpu_ms_per_scrape']:.2f} ms API CPU, {scrape['bytes']} bytes"
    )
    summary = {"cpu_ms_per_req": cpu, "ratio": ratio, "paired": paired, "added_us": added}
    print(json.dumps({**summary, "scrape": scrape}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
