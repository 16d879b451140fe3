"""X-Request-ID on every kind of response, and audit lines of the routes the Salt
integration tests do not cover (token minting, webhook, streams), in-process."""

import asyncio
import json
import re
import tempfile
import time
from pathlib import Path

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.tcpclient import TCPClient
from tornado.testing import AsyncHTTPTestCase, gen_test
from tornado.websocket import websocket_connect

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import PASSWORD, StandInGateway
from salt_ext_rest.testing.gateway import STAND_IN_OPTS as OPTS

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
JSON = {"Content-Type": "application/json"}


class HookGateway(StandInGateway):
    async def fire_event(self, data, tag):
        self.fired = (tag, data)
        return True


class AuditAppTest(AsyncHTTPTestCase):
    """The application on a stand-in gateway, auditing to a file (``extra``: more settings)."""

    extra: dict = {}

    def get_app(self):
        self.dir = Path(tempfile.mkdtemp())
        self.audit_file = self.dir / "audit.log"
        block = {
            **OPTS["rest_ext"],
            "websockets": True,
            "event_visibility": "all",
            "audit_log_file": str(self.audit_file),
            **self.extra,
        }
        opts = {**OPTS, "rest_ext": block}
        self.gateway = HookGateway(opts)
        pm = make_plugin_manager(load_entry_points=False)
        self.context = build_context(opts, load_config(opts), pm=pm, gateway=self.gateway)
        self.context.bus = EventBus(opts)  # not started: no master
        self.context.audit.start()
        return make_app(self.context)

    def tearDown(self):
        self.context.audit.close()
        super().tearDown()

    def request(self, path, method="GET", body=None, headers=None):
        return self.fetch(path, method=method, body=body, headers=headers or {}, raise_error=False)

    def lines(self, count):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.audit_file.exists():
                found = [json.loads(x) for x in self.audit_file.read_text().splitlines()]
                if len(found) >= count:
                    return found
            time.sleep(0.02)
        return [json.loads(x) for x in self.audit_file.read_text().splitlines()]

    def credentials(self, user="u", password=PASSWORD):
        return json.dumps({"username": user, "password": password, "eauth": "auto"})


class AuditRequestsTest(AuditAppTest):
    def test_every_response_carries_a_request_id(self):
        big = {"Content-Length": "999999", **JSON}
        cases = [
            ("/", "GET", None, {}, 200),
            ("/", "POST", "{}", JSON, 401),
            ("/no/such/thing", "GET", None, {}, 404),
            ("/login", "PUT", "{}", JSON, 405),
            ("/", "GET", None, {"Accept": "text/csv"}, 406),
            ("/", "POST", "x" * 4096, big, 413),
            ("/", "OPTIONS", None, {"Origin": "https://x.example"}, 204),
            ("/all_events/" + "a" * 64, "GET", None, {}, 401),  # WebSocket URL, refused
        ]
        for path, method, body, headers, status in cases:
            response = self.request(path, method, body, headers)
            assert response.code == status, (path, response.code)
            assert UUID.fullmatch(response.headers["X-Request-ID"]), (path, response.headers)
            sent = self.request(path, method, body, {**headers, "X-Request-ID": "client-7.a:b"})
            assert sent.headers["X-Request-ID"] == "client-7.a:b", path

    def test_an_insane_request_id_is_replaced(self):
        for bad in ("x" * 129, "two words", "semi;colon"):
            response = self.request("/", headers={"X-Request-ID": bad})
            assert UUID.fullmatch(response.headers["X-Request-ID"]), bad

    @gen_test
    async def test_websocket_upgrade_and_refusal_carry_the_request_id(self):
        token = await self.gateway.login_token()
        url = f"ws://127.0.0.1:{self.get_http_port()}/all_events/{token}"
        conn = await websocket_connect(HTTPRequest(url, headers={"X-Request-ID": "ws-1"}))
        assert conn.headers["X-Request-ID"] == "ws-1"
        conn.close()
        bad = f"ws://127.0.0.1:{self.get_http_port()}/all_events/{'b' * 64}"
        try:
            await websocket_connect(HTTPRequest(bad, headers={"X-Request-ID": "ws-2"}))
        except HTTPClientError as error:
            assert error.code == 401
            assert error.response.headers["X-Request-ID"] == "ws-2"
        else:
            raise AssertionError("an unknown token was admitted")

    def test_token_minting_and_webhook_lines(self):
        ok = self.request("/token", "POST", self.credentials(), {"X-Request-ID": "mint", **JSON})
        assert ok.code == 200
        (minted,) = json.loads(ok.body)
        bad = self.credentials(password="wrong")
        assert self.request("/token", "POST", bad, {"X-Request-ID": "no", **JSON}).code == 401
        hook = {"X-Auth-Token": minted["token"], "X-Request-ID": "hook", **JSON}
        assert self.request("/hook/deploy", "POST", '{"a": 1}', hook).code == 200
        unauthenticated = {"X-Request-ID": "hook-anon", **JSON}
        assert self.request("/hook/deploy", "POST", "{}", unauthenticated).code == 401
        lines = self.lines(4)
        assert [(x["event"], x["outcome"], x["request_id"]) for x in lines] == [
            ("token", "ok", "mint"),
            ("token", "failed", "no"),
            ("webhook", "ok", "hook"),
            ("webhook", "failed", "hook-anon"),
        ]
        assert lines[0]["user"] == "u" and lines[0]["address"] == "127.0.0.1"
        assert lines[2]["tag"] == "salt/netapi/hook/deploy" and lines[2]["user"] == "u"
        text = self.audit_file.read_text()
        assert minted["token"] not in text and PASSWORD not in text and "wrong" not in text

    @gen_test
    async def test_stream_opened_and_closed_lines(self):
        token = await self.gateway.login_token()
        url = f"ws://127.0.0.1:{self.get_http_port()}/all_events/{token}"
        conn = await websocket_connect(HTTPRequest(url, headers={"X-Request-ID": "ws-3"}))
        conn.write_message("websocket client ready")
        for _ in range(200):
            if self.context.bus.subscriptions:
                break
            await asyncio.sleep(0.01)
        conn.close()
        for _ in range(200):
            if not self.context.bus.subscriptions:
                break
            await asyncio.sleep(0.01)
        lines = await asyncio.get_running_loop().run_in_executor(None, self.lines, 2)
        assert [(x["event"], x["outcome"], x["request_id"]) for x in lines] == [
            ("stream", "opened", "ws-3"),
            ("stream", "closed", "ws-3"),
        ]
        assert lines[0]["transport"] == "websocket" and lines[0]["format"] == "raw"
        assert token not in self.audit_file.read_text()

    @gen_test
    async def test_sse_stream_opened_and_closed_lines(self):
        token = await self.gateway.login_token()
        stream = await TCPClient().connect("127.0.0.1", self.get_http_port())
        request = (
            f"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
            f"X-Auth-Token: {token}\r\nX-Request-ID: sse-1\r\n\r\n"
        )
        await stream.write(request.encode())
        head = await stream.read_until(b"retry: 400\n\n")
        assert b"x-request-id: sse-1" in head.lower()
        stream.close()
        lines = await asyncio.get_running_loop().run_in_executor(None, self.lines, 2)
        assert [(x["event"], x["outcome"], x["request_id"], x["transport"]) for x in lines] == [
            ("stream", "opened", "sse-1", "sse"),
            ("stream", "closed", "sse-1", "sse"),
        ]
        assert lines[1]["reason"] == "client closed the stream"


class ThrottledLoginTest(AuditAppTest):
    extra = {"login_user_burst": 1, "login_user_rate": 0.01}

    def test_a_throttled_login_is_recorded(self):
        bad = self.credentials(password="wrong")
        headers = {"X-Request-ID": "first", **JSON}
        assert self.request("/login", "POST", bad, headers).code == 401
        headers = {"X-Request-ID": "second", **JSON}
        assert self.request("/login", "POST", bad, headers).code == 429
        lines = self.lines(2)
        assert [(x["event"], x["outcome"], x["request_id"], x["user"]) for x in lines] == [
            ("login", "failed", "first", "u"),
            ("login", "throttled", "second", "u"),
        ]
        assert lines[1]["reason"] == "Too many login attempts; retry later"
