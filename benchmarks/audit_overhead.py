"""What the audit log costs: server CPU per lowstate request, audit off vs on (a file).

    python benchmarks/audit_overhead.py [--requests N] [--rounds R]

Runs the real application on the stand-in gateway (no Salt: the figure is rest_ext's
own work, not Salt's) in a child process, once with auditing off and once with
``audit_log_file`` set, and sends ``N`` sequential ``POST /`` chunks (one audit line
each) over one keep-alive connection. Measures the server process's CPU (psutil:
user + system, the audit writer thread included) per request; rounds alternate
off/on, on/off so drift cancels; prints medians and the on/off ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import procs  # noqa: E402

CHUNK = {
    "client": "local",
    "tgt": "web*",
    "fun": "test.arg",
    "arg": ["one", "two"],
    "kwarg": {"password": "x", "color": "blue"},
}


def serve(audit_file: str) -> None:
    """The child: the application on the stand-in gateway, port printed on stdout."""
    import asyncio

    import tornado.httpserver
    import tornado.netutil

    from salt_ext_rest.http.app import make_app
    from salt_ext_rest.testing.gateway import STAND_IN_OPTS, StandInGateway, build_context_for

    block = {**STAND_IN_OPTS["rest_ext"], "max_request_body_size": 65536}
    if audit_file:
        block["audit_log_file"] = audit_file
    opts = {**STAND_IN_OPTS, "rest_ext": block}

    async def main() -> None:
        context = build_context_for(opts, StandInGateway(opts))
        context.audit.start()
        server = tornado.httpserver.HTTPServer(make_app(context))
        (sock,) = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets([sock])
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def measure(audit_file: str, count: int) -> float:
    """Server CPU microseconds per request."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", audit_file],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"username": "u", "password": "good", "eauth": "auto"})
        conn.request("POST", "/login", body, {"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["return"][0]["token"]
        headers = {"Content-Type": "application/json", "X-Auth-Token": token}
        payload = json.dumps(CHUNK)

        def run(n: int) -> None:
            for _ in range(n):
                conn.request("POST", "/", payload, headers)
                response = conn.getresponse()
                response.read()
                assert response.status == 200, response.status

        run(200)  # warm up
        time.sleep(0.2)
        before = procs.cpu_seconds(child.pid)
        run(count)
        time.sleep(0.2)  # let the writer thread finish the queue
        return (procs.cpu_seconds(child.pid) - before) / count * 1e6
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", default=None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    results: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        audit_file = os.path.join(tmp, "audit.log")
        for round_ in range(args.rounds):
            order = ["off", "on"] if round_ % 2 == 0 else ["on", "off"]
            for mode in order:
                results[mode].append(measure(audit_file if mode == "on" else "", args.requests))
        lines = len(Path(audit_file).read_text().splitlines())
    off, on = (statistics.median(results[m]) for m in ("off", "on"))
    print(f"requests per run: {args.requests}, rounds: {args.rounds}, audit lines: {lines}")
    print(f"server CPU per POST / (µs), median: off {off:.0f}, on {on:.0f}, on/off {on / off:.3f}")
    print(f"  off runs: {[round(x) for x in results['off']]}")
    print(f"  on runs:  {[round(x) for x in results['on']]}")


if __name__ == "__main__":
    main()
