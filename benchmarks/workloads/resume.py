"""Resume after a crash: events at a steady rate, the API serving the stream killed
half-way, the client resuming on another API with ``Last-Event-ID``.

Two extra rest_ext salt-api processes (A and B, one worker each, ``event_replay_size``
above the event count) on the bench master; ``count`` events at ``rate`` per second are
fired onto the master's bus (``busprobe.py fire``); an SSE client reads them from A;
after ``kill_at`` events A's process group gets SIGKILL and the client reconnects to B
with the id of the last event it got. Run without a shared store (ids are derived from
the events, so B knows A's ids) and with ``shared_store`` on a private redis-server.

Reported per variant: lost and duplicated events (over the whole run, both streams),
the resume gap (from the kill to B's first event), API CPU per delivered event (A and B
together) and the stream notices the client saw (none expected).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from benchmarks import procs
from benchmarks.stack import BIN, HOST, free_ports, http_answers
from benchmarks.workloads.common import Api, Bench, login
from salt_ext_rest.testing.streams import parse_sse

NOTICE = "salt/netapi/rest_ext/stream/"
VARIANTS = ("local", "redis")


class SseClient:
    """One ``GET /events`` (HTTP/1.0: the body is the stream, no chunking)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.notices: list[str] = []
        self.last_id: str | None = None
        self.first_at: float | None = None
        self.opened = asyncio.Event()

    async def run(self, api: Api, token: str, tag: str, last_id: str | None = None) -> None:
        reader, writer = await asyncio.open_connection(HOST, api.port)
        resume = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        writer.write(
            f"GET /events?tag={tag} HTTP/1.0\r\nHost: {HOST}:{api.port}\r\n"
            f"Accept: text/event-stream\r\nX-Auth-Token: {token}\r\n{resume}\r\n".encode()
        )
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.opened.set()
            text = ""
            while chunk := await reader.read(65536):
                messages, text = parse_sse(text + chunk.decode())
                for message in messages:
                    self._take(message)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the API was killed
        finally:
            writer.close()

    def _take(self, message: dict) -> None:
        if "data" not in message:
            return
        if message.get("tag", "").startswith(NOTICE):
            self.notices.append(message["tag"][len(NOTICE) :])
            return
        self.seqs.append(json.loads(message["data"])["data"]["seq"])
        self.last_id = message.get("id")
        if self.first_at is None:
            self.first_at = time.perf_counter()


def start_api(bench: Bench, name: str, store: str, size: int) -> Api:
    stack = bench.stack
    (port,) = free_ports(1)
    conf = dict(stack.master_config())
    conf["rest_ext"] = {"port": port, "host": HOST, "disable_ssl": True,
                        "event_replay_size": size, "shared_store": store}  # fmt: skip
    conf["api_pidfile"] = stack.under("run", f"api-{name}.pid")
    conf["api_logfile"] = stack.under("logs", f"api-{name}.log")
    stack.write(stack.conf_dir(name) / "master", conf)
    proc = stack.start(name, [str(BIN / "salt-api"), "-c", str(stack.conf_dir(name))])
    url = f"http://{HOST}:{port}"
    stack.wait(name, lambda: http_answers(url), 60, names=(name,))
    return Api(name, url, port, proc.pid)


async def until(predicate, timeout: float, idle: float | None = None, size=None) -> None:
    """Until ``predicate()``, or ``timeout`` s, or ``size()`` unchanged for ``idle`` s."""
    start = changed = time.monotonic()
    last = size() if size else None
    while not predicate() and time.monotonic() - start < timeout:
        await asyncio.sleep(0.01)
        if size is not None and idle is not None:
            now = size()
            if now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed > idle:
                return


async def measure(bench: Bench, a: Api, b: Api, step: str, p: dict) -> dict:
    token = await login(a)
    tag = f"bench/fanout/{step}"
    first, second = SseClient(), SseClient()
    reading = asyncio.create_task(first.run(a, token, tag))
    await asyncio.wait_for(first.opened.wait(), 30)
    client = b.client(token)  # B has served a request before (as behind a balancer)
    await client.request("GET", "/stats")
    client.close()
    await asyncio.sleep(0.5)
    cpu0 = {api.name: procs.cpu_seconds(api.pid) for api in (a, b)}
    seconds = p["count"] / p["rate"]
    loop = asyncio.get_running_loop()
    firing = loop.run_in_executor(None, bench.fire, step, p["rate"], p["count"], seconds * 2)
    await until(lambda: len(first.seqs) >= p["kill_at"], seconds * 2)
    seen_a, last_id = list(first.seqs), first.last_id  # what the client got from A
    cpu_a = procs.cpu_seconds(a.pid) - cpu0[a.name]
    killed = time.perf_counter()
    os.killpg(a.pid, signal.SIGKILL)
    reading.cancel()
    resumed = asyncio.create_task(second.run(b, token, tag, last_id))
    sent = (await firing)["sent"]
    await until(lambda: len(seen_a) + len(second.seqs) >= sent, 30, 5.0,
                lambda: len(second.seqs))  # fmt: skip
    await asyncio.sleep(1.0)  # a duplicate would come now
    cpu_b = procs.cpu_seconds(b.pid) - cpu0[b.name]
    resumed.cancel()
    got = seen_a + second.seqs
    delivered = len(got)
    return {
        "sent": sent,
        "killed_after": len(seen_a),
        "lost": len(set(range(sent)) - set(got)),
        "duplicated": delivered - len(set(got)),
        "resume_gap_ms": ((second.first_at or killed) - killed) * 1000,
        "api_cpu_us_per_event": (cpu_a + cpu_b) * 1e6 / max(1, delivered),
        "notices": ",".join(first.notices + second.notices) or "none",
    }


async def run_resume(bench: Bench, round_index: int) -> None:
    p = bench.params["resume"]
    results = {}
    for variant in VARIANTS if round_index % 2 == 0 else VARIANTS[::-1]:
        names = [f"resume-{variant}-a", f"resume-{variant}-b"]
        with contextlib.ExitStack() as cleanup:
            store = ""
            if variant == "redis":
                from salt_ext_rest.testing.redis import RedisServer

                server = RedisServer(Path(bench.stack.under("redis")))
                cleanup.enter_context(server)
                store = server.url
            cleanup.callback(bench.stack.stop, names, 5.0)
            a, b = (start_api(bench, name, store, p["count"] + 2000) for name in names)
            step = f"resume{variant}{round_index}"
            metrics = await measure(bench, a, b, step, p)
        variant_name = f"{variant} {p['count']} @{p['rate']}/s"
        results[variant] = bench.record("resume", variant_name, "rest_ext", round_index, metrics)
    local, shared = (results[v]["metrics"]["api_cpu_us_per_event"] for v in VARIANTS)
    print(f"  resume: API CPU per event with Redis / without: {shared / max(local, 1e-9):.2f}x")
