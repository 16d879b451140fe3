"""
The example plugin's own tests, written as a plugin author writes them: only the
public fixtures of salt-ext-rest's pytest plugin (``pip install salt-ext-rest[testing]``),
no conftest.py. The plugin is installed in the environment and found through its
entry point, by the in-process application and by salt-api alike.
"""

import json

import pytest

DENIED = "test.sleep"


@pytest.fixture(scope="session")
def rest_ext_config():
    """The ``rest_ext:`` block of both the in-process app and the session salt-api."""
    return {"plugins": {"example": {"enabled": True, "denied_functions": [DENIED]}}}


def test_whoami_in_process(rest_ext_app_client, rest_ext_fake_gateway):
    body = rest_ext_app_client.get("/example/whoami").json()
    assert body == {"return": {"name": "user", "eauth": "auto", "plugin": "example"}}
    denied = {"client": "local", "tgt": "minion-1", "fun": DENIED, "arg": [0]}
    assert rest_ext_app_client.run(denied, expect=400)["path"] == "$[0].fun"
    assert rest_ext_fake_gateway.chunks == []


def test_through_a_real_salt_api(rest_ext_client):
    body = rest_ext_client.get("/example/whoami").json()
    assert body == {"return": {"name": "saltdev", "eauth": "sharedsecret", "plugin": "example"}}
    denied = {"client": "local", "tgt": "minion-1", "fun": DENIED, "arg": [0]}
    assert rest_ext_client.run(denied, expect=400)["path"] == "$[0].fun"
    ping = {"client": "local", "tgt": "minion-1", "fun": "test.ping"}
    assert rest_ext_client.run(ping) == [{"minion-1": True}]


def test_the_api_description_includes_the_plugin(rest_ext_app_client):
    """``GET /openapi.json`` lists the plugin's routes (their ``openapi`` attributes)
    and its tighter lowstate schema."""
    document = rest_ext_app_client.get("/openapi.json").json()
    paths = document["paths"]
    assert paths["/example/whoami"]["get"]["summary"].endswith("(example plugin)")
    assert "418" in paths["/example/teapot"]["get"]["responses"]
    schemas = document["components"]["schemas"]
    local = [schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in schemas["lowstate.local"]["allOf"]]
    assert DENIED in json.dumps(local)  # the plugin's schema, beside the built-in one
