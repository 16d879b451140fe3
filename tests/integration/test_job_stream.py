"""``GET /jobs/<jid>/events``: one job's events, then its summary, then the end; the
same on rest_ext's WebSocket protocol (``/stream``, a subscribe with ``job``)."""

import asyncio
import datetime
import json
import time

import pytest

from salt_ext_rest.testing import jobcache
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import WsReader, wait_until

pytestmark = [pytest.mark.integration]


def read_stream(client, path, timeout=60):
    """Every ``(tag, data)`` of the stream until the server ends it."""
    started = time.monotonic()
    response = client.get(path, stream=True, headers={"Accept": "text/event-stream"},
                          timeout=timeout)  # fmt: skip
    assert response.status_code == 200, response.text
    events, tag = [], None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("tag: "):
            tag = line[5:]
        elif line.startswith("data: "):
            events.append((tag, json.loads(line[6:])["data"]))
    assert time.monotonic() - started < timeout
    return events


def test_a_job_stream_replays_follows_and_ends_with_the_summary(api):
    (pub,) = api.run({"client": "local_async", "tgt": "minion-*", "fun": "test.arg",
                      "arg": ["streamed"]})  # fmt: skip
    jid = pub["jid"]
    events = read_stream(api, f"/jobs/{jid}/events")
    tags = [tag for tag, _ in events]
    assert tags[0] == f"salt/job/{jid}/new"  # replayed: it came before the stream opened
    assert {f"salt/job/{jid}/ret/minion-1", f"salt/job/{jid}/ret/minion-2"} <= set(tags)
    assert tags[-1] == f"salt/netapi/rest_ext/job/{jid}/summary"
    summary = events[-1][1]
    assert summary["jid"] == jid and set(summary["minions"]) == {"minion-1", "minion-2"}
    assert summary["summary"]["returned"] == 2 and summary["summary"]["ok"] is True


def test_a_silent_minion_ends_the_stream_after_the_timeout(api, salt_master):
    jid = jobcache.make_jid(datetime.datetime.now(), 0)
    returned = {"minion-1": {"return": True, "retcode": 0, "success": True}}
    job = jobcache.SeedJob(
        jid=jid,
        fun="test.arg",
        arg=[],
        tgt="x",
        tgt_type="list",
        user="saltdev",
        minions=["minion-1", "ghost-1"],
        returns=returned,
    )
    jobcache.seed(salt_master.config, [job])
    started = time.monotonic()
    events = read_stream(api, f"/jobs/{jid}/events?timeout=1")
    assert time.monotonic() - started < 15
    tag, data = events[-1]
    assert tag == f"salt/netapi/rest_ext/job/{jid}/summary"
    assert data["minions"]["minion-1"]["status"] == "returned"
    assert data["minions"]["ghost-1"]["status"] == "not_connected"
    assert data["summary"]["ok"] is False


def test_a_job_the_caller_may_not_see_is_403(salt_master, api_url, limited_credentials):
    jid = jobcache.make_jid(datetime.datetime.now(), 0)
    job = jobcache.SeedJob(jid=jid, fun="cmd.run", arg=["id"], tgt="minion-1", tgt_type="glob",
                           user="saltdev", minions=["minion-1"])  # fmt: skip
    jobcache.seed(salt_master.config, [job])
    limited = ApiClient(api_url)
    limited.login(limited_credentials)
    response = limited.get(f"/jobs/{jid}/events", headers={"Accept": "text/event-stream"})
    assert response.status_code == 403
    assert response.json()["status"] == 403


def test_a_bad_timeout_is_400(api):
    response = api.get("/jobs/20010101000000000000/events?timeout=0")
    assert response.status_code == 400


@pytest.fixture(scope="module")
def ws_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    with start_api(salt_master, {"websockets": True}, netapi_module=netapi_module) as started:
        yield started


def follow_on_socket(url, token, subscribe, timeout=60):
    """Every message of ``/stream`` after ``subscribe`` until ``end`` (or an error)."""

    def over(ws):
        return any(json.loads(f)["type"] in ("end", "error") for f in ws.frames)

    async def scenario():
        ws = await WsReader(f"{url}/stream", hello=None, headers={"X-Auth-Token": token}).connect()
        try:
            await ws.send(subscribe)
            assert await wait_until(lambda: over(ws), timeout=timeout), ws.frames
            await asyncio.sleep(0.2)  # nothing may follow the end
            return [json.loads(f) for f in ws.frames]
        finally:
            ws.close()

    return asyncio.run(scenario())


def test_a_job_followed_on_the_websocket_protocol(ws_api, api_credentials, salt_master):
    client = ApiClient(ws_api.url)
    token = client.login(api_credentials)["token"]
    (pub,) = client.run({"client": "local_async", "tgt": "minion-*", "fun": "test.arg",
                         "arg": ["socket"]})  # fmt: skip
    jid = pub["jid"]
    messages = follow_on_socket(ws_api.url, token, {"type": "subscribe", "id": "j", "job": jid})
    assert [m["type"] for m in messages[:2]] == ["ready", "subscribed"]
    assert messages[-1] == {"type": "end", "subscription": "j"}
    events = messages[2:-1]
    assert all(m["type"] == "event" and m["subscription"] == "j" for m in events)
    tags = [m["tag"] for m in events]
    assert tags[0] == f"salt/job/{jid}/new"  # replayed: it came before the subscription
    assert {f"salt/job/{jid}/ret/minion-1", f"salt/job/{jid}/ret/minion-2"} <= set(tags)
    assert tags[-1] == f"salt/netapi/rest_ext/job/{jid}/summary"
    summary = events[-1]["event"]["data"]
    assert set(summary["minions"]) == {"minion-1", "minion-2"}
    assert summary["summary"]["returned"] == 2 and summary["summary"]["ok"] is True

    # a silent minion: the summary after the timeout, then the end
    silent_jid = jobcache.make_jid(datetime.datetime.now(), 0)
    job = jobcache.SeedJob(jid=silent_jid, fun="test.arg", arg=[], tgt="x", tgt_type="list",
                           user="saltdev", minions=["ghost-1"])  # fmt: skip
    jobcache.seed(salt_master.config, [job])
    subscribe = {"type": "subscribe", "id": "s", "job": silent_jid, "timeout": 1}
    messages = follow_on_socket(ws_api.url, token, subscribe, timeout=15)
    assert messages[-1] == {"type": "end", "subscription": "s"}
    last = messages[-2]["event"]
    assert last["tag"] == f"salt/netapi/rest_ext/job/{silent_jid}/summary"
    assert last["data"]["minions"]["ghost-1"]["status"] == "not_connected"

    bad = follow_on_socket(ws_api.url, token, {"type": "subscribe", "job": "../x"}, timeout=15)
    assert bad[-1]["type"] == "error" and bad[-1]["status"] == 400
