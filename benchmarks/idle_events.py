"""API CPU per master event when no stream is open: the ``idle_events`` case alone, fast.

    python benchmarks/idle_events.py [--apis rest_ext,rest_cherrypy,rest_tornado]
        [--processes 1,2] [--events 5000] [--rate 1000] [--rounds 3] [--keep]
        [--set KEY=JSON ...] [--variant KEY=JSON ...] [--baseline GITREF]

Starts (under a temporary directory, 127.0.0.1 only) a salt-master with no minion and
one salt-api per API and ``num_processes`` value asked, then per round: the API trees'
CPU over ``--quiet`` seconds (their idle rate), then ``--events`` events tagged
``bench/fanout/...`` fired on the master bus at ``--rate`` per second by ``busprobe.py``
(a separate process) and the trees' CPU over the burst and one second after it. It prints
per API the CPU per event (psutil user+system of the salt-api process tree, minus its idle
rate over the same wall time) per round and the median. ``--set`` adds a rest_ext config
key (JSON value, e.g. ``--set metrics=false``); ``--variant`` runs one more rest_ext with
it, and ``--baseline REF`` one running rest_ext as of a git ref, both in the same bursts
(before/after under the same load). Takes about a minute; the workload is the one of
``run.py --only jobcost`` (``run_idle_events``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import procs  # noqa: E402
from benchmarks.stack import BIN, HERE, Stack, free_ports, http_answers, netapi_block  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apis", default="rest_ext", help="comma-separated netapi modules")
    parser.add_argument("--processes", default="1", help="rest_ext num_processes values, e.g. 1,2")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of idle measurement")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON", help="a rest_ext setting"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="also run rest_ext with this setting, in the same bursts",
    )
    parser.add_argument(
        "--baseline",
        metavar="GITREF",
        help="also run rest_ext as of GITREF (its src/ exported, first on PYTHONPATH): "
        "before and after in the same bursts",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--hold", action="store_true", help="print pids, wait for Enter first")
    return parser.parse_args(argv)


def setting(item: str) -> dict:
    key, _eq, value = item.partition("=")
    return {key: json.loads(value)}


def api_names(args: argparse.Namespace) -> list[tuple[str, str, int, bool, dict]]:
    """(label, module, num_processes, baseline, rest_ext settings) of each salt-api."""
    common: dict = {}
    for item in args.set:
        common.update(setting(item))
    out = []
    for module in args.apis.split(","):
        counts = [int(n) for n in args.processes.split(",")] if module == "rest_ext" else [1]
        for count in counts:
            label = module if count == 1 else f"{module}x{count}"
            out.append((label, module, count, False, common))
            if module == "rest_ext" and args.baseline:
                out.append((f"{label}@{args.baseline}", module, count, True, {}))
            if module == "rest_ext":
                for item in args.variant:
                    out.append((f"{label}[{item}]", module, count, False, common | setting(item)))
    return out


def export_baseline(stack: Stack, ref: str) -> dict[str, str]:
    """The environment of a salt-api running rest_ext as of ``ref``."""
    dest = stack.tmp / "baseline"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dict(os.environ, PYTHONPATH=str(dest / "src"))


def start_apis(stack: Stack, args: argparse.Namespace) -> dict[str, tuple[int, str]]:
    """Start each salt-api; ``{label: (pid, url)}`` once they answer."""
    master = json.loads(stack.master_conf.read_text())
    started = {}
    env = export_baseline(stack, args.baseline) if args.baseline else None
    for label, module, count, baseline, settings in api_names(args):
        (port,) = free_ports(1)
        block = netapi_block(module, port)
        if module == "rest_ext":
            block.update(settings, num_processes=count)
        conf = dict(master, **{module: block})
        conf["api_pidfile"] = stack.under("run", f"api-{label}.pid")
        conf["api_logfile"] = stack.under("logs", f"api-{label}.log")
        stack.write(stack.conf_dir(f"api-{label}") / "master", conf)
        argv = [str(BIN / "salt-api"), "-c", str(stack.conf_dir(f"api-{label}"))]
        proc = stack.start(label, argv, **({"env": env} if baseline else {}))
        started[label] = (proc.pid, f"http://127.0.0.1:{port}")
    for label, (_pid, url) in started.items():
        stack.wait(label, lambda u=url: http_answers(u), 120.0)
    return started


class Firer:
    def __init__(self, stack: Stack) -> None:
        argv = [sys.executable, str(HERE / "busprobe.py"), "fire", str(stack.master_conf)]
        self.proc = stack.start("firer", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]

    def fire(self, step: str, rate: float, count: int) -> int:
        cmd = {"step": step, "rate": rate, "count": count, "seconds": 120}
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return int(json.loads(self.proc.stdout.readline())["sent"])  # type: ignore[union-attr]


def one_round(pids: dict[str, int], firer: Firer, args: argparse.Namespace, n: int) -> dict:
    time.sleep(1.0)
    with procs.CpuWatch(pids) as quiet:
        time.sleep(args.quiet)
    with procs.CpuWatch(pids) as watch:
        sent = firer.fire(f"idle{n}", args.rate, args.events)
        time.sleep(1.0)  # the last events are read
    out = {}
    for name in pids:
        idle_rate = quiet.used[name] / quiet.wall if quiet.wall else 0.0
        busy = watch.used[name] - idle_rate * watch.wall
        out[name] = {
            "us_per_event": busy * 1e6 / max(1, sent),
            "raw_us_per_event": watch.used[name] * 1e6 / max(1, sent),
            "idle_cpu_share": idle_rate,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = Stack(keep=args.keep)
    print(f"directory: {stack.tmp}", flush=True)
    try:
        stack.write_configs()
        stack.start("master", [str(BIN / "salt-master"), "-c", str(stack.conf_dir("master"))])
        stack.wait("master", lambda: (stack.tmp / "run/master/master_event_pub.ipc").exists(), 60)
        apis = start_apis(stack, args)
        pids = {label: pid for label, (pid, _url) in apis.items()}
        firer = Firer(stack)
        if args.hold:
            for label, pid in pids.items():
                tree = [p.pid for p in procs.tree(pid)]
                print(f"{label}: tree {tree}", flush=True)
            input("press Enter to start firing\n")
        results: dict[str, list[dict]] = {name: [] for name in pids}
        for n in range(args.rounds):
            for name, row in one_round(pids, firer, args, n).items():
                results[name].append(row)
                print(
                    f"round {n}: {name:18} {row['us_per_event']:7.1f} us/event"
                    f" (raw {row['raw_us_per_event']:.1f}, idle {row['idle_cpu_share']:.2%})",
                    flush=True,
                )
        print(f"\n{args.events} events at {args.rate:g}/s, no stream open; median of rounds:")
        for name, rows in results.items():
            med = statistics.median(r["us_per_event"] for r in rows)
            print(f"  {name:18} {med:7.1f} us of API CPU per event")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
