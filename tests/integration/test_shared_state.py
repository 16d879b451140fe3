"""Limits and counters hold for the deployment, not per worker, through a real salt-api.

A salt-api with several workers (``num_processes``) shares login throttles, stream caps
and ``/stats`` totals through the host-local SQLite file, or through Redis
(``shared_store``). Each request is sent on a keep-alive connection pinned to one
worker: ``/stats`` on that connection names the worker (``worker``) that holds it.
With Redis stopped mid-test every request still answers within a second, ``/stats``
shows the store unavailable, and once Redis is back it shows it available again
without restarting the API.
"""

import os
import signal
import time
import uuid

import pytest
import requests

from tests.support.polling import wait_for as poll
from tests.support.processes import exited

pytestmark = [pytest.mark.integration]

SLOW = 0.01  # login attempts refilled per second: nothing refills during a test
TIMEOUT = 30
LEASE = 30  # seconds a stream slot is leased for without renewal


def conf(workers, **extra):
    return {
        "num_processes": workers,
        "stats_disable_auth": True,
        "login_user_burst": 3,
        "login_user_rate": SLOW,
        "login_address_burst": 100,
        "max_streams_per_token": 2,
        **extra,
    }


class Workers:
    """One keep-alive session per worker of ``api``, re-pinned when a connection moves."""

    def __init__(self, url, count):
        self.url, self.count = url, count
        self.sessions = {}
        for _ in range(200):
            if len(self.sessions) == count:
                return
            session = requests.Session()
            index = self.stats_on(session)["worker"]
            if index in self.sessions:
                session.close()
            else:
                self.sessions[index] = session
        raise AssertionError(f"could not reach {count} workers: {sorted(self.sessions)}")

    def stats_on(self, session):
        response = session.get(f"{self.url}/stats", timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self, index):
        return self.stats_on(self.via(index))

    def via(self, index):
        """The session of worker ``index``, its connection checked (and re-pinned)."""
        for _ in range(200):
            session = self.sessions[index]
            if self.stats_on(session)["worker"] == index:
                return session
            session.close()
            self.sessions[index] = requests.Session()
        raise AssertionError(f"worker {index} unreachable")

    def post(self, index, path, **kwargs):
        return self.via(index).post(f"{self.url}{path}", timeout=TIMEOUT, **kwargs)

    def open_stream(self, index, token):
        """An SSE request on worker ``index``, on a connection of its own."""
        session = self.via(index)
        del self.sessions[index]  # the stream keeps this connection
        response = open_on(session, self.url, token)
        self.replace(index)
        return response

    def replace(self, index):
        while index not in self.sessions:
            session = requests.Session()
            if self.stats_on(session)["worker"] == index:
                self.sessions[index] = session
            else:
                session.close()

    def close(self):
        for session in self.sessions.values():
            session.close()


@pytest.fixture
def file_api(start_extra_api, salt_minion):
    with start_extra_api(conf(3)) as api:
        pool = Workers(api.url, 3)
        yield pool
        pool.close()


@pytest.fixture
def redis_api(start_extra_api, salt_minion, redis_server):
    prefix = f"it-{uuid.uuid4().hex[:8]}:"
    with start_extra_api(conf(2, shared_store=redis_server.url, shared_store_prefix=prefix)) as api:
        pool = Workers(api.url, 2)
        pool.api = api
        yield pool
        pool.close()


def within_a_second(call, *args, **kwargs):
    started = time.monotonic()
    result = call(*args, **kwargs)
    took = time.monotonic() - started
    assert took < 1.0, f"{call.__name__} took {took:.2f} s"
    return result


def open_on(session, url, token):
    return session.get(
        f"{url}/events",
        headers={"Accept": "text/event-stream", "X-Auth-Token": token},
        stream=True,
        timeout=TIMEOUT,
    )


def login_statuses(pool, credentials, order):
    return [pool.post(index, "/login", json=credentials).status_code for index in order]


def token_of(pool, credentials, index=0):
    response = pool.post(index, "/login", json=credentials)
    assert response.status_code == 200, response.text
    return response.json()["return"][0]["token"]


def assert_stream_cap_across_workers(pool, token, workers):
    first, second, third = workers
    one, two = pool.open_stream(first, token), pool.open_stream(second, token)
    assert (one.status_code, two.status_code) == (200, 200)
    refused = pool.open_stream(third, token)
    assert refused.status_code == 429, refused.text
    assert refused.json()["status"] == 429
    one.close()  # a slot comes back to the deployment
    deadline = time.monotonic() + 5
    while True:
        again = pool.open_stream(third, token)
        if again.status_code == 200:
            break
        assert again.status_code == 429 and time.monotonic() < deadline
        time.sleep(0.2)
    two.close()
    again.close()


def test_file_store_login_throttle_holds_across_workers(file_api, api_credentials):
    # burst 3 for the username: one attempt on each of the three workers, then
    # every worker refuses (each would allow 3 if it counted alone)
    assert login_statuses(file_api, api_credentials, [0, 1, 2]) == [200, 200, 200]
    assert login_statuses(file_api, api_credentials, [0, 1, 2]) == [429, 429, 429]
    assert file_api.stats(1)["deployment"]["store"]["kind"] == "file"


def test_file_store_stream_cap_holds_across_workers(file_api, limited_credentials):
    token = token_of(file_api, limited_credentials)
    assert_stream_cap_across_workers(file_api, token, [0, 1, 2])


def test_slots_of_a_killed_worker_come_back_when_their_leases_expire(file_api, limited_credentials):
    token = token_of(file_api, limited_credentials)
    streams = [file_api.open_stream(1, token) for _ in range(2)]
    assert [s.status_code for s in streams] == [200, 200]
    pid = file_api.stats(1)["pid"]
    os.kill(pid, signal.SIGKILL)  # no chance to give its slots back
    # until it has exited its socket still takes connections, which the kernel resets
    assert poll(lambda: exited(pid), timeout=10, interval=0.005)
    refused = file_api.open_stream(0, token)
    assert refused.status_code == 429, refused.text  # still leased
    killed = time.monotonic()
    deadline = killed + LEASE + 15
    while True:
        again = file_api.open_stream(0, token)
        if again.status_code == 200:
            break
        assert again.status_code == 429 and time.monotonic() < deadline
        time.sleep(1)
    assert time.monotonic() - killed > LEASE - 12  # expired, not released early
    again.close()
    for stream in streams:
        stream.close()


def test_file_store_stats_totals_add_up_across_workers(file_api):
    for index in (0, 1, 2):  # some traffic, unevenly spread
        for _ in range(index * 3):
            file_api.stats(index)
    time.sleep(1.5)  # every worker's heartbeat has published its counters
    own = [file_api.stats(index)["requests"]["served"] for index in (0, 1, 2)]
    time.sleep(1.5)
    body = file_api.stats(0)
    deployment = body["deployment"]
    assert body["worker"] == 0 and "requests" in body  # the per-worker part is kept
    assert sorted(r["worker"] for r in deployment["workers"]) == [0, 1, 2]
    assert len({r["pid"] for r in deployment["workers"]}) == 3
    # Each worker served its own count plus the /stats that reported it, and (on
    # worker 0) the session check `stats()` makes first.
    served = deployment["totals"]["served"]
    assert served == sum(own) + 3 + 1, (own, deployment)
    assert deployment["totals"]["in_flight"] == 1  # this request
    assert deployment["store"]["available"] is True


def test_redis_store_limits_outage_and_recovery(
    redis_api, redis_server, api_credentials, limited_credentials
):
    assert login_statuses(redis_api, api_credentials, [0, 1, 0]) == [200, 200, 200]
    assert login_statuses(redis_api, api_credentials, [1, 0]) == [429, 429]
    token = token_of(redis_api, limited_credentials)
    assert_stream_cap_across_workers(redis_api, token, [0, 1, 1])
    store = redis_api.stats(0)["deployment"]["store"]
    assert store["kind"] == "redis" and store["available"] is True
    redis_server.stop()
    try:
        seen_down = set()
        deadline = time.monotonic() + 10
        while len(seen_down) < 2:
            assert time.monotonic() < deadline, f"degraded state not shown by {seen_down}"
            for index in (0, 1):
                body = within_a_second(redis_api.stats, index)
                # (a good login: a refused one lasts about a second on purpose)
                login = within_a_second(redis_api.post, index, "/login", json=api_credentials)
                assert login.status_code in (200, 429), login.text
                session = redis_api.via(index)  # pinned first, so only the stream is timed
                stream = within_a_second(open_on, session, redis_api.url, token)
                assert stream.status_code in (200, 429), stream.text
                stream.close()
                store = body["deployment"]["store"]
                if store["available"] is False:
                    assert store["degraded_since"] and store["fallback"]["kind"] == "file"
                    seen_down.add(index)
            time.sleep(0.2)
    finally:
        redis_server.start()
    deadline = time.monotonic() + 10
    while True:
        stores = [redis_api.stats(index)["deployment"]["store"] for index in (0, 1)]
        if all(store["available"] for store in stores):
            break
        assert time.monotonic() < deadline, stores
        time.sleep(0.3)
    # the outage and the recovery were each logged once per worker, not per request
    log = redis_api.api.log_file().read_text()
    assert log.count("rest_ext: shared store") == 4, log[-3000:]
    assert log.count("using host-local state until it answers again") == 2
    assert log.count("is back after") == 2
