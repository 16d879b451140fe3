"""Third-party plugins through entry points, and startup validation of the rest_ext block."""


import pytest

from tests.support.api import ApiClient
from tests.support.saltapi import api_start_failure

pytestmark = [pytest.mark.integration]

PLUGIN_CONF = {
    "plugins": {
        "example": {
            "enabled": True,
            "denied_functions": ["test.sleep"],
            "no_glob_users": ["limited"],
        }
    }
}


@pytest.fixture(scope="module")
def plugin_api(example_plugin_installed, salt_master, salt_minion, salt_minion_2, netapi_module):
    from tests.support.saltapi import start_api

    with start_api(salt_master, PLUGIN_CONF, netapi_module=netapi_module) as api:
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
