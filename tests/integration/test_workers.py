"""num_processes and graceful shutdown through a real salt-api.

salt-api stops its netapi process with SIGTERM; these tests send that SIGTERM (or a
SIGKILL) to the process themselves while a request is in flight.
"""

import collections
import json
import threading
import time

import psutil
import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from tests.support.pinned import Pinned

pytestmark = [pytest.mark.integration]

SLEEP = 3
BURST = 64
SLOW = {"client": "local", "tgt": "minion-1", "fun": "test.sleep", "arg": [SLEEP]}


def listens(proc, port):
    try:
        conns = proc.net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def listeners(api):
    """(netapi process salt-api started, its worker processes), found by who listens on
    the port: one process alone, or workers (each with its own SO_REUSEPORT socket) and
    their supervisor, which listens on none."""
    main = psutil.Process(api.pid)
    procs = [p for p in main.children(recursive=True) if listens(p, api.port)]
    tops = [p for p in procs if p.ppid() == main.pid]
    if tops:
        (top,) = tops
        return top, [p for p in procs if p.ppid() == top.pid]
    (top,) = {psutil.Process(p.ppid()) for p in procs}
    assert top.ppid() == main.pid and not listens(top, api.port)
    return top, procs


def wait_gone(procs, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"still running after {timeout}s: {alive}")


class SlowRequest(threading.Thread):
    """``POST /`` running ``test.sleep`` for SLEEP seconds, in the background."""

    def __init__(self, url, token):
        super().__init__(daemon=True)
        self.client = ApiClient(url, token=token)
        self.response = None

    def run(self):
        self.response = self.client.post("/", json=[SLOW])

    def result(self):
        self.join(SLEEP + 30)
        assert self.response is not None, "the request did not finish"
        return self.response


@pytest.fixture
def two_workers(start_extra_api, salt_minion, salt_minion_2):
    with start_extra_api({"num_processes": 2}) as api:
        yield api


def test_two_workers_share_the_port_and_the_tokens(two_workers, api_credentials):
    top, workers = listeners(two_workers)
    assert len(workers) == 2 and top.pid not in {w.pid for w in workers}
    token = ApiClient(two_workers.url).login(api_credentials)["token"]
    seen = {}
    for _ in range(200):
        # A new connection every time: the kernel hands it to either worker.
        stats = requests.get(
            f"{two_workers.url}/stats", headers={"X-Auth-Token": token}, timeout=30
        )
        assert stats.status_code == 200  # the token minted by one worker works on both
        body = stats.json()
        seen[body["pid"]] = body["worker"]
        if len(seen) == 2:
            break
    assert set(seen) == {w.pid for w in workers}
    assert sorted(seen.values()) == [0, 1]
    client = ApiClient(two_workers.url, token=token)
    assert client.run({"client": "local", "tgt": "*", "fun": "test.ping"}) == [
        {"minion-1": True, "minion-2": True}
    ]


def test_a_burst_of_new_connections_is_spread_over_the_workers(two_workers, api_credentials):
    top, workers = listeners(two_workers)
    assert len(workers) == 2 and not listens(top, two_workers.port)
    token = ApiClient(two_workers.url).login(api_credentials)["token"]
    # Every connection is queued before any is served: with one shared socket the first
    # worker to wake accepted them all; a socket per worker spreads them (by hash).
    conns = [Pinned(two_workers.url, token, pin=False) for _ in range(BURST)]
    for conn in conns:
        conn.send("GET", "/stats")
    seen = collections.Counter(json.loads(conn.response()[1])["worker"] for conn in conns)
    for conn in conns:
        conn.close()
    assert sorted(seen) == [0, 1] and min(seen.values()) >= BURST // 4, seen


def test_sigterm_lets_in_flight_requests_finish_then_all_workers_exit(two_workers, api_credentials):
    top, workers = listeners(two_workers)
    token = ApiClient(two_workers.url).login(api_credentials)["token"]
    slow = SlowRequest(two_workers.url, token)
    slow.start()
    time.sleep(1)
    top.terminate()  # what salt-api's process manager sends
    response = slow.result()
    assert response.status_code == 200, response.text
    assert response.json() == {"return": [{"minion-1": True}]}
    wait_gone([top, *workers])


def test_workers_do_not_outlive_a_killed_supervisor(two_workers):
    top, workers = listeners(two_workers)
    top.kill()
    wait_gone(workers)


def test_single_process_sigterm_is_graceful(start_extra_api, salt_minion, api_credentials):
    with start_extra_api({}) as api:
        top, workers = listeners(api)
        assert workers == []
        token = ApiClient(api.url).login(api_credentials)["token"]
        slow = SlowRequest(api.url, token)
        slow.start()
        time.sleep(1)
        top.terminate()
        response = slow.result()
        assert response.status_code == 200, response.text
        assert response.json() == {"return": [{"minion-1": True}]}
        wait_gone([top])
