"""The metrics' own parts: multiprocess summing, dead workers, tallies, access, config."""

import asyncio
import contextlib
import os
import time

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from salt_ext_rest.config import ConfigError, load_config
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.subscription import BusEvent, StreamClosed
from salt_ext_rest.http.metrics_handler import peer_allowed
from salt_ext_rest.operations import metrics as m


@pytest.fixture
def directory(tmp_path, monkeypatch):
    """What the server does before starting workers; undone after the test."""
    path = m.prepare_directory(str(tmp_path / "rest_ext-1-metrics"))
    monkeypatch.setenv(m.ENV, path)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    return path


def parsed(metrics):
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_directory_is_emptied_and_private(tmp_path):
    path = tmp_path / "d"
    path.mkdir()
    (path / "counter_1.db").write_bytes(b"old")
    m.prepare_directory(str(path))
    assert list(path.iterdir()) == [] and (path.stat().st_mode & 0o777) == 0o700


def test_forked_workers_are_summed_and_a_dead_ones_live_gauges_dropped(directory):
    metrics = m.Metrics(directory)
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # a worker: its own files, by pid
            try:  # as a worker does after the fork
                worker = m.Metrics(directory)
                worker.request("/", "GET", 200, 0.002)
                worker.stream_opened("sse", "raw")
                worker.sample()
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    metrics.request("/", "GET", 200, 0.2)
    metrics.sample()
    found = parsed(metrics)
    labels = (("method", "GET"), ("route", "/"), ("status", "200"))
    assert found[("rest_ext_http_requests_total", labels)] == 3
    assert found[("rest_ext_workers", ())] == 3  # this process and the two children
    streams = (("format", "raw"), ("transport", "sse"))
    assert found[("rest_ext_streams_open", streams)] == 2
    for pid in children:
        m.mark_process_dead(directory, pid)
    found = parsed(metrics)
    assert found[("rest_ext_http_requests_total", labels)] == 3  # counted stays counted
    assert found[("rest_ext_workers", ())] == 1
    assert found.get(("rest_ext_streams_open", streams), 0) == 0


def test_requests_are_counted_at_the_next_sample_as_observe_would(directory):
    metrics = m.Metrics(directory)
    for seconds in (0.0005, 0.001, 0.003, 50.0):
        metrics.request("/x", "GET", 200, seconds)
    metrics.auth("salt-token", "ok")
    assert not any(name == "rest_ext_http_requests_total" for name, _ in parsed(metrics))
    metrics.sample()
    metrics.sample()  # nothing twice
    found = parsed(metrics)
    route = (("method", "GET"), ("route", "/x"))
    bucket = "rest_ext_http_request_duration_seconds_bucket"
    assert found["rest_ext_http_requests_total", (*route[:1], *route[1:], ("status", "200"))] == 4
    assert found[bucket, (("le", "0.001"), *route)] == 2  # le is inclusive
    assert found[bucket, (("le", "0.0025"), *route)] == 2
    assert found[bucket, (("le", "0.005"), *route)] == 3
    assert found[bucket, (("le", "30.0"), *route)] == 3
    assert found[bucket, (("le", "+Inf"), *route)] == 4
    assert found["rest_ext_http_request_duration_seconds_count", route] == 4
    assert found["rest_ext_http_request_duration_seconds_sum", route] == pytest.approx(50.0045)
    auth = (("backend", "salt-token"), ("result", "ok"))
    assert found["rest_ext_auth_results_total", auth] == 1


def test_stream_gauge_is_decremented_once(directory):
    metrics = m.Metrics(directory)
    closed = metrics.stream_opened("websocket", "formatted")
    closed()
    closed()
    found = parsed(metrics)
    assert (
        found[("rest_ext_streams_open", (("format", "formatted"), ("transport", "websocket")))] == 0
    )


def test_tallies_are_sampled_as_deltas_and_gauges_as_values(directory):
    metrics = m.Metrics(directory)
    tally = {"n": 5, "q": 3}
    metrics.watch("events_received", lambda: tally["n"])
    metrics.watch("queue_salt", lambda: tally["q"])
    metrics.sample()
    tally["n"], tally["q"] = 7, 0
    metrics.sample()
    metrics.sample()
    found = parsed(metrics)
    assert found[("rest_ext_events_received_total", ())] == 7
    assert found[("rest_ext_executor_queue_depth", (("pool", "salt"),))] == 0


def test_bus_counts_queued_events_and_slow_consumers():
    async def scenario():
        bus = EventBus({}, queue_size=2)
        slow = bus.subscribe(None, lambda e: True)
        picky = bus.subscribe(None, lambda e: e.tag == "wanted")
        for tag in ("a", "b", "c"):
            bus.publish(tag, {})
        with pytest.raises(StreamClosed):
            await slow.next(0)
        return bus, picky

    bus, picky = asyncio.run(scenario())
    # a and b queued for the slow one; c overflowed it: cut, with a, b and c lost
    assert (bus.received, bus.queued, bus.cut, bus.slow_dropped) == (3, 2, 1, 3)
    assert picky.closed is None and picky.backlog() == 0


def test_undecodable_events_are_counted():
    """Counted when decoded: at once for a wanted tag, else when the backlog is read."""
    bus = EventBus({})
    bus._publish_raw(b"salt/tag\n\n\xc1")  # nobody wants it: kept undecoded
    bus.catch_up()
    bus.jobs.wants = lambda tag: True  # type: ignore[method-assign]
    bus._publish_raw(b"salt/job/1/ret/m\n\n\xc1")
    assert (bus.undecodable, bus.backlog.undecodable) == (1, 1)


@pytest.mark.parametrize(
    "peer, allowed",
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),  # IPv4 on a dual-stack socket
        ("10.2.0.1", False),
        ("::1", True),
        ("unknown", False),
    ],
)
def test_peer_allowed(peer, allowed):
    assert peer_allowed(peer, ("10.1.0.0/16", "::1")) is allowed


@pytest.mark.parametrize(
    "block, fragment",
    [
        ({"metrics_access": "addresses"}, "metrics_allow"),
        ({"metrics_access": "addresses", "metrics_allow": ["10.0.0.0/33"]}, "metrics_allow"),
        ({"metrics_access": "everyone"}, "metrics_access"),
        ({"metrics_path": "metrics"}, "metrics_path"),
        ({"metrics_path": "/stats"}, "metrics_path"),
        ({"metrics_path": "/hook/metrics"}, "metrics_path"),
        ({"metrics_path": "/"}, "metrics_path"),
    ],
)
def test_bad_metrics_config_names_the_key(block, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, **block}})


def test_a_record_costs_microseconds(directory):
    metrics = m.Metrics(directory)
    started = time.perf_counter()
    for _ in range(2000):
        metrics.request("/", "GET", 200, 0.001)
    each = (time.perf_counter() - started) / 2000
    assert each < 0.001, each  # generous: a busy CI machine; ~10 µs measured


def test_bus_event_is_offered_to_a_subscription_once_queued():
    bus = EventBus({})
    sub = bus.subscribe(None, lambda e: True)
    assert sub.offer(BusEvent("1", "t", {})) is True
    sub.close("bye")
    assert sub.offer(BusEvent("2", "t", {})) is False


def test_bus_reconnects_are_counted_not_the_first_connect():
    async def scenario():
        bus = EventBus({})
        await bus._on_connect(True)
        await bus._on_disconnect()
        await bus._on_connect(True)
        return bus

    assert asyncio.run(scenario()).reconnects == 1


def test_counted_authenticator_results(directory):
    from salt_ext_rest.auth.identity import Credentials
    from salt_ext_rest.auth.throttle import LoginThrottled
    from salt_ext_rest.errors import Forbidden
    from salt_ext_rest.operations.instrument import CountedAuthenticator

    class Backend:
        name = "salt-eauth"
        throttle = "kept"

        def __init__(self, outcome):
            self.outcome = outcome

        async def authenticate(self, credentials):
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome

    metrics = m.Metrics(directory)
    eauth = Credentials(username="u", password="p", eauth="auto")
    token_only = Credentials(token="a" * 64)

    async def scenario():
        for outcome, creds in [
            (object(), eauth),
            (None, eauth),  # its kind of credentials, refused
            (None, token_only),  # not its kind: not counted
            (LoginThrottled("slow down", 3), eauth),
            (Forbidden("empty ACL"), eauth),
        ]:
            backend = CountedAuthenticator(Backend(outcome), metrics)
            assert backend.throttle == "kept" and backend.name == "salt-eauth"
            with contextlib.suppress(Exception):
                await backend.authenticate(creds)

    asyncio.run(scenario())
    metrics.sample()
    found = parsed(metrics)
    results = {
        dict(labels)["result"]: count
        for (name, labels), count in found.items()
        if name == "rest_ext_auth_results_total"
    }
    assert results == {"ok": 1, "rejected": 1, "throttled": 1, "forbidden": 1}
    assert found["rest_ext_logins_throttled_total", ()] == 1
