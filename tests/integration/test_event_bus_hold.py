"""Reads of the master's event bus held while nobody needs events (``event_idle_hold``),
through salt-api: under a burst with no stream open the workers hold their reads, and a
hold never delays what someone waits for.

The hold is set to 1 s (the most it may be), far above the bound below (0.3 s), so
only a hold that ends when needed meets it: a logout on one worker is refused on the
other (the revocation notice is read before the request is authenticated), and a
stream opened during the burst gets each new event, within the bound.
"""

import threading
import time
import uuid

import pytest
import salt.utils.event

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from tests.support.pinned import pin_to_workers
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]

WORKERS = 2
HOLD = 1.0
BOUND = 0.3  # a busy test machine answers a request in tens of ms
CONF = {
    "num_processes": WORKERS,
    "token_cache_ttl": 60,
    "stream_recheck_interval": 60,
    "event_idle_hold": HOLD,
}


@pytest.fixture(scope="module")
def held_api(salt_master, salt_minion, netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("event_idle_hold is rest_ext's")
    with start_api(salt_master, CONF, netapi_module=netapi_module) as api:
        yield api


class Burst:
    """Events nobody streams, fired every ``gap`` seconds from a thread until stopped."""

    def __init__(self, master, gap=0.005):
        self.opts = master_opts(master)
        self.gap = gap
        self.prefix = f"test/hold/{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        opts = self.opts
        with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
            n = 0
            while not self.stop.is_set():
                event.fire_event({"n": n}, f"{self.prefix}/{n}")
                n += 1
                time.sleep(self.gap)

    def fire(self, tag):
        opts = self.opts
        with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
            event.fire_event({"marker": tag}, tag)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def held_reads(probe):
    status, body = probe.stats()
    assert status == 200, status
    return body["events"]["held_reads"]


def test_reads_are_held_under_a_burst_yet_a_logout_is_refused_at_once(
    held_api, api_credentials, salt_master
):
    url = held_api.url
    token = ApiClient(url).login(api_credentials)["token"]
    probes = {w: g[0] for w, g in pin_to_workers(url, token, WORKERS).items()}
    before = {w: held_reads(p) for w, p in probes.items()}  # cached on every worker
    with Burst(salt_master):
        time.sleep(HOLD + 1)
        after = {w: held_reads(p) for w, p in probes.items()}
        assert all(after[w] > before[w] for w in probes), (before, after)
        time.sleep(0.3)  # every worker in a hold again
        assert probes[0].logout() == 200
        logged_out = time.monotonic()
        status = 200
        while status != 401 and time.monotonic() - logged_out < 5:
            status = probes[1].stats()[0]
        refused_after = time.monotonic() - logged_out
    assert status == 401
    assert refused_after <= BOUND, refused_after


def test_a_stream_opened_during_a_burst_gets_each_event_at_once(
    held_api, api_credentials, salt_master
):
    url = held_api.url
    token = ApiClient(url).login(api_credentials)["token"]
    conns = [g[0] for g in pin_to_workers(url, token, WORKERS).values()]
    with Burst(salt_master) as burst:
        time.sleep(1.5)  # every worker holding its reads
        streams = [c.open_sse() for c in conns]
        for n in range(5):
            marker = f"test/marker/{uuid.uuid4().hex[:8]}/{n}"
            fired = time.monotonic()
            burst.fire(marker)
            for conn in streams:
                assert conn.read_until(lambda buf, m=marker: m.encode() in buf, 5)
                assert conn.matched_at - fired <= BOUND, (conn.worker, conn.matched_at - fired)
    for conn in conns:
        conn.close()
