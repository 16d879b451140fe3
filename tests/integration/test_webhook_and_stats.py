"""POST /hook and GET /stats through a real salt-api."""

import json
import os

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from tests.support.bus import wait_for_event

pytestmark = [pytest.mark.integration]


@pytest.fixture
def token(api_url, api_credentials):
    return ApiClient(api_url).login(api_credentials)["token"]


def test_hook_fires_the_event_without_credentials(api_url, token, master_events):
    body = {"revision": "aa22a3c4", "result": True}
    response = requests.post(
        f"{api_url}/hook/mycompany/build/success?branch=main&tag=a&tag=b",
        data=json.dumps(body),
        headers={
            "Content-Type": "application/json",
            "X-Auth-Token": token,
            "Cookie": f"session_id={token}; other=1",
            "Authorization": "Bearer abc",
            "Proxy-Authorization": "Basic def",
            "X-My-Secret-Key": "F0fAgoQjIT",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    data = wait_for_event(master_events, "salt/netapi/hook/mycompany/build/success")
    assert data["post"] == body and json.loads(data["body"]) == body
    assert data["get"] == {"branch": "main", "tag": ["a", "b"]}
    headers = {name.lower(): value for name, value in data["headers"].items()}
    assert headers["x-my-secret-key"] == "F0fAgoQjIT"
    assert headers["content-type"] == "application/json"
    for secret in ("x-auth-token", "cookie", "authorization", "proxy-authorization"):
        assert secret not in headers
    assert token not in json.dumps(data)


def test_hook_form_body_and_bare_url(api_url, token, master_events):
    response = requests.post(
        f"{api_url}/hook",
        data={"branch": "main", "commit": "abc"},
        headers={"X-Auth-Token": token},
        timeout=30,
    )
    assert response.json() == {"success": True}
    data = wait_for_event(master_events, "salt/netapi/hook")
    assert data["post"] == {"branch": "main", "commit": "abc"}
    assert data["body"] == "branch=main&commit=abc"


def test_hook_requires_authentication(api_url, master_events):
    response = requests.post(f"{api_url}/hook/x", json={"a": 1}, timeout=30)
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert master_events.get_event(wait=1, tag="salt/netapi/hook/x") is None


def test_stats_needs_a_token_and_reports_the_process(api_url, token):
    anon = requests.get(f"{api_url}/stats", timeout=30)
    assert anon.status_code == 401 and anon.json()["status"] == 401
    assert requests.get(f"{api_url}/stats", headers={"X-Auth-Token": "0" * 64}).status_code == 401
    first = ApiClient(api_url, token=token).get("/stats").json()
    second = ApiClient(api_url, token=token).get("/stats").json()
    assert first["pid"] == second["pid"] != os.getpid() and first["worker"] is None
    assert second["requests"]["served"] > first["requests"]["served"] >= 1
    assert second["requests"]["in_flight"] == 1  # this very request
    assert second["uptime"] >= first["uptime"] > 0
    assert second["process"]["rss_bytes"] > 10_000_000 and second["process"]["open_fds"] > 3
    # what startup built is frozen out of the collector's full passes
    assert second["process"]["gc"]["frozen_objects"] > 50_000
    assert len(second["process"]["gc"]["collections"]) == 3
    assert second["thread_pools"]["salt"]["size"] == 32
    assert second["thread_pools"]["auth"]["size"] == 4
    assert second["requests"]["by_status"]["4xx"] >= 2  # the two 401s above
    builtins = {"salt_ext_rest.plugins.builtin_auth", "salt_ext_rest.plugins.builtin_lowstate"}
    assert set(second["plugins"]) >= builtins


def test_stats_works_with_the_session_cookie(api_url, api_credentials):
    session = requests.Session()
    assert session.post(f"{api_url}/login", json=api_credentials, timeout=30).ok
    assert session.get(f"{api_url}/stats", timeout=30).status_code == 200


@pytest.fixture(scope="module")
def open_api(salt_master, salt_minion, netapi_module):
    from salt_ext_rest.testing.saltapi import start_api

    conf = {"webhook_url": "/ci/", "webhook_disable_auth": True, "stats_disable_auth": True}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


def test_webhook_url_and_disable_auth(open_api, master_events):
    response = requests.post(f"{open_api.url}/ci/deploy", json={"v": 2}, timeout=30)
    assert response.json() == {"success": True}
    assert wait_for_event(master_events, "salt/netapi/hook/deploy")["post"] == {"v": 2}
    assert requests.post(f"{open_api.url}/hook", json={}, timeout=30).status_code == 404


def test_stats_disable_auth(open_api):
    response = requests.get(f"{open_api.url}/stats", timeout=30)
    assert response.status_code == 200 and response.json()["pid"] > 0
