"""Helper process talking to the master's event bus directly (no API in between).

``python busprobe.py fire MASTER_CONF``: reads JSON commands on stdin, one a line,
``{"step", "rate", "count", "seconds"}``; fires ``count`` events tagged
``bench/fanout/<step>`` at ``rate`` per second (0: as fast as possible), each carrying a
marker with its send time; answers ``{"sent", "elapsed"}`` on stdout.

``python busprobe.py read MASTER_CONF STEP COUNT SECONDS``: subscribes, prints
``ready``, counts events of ``bench/fanout/STEP`` until COUNT or SECONDS, prints
``{"received", "elapsed", "first_to_last", "cpu_s"}``: the raw bus read rate.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _opts(conf: str) -> dict:
    import salt.config

    return salt.config.client_config(conf)


def marker(step: str, seq: int) -> str:
    return f"BMK{step}:{time.time():.6f}:{seq}:"


def fire(conf: str) -> None:
    import salt.utils.event

    opts = _opts(conf)
    event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        step, rate, count = cmd["step"], float(cmd["rate"]), int(cmd["count"])
        seconds = float(cmd.get("seconds", 60))
        tag = f"bench/fanout/{step}"
        start = time.perf_counter()
        sent = 0
        while sent < count:
            now = time.perf_counter()
            if now - start > seconds:
                break
            if rate > 0:
                due = start + sent / rate
                if due > now:
                    time.sleep(due - now)
            event.fire_event({"m": marker(step, sent), "seq": sent}, tag)
            sent += 1
        print(json.dumps({"sent": sent, "elapsed": time.perf_counter() - start}), flush=True)


def read(conf: str, step: str, count: int, seconds: float) -> None:
    import salt.utils.event

    opts = _opts(conf)
    event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True)
    event.subscribe(f"bench/fanout/{step}")
    event.connect_pub()
    print("ready", flush=True)
    cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    received, first, last = 0, None, None
    start = time.perf_counter()
    while received < count and time.perf_counter() - start < seconds:
        ev = event.get_event(wait=0.5, tag=f"bench/fanout/{step}", full=True)
        if ev is None:
            continue
        received += 1
        last = time.perf_counter()
        first = first or last
    print(
        json.dumps(
            {
                "received": received,
                "elapsed": time.perf_counter() - start,
                "first_to_last": (last - first) if first and last else 0.0,
                "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if sys.argv[1] == "fire":
        fire(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
