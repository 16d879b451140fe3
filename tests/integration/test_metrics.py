"""``GET /metrics`` through a real salt-api with two workers (one set of figures for both).

Counters are read with prometheus-client's own parser before and after requests,
logins, a job and stream events, and must move by exactly what was done. Each worker
moves its counts into the shared files once a second (and before a scrape it serves):
the tests wait for that.
"""

import asyncio
import os
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from salt_ext_rest.operations.metrics import SAMPLE_INTERVAL
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, wait_until
from tests.integration.test_workers import listeners
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]

EVENTS = 5


def scrape(url, token=None, expect=200):
    headers = {"X-Auth-Token": token} if token else {}
    response = requests.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == expect, response.text
    if expect != 200:
        assert response.json()["status"] == expect  # the API's usual JSON error
        return None
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(url, token, check, timeout=20):
    """Scrape until ``check(found)`` holds (any worker may answer); return the last."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = scrape(url, token)
        except requests.ConnectionError:  # a connection the killed worker held
            found = {}
        if (found and check(found)) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


@pytest.fixture(scope="module")
def two_workers(salt_master, salt_minion, salt_minion_2, netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("/metrics is rest_ext's")
    with start_api(salt_master, {"num_processes": 2}, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture(scope="module")
def token(two_workers, api_credentials):
    return ApiClient(two_workers.url).login(api_credentials)["token"]


def test_refused_without_a_token(two_workers):
    scrape(two_workers.url, expect=401)
    scrape(two_workers.url, "0" * 64, expect=401)


def test_logins_requests_and_a_job_are_counted_once_over_both_workers(
    two_workers, token, api_credentials
):
    url = two_workers.url
    time.sleep(2 * SAMPLE_INTERVAL)  # what came before (the token's login) is flushed
    before = scrape(url, token)
    bad = {**api_credentials, "password": "wrong"}
    assert requests.post(f"{url}/login", json=bad, timeout=30).status_code == 401
    client = ApiClient(url)
    client.login(api_credentials)
    (job,) = client.run({"client": "local_async", "tgt": "minion-1", "fun": "test.ping"})
    assert job["jid"]
    time.sleep(2 * SAMPLE_INTERVAL)  # both workers flushed what they counted
    after = scrape(url, token)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests_total = "rest_ext_http_requests_total"
    assert moved(requests_total, route="/login/?", method="POST", status="401") == 1
    assert moved(requests_total, route="/login/?", method="POST", status="200") == 1
    assert moved(requests_total, route="/", method="POST", status="200") == 1
    assert moved(requests_total, route="/metrics/?", method="GET", status="200") == 1
    latency = "rest_ext_http_request_duration_seconds_count"
    assert moved(latency, route="/login/?", method="POST") == 2
    auth = "rest_ext_auth_results_total"
    assert moved(auth, backend="salt-eauth", result="rejected") == 1
    assert moved(auth, backend="salt-eauth", result="ok") == 1
    assert moved(auth, backend="salt-token", result="ok") == 2  # the job, the 2nd scrape
    assert moved("rest_ext_lowstate_chunks_total", client="local_async", outcome="ok") == 1
    assert moved("rest_ext_jobs_published_total", client="local_async") == 1
    assert value(after, "rest_ext_workers") == 2


def test_stream_events_and_open_streams(two_workers, token, salt_master):
    url = two_workers.url
    prefix = f"test/metrics/{os.urandom(6).hex()}"
    before = scrape(url, token)
    received = "rest_ext_events_received_total"
    delivered = "rest_ext_events_delivered_total"
    streams = "rest_ext_streams_open"

    async def scenario():
        reader = await SseReader(url, token, f"?tag={prefix}/*").start().subscribed()
        opened = wait_for(url, token, lambda f: value(f, streams, transport="sse", format="raw"))
        fire_events(salt_master, prefix, EVENTS)
        await wait_until(lambda: len(reader.events(prefix)) == EVENTS, timeout=30)
        reader.stop()
        return opened

    opened = asyncio.run(scenario())
    assert value(opened, streams, transport="sse", format="raw") == 1
    want = value(before, delivered) + EVENTS

    def sampled(found):
        # each worker samples its bus's counts once a second
        both = value(found, received) - value(before, received) >= 2 * EVENTS
        return both and value(found, delivered) >= want

    after = wait_for(url, token, sampled)
    # only this stream subscribes: every event queued once, no more
    assert value(after, delivered) == want
    # each of the two workers takes every event from the bus
    assert value(after, received) - value(before, received) >= 2 * EVENTS
    closed = wait_for(url, token, lambda f: not value(f, streams, transport="sse", format="raw"))
    assert value(closed, streams, transport="sse", format="raw") == 0
    cache = "rest_ext_token_cache_lookups_total"
    assert value(closed, cache, result="hit") + value(closed, cache, result="miss") > 0


def test_a_killed_worker_is_replaced_and_not_counted_twice(two_workers, token):
    url = two_workers.url
    before = scrape(url, token)
    _, workers = listeners(two_workers)
    os.kill(workers[0].pid, signal.SIGKILL)  # the supervisor starts another one
    after = wait_for(
        url,
        token,
        lambda f: len(listeners(two_workers)[1]) == 2 and value(f, "rest_ext_workers") == 2,
    )
    assert value(after, "rest_ext_workers") == 2  # the dead one's live gauge is gone
    route = {"route": "/metrics/?", "method": "GET", "status": "200"}
    # what the dead worker counted stays counted
    assert value(after, "rest_ext_http_requests_total", **route) > value(
        before, "rest_ext_http_requests_total", **route
    )


@pytest.mark.parametrize(
    "conf, expect",
    [
        ({"metrics_access": "addresses", "metrics_allow": ["192.0.2.0/24"]}, 403),
        ({"metrics_access": "addresses", "metrics_allow": ["127.0.0.1"]}, 200),
        ({"metrics_access": "open", "metrics_path": "/ops/metrics"}, 200),
    ],
)
def test_access_by_address_or_open(start_extra_api, salt_minion, netapi_module, conf, expect):
    if netapi_module != "rest_ext":
        pytest.skip("/metrics is rest_ext's")
    with start_extra_api(conf) as api:
        path = conf.get("metrics_path", "/metrics")
        response = requests.get(f"{api.url}{path}", timeout=30)  # no token
        assert response.status_code == expect, response.text
        if expect == 200:
            assert "# TYPE rest_ext_http_requests_total counter" in response.text
        else:
            assert response.json()["status"] == 403
