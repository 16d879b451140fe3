"""Memory per idle WebSocket: open N event WebSockets, measure the API's RSS and fds.

rest_ext and rest_tornado serve ``/all_events/<token>``; the bare Tornado server gives
the floor. rest_cherrypy's ``/ws`` needs ws4py and runs one process per connection, so
it is measured only when ws4py is importable, and then with at most ``cherrypy_cap``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import time

from benchmarks import procs
from benchmarks.loadgen.streams import Collector, connected, open_many, ws_request
from benchmarks.stack import HOST
from benchmarks.workloads.common import Bench, login


async def run_idle_ws(bench: Bench, round_index: int) -> None:
    p = bench.params["idle_ws"]
    targets: list[tuple[str, str, int]] = [
        ("rest_ext", "/all_events/{token}", p["count"]),
        ("rest_tornado", "/all_events/{token}", p["count"]),
        ("bare", "/ws", p["count"]),
    ]
    if importlib.util.find_spec("ws4py") is not None:
        targets.append(("rest_cherrypy", "/ws/{token}", p["cherrypy_cap"]))
    elif round_index == 0:
        bench.note(
            "idle WebSockets: rest_cherrypy skipped: ws4py is not installed (its /ws "
            "also forks one process per connection)"
        )
    if round_index % 2:
        targets.reverse()
    for name, path_tpl, count in targets:
        api = bench.bare if name == "bare" else bench.apis[name]
        if api is None:
            continue
        token = "" if name == "bare" else await login(api)
        path = path_tpl.format(token=token)
        await asyncio.sleep(1.0)
        rss0, fds0 = procs.rss_bytes(api.pid), procs.open_fds(api.pid)
        cpu0 = procs.cpu_seconds(api.pid)
        t0 = time.perf_counter()
        subs = await open_many(
            HOST,
            api.port,
            "ws",
            functools.partial(ws_request, HOST, api.port, path),
            count,
            Collector(),
            0,
            timeout=p["connect_seconds"],
            parallel=200,
        )
        open_s = time.perf_counter() - t0
        await asyncio.sleep(p["settle_seconds"])
        n = connected(subs)
        rss1, fds1 = procs.rss_bytes(api.pid), procs.open_fds(api.pid)
        cpu1 = procs.cpu_seconds(api.pid)
        await asyncio.sleep(p["idle_cpu_seconds"])
        cpu_idle = procs.cpu_seconds(api.pid) - cpu1
        for sub in subs:
            sub.close()
        await asyncio.sleep(p["settle_seconds"] + 1)
        rss2 = procs.rss_bytes(api.pid)
        failures = sorted({s.close_reason for s in subs if s.close_reason and not s.ready.done()})
        metrics = {
            "requested": count,
            "connected": n,
            "open_s": open_s,
            "handshakes_per_s": n / open_s if open_s else 0.0,
            "api_cpu_ms_per_handshake": (cpu1 - cpu0) * 1000 / max(1, n),
            "rss_before_mb": rss0 / 2**20,
            "rss_open_mb": rss1 / 2**20,
            "rss_after_close_mb": rss2 / 2**20,
            "kb_per_idle_ws": (rss1 - rss0) / 1024 / max(1, n),
            "fds_per_ws": (fds1 - fds0) / max(1, n),
            "idle_cpu_share_while_open": cpu_idle / p["idle_cpu_seconds"],
        }
        if failures:
            metrics["failures"] = failures[:3]
        bench.record("idle_ws", f"{count} open", name, round_index, metrics)
