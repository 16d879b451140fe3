"""Third-party plugins through entry points, and startup validation of the rest_ext block."""

import asyncio
import uuid

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import api_start_failure
from salt_ext_rest.testing.streams import SseReader, wait_until
from tests.support.bus import fire_events, wait_for_event

pytestmark = [pytest.mark.integration]

API_KEY = "example-" + uuid.uuid4().hex
PLUGIN_CONF = {
    "plugins": {
        "example": {
            "enabled": True,
            "denied_functions": ["test.sleep"],
            "no_glob_users": ["limited"],
            "api_keys": {API_KEY: "saltdev"},
        }
    },
}
#: the plugin's visibility policy too (it is offered whatever the plugin settings)
PLUGIN_API_CONF = {**PLUGIN_CONF, "event_visibility": "example-only-hooks"}


@pytest.fixture(scope="module")
def plugin_api(example_plugin_installed, salt_master, salt_minion, salt_minion_2, netapi_module):
    from salt_ext_rest.testing.saltapi import start_api

    with start_api(salt_master, PLUGIN_API_CONF, netapi_module=netapi_module) as api:
        yield api


def test_plugin_route_uses_core_authentication(plugin_api, api_credentials):
    client = ApiClient(plugin_api.url)
    assert client.get("/example/whoami").status_code == 401
    client.login(api_credentials)
    body = client.get("/example/whoami").json()
    assert body == {"return": {"name": "saltdev", "eauth": "sharedsecret", "plugin": "example"}}


def test_plugin_schema_tightens_lowstate(plugin_api, api_credentials):
    client = ApiClient(plugin_api.url)
    client.login(api_credentials)
    body = client.run({"client": "local", "tgt": "*", "fun": "test.sleep", "arg": [0]}, expect=400)
    assert body["path"] == "$[0].fun"
    assert client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}) == [
        {"minion-1": True}
    ]


def test_plugin_policy_sees_the_identity(plugin_api, limited_credentials):
    client = ApiClient(plugin_api.url)
    client.login(limited_credentials)
    body = client.run({"client": "local", "tgt": "*", "fun": "test.ping"}, expect=403)
    assert "example plugin" in body["message"]
    assert client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}) == [
        {"minion-1": True}
    ]


def test_plugin_authenticator_logs_in_with_an_api_key_and_runs_jobs(plugin_api):
    client = ApiClient(plugin_api.url)
    key_login = {"username": "saltdev", "password": API_KEY, "eauth": "example-key"}
    for wrong in ({**key_login, "password": "example-nope"}, {**key_login, "username": "x"}):
        assert client.post("/login", json=wrong).status_code == 401
    record = client.login(key_login)
    # A real Salt token of the user the key belongs to: Salt checks its ACL.
    assert (record["user"], record["eauth"]) == ("saltdev", "sharedsecret")
    assert ".*" in record["perms"]
    assert client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}) == [
        {"minion-1": True}
    ]
    inline = {"client": "local", "tgt": "minion-1", "fun": "test.ping", **key_login}
    assert ApiClient(plugin_api.url).run(inline, path="/run") == [{"minion-1": True}]


def test_plugin_visibility_policy_shows_only_webhook_events(
    plugin_api, api_credentials, salt_master, master_events
):
    client = ApiClient(plugin_api.url)
    token = client.login(api_credentials)["token"]  # full rights: ``acl`` would show all
    prefix = f"test/plugin/{uuid.uuid4().hex[:12]}"

    async def scenario():
        reader = SseReader(plugin_api.url, token).start()
        try:
            assert await wait_until(lambda: reader.raw.startswith("retry:"), timeout=30)
            fire_events(salt_master, prefix, 1)
            # On the master's bus before the hook: the API's bus sees it first.
            wait_for_event(master_events, f"{prefix}/0")
            assert client.post(f"/hook/{prefix}", json={"n": 1}).status_code == 200
            hook_tag = f"salt/netapi/hook/{prefix}"
            assert await wait_until(lambda: reader.events(hook_tag), timeout=30)
            return reader.messages
        finally:
            reader.stop()

    messages = asyncio.run(scenario())
    tags = [m["tag"] for m in messages if "tag" in m]
    assert tags == [f"salt/netapi/hook/{prefix}"], tags


def test_plugin_maps_its_own_exceptions(plugin_api, api_credentials):
    client = ApiClient(plugin_api.url)
    assert client.get("/example/teapot").status_code == 401
    client.login(api_credentials)
    response = client.get("/example/teapot")
    assert response.status_code == 418
    assert response.json()["message"] == "example plugin: short and stout"


def test_plugin_inactive_unless_configured(example_plugin_installed, api_url, api_credentials):
    # The session API started without the plugin's settings: no extra route.
    client = ApiClient(api_url)
    client.login(api_credentials)
    assert client.get("/example/whoami").status_code == 404


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        # one case per layer that refuses a block: the schema, and the plugins' names
        # (tests/unit/test_netapi_startup.py runs every case in process)
        ({"bogus_key": 1}, "rest_ext: unknown key(s): 'bogus_key'"),
        ({"event_visibility": "nope"}, "'event_visibility': unknown policy; available: "),
    ],
)
def test_bad_config_stops_salt_api_with_one_clear_line(salt_master, conf, message):
    log_text = api_start_failure(salt_master, conf, start_timeout=20)
    lines = [line for line in log_text.splitlines() if "rest_ext: invalid configuration" in line]
    assert len(lines) == 1 and message in lines[0], log_text[-3000:]
    assert "Traceback" not in log_text
