"""Flow control of event streams on the wire, through a real salt-api.

A subscriber that stops reading is cut by the server (WebSocket close 1013 with a
reason; a final SSE message) while a fast subscriber of the same API gets every event;
an idle stream carries heartbeats (SSE ``: keepalive`` comments, WebSocket pings).
The slow clients are raw sockets with a small receive buffer, so that what the test
sees is what the server wrote.
"""

import asyncio
import base64
import json
import os
import socket
import struct
import time
import uuid

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, WsReader, parse_sse, wait_until
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]

QUEUE = 20
HEARTBEAT = 0.5
#: events of this size, this many: far more than the socket buffers and the queue hold
FLOOD, PAD = 600, 8192
SLOW_REASON = f"subscriber too slow: more than {QUEUE} events behind"


@pytest.fixture(scope="module")
def flow_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    conf = {"websockets": True, "event_queue_size": QUEUE, "event_heartbeat": HEARTBEAT}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture
def token(flow_api, api_credentials):
    return ApiClient(flow_api.url).login(api_credentials)["token"]


class RawClient:
    """A blocking TCP client with a small receive buffer that reads only when told."""

    def __init__(self, url, timeout=60):
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(timeout)
        self.sock.connect((host, int(port)))
        self.buffer = b""

    def read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed before {marker!r}")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def read_to_eof(self):
        while chunk := self.sock.recv(65536):
            self.buffer += chunk
        return self.buffer

    def read_exactly(self, size):
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed inside a frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def close(self):
        self.sock.close()


class RawWebSocket(RawClient):
    """Just enough RFC 6455 for a client: upgrade, send masked text, read frames."""

    def upgrade(self, path):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        status = self.read_until(b"\r\n\r\n").split(b"\r\n", 1)[0]
        assert b" 101 " in status, status
        return self

    def send_text(self, text):
        data, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        assert len(data) < 126
        self.sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(data)) + mask + masked)

    def frame(self):
        """(opcode, payload) of the next frame (the server never masks)."""
        first, size = self.read_exactly(2)
        size &= 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.read_exactly(8))
        return first & 0x0F, self.read_exactly(size)


def numbers(tags, prefix):
    return [int(tag.rsplit("/", 1)[1]) for tag in tags if tag.startswith(f"{prefix}/")]


async def flood_past_a_stalled_reader(salt_master, fast, prefix):
    """Fire FLOOD padded events; wait until the fast reader got them all."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    await loop.run_in_executor(None, fire_events, salt_master, prefix, FLOOD, {"pad": "x" * PAD})
    assert await wait_until(lambda: len(fast()) == FLOOD, timeout=120), len(fast())
    return time.monotonic() - started


def test_websocket_reader_that_stops_reading_is_closed_1013_others_get_everything(
    flow_api, token, salt_master
):
    prefix = f"test/flow/{uuid.uuid4().hex[:12]}"
    slow = RawWebSocket(flow_api.url).upgrade(f"/all_events/{token}")
    slow.send_text("websocket client ready")

    def slow_sees_a_marker():
        tag = ""
        while not tag.startswith(f"{prefix}-ready/"):
            opcode, payload = slow.frame()
            tag = json.loads(payload)["tag"] if opcode == 0x1 else ""

    async def scenario():
        fast = await WsReader(f"{flow_api.url}/all_events/{token}").connect()

        def fast_numbers():
            return numbers((json.loads(f)["tag"] for f in fast.frames), prefix)

        def both_ready():
            fast_seen = any(f'"{prefix}-ready/' in f for f in fast.frames)
            return fast_seen and slow_ready.done()

        try:
            # A WebSocket subscribes some time after "ready": fire markers until both
            # clients have seen one (the slow client reads until then).
            slow_ready = asyncio.get_running_loop().run_in_executor(None, slow_sees_a_marker)
            for _ in range(60):
                fire_events(salt_master, f"{prefix}-ready", 1)
                if await wait_until(both_ready, timeout=0.5):
                    break
            await slow_ready
            # From here on the slow client reads nothing until the flood is over.
            await flood_past_a_stalled_reader(salt_master, fast_numbers, prefix)
            return fast_numbers(), fast.close_code
        finally:
            fast.close()

    fast_numbers, fast_close = asyncio.run(scenario())
    assert fast_numbers == list(range(FLOOD)) and fast_close is None
    # The slow client reads on: what the server had written, then its close frame.
    got, close = [], None
    while close is None:
        opcode, payload = slow.frame()
        if opcode == 0x1:
            got.append(json.loads(payload)["tag"])
        elif opcode == 0x8:
            close = payload
    slow.close()
    slow_numbers = numbers(got, prefix)
    assert slow_numbers == list(range(len(slow_numbers))) and len(slow_numbers) < FLOOD
    code, reason = struct.unpack("!H", close[:2])[0], close[2:].decode()
    assert (code, reason) == (1013, SLOW_REASON)


def test_sse_reader_that_stops_reading_gets_a_final_message_others_get_everything(
    flow_api, token, salt_master
):
    prefix = f"test/flow/{uuid.uuid4().hex[:12]}"
    slow = RawClient(flow_api.url)
    request = (
        f"GET /events?tag={prefix}* HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        f"Accept: text/event-stream\r\nX-Auth-Token: {token}\r\n\r\n"
    )
    slow.sock.sendall(request.encode())

    async def scenario():
        fast = SseReader(flow_api.url, token, f"?tag={prefix}*").start()
        try:
            # An SSE stream is subscribed before its first line (``retry:``) is sent.
            slow.read_until(b"retry: 400\n\n")
            assert await wait_until(lambda: fast.raw.startswith("retry:"), timeout=30)
            await flood_past_a_stalled_reader(
                salt_master,
                lambda: numbers((m.get("tag", "") for m in fast.messages), prefix),
                prefix,
            )
            return numbers((m.get("tag", "") for m in fast.messages), prefix)
        finally:
            fast.stop()

    assert asyncio.run(scenario()) == list(range(FLOOD))
    # HTTP/1.0: the server ends the response by closing the connection.
    messages, _ = parse_sse(slow.read_to_eof().decode())
    slow.close()
    slow_numbers = numbers((m.get("tag", "") for m in messages), prefix)
    assert slow_numbers == list(range(len(slow_numbers))) and len(slow_numbers) < FLOOD
    last = messages[-1]
    assert last["tag"] == "salt/netapi/rest_ext/stream/closed"
    assert json.loads(last["data"])["data"] == {"reason": SLOW_REASON, "code": 1013}


def test_idle_sse_stream_sends_keepalive_comments(flow_api, token):
    async def scenario():
        reader = SseReader(flow_api.url, token, "?tag=nothing/matches/*").start()
        try:
            started = time.monotonic()
            assert await wait_until(lambda: reader.raw.count(": keepalive") >= 3, timeout=20)
            return reader.raw, time.monotonic() - started
        finally:
            reader.stop()

    raw, elapsed = asyncio.run(scenario())
    assert raw.startswith("retry: 400\n\n: keepalive\n\n: keepalive\n\n: keepalive\n\n")
    # Three idle periods of HEARTBEAT seconds, not sent back to back.
    assert 3 * HEARTBEAT * 0.8 <= elapsed < 3 * HEARTBEAT + 5, elapsed


def test_idle_websocket_gets_ping_frames(flow_api, token):
    async def scenario():
        reader = await WsReader(f"{flow_api.url}/all_events/{token}").connect()
        pings = []
        reader.conn.on_ping = lambda data: pings.append(time.monotonic())
        started = time.monotonic()
        try:
            assert await wait_until(lambda: len(pings) >= 3, timeout=20)
            return pings, started, reader.close_code
        finally:
            reader.close()

    pings, started, close_code = asyncio.run(scenario())
    assert close_code is None
    gaps = [b - a for a, b in zip([started, *pings], pings, strict=False)]
    assert all(gap >= HEARTBEAT * 0.8 for gap in gaps), gaps
