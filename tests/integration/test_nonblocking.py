"""eauth never runs on the IOLoop."""

import threading
import time

import pytest
import requests

pytestmark = [pytest.mark.integration]


def test_root_answers_fast_while_five_bad_logins_are_in_flight(api_url, api_credentials):
    bad = {**api_credentials, "password": "wrong"}
    statuses = []

    def login():
        statuses.append(requests.post(f"{api_url}/login", json=bad, timeout=60).status_code)

    threads = [threading.Thread(target=login) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # the logins are now inside eauth (failures are delayed by Salt)
    latencies = []
    for _ in range(5):
        start = time.perf_counter()
        assert requests.get(f"{api_url}/", timeout=5).status_code == 200
        latencies.append(time.perf_counter() - start)
    in_flight = any(t.is_alive() for t in threads)
    for thread in threads:
        thread.join()
    assert statuses == [401] * 5
    assert in_flight, "the bad logins finished too early to prove anything"
    assert max(latencies) < 0.1, latencies
