"""API CPU per ``salt/job`` event with two salt-api workers: what the job index costs.

``python -m benchmarks.jobindex_writer [--jobs 1000] [--returns 10] [--src DIR]``
starts a private salt-master (no minion) and one rest_ext salt-api with
``num_processes: 2``, fires ``jobs`` synthetic jobs straight onto the master's bus
(``salt/job/<jid>/new`` then ``returns`` × ``salt/job/<jid>/ret/<id>``, bodies as a
minion's), waits until the index holds every return, and prints the process CPU
(psutil, user + system) of each salt-api worker and of the whole tree, per event,
with the tree's idle CPU over as long subtracted. ``--src`` runs salt-api on another
checkout's ``src`` (``PYTHONPATH``): the "before" of a change, back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time

import psutil

from benchmarks.stack import Stack, http_answers, netapi_block

IDLE = 5.0
STAMP = "2026-12-07T00:00:00.000000"


def cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and each of its descendants."""
    found = {}
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return found


def returns_indexed(path: str) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM returns").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def fire(opts: dict, jobs: int, returns: int) -> int:
    import salt.utils.event
    import salt.utils.jid

    event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    minions = [f"bench-{i}" for i in range(returns)]
    sent = 0
    for _ in range(jobs):
        jid = salt.utils.jid.gen_jid(opts)
        new = {"jid": jid, "fun": "test.ping", "arg": [], "tgt": "bench-*", "tgt_type": "glob",
               "user": "bench", "minions": minions, "_stamp": STAMP}  # fmt: skip
        event.fire_event(new, f"salt/job/{jid}/new")
        for mid in minions:
            ret = {"id": mid, "jid": jid, "fun": "test.ping", "fun_args": [], "return": True,
                   "retcode": 0, "success": True, "cmd": "_return",
                   "_stamp": STAMP}  # fmt: skip
            event.fire_event(ret, f"salt/job/{jid}/ret/{mid}")
        sent += 1 + returns
        time.sleep(0.002)  # about 5,000 events a second: the bus keeps up
    event.destroy()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--returns", type=int, default=10)
    parser.add_argument("--src", default="", help="run salt-api on this src directory")
    args = parser.parse_args()
    stack = Stack()
    try:
        stack.write_configs()
        api = json.loads((stack.conf_dir("api-rest_ext") / "master").read_text())
        api["rest_ext"] = dict(netapi_block("rest_ext", stack.api_ports["rest_ext"]),
                               num_processes=2)  # fmt: skip
        stack.write(stack.conf_dir("api-rest_ext") / "master", api)
        env = dict(os.environ, PYTHONPATH=args.src) if args.src else None
        stack.start("master", [str(stack_bin("salt-master")), "-c", str(stack.conf_dir("master"))])
        argv = [str(stack_bin("salt-api")), "-c", str(stack.conf_dir("api-rest_ext"))]
        stack.start("rest_ext", argv, env=env)
        stack.wait("rest_ext", lambda: http_answers(stack.url("rest_ext")), 120)
        time.sleep(5)  # the workers' backfill of an empty job cache, the first lock
        pid = stack.pid("rest_ext")
        index = os.path.join(stack.master_opts["cachedir"], "rest_ext-jobs.sqlite")
        idle0 = cpu(pid)
        time.sleep(IDLE)
        idle1 = cpu(pid)
        idle_rate = (sum(idle1.values()) - sum(idle0.values())) / IDLE
        start, t0 = cpu(pid), time.monotonic()
        sent = fire(stack.master_opts, args.jobs, args.returns)
        want = args.jobs * args.returns
        stack.wait("index", lambda: returns_indexed(index) >= want, 300)
        time.sleep(1)  # the non-writer's queue too (before: every worker writes)
        end, elapsed = cpu(pid), time.monotonic() - t0
        per_proc = {p: end[p] - start.get(p, 0.0) for p in end}
        total = sum(per_proc.values()) - idle_rate * elapsed
        print(json.dumps({
            "events": sent, "elapsed_s": round(elapsed, 2), "idle_cpu_s_per_s": round(idle_rate, 4),
            "tree_cpu_s": round(sum(per_proc.values()), 3),
            "per_process_cpu_s": {str(p): round(c, 3) for p, c in sorted(per_proc.items())},
            "us_per_event": round(total / sent * 1e6, 1),
            "indexed_returns": returns_indexed(index),
        }, indent=1))  # fmt: skip
    finally:
        stack.close()


def stack_bin(name: str):
    from benchmarks.stack import BIN

    return BIN / name


if __name__ == "__main__":
    main()
