"""The HTTP edge through a real salt-api: timeouts, stream caps, the ``/stream``
pre-authentication message size, the cookie's path and ``Secure`` flag behind a
trusted proxy, static files, and JSON refusals on the WebSocket routes."""

import asyncio
import http.client
import json
import os
import socket
import time
import uuid

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from salt_ext_rest.testing.streams import SseReader, WsReader, wait_until
from tests.support.bus import fire_events

pytestmark = [pytest.mark.integration]

TIMEOUT = 2  # header_timeout and body_timeout of the API under test
CAP = 3


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    static = root / "static"
    (static / ".git").mkdir(parents=True)
    (static / "sub").mkdir()
    (static / "ok.txt").write_text("public")
    (static / "sub" / "page.txt").write_text("public too")
    (static / ".secret").write_text("dotfile")
    (static / ".git" / "config").write_text("dot-directory")
    (root / "outside.txt").write_text("outside the root")
    (root / "outside").mkdir()
    (root / "outside" / "file.txt").write_text("outside the root")
    os.symlink(root / "outside.txt", static / "link.txt")
    os.symlink(root / "outside", static / "linkdir")
    os.symlink(static / "ok.txt", static / "inside.txt")
    return root


@pytest.fixture(scope="module")
def edge(site, salt_master, salt_minion, salt_minion_2, netapi_module):
    conf = {
        "websockets": True,
        "root_prefix": "/api",
        "static": str(site / "static"),
        "header_timeout": TIMEOUT,
        "body_timeout": TIMEOUT,
        "max_streams_per_token": CAP,
        "trusted_proxies": ["127.0.0.1"],
    }
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        api.base = f"{api.url}/api"
        yield api


@pytest.fixture
def token(edge, api_credentials):
    return ApiClient(edge.base).login(api_credentials)["token"]


def raw(port, request, wait=15):
    """Send ``request`` bytes; what the server sends until it closes (or ``wait``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        started, data = time.monotonic(), b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except TimeoutError:
            return None, data
        return time.monotonic() - started, data


def test_slow_headers_and_slow_bodies_are_cut_off(edge):
    took, data = raw(edge.port, b"GET /api/ HTTP/1.1\r\nHost: x\r\n")  # headers never end
    assert took is not None and took < TIMEOUT + 5 and data == b""
    body = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    took, data = raw(edge.port, body)  # the body never comes
    assert took is not None and took < TIMEOUT + 5, data
    assert b"200 OK" not in data


def test_event_streams_outlive_both_timeouts(edge, token, salt_master):
    prefix = f"test/edge/{uuid.uuid4().hex[:8]}"

    async def scenario():
        sse = SseReader(edge.base, token).start()
        ws = await WsReader(f"{edge.base}/ws", headers={"X-Auth-Token": token}).connect()
        await asyncio.sleep(2 * TIMEOUT + 1)  # longer than both timeouts together
        await asyncio.to_thread(fire_events, salt_master, prefix, 1)
        got = await wait_until(lambda: sse.events(prefix) and prefix in "".join(ws.frames))
        sse.stop()
        ws.close()
        return got

    assert asyncio.run(scenario())


def test_open_streams_per_token_are_capped(edge, token, api_credentials):
    async def scenario():
        readers = [await asyncio.to_thread(open_sse, edge, token) for _ in range(CAP)]
        over = await asyncio.to_thread(sse_status, edge, token, True)
        assert over[0] == 429 and over[1]["status"] == 429, over
        ws = await asyncio.to_thread(upgrade, edge, "/api/ws", {"X-Auth-Token": token})
        assert ws[0] == 429 and json.loads(ws[1])["status"] == 429
        stream = await WsReader(f"{edge.base}/stream", hello=None).connect()
        await stream.send({"type": "auth", "token": token})
        await stream.send({"type": "subscribe", "id": "s1"})
        assert await wait_until(lambda: len(stream.frames) >= 2)
        refused = json.loads(stream.frames[1])
        assert refused["type"] == "error" and refused["status"] == 429, refused
        other = ApiClient(edge.base).login(api_credentials)["token"]  # a token of its own
        own = await asyncio.to_thread(upgrade, edge, "/api/ws", {"X-Auth-Token": other})
        assert own[0] == 101
        stream.close()
        readers[0].close()  # a slot comes free when a stream ends
        assert await wait_until(lambda: sse_status(edge, token) == 200, timeout=30)
        for reader in readers[1:]:
            reader.close()

    asyncio.run(scenario())


def open_sse(edge, token):
    """An open ``/events`` connection (a socket), once the stream has started."""
    sock = socket.create_connection(("127.0.0.1", edge.port), timeout=30)
    sock.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    data = b""
    while b"retry: 400" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return sock


def sse_status(edge, token, body=False):
    """The status of a new ``/events`` request (and its JSON body when asked for)."""
    headers = {"X-Auth-Token": token, "Accept": "text/event-stream"}
    with requests.get(f"{edge.base}/events", headers=headers, stream=True, timeout=30) as r:
        if not body:
            return r.status_code
        return r.status_code, r.json() if r.status_code != 200 else None


def test_stream_caps_messages_before_authentication(edge, token):
    async def scenario():
        anon = await WsReader(f"{edge.base}/stream", hello=None).connect()
        await anon.conn.write_message("x" * 65536)
        assert await wait_until(lambda: anon.close_code is not None, timeout=30)
        assert anon.close_code == 1009
        authed = await WsReader(f"{edge.base}/stream", hello=None).connect()
        await authed.send({"type": "auth", "token": token})
        await authed.send({"type": "ping", "id": "p", "pad": "x" * 16384})
        assert await wait_until(lambda: any('"pong"' in f for f in authed.frames))
        assert authed.close_code is None
        authed.close()

    asyncio.run(scenario())


def test_cookie_path_and_secure_flag(edge, api_url, api_credentials):
    plain = requests.post(f"{edge.base}/login", json=api_credentials, timeout=30)
    assert "Path=/api;" in plain.headers["Set-Cookie"] + ";"
    assert "Secure" not in plain.headers["Set-Cookie"]
    forwarded = {"X-Forwarded-Proto": "https"}  # from 127.0.0.1, a trusted proxy
    proxied = requests.post(
        f"{edge.base}/login", json=api_credentials, headers=forwarded, timeout=30
    )
    assert "Secure" in proxied.headers["Set-Cookie"]
    untrusted = requests.post(f"{api_url}/login", json=api_credentials, headers=forwarded)
    assert "Secure" not in untrusted.headers["Set-Cookie"]
    token = plain.json()["return"][0]["token"]
    logout = requests.post(
        f"{edge.base}/logout", json={}, cookies={"session_id": token}, timeout=30
    )
    assert logout.status_code == 200, logout.text
    cleared = logout.headers["Set-Cookie"]
    assert cleared.startswith("session_id=") and "Path=/api" in cleared


HIDDEN = [
    "/.secret",
    "/%2Esecret",
    "/%2esecret",
    "/.git/config",
    "/sub/../.secret",
    "/link.txt",
    "/linkdir/file.txt",
]


def test_static_files_never_dotfiles_nor_links_out_of_the_root(edge):
    for path in HIDDEN:
        status, body = plain_request(edge, "GET", f"/api/static{path}")
        assert status == 404, (path, status, body)
        assert json.loads(body)["status"] == 404 and b"outside" not in body
    for path, text in (("/ok.txt", b"public"), ("/sub/page.txt", b"public too")):
        assert plain_request(edge, "GET", f"/api/static{path}") == (200, text)
    assert plain_request(edge, "GET", "/api/static/inside.txt") == (200, b"public")


def plain_request(edge, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upgrade(edge, path, headers, version="13"):
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": version}
    try:
        conn.request(
            "GET", path, headers={**base, "Sec-WebSocket-Key": "a2V5a2V5a2V5a2V5", **headers}
        )
        response = conn.getresponse()
        return response.status, b"" if response.status == 101 else response.read()
    finally:
        conn.close()


def json_error(status, body, expected):
    assert status == expected, (status, body)
    error = json.loads(body)
    assert set(error) >= {"status", "error", "message"} and error["status"] == expected
    return error


def test_websocket_routes_refuse_with_json(edge, token):
    auth = {"X-Auth-Token": token}
    for path in ("/ws", f"/ws/{token}", f"/all_events/{token}", f"/formatted_events/{token}"):
        json_error(*plain_request(edge, "GET", f"/api{path}", auth), 400)
    json_error(*plain_request(edge, "GET", "/api/stream", auth), 400)
    for method in ("POST", "PUT", "DELETE"):
        status, body = plain_request(edge, method, "/api/stream", auth)
        json_error(status, body, 405)
    status, body = upgrade(edge, "/api/ws", auth, version="99")
    json_error(status, body, 426)
    status, body = upgrade(edge, "/api/ws", {**auth, "Sec-WebSocket-Key": ""})
    json_error(status, body, 400)
    status, body = upgrade(edge, "/api/ws", {**auth, "Origin": "http://evil.invalid"})
    json_error(status, body, 403)
    # Errors Tornado raises for the other handlers are JSON too.
    json_error(*plain_request(edge, "POST", "/api/static/ok.txt"), 405)
    json_error(*plain_request(edge, "GET", "/api/minions/%ff", auth), 400)
    json_error(*plain_request(edge, "GET", "/api/no/such/thing"), 404)
