"""Event streams through a real salt-api: SSE and every WebSocket protocol.

Events are fired straight onto the master's event bus from the test process.
"""

import asyncio
import json
import time
import uuid

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, WsReader, wait_until
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]

BURST = 500
SUBSCRIBERS = 100


@pytest.fixture(scope="module")
def ws_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    # One token opens SUBSCRIBERS streams here, more than max_streams_per_token's default.
    conf = {"websockets": True, "max_streams_per_token": 2 * SUBSCRIBERS}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture
def token(ws_api, api_credentials):
    return ApiClient(ws_api.url).login(api_credentials)["token"]


def unique_prefix():
    return f"test/events/{uuid.uuid4().hex[:12]}"


def ws_tag_numbers(frames, prefix, unwrap):
    numbers = []
    for frame in frames:
        event = unwrap(frame)
        if event and event.get("tag", "").startswith(prefix):
            numbers.append(event["data"]["n"])
    return numbers


def unwrap_raw(frame):
    return json.loads(frame)


def unwrap_cherrypy(frame):
    assert frame.startswith("data: ")
    return json.loads(frame[len("data: ") :])


def unwrap_stream(frame):
    message = json.loads(frame)
    return message["event"] if message.get("type") == "event" else None


async def open_readers(url, token, prefix):
    ws_url = url.replace("http://", "ws://")
    readers = {"sse": [], "all_events": [], "ws": [], "stream": []}
    per_kind = SUBSCRIBERS // 4
    for _ in range(per_kind):
        readers["sse"].append(SseReader(url, token, f"?tag={prefix}/*").start())
        readers["all_events"].append(await WsReader(f"{ws_url}/all_events/{token}").connect())
        readers["ws"].append(await WsReader(f"{ws_url}/ws/{token}").connect())
        stream = await WsReader(
            f"{ws_url}/stream", hello=None, headers={"X-Auth-Token": token}
        ).connect()
        await stream.send({"type": "subscribe", "id": "s", "tags": [f"{prefix}/*"]})
        readers["stream"].append(stream)
    return readers


def test_burst_of_500_reaches_100_subscribers_in_order(ws_api, token, salt_master):
    prefix = unique_prefix()
    expected = list(range(BURST))

    async def scenario():
        readers = await open_readers(ws_api.url, token, prefix)
        await asyncio.sleep(1.0)  # every subscription is registered on the bus
        await asyncio.get_running_loop().run_in_executor(
            None, fire_events, salt_master, prefix, BURST
        )
        counts = {
            "sse": lambda r: [e["data"]["n"] for e in r.events(prefix)],
            "all_events": lambda r: ws_tag_numbers(r.frames, prefix, unwrap_raw),
            "ws": lambda r: ws_tag_numbers(r.frames, prefix, unwrap_cherrypy),
            "stream": lambda r: ws_tag_numbers(r.frames, prefix, unwrap_stream),
        }

        def done():
            return all(len(counts[k](r)) >= BURST for k, rs in readers.items() for r in rs)

        await wait_until(done, timeout=90)
        results = {k: [counts[k](r) for r in rs] for k, rs in readers.items()}
        for rs in readers.values():
            for r in rs:
                (r.stop if isinstance(r, SseReader) else r.close)()
        return results

    results = asyncio.run(scenario())
    for kind, per_reader in results.items():
        assert len(per_reader) == SUBSCRIBERS // 4
        for numbers in per_reader:
            assert numbers == expected, f"{kind}: {len(numbers)}/{BURST} delivered"


def test_sse_framing_redaction_and_ids(ws_api, token, salt_master):
    prefix = unique_prefix()

    async def scenario():
        reader = await SseReader(ws_api.url, token, f"?tag={prefix}/*").start().subscribed()
        secret = {"password": "hunter2", "nested": {"Authorization": "Basic x", "key": "rootkey"}}
        fire_events(salt_master, prefix, 2, secret)
        await wait_until(lambda: len(reader.events(prefix)) == 2, timeout=30)
        reader.stop()
        return reader

    reader = asyncio.run(scenario())
    assert reader.messages[0] == {"retry": "400"}
    first = reader.messages[1]
    assert first["tag"] == f"{prefix}/0" and first["id"]
    assert json.loads(first["data"])["tag"] == f"{prefix}/0"
    raw = json.dumps(reader.events(prefix))
    assert "hunter2" not in raw and "rootkey" not in raw and "Basic x" not in raw


def test_resume_with_last_event_id(ws_api, token, salt_master):
    prefix = unique_prefix()

    async def scenario():
        first = await SseReader(ws_api.url, token, f"?tag={prefix}/*").start().subscribed()
        fire_events(salt_master, prefix, 5)
        await wait_until(lambda: len(first.events(prefix)) == 5, timeout=30)
        first.stop()
        resume_from = [m for m in first.messages if m.get("tag", "").startswith(prefix)][1]["id"]
        fire_events(salt_master, f"{prefix}/late", 3)
        await asyncio.sleep(1.0)
        second = SseReader(ws_api.url, token, f"?tag={prefix}/*", {"Last-Event-ID": resume_from})
        second.start()
        foreign = SseReader(ws_api.url, token, f"?tag={prefix}/*", {"Last-Event-ID": "beef-12"})
        foreign.start()
        await wait_until(lambda: len(second.events(prefix)) >= 6, timeout=30)
        await wait_until(lambda: foreign.events("salt/netapi/rest_ext/stream/"), timeout=30)
        second.stop()
        foreign.stop()
        return second, foreign

    second, foreign = asyncio.run(scenario())
    tags = [e["tag"] for e in second.events(prefix)]
    assert tags == [f"{prefix}/{n}" for n in (2, 3, 4)] + [f"{prefix}/late/{n}" for n in range(3)]
    (notice,) = foreign.events("salt/netapi/rest_ext/stream/resume_incomplete")
    assert (
        notice["data"]["missed"] is True and "not in the event history" in notice["data"]["reason"]
    )


def test_logout_ends_streams(ws_api, api_credentials):
    client = ApiClient(ws_api.url)
    token = client.login(api_credentials)["token"]

    async def scenario():
        sse = SseReader(ws_api.url, token).start()
        ws = await WsReader(f"{ws_api.url}/all_events/{token}").connect()
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, client.post, "/logout")
        await wait_until(lambda: sse.task.done() and ws.task.done(), timeout=15)
        return sse, ws, time.monotonic() - started

    sse, ws, elapsed = asyncio.run(scenario())
    assert elapsed < 10
    (closed,) = sse.events("salt/netapi/rest_ext/stream/closed")
    assert closed["data"]["reason"] == "logged out"
    assert ws.close_code == 1008 and ws.close_reason == "logged out"


def test_stream_protocol_auth_subscribe_ping_unsubscribe(ws_api, token, salt_master):
    prefix = unique_prefix()

    async def scenario():
        ws = await WsReader(f"{ws_api.url}/stream", hello=None).connect()
        await ws.send({"type": "subscribe", "id": "a"})
        await ws.send({"type": "auth", "token": token})
        await ws.send(
            {"type": "subscribe", "id": "a", "tags": [f"{prefix}/*"], "format": "cloudevents"}
        )
        await ws.send({"type": "ping", "id": 7})
        await asyncio.sleep(0.5)
        fire_events(salt_master, prefix, 2)
        await wait_until(lambda: sum('"type": "event"' in f for f in ws.frames) >= 2, timeout=30)
        await ws.send({"type": "unsubscribe", "id": "a"})
        await asyncio.sleep(0.3)
        ws.close()
        return [json.loads(f) for f in ws.frames]

    messages = asyncio.run(scenario())
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "error" and messages[0]["status"] == 400  # subscribe before auth
    assert kinds[1:4] == ["ready", "subscribed", "pong"]
    events = [m for m in messages if m["type"] == "event"]
    assert [e["event"]["subject"] for e in events] == [f"{prefix}/0", f"{prefix}/1"]
    assert events[0]["event"]["specversion"] == "1.0"
    assert kinds[-1] == "unsubscribed"


def test_websocket_needs_a_valid_token(ws_api):
    async def scenario():
        with pytest.raises(Exception) as info:
            await WsReader(f"{ws_api.url}/all_events/{'a' * 64}").connect()
        return info.value

    error = asyncio.run(scenario())
    assert getattr(error, "code", None) == 401


def test_sse_refuses_tokens_in_the_query_string(ws_api, token):
    response = ApiClient(ws_api.url).get(
        f"/events?token={token}", headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 400
    assert ApiClient(ws_api.url).get("/events").status_code == 401


def test_private_keys_and_webhook_secrets_never_reach_a_stream(ws_api, api_credentials):
    url, minion_id = ws_api.url, f"evkey-{uuid.uuid4().hex[:8]}"
    admin = ApiClient(url)
    token = admin.login(api_credentials)["token"]
    ws_url = url.replace("http://", "ws://")
    hook_headers = {
        "X-Auth-Token": token,
        "X-Gitlab-Token": "glpat-SECRET1",
        "X-Hub-Signature-256": "sha256=SECRET2",
        "X-Commit-Author": "alice",
    }

    async def scenario():
        sse = SseReader(url, token).start()
        all_events = await WsReader(f"{ws_url}/all_events/{token}").connect()
        ws = await WsReader(f"{ws_url}/ws/{token}").connect()
        await wait_until(lambda: sse.messages, timeout=10)
        await asyncio.sleep(0.5)
        run = asyncio.get_running_loop().run_in_executor
        [result] = await run(None, lambda: admin.run(
            {"client": "wheel", "fun": "key.gen_accept", "id_": minion_id}))  # fmt: skip
        hooked = await run(None, lambda: requests.post(
            f"{url}/hook/{minion_id}", json={"author": "alice", "jid": "20261202"},
            headers=hook_headers, timeout=30))  # fmt: skip
        jid = result["data"]["jid"]
        done = (f"salt/wheel/{jid}/ret", f"salt/netapi/hook/{minion_id}")
        texts = lambda: (sse.raw, "\n".join(all_events.frames), "\n".join(ws.frames))  # noqa: E731
        await wait_until(lambda: all(t in text for t in done for text in texts()), timeout=30)
        sse.stop(), all_events.close(), ws.close()
        await run(
            None, lambda: admin.run({"client": "wheel", "fun": "key.delete", "match": minion_id})
        )
        return result, hooked, texts()

    result, hooked, texts = asyncio.run(scenario())
    assert "PRIVATE KEY" in result["data"]["return"]["priv"]  # the caller's own answer has it
    assert hooked.status_code == 200, hooked.text
    for text in texts:
        assert "salt/wheel/" in text and f"salt/netapi/hook/{minion_id}" in text
        assert "PRIVATE KEY" not in text
        for secret in ("SECRET1", "SECRET2"):
            assert secret not in text
        assert "alice" in text and "20261202" in text  # innocent keys stay readable
