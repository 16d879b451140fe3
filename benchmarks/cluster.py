"""rest_ext on a real Salt master cluster of 1, 2 and 3 masters (127.0.0.1-3).

    python benchmarks/run.py --only cluster [--quick] [--out DIR]
    python benchmarks/cluster.py [--quick] [--out DIR]

For each size the cluster comes from the project's pytest plugin (``SaltCluster``:
shared pki/cachedir, one salt-api per master, Redis as ``shared_store``, minions on
master 0), so this runs as a small pytest session of its own. Per size it measures

* jobs/s: ``local_async`` ``test.ping`` to ``minion-1`` submitted round robin through
  every master's API (8 in flight), each counted when its ``ret`` event reaches the
  stream of the API that submitted it (so a job submitted on master 3 travels
  3 -> 1 -> minion -> 1 -> 3);
* events/s: a burst fired on master 1's bus, delivered to an SSE stream on the last
  master's API (Salt forwards every event to every peer);
* bus events/s: the same burst read straight from the last master's event bus with
  Salt's own client, no rest_ext in the path (what Salt's forwarding allows);
* revocation: ``/logout`` on master 1, then the time until every other master refuses
  the token (p50/p99 over the runs; only with 2+ masters).

It prints a table and writes ``cluster.json`` to ``--out`` (default
``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
RESULTS_ENV = "REST_EXT_CLUSTER_BENCH_OUT"
PARAMS_ENV = "REST_EXT_CLUSTER_BENCH_QUICK"
FULL = {"sizes": [1, 2, 3], "job_seconds": 15.0, "in_flight": 8, "events": 3000, "logouts": 30}
QUICK = {"sizes": [1, 2, 3], "job_seconds": 6.0, "in_flight": 8, "events": 1000, "logouts": 10}
RET_TAG = "salt/job/*/ret/*"


def params() -> dict:
    return QUICK if os.environ.get(PARAMS_ENV) == "1" else FULL


def login(url: str, credentials: dict) -> str:
    response = requests.post(f"{url}/login", json=credentials, timeout=30)
    response.raise_for_status()
    return str(response.json()["return"][0]["token"])


async def measure_jobs(urls: list[str], token: str, seconds: float, in_flight: int) -> float:
    """Completed ``local_async`` test.ping jobs per second, submitted round robin."""
    from salt_ext_rest.testing.streams import SseReader

    readers = [await SseReader(u, token, f"?tag={RET_TAG}").start(600).subscribed() for u in urls]
    loop, deadline, done = asyncio.get_running_loop(), time.monotonic() + seconds, 0
    session = requests.Session()
    session.headers.update({"X-Auth-Token": token, "Accept": "application/json"})

    def submit(url: str) -> str:
        chunk = {"client": "local_async", "tgt": "minion-1", "fun": "test.ping"}
        return str(session.post(f"{url}/", json=[chunk], timeout=60).json()["return"][0]["jid"])

    async def worker(index: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            reader = readers[index % len(urls)]
            jid = await loop.run_in_executor(None, submit, urls[index % len(urls)])
            await wait_for(functools.partial(returned, reader, jid))
            done, index = done + 1, index + 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    elapsed = time.monotonic() - started
    for reader in readers:
        reader.stop()
    return done / elapsed


def returned(reader, jid: str) -> bool:
    """Has the ``ret`` event of ``jid`` reached ``reader``? (tags ``salt/job/<jid>/ret/<id>``)"""
    return any(m.get("tag", "").startswith(f"salt/job/{jid}/ret/") for m in reader.messages[-200:])


async def wait_for(predicate, timeout: float = 60.0) -> None:
    from salt_ext_rest.testing.streams import wait_until

    if not await wait_until(predicate, timeout=timeout, interval=0.005):
        raise TimeoutError("a job's return did not reach the stream")


async def measure_events(master, url: str, token: str, count: int) -> float:
    """Events per second fired on ``master`` and delivered to a stream at ``url``."""
    from salt_ext_rest.testing.streams import SseReader, wait_until

    prefix = f"bench/cluster/{time.monotonic_ns()}"
    reader = await SseReader(url, token, f"?tag={prefix}/*").start(600).subscribed()
    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, fire, master, prefix, count)
    await wait_until(lambda: len(reader.events(prefix)) >= count, timeout=120, interval=0.01)
    elapsed = time.monotonic() - started
    got = len(reader.events(prefix))
    reader.stop()
    return got / elapsed


def measure_bus(source, sink, count: int) -> float:
    """Salt alone: events per second fired on ``source`` and read from ``sink``'s bus."""
    import salt.config
    import salt.utils.event

    prefix, got = f"bench/bus/{time.monotonic_ns()}", 0
    opts = salt.config.master_config(sink.config_file)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True) as event:
        event.subscribe(prefix)
        time.sleep(0.5)  # the subscription is in place before the first event
        firing = threading.Thread(target=fire, args=(source, prefix, count))
        started = time.monotonic()
        firing.start()
        while got < count and time.monotonic() - started < 120:
            if event.get_event(wait=1, tag=prefix, full=True) is not None:
                got += 1
        elapsed = time.monotonic() - started
        firing.join()
    return got / elapsed


def fire(master, prefix: str, count: int) -> None:
    import salt.config
    import salt.utils.event

    opts = salt.config.master_config(master.config_file)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
        for n in range(count):
            event.fire_event({"n": n}, f"{prefix}/{n}")


def measure_revocation(urls: list[str], credentials: dict, runs: int) -> list[float]:
    """Seconds from ``/logout`` on the first API until every other API refuses the token."""
    latencies = []
    for _ in range(runs):
        token = login(urls[0], credentials)
        others = [requests.Session() for _ in urls[1:]]
        for session, url in zip(others, urls[1:], strict=True):
            session.headers["X-Auth-Token"] = token
            session.get(f"{url}/stats", timeout=10)  # each master has seen the token
        requests.post(f"{urls[0]}/logout", headers={"X-Auth-Token": token}, timeout=10)
        started, pending = time.monotonic(), set(range(len(others)))
        while pending and time.monotonic() - started < 10:
            for i in list(pending):
                if others[i].get(f"{urls[i + 1]}/stats", timeout=10).status_code == 401:
                    pending.discard(i)
        latencies.append(time.monotonic() - started if not pending else float("inf"))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """Run the working tree; no coverage or sitecustomize injection."""
    return {
        "code_dir": str(HERE.parent / "src"),
        "inject_sitecustomize": False,
        "coverage_rc_path": None,
        "coverage_db_path": None,
        "root_dir": tmp_path_factory.mktemp("salt"),
    }


@pytest.fixture(params=params()["sizes"], ids=lambda n: f"{n}-masters")
def cluster(request, rest_ext_cluster_factory, redis_server):
    # INFO, not the test harness's DEBUG, in the masters' log files.
    with rest_ext_cluster_factory(
        masters=request.param,
        redis_url=redis_server.url,
        master_overrides={"log_level_logfile": "info"},
    ) as running:
        yield running


def test_cluster_figures(cluster):
    """Not a test: the measurement, run by :func:`main` in a pytest session of its own."""
    p, urls = params(), cluster.urls
    token = login(urls[0], cluster.credentials)
    jobs = asyncio.run(measure_jobs(urls, token, p["job_seconds"], p["in_flight"]))
    events = asyncio.run(measure_events(cluster.masters[0], urls[-1], token, p["events"]))
    bus = measure_bus(cluster.masters[0], cluster.masters[-1], p["events"])
    record = {
        "masters": len(urls),
        "jobs_per_s": round(jobs, 2),
        "events_per_s": round(events),
        "bus_events_per_s": round(bus),
    }
    if len(urls) > 1:
        latencies = measure_revocation(urls, cluster.credentials, p["logouts"])
        record["revocation_ms_p50"] = round(1000 * statistics.median(latencies), 1)
        record["revocation_ms_p99"] = round(1000 * percentile(latencies, 0.99), 1)
    out = Path(os.environ[RESULTS_ENV])
    records = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*records, record], indent=1))


def table(records: list[dict]) -> str:
    rows = [["masters", "jobs/s", "events/s", "bus events/s", "revoke p50 ms", "revoke p99 ms"]]
    for r in records:
        keys = ("masters", "jobs_per_s", "events_per_s", "bus_events_per_s")
        keys += ("revocation_ms_p50", "revocation_ms_p99")
        rows.append([str(r.get(key, "-")) for key in keys])
    base = records[0] if records else None
    if base:
        rows[0] += ["jobs vs 1", "events vs 1"]
        for row, r in zip(rows[1:], records, strict=True):
            row += [
                f"{r['jobs_per_s'] / base['jobs_per_s']:.2f}",
                f"{r['events_per_s'] / base['events_per_s']:.2f}",
            ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args, _ = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "cluster.json"
    out.unlink(missing_ok=True)
    os.environ[RESULTS_ENV] = str(out)
    os.environ[PARAMS_ENV] = "1" if args.quick else "0"
    code = pytest.main([__file__, "-p", "no:cacheprovider", "-q", "-x", "--timeout=1800"])
    records = json.loads(out.read_text()) if out.exists() else []
    print("\n" + table(records))
    print(f"\nresults: {out}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
