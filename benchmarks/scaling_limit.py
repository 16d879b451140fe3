"""The machine's own limit for "2 workers vs 1": a bare Tornado server, no Salt, no auth.

``python benchmarks/scaling_limit.py [--cost-ms 0.35] [--rounds 3] [--seconds 6]``

One and two processes, each with its own ``SO_REUSEPORT`` socket (as rest_ext's
workers), serve ``GET /`` with a handler that burns about ``--cost-ms`` of CPU (JSON
encoding), loaded by ``wrk`` (``-t2 -c32``) in alternating rounds. It prints req/s for
each and the ratio of the medians: what any server with that CPU cost per request can
gain from a second worker on this machine, the load generator included. Compare it
with ``run.py --only scaleout`` (rest_ext's ``GET /stats`` costs about 0.3-0.4 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from benchmarks.loadgen import wrk
from benchmarks.stack import free_ports

DOC = {f"k{i}": {"a": i, "b": [i, i + 1, "x" * 20]} for i in range(60)}


def burn_loops(cost_ms: float) -> int:
    """How many encodings of ``DOC`` take about ``cost_ms`` here."""
    start, loops = time.process_time(), 0
    while time.process_time() - start < 0.2:
        json.dumps(DOC)
        loops += 1
    return max(1, round(loops * cost_ms / 200))


def serve(port: int, processes: int, loops: int) -> None:
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    class Burn(tornado.web.RequestHandler):
        def get(self) -> None:
            for _ in range(loops):
                body = json.dumps(DOC)
            self.finish(body[:100])

    for _ in range(processes - 1):
        if os.fork() == 0:
            break
    sockets = tornado.netutil.bind_sockets(port, "127.0.0.1", reuse_port=True)

    async def main() -> None:
        server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", Burn)]))
        server.add_sockets(sockets)
        await asyncio.Event().wait()

    asyncio.run(main())


def measure(binary: str, processes: int, loops: int, seconds: int) -> float:
    port = free_ports(1)[0]
    argv = [sys.executable, "-m", "benchmarks.scaling_limit", "--serve", str(port)]
    server = subprocess.Popen(
        [*argv, "--processes", str(processes), "--loops", str(loops)], start_new_session=True
    )
    try:
        time.sleep(1.5)
        url = f"http://127.0.0.1:{port}/"
        out = subprocess.run(
            [binary, "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True
        ).stdout
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cost-ms", type=float, default=0.35)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--loops", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.processes, args.loops)
        return 0
    binary = wrk.find()
    if binary is None:
        print("wrk is not available (apt-get install wrk): no figure")
        return 1
    loops = burn_loops(args.cost_ms)
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for processes in (1, 2):
            rates[processes].append(measure(binary, processes, loops, args.seconds))
            print(f"  {processes} process(es): {rates[processes][-1]:.0f} req/s", flush=True)
    one, two = (statistics.median(rates[n]) for n in (1, 2))
    print(f"bare Tornado, ~{args.cost_ms} ms CPU per request: 2 processes vs 1: "
          f"{two / one:.2f}x ({two:.0f} vs {one:.0f} req/s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
