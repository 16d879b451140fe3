"""API CPU per job only (issue 14): a quicker ``--only jobcost`` without the idle-event part.

    python benchmarks/jobcpu.py [--apis rest_ext,rest_cherrypy] [--kinds runner,wheel]
                                [--count 30] [--rounds 2]
                                [--profile /tmp/out.txt]

Starts the private stack (``stack.py``), then for ``local test.ping`` (two real minions),
``runner test.arg`` and ``wheel key.list_all`` (``--kinds``), at c=1 and c=10, runs the
same load ``jobcost`` runs and prints the API's process-tree CPU per job (psutil) for
each API, interleaved A B B A. With ``--profile`` it records rest_ext with py-spy (if
installed) during an extra c=1 run of each kind, as raw folded stacks.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import procs  # noqa: E402
from benchmarks.loadgen.http import run_load  # noqa: E402
from benchmarks.stack import Stack  # noqa: E402
from benchmarks.workloads.common import Bench, login  # noqa: E402
from benchmarks.workloads.jobcost import KINDS as OPS  # noqa: E402

KINDS = tuple(OPS)


def op_for(kind: str, incomplete: dict):
    return OPS[kind](incomplete)


async def one(bench: Bench, name: str, token: str, kind: str, conc: int, count: int) -> float:
    api, incomplete = bench.apis[name], {}
    op = op_for(kind, incomplete)
    make = lambda: api.client(token)  # noqa: E731
    await run_load(make, op, conc, 2 * conc, 10.0)  # warm-up: every thread's Salt objects
    incomplete.clear()
    before = thread_times(api.pid)
    with procs.CpuWatch({"api": api.pid}) as watch:
        result = await run_load(make, op, conc, count * (2 if conc > 1 else 1), 60.0)
    if THREADS:
        show_threads(before, thread_times(api.pid), max(result.ok, 1))
    if incomplete.get("jobs") or incomplete.get("http_errors") or result.errors:
        print(f"  !! {name} {kind} c={conc}: incomplete={incomplete} errors={result.errors}")
    return watch.used["api"] * 1000 / max(result.ok, 1)


THREADS = "--threads" in sys.argv


def thread_times(pid: int) -> dict[tuple[int, int], tuple[str, float, float]]:
    """(pid, tid) → (thread name, user s, system s) for the API's process tree."""
    found = {}
    for proc in procs.tree(pid):
        try:
            for thread in proc.threads():
                comm = Path(f"/proc/{proc.pid}/task/{thread.id}/comm")
                name = comm.read_text().strip() if comm.exists() else "?"
                found[(proc.pid, thread.id)] = (name, thread.user_time, thread.system_time)
        except Exception:  # a thread or process gone meanwhile
            continue
    return found


def show_threads(before: dict, after: dict, jobs: int) -> None:
    by_name: dict[str, list[float]] = {}
    for key, (name, user, system) in after.items():
        _n, user0, system0 = before.get(key, (name, 0.0, 0.0))
        row = by_name.setdefault(f"{key[0]}:{key[1]}:{name[:12]}", [0.0, 0.0, 0])
        row[0] += user - user0
        row[1] += system - system0
        row[2] += 1
    gone = set(before) - set(after)
    for name, (user, system, count) in sorted(by_name.items(), key=lambda x: -x[1][0] - x[1][1]):
        if user + system > 0:
            per_job = f"user {user * 1000 / jobs:6.2f} sys {system * 1000 / jobs:6.2f} ms/job"
            print(f"    {name:32} x{count:<3} {per_job}")
    print(f"    threads gone meanwhile: {len(gone)}; new: {len(set(after) - set(before))}")


async def main_async(
    bench: Bench, apis: list[str], kinds: list[str], count: int, rounds: int, profile: str | None
):
    tokens = {name: await login(bench.apis[name]) for name in apis}
    await asyncio.sleep(2.0)
    with procs.CpuWatch({name: bench.apis[name].pid for name in apis}) as idle:
        await asyncio.sleep(10.0)
    for name in apis:
        print(f"  idle {name}: {idle.used[name] * 1000 / idle.wall:.2f} ms of CPU per second")
    figures: dict[tuple[str, int, str], list[float]] = {}
    for round_index in range(rounds):
        for kind in kinds:
            for conc in (1, 10):
                order = apis if round_index % 2 == 0 else apis[::-1]
                for name in order:
                    ms = await one(bench, name, tokens[name], kind, conc, count)
                    figures.setdefault((kind, conc, name), []).append(ms)
                    print(f"  r{round_index} {kind} c={conc} {name}: {ms:.2f} ms/job", flush=True)
    print("\nmedian API CPU per job (ms):")
    for (kind, conc, name), values in figures.items():
        print(f"  {kind:16} c={conc:<3} {name:14} {statistics.median(values):7.2f}  {values}")
    if profile and shutil.which("py-spy", path=str(Path(sys.executable).parent)):
        for kind in kinds:
            await record(bench, tokens["rest_ext"], kind, 1, f"{profile}.{kind.split()[0]}")


async def record(bench: Bench, token: str, kind: str, conc: int, out: str) -> None:
    """py-spy (raw folded stacks, native) on rest_ext's processes during one run."""
    pids = [p.pid for p in procs.tree(bench.apis["rest_ext"].pid)]
    spy = Path(sys.executable).parent / "py-spy"
    recs = [
        subprocess.Popen([str(spy), "record", "--gil", "--nonblocking", "-r", "1000", "-d",
                          "30", "-p", str(pid), "-o", f"{out}.{pid}", "-f", "raw"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in pids
    ]  # fmt: skip
    await asyncio.sleep(1.0)
    ms = await one(bench, "rest_ext", token, kind, conc, 200 if kind.startswith("local") else 300)
    for rec in recs:
        rec.wait()
    print(f"profile of {kind} c={conc} ({ms:.2f} ms/job): {out}.<pid> for {pids}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apis", default="rest_ext,rest_cherrypy")
    parser.add_argument(
        "--kinds", default="local,runner,wheel", help="which kinds (first word), e.g. runner"
    )
    parser.add_argument("--count", type=int, default=20, help="jobs at c=1 (2x at c=10)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", action="store_true", help="CPU per thread of rest_ext")
    parser.add_argument("--profile", help="py-spy raw output prefix (rest_ext, c=1)")
    args = parser.parse_args()
    stack = Stack()
    try:
        stack.write_configs()
        stack.start_salt()
        stack.wait_ready()
        bench = Bench(stack, True, {})
        apis = args.apis.split(",")
        wanted = args.kinds.split(",")
        kinds = [kind for kind in KINDS if kind.split()[0] in wanted]
        asyncio.run(main_async(bench, apis, kinds, args.count, args.rounds, args.profile))
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
