"""Event ids are the same on every worker: a stream resumed on another worker of the
same salt-api (``num_processes: 2``) with ``Last-Event-ID`` continues with each event
exactly once; an unknown or too old id gets the ``resume_incomplete`` notice.

Each stream is opened on a connection whose worker is known (the worker process that
holds the accepted socket), so "another worker" is checked, not hoped for.
"""

import http.client
import json
import threading
import time
import uuid

import psutil
import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import parse_sse
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]

INCOMPLETE = "salt/netapi/rest_ext/stream/resume_incomplete"
REPLAY = 200


@pytest.fixture(scope="module")
def two_workers(salt_master, salt_minion, netapi_module):
    conf = {"num_processes": 2, "event_replay_size": REPLAY}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture(scope="module")
def shared_workers(salt_master, salt_minion, netapi_module, redis_server):
    conf = {"num_processes": 2, "shared_store": redis_server.url,
            "shared_store_prefix": f"ids-{uuid.uuid4().hex[:8]}:"}  # fmt: skip
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture(scope="module")
def token(two_workers, api_credentials):
    return ApiClient(two_workers.url).login(api_credentials)["token"]


@pytest.fixture(params=["local", "redis"])
def any_workers(request, api_credentials):
    """Two workers with ids from their own histories, or from a shared Redis history."""
    api = request.getfixturevalue("two_workers" if request.param == "local" else "shared_workers")
    return api, ApiClient(api.url).login(api_credentials)["token"], request.param


def worker_pids(api):
    """The worker processes: children of the supervisor that listen on the API port."""
    main = psutil.Process(api.pid)
    pids = []
    for proc in main.children(recursive=True):
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == api.port for c in conns):
            pids.append(proc)
    # each worker listens on its own SO_REUSEPORT socket, the supervisor on none
    return [p for p in pids if p.ppid() != main.pid]


def holder(workers, client_port, timeout=5.0):
    """The pid of the worker that accepted the connection from ``client_port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in workers:
            for conn in proc.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port:
                    return proc.pid
        time.sleep(0.05)
    raise AssertionError("no worker accepted the connection")


class Stream:
    """``GET /events`` on a connection held by a chosen worker; read on demand."""

    def __init__(self, api, token, query, headers=None, worker=None, avoid=None):
        workers = worker_pids(api)
        assert len(workers) == 2
        for _ in range(50):  # the kernel hands a new connection to either worker
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
            conn.connect()
            pid = holder(workers, conn.sock.getsockname()[1])
            if (worker is None or pid == worker) and pid != avoid:
                break
            conn.close()
        else:
            raise AssertionError("could not reach the wanted worker")
        self.worker, self.conn, self.messages, self._text = pid, conn, [], ""
        headers = {"Accept": "text/event-stream", "X-Auth-Token": token, **(headers or {})}
        conn.request("GET", f"/events{query}", headers=headers)
        self.response = conn.getresponse()
        assert self.response.status == 200
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            while chunk := self.response.read1(65536):
                self._text += chunk.decode()
                messages, self._text = parse_sse(self._text)
                self.messages.extend(messages)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed

    def read_until(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate(self) and time.monotonic() < deadline:
            time.sleep(0.02)
        return predicate(self)

    def events(self, prefix):
        return [m for m in self.messages if m.get("tag", "").startswith(prefix)]

    def close(self):
        self.conn.close()


def test_resume_on_the_other_worker_gets_each_event_exactly_once(any_workers, salt_master):
    two_workers, token, mode = any_workers
    if mode == "redis":  # both workers read the shared history before events are fired
        wait_for_mode(two_workers, token, "shared")
    prefix = f"test/ids/{uuid.uuid4().hex[:10]}"
    query = f"?tag={prefix}/*"
    first = Stream(two_workers, token, query)
    first.read_until(lambda s: any("retry" in m for m in s.messages))
    fire_events(salt_master, f"{prefix}/a", 20)
    # read part of the stream, then stop reading (what is unread is lost with it)
    assert first.read_until(lambda s: len(s.events(prefix)) >= 8)
    first.close()
    seen = first.events(prefix)  # what the client got before it went away
    fire_events(salt_master, f"{prefix}/b", 20)
    resumed = Stream(two_workers, token, query, {"Last-Event-ID": seen[-1]["id"]},
                     avoid=first.worker)  # fmt: skip
    expected = [f"{prefix}/a/{n}" for n in range(len(seen), 20)]
    expected += [f"{prefix}/b/{n}" for n in range(20)]
    resumed.read_until(lambda s: len(s.events(prefix)) >= len(expected))
    resumed.read_until(lambda s: False, timeout=1.0)  # nothing more comes (no duplicate)
    resumed.close()
    got = resumed.events(prefix)
    assert resumed.worker != first.worker
    assert [m["tag"] for m in seen] == [f"{prefix}/a/{n}" for n in range(len(seen))]
    assert [m["tag"] for m in got] == expected
    assert not resumed.events("salt/netapi/rest_ext/stream/")
    assert len({m["id"] for m in seen + got}) == len(seen) + len(got)
    assert all(json.loads(m["data"])["tag"] == m["tag"] for m in got)


def test_unknown_or_too_old_id_gets_the_notice_on_any_worker(two_workers, token, salt_master):
    prefix = f"test/ids/{uuid.uuid4().hex[:10]}"
    query = f"?tag={prefix}/*"
    first = Stream(two_workers, token, query)
    first.read_until(lambda s: any("retry" in m for m in s.messages))
    fire_events(salt_master, f"{prefix}/old", REPLAY + 20)  # the first ones leave the history
    assert first.read_until(lambda s: len(s.events(prefix)) == REPLAY + 20, timeout=60)
    oldest = first.events(prefix)[0]["id"]
    first.close()
    for last_id, why in (("0123456789abcdef01", "not in the event history"), (oldest, "older")):
        stream = Stream(two_workers, token, query, {"Last-Event-ID": last_id})
        started = time.monotonic()
        assert stream.read_until(lambda s: s.events(INCOMPLETE), timeout=10)
        waited = time.monotonic() - started
        fire_events(salt_master, f"{prefix}/live", 1)
        assert stream.read_until(lambda s: s.events(f"{prefix}/live"))
        stream.close()
        (notice,) = stream.events(INCOMPLETE)
        data = json.loads(notice["data"])["data"]
        assert data["missed"] is True and why in data["reason"], data
        assert data["last_event_id"] == last_id and "id" not in notice  # not resumable
        assert waited < 3.0
        assert not stream.events(f"{prefix}/old")  # no silent partial replay


def test_stats_show_where_ids_come_from(any_workers):
    api, token, mode = any_workers
    if mode == "local":
        events = ApiClient(api.url, token=token).get("/stats").json()["events"]
        assert events["mode"] == "local" and "shared" not in events
        assert events["history"]["capacity"] == REPLAY and events["history"]["size"] >= 0
        return
    events = wait_for_mode(api, token, "shared")
    store = events["shared"]["store"]
    assert store["available"] is True and store["url"].startswith("redis://127.0.0.1")
    assert events["shared"]["stream"].endswith(":events")


def wait_for_mode(api, token, mode, timeout=20):
    """The ``events`` of ``/stats`` once both workers report ``mode``."""
    deadline, modes, events = time.monotonic() + timeout, {}, None
    while time.monotonic() < deadline:
        body = requests.get(f"{api.url}/stats", headers={"X-Auth-Token": token}, timeout=10).json()
        events = body["events"]
        modes[body["pid"]] = events["mode"]
        if len(modes) == 2 and set(modes.values()) == {mode}:
            return events
        time.sleep(0.05)
    raise AssertionError(f"workers' modes: {modes}")
