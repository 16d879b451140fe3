"""``wrk`` (C, Debian package ``wrk``) as a load generator, where it can be had.

On 2 cores the Python load generator's own CPU per request caps what 2 API workers
can show: ``wrk`` costs a few microseconds per request. :func:`find` returns its path,
installing the package with apt-get once when running as root; ``None`` means: use
the Python load generator instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import subprocess

from benchmarks.loadgen.http import LoadResult

_tried = False
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def find() -> str | None:
    global _tried
    path = shutil.which("wrk")
    if path or _tried or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    _tried = True
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which("wrk")


async def run(
    wrk: str, url: str, headers: dict[str, str], concurrency: int, seconds: float
) -> tuple[LoadResult, dict[str, float]]:
    """``GET url`` for ``seconds`` on ``concurrency`` keep-alive connections (one wrk
    thread): the result (no per-request latencies) and ``{"p50_ms", "p99_ms",
    "cpu_s"}`` (wrk's own CPU seconds)."""
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    before = _children_cpu()
    proc = await asyncio.create_subprocess_exec(
        *argv, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    text = out.decode(errors="replace")
    if proc.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {(text + err.decode())[-300:]}")
    result, figures = parse(text)
    figures["cpu_s"] = _children_cpu() - before
    return result, figures


def parse(text: str) -> tuple[LoadResult, dict[str, float]]:
    """wrk's summary: requests, duration, non-2xx and socket errors, latency percentiles."""
    result, figures = LoadResult(), {}
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    assert done is not None, text
    result.wall = float(done.group(2)) * _UNITS[done.group(3)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    failed = int(bad.group(1)) if bad else 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    result.ok = int(done.group(1)) - failed
    result.errors = failed + (sum(map(int, sockets.groups())) if sockets else 0)
    for q in ("50", "99"):
        found = re.search(rf"^\s+{q}%\s+([\d.]+)(\w+)", text, re.M)
        if found:
            figures[f"p{q}_ms"] = float(found.group(1)) * _UNITS[found.group(2)] * 1000
    return result, figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
