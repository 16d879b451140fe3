"""What the shared state costs per call: this process's memory, the SQLite file, Redis.

    python benchmarks/shared_state.py [--calls N] [--procs P]

One login check (``take`` on a username and an address bucket, as each eauth attempt
does) and one stream slot (acquire + release) per call, measured in one process
(mean ms per call), then with P processes hammering the same store at once (p50/p99 of
each call: the contention the workers of a busy host see). Starts its own
``redis-server`` (Debian's package) on a free loopback port; prints figures and the
ratios to memory.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from salt_ext_rest.shared.local import SqliteState  # noqa: E402
from salt_ext_rest.shared.memory import MemoryState  # noqa: E402
from salt_ext_rest.shared.redis_link import RedisLink  # noqa: E402
from salt_ext_rest.shared.redis_state import RedisState  # noqa: E402
from salt_ext_rest.shared.state import Bucket  # noqa: E402
from salt_ext_rest.testing.redis import RedisServer  # noqa: E402


def make(kind: str, path: str, url: str, prefix: str):
    if kind == "memory":
        return MemoryState()
    if kind == "file":
        return SqliteState(path)
    return RedisState(RedisLink(url, 0.25, prefix))


async def calls(kind: str, path: str, url: str, prefix: str, count: int) -> list[float]:
    """Seconds of each call (a login check, then a slot taken and given back)."""
    state = make(kind, path, url, prefix)
    worker = uuid.uuid4().hex[:6]
    times = []
    for i in range(count):
        buckets = [Bucket("user", f"u{i % 50}", 10**9, 1.0), Bucket("address", "a", 10**9, 1.0)]
        started = time.perf_counter()
        await state.take(buckets, 1, check=True)
        times.append(time.perf_counter() - started)
        lease = f"{worker}:{i}"
        started = time.perf_counter()
        await state.acquire_slot("digest", lease, 10**6)
        await state.release_slot("digest", lease)
        times.append((time.perf_counter() - started) / 2)
    await state.close()
    return times


def run_in_process(args: tuple, queue) -> None:
    queue.put(asyncio.run(calls(*args)))


def contended(kind: str, path: str, url: str, prefix: str, count: int, procs: int) -> list[float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=run_in_process, args=((kind, path, url, prefix, count), queue))
        for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    times = [t for _ in workers for t in queue.get(timeout=600)]
    for worker in workers:
        worker.join()
    return times


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=4)
    args = parser.parse_args()
    rows = {}
    with (
        tempfile.TemporaryDirectory(prefix="rest_ext-bench-") as tmp,
        RedisServer(Path(tmp) / "redis") as redis,
    ):
        for kind in ("memory", "file", "redis"):
            path, prefix = f"{tmp}/{kind}.sqlite", f"bench-{kind}:"
            one = asyncio.run(calls(kind, path, redis.url, prefix, args.calls))
            many = (
                contended(kind, path, redis.url, prefix + "c:", args.calls, args.procs)
                if kind != "memory"
                else one
            )
            rows[kind] = (statistics.fmean(one) * 1000, pct(many, 0.5), pct(many, 0.99))
    base = rows["memory"][0]
    print(f"shared state, {args.calls} calls x 2 ops; contended: {args.procs} processes")
    print(f"{'store':8} {'ms/call':>9} {'x memory':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, (mean, p50, p99) in rows.items():
        contention = f"{p50:8.3f} {p99:8.3f}" if kind != "memory" else f"{'-':>8} {'-':>8}"
        print(f"{kind:8} {mean:9.3f} {mean / base:9.1f} {contention}")


if __name__ == "__main__":
    main()
