"""WebSocket streams in-process: a bus fed by the test instead of a master."""

import asyncio
import json

from tornado.testing import AsyncHTTPTestCase, gen_test
from tornado.websocket import websocket_connect

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS as OPTS
from salt_ext_rest.testing.gateway import StandInGateway

# These tests are about the transports, not visibility: every event to every caller
# (the stand-in gateway has no Salt eauth to compute an ACL from).
WS_OPTS = {**OPTS, "rest_ext": {**OPTS["rest_ext"], "websockets": True, "event_visibility": "all"}}


class StreamTest(AsyncHTTPTestCase):
    def get_app(self):
        self.gateway = StandInGateway(WS_OPTS)
        pm = make_plugin_manager(load_entry_points=False)
        self.context = build_context(WS_OPTS, load_config(WS_OPTS), pm=pm, gateway=self.gateway)
        self.context.bus = EventBus(WS_OPTS)  # not started: the test publishes
        return make_app(self.context)

    async def token(self):
        from salt_ext_rest.auth.identity import Credentials

        tdata = await self.gateway.mint_token(
            Credentials(username="u", password="good", eauth="auto")
        )
        return tdata["token"]

    async def connect(self, path):
        url = f"ws://127.0.0.1:{self.get_http_port()}{path}"
        return await websocket_connect(url)

    async def wait_subscribed(self, count=1):
        for _ in range(200):
            if len(self.context.bus.subscriptions) >= count:
                return
            await asyncio.sleep(0.01)

    @gen_test
    async def test_all_events_frames_after_ready(self):
        conn = await self.connect(f"/all_events/{await self.token()}")
        conn.write_message("websocket client ready")
        await self.wait_subscribed()
        self.context.bus.publish("t/1", {"x": 1, "token": "secret"})
        frame = json.loads(await conn.read_message())
        assert frame == {"tag": "t/1", "data": {"x": 1, "token": "<redacted>"}}

    @gen_test
    async def test_cherrypy_ws_frames(self):
        conn = await self.connect(f"/ws/{await self.token()}")
        conn.write_message("websocket client ready")
        await self.wait_subscribed()
        self.context.bus.publish("t/2", {"y": 2})
        frame = await conn.read_message()
        assert frame.startswith("data: ") and frame.endswith("\n\n")
        assert json.loads(frame[6:]) == {"tag": "t/2", "data": {"y": 2}}

    @gen_test
    async def test_stream_protocol_rejects_bad_messages_and_unknown_formats(self):
        conn = await self.connect("/stream")
        conn.write_message(json.dumps({"type": "auth", "token": await self.token()}))
        assert json.loads(await conn.read_message())["type"] == "ready"
        conn.write_message("not json")
        assert json.loads(await conn.read_message())["status"] == 400
        conn.write_message(json.dumps({"type": "subscribe", "id": "a", "format": "nope"}))
        replies = [json.loads(await conn.read_message()) for _ in range(2)]
        assert {r["type"] for r in replies} == {"subscribed", "error"}
        conn.write_message(json.dumps({"type": "subscribe", "tags": [""]}))
        assert json.loads(await conn.read_message())["status"] == 400

    @gen_test(timeout=30)
    async def test_frames_of_every_length_arrive_whole_and_in_order_past_a_full_socket(self):
        # 7-bit, 16-bit and 64-bit payload lengths; the client reads nothing until all
        # are published, so the server's sends go partial and fall back to buffering.
        conn = await self.connect(f"/all_events/{await self.token()}")
        conn.write_message("websocket client ready")
        await self.wait_subscribed()
        sizes = [1, 200, 70000, 3, 300000, 0, 125, 126, 65535, 65536] * 20
        for n, size in enumerate(sizes):
            self.context.bus.publish(f"t/{n}", {"pad": "x" * size})
            if n % 20 == 0:
                await asyncio.sleep(0)  # let the pump write while the client is stalled
        for n, size in enumerate(sizes):
            frame = json.loads(await conn.read_message())
            assert frame["tag"] == f"t/{n}" and len(frame["data"]["pad"]) == size

    @gen_test
    async def test_stream_protocol_frames_name_each_subscription(self):
        conn = await self.connect("/stream")
        conn.write_message(json.dumps({"type": "auth", "token": await self.token()}))
        assert json.loads(await conn.read_message())["type"] == "ready"
        for key in ("a", "b"):
            conn.write_message(json.dumps({"type": "subscribe", "id": key}))
            assert json.loads(await conn.read_message()) == {"type": "subscribed", "id": key}
        await self.wait_subscribed(2)
        self.context.bus.publish("t/3", {"z": 3})
        frames = [json.loads(await conn.read_message()) for _ in range(2)]
        assert sorted(f["subscription"] for f in frames) == ["a", "b"]
        assert all(f["event"] == {"tag": "t/3", "data": {"z": 3}} for f in frames)

    @gen_test
    async def test_stream_protocol_resumes_with_an_id_another_worker_gave(self):
        other = EventBus(WS_OPTS)  # worker 0, where the client read t/0..t/2
        events = [(f"t/{n}", {"n": n}) for n in range(5)]
        ids = [other.publish(tag, data).id for tag, data in events]
        for tag, data in events:  # this worker saw the same events
            self.context.bus.publish(tag, data)
        conn = await self.connect("/stream")
        conn.write_message(json.dumps({"type": "auth", "token": await self.token()}))
        assert json.loads(await conn.read_message())["type"] == "ready"
        conn.write_message(json.dumps({"type": "subscribe", "id": "s", "resume": ids[2]}))
        assert json.loads(await conn.read_message()) == {"type": "subscribed", "id": "s"}
        await self.wait_subscribed()
        self.context.bus.publish("t/5", {"n": 5})
        frames = [json.loads(await conn.read_message()) for _ in range(3)]
        assert [(f["id"], f["tag"]) for f in frames[:2]] == [(ids[3], "t/3"), (ids[4], "t/4")]
        assert frames[2]["tag"] == "t/5" and frames[2]["id"] == other.publish("t/5", {"n": 5}).id
