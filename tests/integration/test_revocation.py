"""A logout on one worker takes effect on every worker within 100 ms, through salt-api.

Four workers; connections pinned to each (``/stats`` names the worker a keep-alive
connection reaches). The token cache TTL and the streams' periodic recheck are set
far above the test's bounds, so only the revocation notice can meet them.
"""

import hashlib
import json
import threading
import time
import uuid

import pytest
import salt.utils.event

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from tests.support.bus import fire_events
from tests.support.pinned import pin_to_workers
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]

WORKERS = 4
CONF = {
    "num_processes": WORKERS,
    "websockets": True,
    "token_cache_ttl": 60,
    "stream_recheck_interval": 60,
}
REVOKED = "salt/netapi/rest_ext/internal/revoked"
IGNORED = "ignored a revocation notice for a token the store holds"
BOUND = 0.1


@pytest.fixture(scope="module")
def four_workers(salt_master, salt_minion, netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("num_processes revocation is rest_ext's")
    with start_api(salt_master, CONF, netapi_module=netapi_module) as api:
        yield api


def open_streams(master, url, token):
    """An SSE stream and a WebSocket on every worker, each proven live by an event."""
    sse = [c.open_sse() for g in pin_to_workers(url, token, WORKERS).values() for c in g]
    ws = [c.open_ws() for g in pin_to_workers(url, token, WORKERS).values() for c in g]
    prefix = f"test/revocation/{uuid.uuid4().hex[:8]}"
    fire_events_until_seen(master, sse + ws, prefix)
    return sse, ws


def fire_events_until_seen(master, conns, prefix):
    # A WebSocket subscribes a moment after "client ready": fire until every stream
    # has an event (ordered after its subscription), at most 30 s.
    deadline = time.monotonic() + 30
    for n in range(300):
        fire_events(master, f"{prefix}/{n}", 1)
        if all(c.read_until(lambda buf: prefix.encode() in buf, 0.1) for c in conns):
            return
        assert time.monotonic() < deadline, "a stream received no event"


def ended_within(conns, wait, timeout=10):
    """Threads waiting for every stream to end (each connection's ``matched_at``)."""
    threads = [threading.Thread(target=wait, args=(c, timeout)) for c in conns]
    for t in threads:
        t.start()
    return threads


def test_logout_on_one_worker_is_refused_and_ends_streams_everywhere_within_100_ms(
    four_workers, api_credentials, salt_master
):
    url = four_workers.url
    token = ApiClient(url).login(api_credentials)["token"]
    probes = {w: g[0] for w, g in pin_to_workers(url, token, WORKERS).items()}
    sse, ws = open_streams(salt_master, url, token)
    assert all(p.stats()[0] == 200 for p in probes.values())  # cached on every worker
    readers = [
        *ended_within(sse, lambda c, t: c.wait_sse_end(t)),
        *ended_within(ws, lambda c, t: c.wait_ws_close(t)),
    ]
    assert probes[0].logout() == 200
    logged_out = time.monotonic()
    refused = {}
    while len(refused) < WORKERS - 1 and time.monotonic() - logged_out < 5:
        for worker, probe in probes.items():
            if worker and worker not in refused and probe.stats()[0] == 401:
                refused[worker] = time.monotonic() - logged_out
    for reader in readers:
        reader.join(15)
    assert sorted(refused) == [1, 2, 3], refused
    assert max(refused.values()) <= BOUND, refused
    for conn in sse:
        assert conn.matched_at is not None, (conn.worker, conn.buf[-300:])
        closing = conn.buf[conn.buf.rindex(b"rest_ext/stream/closed") :]
        assert b"1008" in closing, closing
    assert [c.ws_close_code() for c in ws] == [1008] * WORKERS
    ends = {f"{kind}@{c.worker}": c.matched_at - logged_out
            for kind, conns in (("sse", sse), ("ws", ws)) for c in conns}  # fmt: skip
    assert max(ends.values()) <= BOUND, ends


def ignored_count(api):
    return api.log_file().read_text(errors="replace").count(IGNORED)


def wait_ignored(api, count, timeout=30):
    deadline = time.monotonic() + timeout
    while ignored_count(api) < count:
        assert time.monotonic() < deadline, f"{ignored_count(api)} of {count} notices rechecked"
        time.sleep(0.05)


def test_a_forged_revocation_notice_ends_no_session(
    four_workers, api_credentials, salt_master, salt_minion
):
    url = four_workers.url
    token = ApiClient(url).login(api_credentials)["token"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    probes = {w: g[0] for w, g in pin_to_workers(url, token, WORKERS).items()}
    sse, ws = open_streams(salt_master, url, token)
    before = ignored_count(four_workers)
    # From the master's bus, as any process with access to it could ...
    opts = master_opts(salt_master)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
        event.fire_event({"digest": digest}, REVOKED)
    # ... every worker re-read the store (its streams are of that token) and kept them,
    wait_ignored(four_workers, before + WORKERS)
    # ... and from a minion: event.send's preload lands at the top of the event data.
    sent = salt_minion.salt_call_cli().run(
        "event.send", REVOKED, f"preload={json.dumps({'digest': digest})}"
    )
    assert sent.returncode == 0, sent
    wait_ignored(four_workers, before + 2 * WORKERS)
    fire_events_until_seen(salt_master, sse + ws, f"test/still-open/{uuid.uuid4().hex[:8]}")
    assert all(p.stats()[0] == 200 for p in probes.values())
    for conn in sse:
        assert b"rest_ext/stream/closed" not in conn.buf
        assert b"tag: salt/netapi/rest_ext/internal" not in conn.buf  # never streamed
    assert [c.ws_close_code() for c in ws] == [None] * WORKERS
    tags = [json.loads(m)["tag"] for c in ws for op, m in c.ws_frames() if op == 1]
    assert tags and not [t for t in tags if t.startswith("salt/netapi/rest_ext/internal")]
