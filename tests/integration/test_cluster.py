"""rest_ext on every master of a real Salt master cluster (127.0.0.1-3), sharing Redis.

One cluster for the module (``salt_cluster`` in conftest.py): masters A, B, C with a
salt-api each, ``minion-1`` and ``minion-2`` connected to A only. Events are fired
straight onto one master's bus; Salt forwards them to the other masters.
"""

import asyncio
import time
import uuid

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.streams import SseReader, wait_until
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MINIONS = {"minion-1", "minion-2"}
A, B, C = 0, 1, 2
NOTICES = "salt/netapi/rest_ext/stream/"
#: logout on one master: refused on the others within this many seconds.
REVOCATION_DEADLINE = 0.1


def unique_prefix():
    return f"test/cluster/{uuid.uuid4().hex[:12]}"


def client(cluster, index, token=None):
    return ApiClient(cluster.url(index), token)


@pytest.fixture
def token(salt_cluster):
    """A token minted by master A's API."""
    return client(salt_cluster, A).login(salt_cluster.credentials)["token"]


def test_every_master_runs_an_api_on_its_own_address(salt_cluster):
    assert [u.split("//")[1].split(":")[0] for u in salt_cluster.urls] == list(
        salt_cluster.addresses
    )
    for url in salt_cluster.urls:
        assert requests.get(f"{url}/", timeout=10).json()["return"] == "Welcome"


def test_login_on_a_then_local_and_local_async_on_b(salt_cluster, token):
    b = client(salt_cluster, B, token)
    (ret,) = b.run({"client": "local", "tgt": "*", "fun": "test.ping"})
    assert ret == dict.fromkeys(MINIONS, True)
    (pub,) = b.run({"client": "local_async", "tgt": "*", "fun": "test.echo", "arg": ["x"]})
    assert set(pub["minions"]) == MINIONS
    # The job cache is on the shared cachedir: master C answers for B's job.
    c = client(salt_cluster, C, token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (job,) = c.get(f"/jobs/{pub['jid']}").json()["return"]
        if set(job) >= MINIONS:
            break
        time.sleep(0.5)
    assert job == dict.fromkeys(MINIONS, "x")


def test_stream_on_c_resumes_on_a_after_c_dies_every_event_exactly_once(salt_cluster, token):
    prefix = unique_prefix()
    query = f"?tag={prefix}/*"
    masters = salt_cluster.masters

    async def scenario():
        first = await SseReader(salt_cluster.url(C), token, query).start().subscribed()
        fire_events(masters[B], f"{prefix}/before", 5)
        await wait_until(lambda: len(first.events(prefix)) == 5, timeout=30)
        await asyncio.get_running_loop().run_in_executor(None, salt_cluster.stop_api, C)
        await wait_until(lambda: first.task.done(), timeout=15)
        last_id = [m for m in first.messages if m.get("tag", "").startswith(prefix)][-1]["id"]
        fire_events(masters[B], f"{prefix}/gap", 4)  # while no stream is open
        await asyncio.sleep(1.0)
        resumed = SseReader(salt_cluster.url(A), token, query, {"Last-Event-ID": last_id})
        await resumed.start().subscribed()
        fire_events(masters[C], f"{prefix}/after", 3)
        await wait_until(lambda: len(resumed.events(prefix)) >= 7, timeout=30)
        await asyncio.sleep(1.0)  # a duplicate would arrive by now
        resumed.stop()
        return first, resumed

    try:
        first, resumed = asyncio.run(scenario())
    finally:
        salt_cluster.start_api(C)
    assert [e["tag"] for e in first.events(prefix)] == [f"{prefix}/before/{n}" for n in range(5)]
    tags = [e["tag"] for e in resumed.events(prefix)]
    expected = [f"{prefix}/gap/{n}" for n in range(4)] + [f"{prefix}/after/{n}" for n in range(3)]
    assert tags == expected
    assert not resumed.events(f"{NOTICES}resume_incomplete"), resumed.messages
    ids = [
        m["id"] for m in first.messages + resumed.messages if m.get("tag", "").startswith(prefix)
    ]
    assert len(ids) == len(set(ids)) == 12


def test_logout_on_a_is_refused_on_b_and_c_within_100ms(salt_cluster, token):
    others = [client(salt_cluster, i, token) for i in (B, C)]
    for other in others:  # each master has seen (and may have cached) the token
        assert other.get("/stats").status_code == 200
    assert client(salt_cluster, A, token).post("/logout").status_code == 200
    started = time.monotonic()
    refused = {}
    while len(refused) < len(others) and time.monotonic() - started < 5:
        for index, other in enumerate(others):
            if index not in refused and other.get("/stats").status_code == 401:
                refused[index] = time.monotonic() - started
    assert len(refused) == len(others), f"token still accepted after 5 s: {refused}"
    assert max(refused.values()) <= REVOCATION_DEADLINE, refused


def stats_store(api_client):
    body = api_client.get("/stats", timeout=5).json()
    return body.get("deployment", {}).get("store", {})


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def store_available(apis, within=15.0):
    """Each API's shared-store ``available`` once all are, or when ``within`` ends."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(stats_store(api).get("available") is True for api in apis):
            break
        time.sleep(0.2)
    return [stats_store(api).get("available") for api in apis]


def test_redis_outage_is_bounded_then_recovers(salt_cluster, redis_server, token):
    apis = [client(salt_cluster, i, token) for i in (A, B, C)]
    # a slow moment of a loaded machine may have tripped a link's fail-fast second
    assert store_available(apis) == [True] * 3
    redis_server.stop()
    try:
        for api in apis:  # logins (throttle), stats (store state) and jobs: no hang
            login, took = timed(lambda api=api: api.post("/login", json=salt_cluster.credentials))
            assert login.status_code == 200 and took < 1.0, (login.text, took)
            store, took = timed(lambda api=api: stats_store(api))
            assert store.get("available") is False and took < 1.0, (store, took)
        (ret,), took = timed(
            lambda: apis[B].run({"client": "local", "tgt": "*", "fun": "test.ping"})
        )
        assert ret == dict.fromkeys(MINIONS, True)
    finally:
        redis_server.start()
    assert store_available(apis) == [True] * 3


def served_per_backend(balancer):
    rows = balancer.admin("show stat").splitlines()
    header = rows[0].lstrip("# ").split(",")
    stats = [dict(zip(header, row.split(","), strict=False)) for row in rows[1:] if row]
    return {r["svname"]: int(r["stot"]) for r in stats if r["svname"].startswith("api")}


def test_balancer_spreads_requests_and_routes_around_a_stopped_api(
    salt_cluster, cluster_balancer, token
):
    through = ApiClient(cluster_balancer.url, token)
    # readiness-checked: after an earlier test's Redis outage, every API is back within
    # a check or two
    cluster_balancer.wait_until(cluster_balancer.all_up)
    before = served_per_backend(cluster_balancer)
    for _ in range(6):
        assert through.get("/stats").status_code == 200
    after = served_per_backend(cluster_balancer)
    assert all(after[name] > before[name] for name in before), (before, after)
    salt_cluster.stop_api(C)
    try:
        cluster_balancer.wait_until(lambda: cluster_balancer.server_states()["api2"] == "DOWN")
        statuses = [through.get("/stats").status_code for _ in range(9)]
        assert statuses == [200] * 9
    finally:
        salt_cluster.start_api(C)
    cluster_balancer.wait_until(cluster_balancer.all_up)


def test_streams_go_on_through_a_redis_outage_and_say_so(salt_cluster, redis_server, token):
    prefix, masters = unique_prefix(), salt_cluster.masters
    mode_tag = f"{NOTICES}shared_history"

    def modes(reader):
        return [e["data"]["mode"] for e in reader.events(mode_tag)]

    async def fire_until(reader, tag, predicate):
        loop = asyncio.get_running_loop()
        for n in range(60):  # Redis state is noticed on use: keep events coming
            await loop.run_in_executor(None, fire_events, masters[A], f"{tag}/{n}", 1)
            if await wait_until(predicate, timeout=0.5):
                return

    async def scenario():
        reader = (
            await SseReader(salt_cluster.url(B), token, f"?tag={prefix}/*").start().subscribed()
        )
        redis_server.stop()
        try:
            await fire_until(reader, f"{prefix}/down", lambda: "local" in modes(reader))
        finally:
            redis_server.start()
        await fire_until(reader, f"{prefix}/back", lambda: modes(reader)[-1:] == ["shared"])
        reader.stop()
        return reader

    reader = asyncio.run(scenario())
    assert modes(reader)[0] == "local" and modes(reader)[-1] == "shared", reader.events(NOTICES)
    tags = [e["tag"] for e in reader.events(prefix)]
    assert any("/down/" in t for t in tags) and any("/back/" in t for t in tags), tags


def test_an_extra_api_on_a_master_serves_the_clusters_tokens(salt_cluster, token):
    with salt_cluster.extra_api(B, {"max_request_body_size": 1024}) as api:
        assert api.url.startswith("http://127.0.0.2:") and api.url != salt_cluster.url(B)
        extra = ApiClient(api.url, token)
        assert extra.get("/stats").status_code == 200  # a token minted on A
        big = extra.post("/", json=[{"client": "local", "tgt": "*", "fun": "test.echo"}] * 50)
        assert big.status_code == 413, big.text
