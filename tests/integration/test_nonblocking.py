"""Slow failing logins block neither the IOLoop, the Salt executor, nor good logins.

Salt's eauth makes every failed login last about a second (``LoadAuth.time_auth``
evens out failure times). While more bad logins than ``auth_thread_pool`` has threads
are in that second, routes that run on the executor (``/minions``, ``/jobs``, ``POST /``
``local_async``, opening ``/events``) and a good login must all answer before the
first bad login does.
"""

import threading
import time

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

#: twice the default ``auth_thread_pool``
BAD_LOGINS = 8
TIMEOUT = 60


class Timed(threading.Thread):
    """Runs ``call``; keeps its result (or exception) and the time it ended."""

    def __init__(self, name, call):
        super().__init__(name=name, daemon=True)
        self.call, self.result, self.ended = call, None, None

    def run(self):
        try:
            self.result = self.call()
        except Exception as exc:  # reported by the assertions
            self.result = exc
        self.ended = time.monotonic()


def open_events(url, token):
    """Open ``/events`` and read up to its first line; the status and that line."""
    headers = {"X-Auth-Token": token, "Accept": "text/event-stream"}
    with requests.get(f"{url}/events", headers=headers, stream=True, timeout=TIMEOUT) as r:
        return r.status_code, next(r.iter_lines(decode_unicode=True))


def probes(url, token, credentials, jid):
    client = ApiClient(url, token)
    job = [{"client": "local_async", "tgt": "*", "fun": "test.ping"}]
    return {
        "GET /minions": lambda: client.get("/minions").status_code,
        # one job: the list of every job grows with the session's job cache
        "GET /jobs/<jid>": lambda: client.get(f"/jobs/{jid}").status_code,
        "POST / local_async": lambda: client.post("/", json=job).status_code,
        "GET /events": lambda: open_events(url, token),
        "good login": lambda: ApiClient(url).post("/login", json=credentials).status_code,
    }


def wait_in_flight(client, count, timeout=10):
    """Until the API counts ``count`` requests in flight (this one excluded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/stats").json()["requests"]["in_flight"] - 1 >= count:
            return
    pytest.fail(f"{count} requests were never in flight together")


def run_all(threads):
    for thread in threads:
        thread.start()
    return threads


def join_all(threads):
    for thread in threads:
        thread.join(TIMEOUT)
    return {t.name: t.result for t in threads}


def test_executor_routes_and_a_good_login_answer_while_bad_logins_fail(api_url, api_credentials):
    client = ApiClient(api_url)
    token = client.login(api_credentials)["token"]
    (job,) = client.run({"client": "local_async", "tgt": "*", "fun": "test.ping"})
    calls = probes(api_url, token, api_credentials, job["jid"])
    expected = {
        "GET /minions": 200,
        "GET /jobs/<jid>": 200,
        "POST / local_async": 200,
        "GET /events": (200, "retry: 400"),
        "good login": 200,
    }
    # Once unloaded: the answers, and Salt clients built on the executor's threads.
    assert join_all(run_all([Timed(name, call) for name, call in calls.items()])) == expected
    bad = {**api_credentials, "password": "wrong"}
    bad_logins = run_all(
        [
            Timed(f"bad-{n}", lambda: requests.post(f"{api_url}/login", json=bad, timeout=TIMEOUT))
            for n in range(BAD_LOGINS)
        ]
    )
    wait_in_flight(client, BAD_LOGINS)
    started = time.monotonic()
    checks = run_all([Timed(name, call) for name, call in calls.items()])
    assert join_all(checks) == expected
    assert [r.status_code for r in join_all(bad_logins).values()] == [401] * BAD_LOGINS
    first_refusal = min(t.ended for t in bad_logins)
    latencies = {t.name: round(t.ended - started, 3) for t in checks}
    assert first_refusal - started > 0.5, "the bad logins failed too fast to prove anything"
    late = {name: s for name, s in latencies.items() if started + s >= first_refusal}
    assert late == {}, (latencies, round(first_refusal - started, 3))
