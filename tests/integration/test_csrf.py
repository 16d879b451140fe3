"""Cross-site request forgery through the ``session_id`` cookie, through a real salt-api.

A page on another origin (another host under the same site included) can make a
browser send the cookie with a form, ``text/plain`` or ``fetch`` request, and open a
WebSocket with it. Cookie-only unsafe requests and WebSocket upgrades are accepted
only from the API's own origin or one exactly listed in ``cors_origin``; ``*`` never
admits the cookie. ``X-Auth-Token`` requests are unaffected.
"""

import http.client
import json
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from tests.support.files import wait_for_file

pytestmark = [pytest.mark.integration]

GUI = "https://gui.example.com"
EVIL = "http://evil.invalid"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture(scope="module")
def web(salt_master, salt_minion, salt_minion_2, netapi_module):
    """WebSockets on; one exact origin and ``*`` (which admits header tokens only)."""
    conf = {"websockets": True, "cors_origin": [GUI, "*"]}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture
def token(web, api_credentials):
    return ApiClient(web.url).login(api_credentials)["token"]


def cookie_post(url, path, token, headers, body):
    kind, data = body
    return requests.post(
        f"{url}{path}",
        data=data,
        headers={"Accept": "application/json", "Content-Type": kind, **headers},
        cookies={"session_id": token},
        timeout=60,
    )


def bodies(chunk):
    """The same lowstate as a form, as ``text/plain`` JSON and as JSON."""
    form = {k: v for k, v in chunk.items() if k != "arg"} | {"arg": chunk["arg"][0]}
    return [
        ("application/x-www-form-urlencoded", urlencode(form)),
        ("text/plain", json.dumps([chunk])),
        ("application/json", json.dumps([chunk])),
    ]


def touch(marker):
    return {"client": "local", "tgt": "minion-1", "fun": "file.touch", "arg": [str(marker)]}


FOREIGN = [
    {"Origin": EVIL},
    {"Origin": "https://other.example.com"},  # admitted by '*' for CORS, never for the cookie
    {"Origin": "null"},
    {"Referer": f"{EVIL}/page.html"},
    {"Origin": GUI, "Sec-Fetch-Site": "cross-site"},
]


def test_cookie_post_from_another_origin_runs_nothing(web, token, tmp_path):
    refused = []
    for n, headers in enumerate(FOREIGN):
        for kind, data in bodies(touch(tmp_path / f"refused-{n}")):
            response = cookie_post(web.url, "/", token, headers, (kind, data))
            assert response.status_code == 403, (headers, kind, response.text)
            body = response.json()
            assert body["status"] == 403 and body["error"] == "Forbidden", body
            assert "X-Auth-Token" in body["message"]
        refused.append(tmp_path / f"refused-{n}")
    # The same request with the token header, from the same foreign page, does run.
    control = tmp_path / "control"
    response = requests.post(
        f"{web.url}/",
        json=[touch(control)],
        headers={"X-Auth-Token": token, "Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert wait_for_file(control, timeout=60)
    assert [m for m in refused if m.exists()] == []


def test_every_cookie_route_refuses_a_foreign_origin(web, token, master_events):
    tag = f"csrf/{uuid.uuid4().hex[:8]}"
    ping = json.dumps({"client": "local", "tgt": "minion-1", "fun": "test.ping"})
    for path, data in [
        (f"/hook/{tag}", json.dumps({"a": 1})),
        ("/minions", json.dumps({"tgt": "minion-1", "fun": "test.ping"})),
        ("/run", ping),
        ("/logout", "{}"),
    ]:
        response = cookie_post(web.url, path, token, {"Origin": EVIL}, ("text/plain", data))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["status"] == 403
    assert master_events.get_event(wait=2, tag=f"salt/netapi/hook/{tag}") is None
    # The refused logout did not end the session.
    stats = requests.get(f"{web.url}/stats", cookies={"session_id": token}, timeout=60)
    assert stats.status_code == 200


def test_cookie_post_from_own_or_listed_origin_passes(web, token, master_events):
    own = web.url
    allowed = [
        {"Origin": own},
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},
        {"Origin": GUI, "Sec-Fetch-Site": "same-site"},
        {"Referer": f"{own}/app/minions"},
        {},  # no Origin, no Referer: not a browser page (curl, scripts)
    ]
    for n, headers in enumerate(allowed):
        tag = f"csrf/ok/{uuid.uuid4().hex[:8]}/{n}"
        response = cookie_post(web.url, f"/hook/{tag}", token, headers, ("text/plain", "{}"))
        assert response.status_code == 200, (headers, response.text)
        assert master_events.get_event(wait=30, tag=f"salt/netapi/hook/{tag}") is not None
    logout = cookie_post(web.url, "/logout", token, {"Origin": own}, ("application/json", "{}"))
    assert logout.status_code == 200


def upgrade(url, path, headers):
    """A WebSocket upgrade request; ``(status, headers, body)`` of the answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    base = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": WS_KEY,
        "Sec-WebSocket-Version": "13",
    }
    try:
        conn.request("GET", path, headers={**base, **headers})
        response = conn.getresponse()
        body = b"" if response.status == 101 else response.read()
        return response.status, response, body
    finally:
        conn.close()


def test_cookie_websocket_needs_own_or_listed_origin(web, token):
    cookie = {"Cookie": f"session_id={token}"}
    for path in ("/ws", "/stream"):
        for headers in [*FOREIGN[:2], {"Origin": GUI, "Sec-Fetch-Site": "cross-site"}]:
            status, _, body = upgrade(web.url, path, {**cookie, **headers})
            assert status == 403, (path, headers, body)
            assert json.loads(body)["status"] == 403
        for origin in (GUI, web.url):
            assert upgrade(web.url, path, {**cookie, "Origin": origin})[0] == 101, origin
    # A token in the header or the URL is not sent by the browser by itself: '*' admits it.
    other = {"Origin": "https://other.example.com"}
    assert upgrade(web.url, "/ws", {"X-Auth-Token": token, **other})[0] == 101
    assert upgrade(web.url, f"/all_events/{token}", other)[0] == 101
