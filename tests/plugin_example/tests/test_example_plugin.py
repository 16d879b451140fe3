"""
The example plugin's own tests, written as a plugin author writes them: only the
public fixtures of salt-ext-rest's pytest plugin (``pip install salt-ext-rest[testing]``),
no conftest.py. The plugin is installed in the environment and found through its
entry point, by the in-process application and by salt-api alike.
"""

import json

import pytest

from salt_ext_rest.testing.api import ApiClient

DENIED = "test.sleep"
#: an API key of the plugin's own authenticator, for the user ``limited`` (``test.*``)
KEY = "example-key-0123456789"


@pytest.fixture(scope="session")
def rest_ext_config():
    """The ``rest_ext:`` block of both the in-process app and the session salt-api."""
    example = {"enabled": True, "denied_functions": [DENIED], "api_keys": {KEY: "limited"}}
    return {"plugins": {"example": example}}


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


def test_the_plugins_authenticator_through_a_real_salt_api(rest_ext_api):
    """The plugin's ``rest_authenticators`` contribution, asked before the built-ins."""
    client = ApiClient(rest_ext_api.url)
    credentials = {"username": "limited", "password": KEY, "eauth": "example-key"}
    record = client.login(credentials)
    assert record["user"] == "limited" and record["eauth"] == "sharedsecret"
    me = client.get("/me").json()["return"]
    assert me["name"] == "limited" and me["permissions"] == ["test.*"]
    ping = {"client": "local", "tgt": "minion-1", "fun": "test.ping"}
    assert client.run(ping) == [{"minion-1": True}]
    client.run({**ping, "fun": "cmd.run", "arg": ["id"]}, expect=403)  # Salt's ACL of limited
    inline = ApiClient(rest_ext_api.url).run({**ping, **credentials}, path="/run")
    assert inline == [{"minion-1": True}]
    wrong = {**credentials, "password": "not-the-key"}
    assert ApiClient(rest_ext_api.url).post("/login", json=wrong).status_code == 401
    assert (
        ApiClient(rest_ext_api.url)
        .post("/login", json={**credentials, "username": "saltdev"})
        .status_code
        == 401
    )
