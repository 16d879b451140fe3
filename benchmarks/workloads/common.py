"""What every workload shares: the APIs under test, logins, CPU accounting, results."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import procs
from benchmarks.loadgen.http import HttpClient, LoadResult
from benchmarks.stack import EAUTH, HERE, MINIONS, MODULES, USER, Stack


@dataclass
class Api:
    name: str
    url: str
    port: int
    pid: int  # salt-api (or bare server) process; its tree is what we account

    def client(self, token: str | None = None, timeout: float = 60.0) -> HttpClient:
        headers = {"X-Auth-Token": token} if token else {}
        return HttpClient(self.url, timeout=timeout, default_headers=headers)


@dataclass
class Bench:
    stack: Stack
    quick: bool
    params: dict[str, Any]
    records: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    apis: dict[str, Api] = field(default_factory=dict)
    firer: subprocess.Popen | None = None
    bare: Api | None = None
    swarm_wanted: int = 0
    swarm_size: int = 0

    def __post_init__(self) -> None:
        for module in MODULES:
            port = self.stack.api_ports[module]
            self.apis[module] = Api(module, self.stack.url(module), port, self.stack.pid(module))

    def order(self, round_index: int, names: list[str] | None = None) -> list[str]:
        """A B C in even rounds, C B A in odd ones: every pair runs A B B A."""
        names = list(names or MODULES)
        return names if round_index % 2 == 0 else names[::-1]

    def watched(self, target: str) -> dict[str, int]:
        """Process trees whose CPU a measurement reports."""
        pids = {"api": self.apis[target].pid if target in self.apis else self.bare.pid}  # type: ignore[union-attr]
        pids["master"] = self.stack.pid("master")
        # the minions (real and simulated): with the rest, how busy the machine was
        for name in self.stack.procs:
            if name in MINIONS or name in ("fast", "swarm"):
                pids[f"minion:{name}"] = self.stack.pid(name)
        for name in MODULES:
            if name != target:
                pids[f"idle:{name}"] = self.apis[name].pid
        return pids

    def record(
        self, workload: str, variant: str, api: str, round_index: int, metrics: dict[str, Any]
    ) -> dict:
        rec = {
            "workload": workload,
            "variant": variant,
            "api": api,
            "round": round_index,
            "metrics": metrics,
        }
        self.records.append(rec)
        shown = ", ".join(
            f"{k}={_fmt(v)}" for k, v in metrics.items() if not isinstance(v, list | dict)
        )
        print(f"  [{workload} {variant}] {api} r{round_index}: {shown}", flush=True)
        return rec

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  NOTE: {text}", flush=True)

    # -- the event firer (a separate process, see busprobe.py) -------------------------
    def fire(self, step: str, rate: float, count: int, seconds: float) -> dict:
        if self.firer is None:
            self.firer = self.stack.start(
                "firer",
                [sys.executable, str(HERE / "busprobe.py"), "fire", str(self.stack.master_conf)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            json.loads(self.firer.stdout.readline())  # type: ignore[union-attr]
        cmd = {"step": step, "rate": rate, "count": count, "seconds": seconds}
        self.firer.stdin.write((json.dumps(cmd) + "\n").encode())  # type: ignore[union-attr]
        self.firer.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.firer.stdout.readline())  # type: ignore[union-attr]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


async def login(api: Api) -> str:
    client = api.client()
    try:
        resp = await client.request(
            "POST", "/login", {"username": USER, "password": "x", "eauth": EAUTH}
        )
    finally:
        client.close()
    if resp.status != 200:
        raise RuntimeError(f"{api.name}: login answered {resp.status}: {resp.body[:200]!r}")
    return resp.json()["return"][0]["token"]


def load_metrics(result: LoadResult, watch: procs.CpuWatch, unit: str = "req") -> dict:
    """Wall and CPU figures of a load run."""
    done = max(result.ok, 1)
    lat = [x * 1000 for x in result.latencies]
    metrics = {
        f"{unit}_per_s": result.rate,
        "ok": result.ok,
        "errors": result.errors,
        "p50_ms": procs.percentile(lat, 50),
        "p99_ms": procs.percentile(lat, 99),
        f"api_cpu_ms_per_{unit}": watch.used["api"] * 1000 / done,
        "api_cpu_share": watch.share("api"),
        "master_cpu_share": watch.share("master"),
        "loadgen_cpu_share": watch.share("loadgen"),
    }
    idle = sum(v for k, v in watch.used.items() if k.startswith("idle:"))
    metrics["idle_apis_cpu_share"] = idle / watch.wall if watch.wall else 0.0
    minions = sum(v for k, v in watch.used.items() if k.startswith("minion:"))
    metrics["minions_cpu_share"] = minions / watch.wall if watch.wall else 0.0
    # every watched process and the load generator: near the core count = saturated
    metrics["all_cpu_share"] = sum(watch.used.values()) / watch.wall if watch.wall else 0.0
    if result.error_samples:
        metrics["error_samples"] = result.error_samples
    return metrics


@contextlib.contextmanager
def timer():
    start = time.perf_counter()
    box = {"s": 0.0}
    yield box
    box["s"] = time.perf_counter() - start
