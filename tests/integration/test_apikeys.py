"""Scoped API keys through a real salt-api, with the master enforcing the scopes.

The key used here may run ``test.*`` on ``minion-1`` and the runner ``jobs.list_jobs``,
nothing else: every route and client must refuse the rest, and so must the master
itself when the key's Salt token is used without rest_ext (a LocalClient in the test).
"""

import json
import pathlib
import time
from importlib import resources

import jsonschema
import pytest
import referencing
import salt.client
import salt.config
import salt.exceptions
import salt.runner

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

SCOPES = [{"minion-1": ["test.*"]}, {"@runner": ["jobs.list_jobs"]}]


def response_schema(name, pointer=""):
    """A validator of the shapes in schemas/responses/ (what the OpenAPI document uses)."""
    folder = resources.files("salt_ext_rest") / "schemas" / "responses"
    schemas = {f: json.loads((folder / f).read_text()) for f in ("apikeys.json", "me.json")}
    registry = referencing.Registry().with_resources(
        (s["$id"], referencing.Resource.from_contents(s)) for s in schemas.values()
    )
    schema = {"$ref": f"{schemas[name]['$id']}{pointer}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def create(client, scopes=SCOPES, name="ci", expect=201, **extra):
    response = client.post("/apikeys", json={"name": name, "scopes": scopes, **extra})
    assert response.status_code == expect, response.text
    if expect == 201:
        response_schema("apikeys.json", "#/$defs/created").validate(response.json())
    return response.json()["return"] if expect == 201 else response.json()


def bearer(api_url, key):
    client = ApiClient(api_url)
    client.http.headers["Authorization"] = f"Bearer {key}"
    return client


@pytest.fixture
def key(api):
    record = create(api)
    yield record
    api.request("DELETE", f"/apikeys/{record['id']}")


@pytest.fixture
def keyed(api_url, key):
    return bearer(api_url, key["key"])


def minted_tokens(salt_master, kid):
    directory = pathlib.Path(salt_master.config["cachedir"]) / "rest_ext" / "apikeys"
    return sorted(p.name for p in (directory / f"{kid}.tokens").iterdir())


def test_a_key_runs_what_its_scopes_allow(keyed, key):
    assert key["key"].startswith("sre_") and key["scopes"] == SCOPES
    assert keyed.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}) == [
        {"minion-1": True}
    ]
    (jobs,) = keyed.get("/jobs").json()["return"]
    assert isinstance(jobs, dict)
    # X-Auth-Token works as well as Bearer
    header = ApiClient(keyed.url, token=key["key"])
    assert header.run({"client": "local", "tgt": "minion-1", "fun": "test.echo", "arg": ["hi"]})


@pytest.mark.parametrize(
    "chunk",
    [
        {"client": "local", "tgt": "minion-1", "fun": "cmd.run", "arg": ["id"]},
        {"client": "local", "tgt": "minion-2", "fun": "test.ping"},
        {"client": "local", "tgt": "*", "fun": "test.ping"},
        {"client": "local_async", "tgt": "minion-2", "fun": "test.ping"},
        {"client": "runner", "fun": "manage.status"},
        {"client": "wheel", "fun": "key.list_all"},
    ],
)
def test_a_key_cannot_go_beyond_its_scopes(keyed, key, chunk):
    refused = keyed.run(chunk, expect=403)
    assert refused["status"] == 403 and key["key"] not in str(refused)
    inline = ApiClient(keyed.url).run({**chunk, "token": key["key"]}, path="/run", expect=403)
    assert inline["status"] == 403


def test_a_key_on_the_resources(keyed):
    ok = keyed.post("/minions", json={"tgt": "minion-1", "fun": "test.ping"})
    assert ok.status_code == 202, ok.text
    refused = keyed.post("/minions", json={"tgt": "minion-2", "fun": "test.ping"})
    assert refused.status_code == 403
    assert keyed.get("/minions/minion-1").status_code == 403  # grains.items is not in scope
    assert keyed.get("/keys").status_code == 403  # wheel


def test_the_master_itself_enforces_the_scopes(keyed, key, salt_master):
    keyed.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"})
    (token,) = minted_tokens(salt_master, key["id"])
    client = salt.client.get_local_client(c_path=salt_master.config_file)
    try:
        ok = client.cmd("minion-1", "test.ping", token=token, eauth="rest_ext", timeout=30)
        assert ok == {"minion-1": True}
        for tgt, fun in (("minion-1", "cmd.run"), ("minion-2", "test.ping")):
            with pytest.raises(salt.exceptions.AuthorizationError):
                client.cmd(tgt, fun, ["id"], token=token, eauth="rest_ext", timeout=30)
        # runner calls go through the master's ClearFuncs.runner and its LoadAuth too
        runner = salt.runner.RunnerClient(salt.config.client_config(salt_master.config_file))
        low = {"token": token, "eauth": "rest_ext"}
        assert isinstance(runner.cmd_sync({**low, "fun": "jobs.list_jobs"}, timeout=30), dict)
        # the token authenticates; the runner check refuses ("... occurred for user <id>")
        with pytest.raises(salt.exceptions.TokenAuthenticationError, match="for user"):
            runner.cmd_sync({**low, "fun": "manage.status"}, timeout=30)
        # without naming the eauth, the token is allowed nothing (external_auth's
        # rest_ext entry has nothing for a key)
        with pytest.raises(salt.exceptions.AuthorizationError):
            client.cmd("minion-1", "test.ping", token=token, timeout=30)
        # the record gone (a revocation seen by this master first): refused at once,
        # although the Salt token itself still exists
        record = pathlib.Path(salt_master.config["cachedir"]) / "rest_ext" / "apikeys"
        saved = (record / f"{key['id']}.json").read_bytes()
        (record / f"{key['id']}.json").unlink()
        try:
            with pytest.raises(salt.exceptions.AuthorizationError):
                client.cmd("minion-1", "test.ping", token=token, eauth="rest_ext", timeout=30)
        finally:
            (record / f"{key['id']}.json").write_bytes(saved)
    finally:
        client.destroy()


def test_revocation_bites_at_once(api, api_url, salt_master):
    record = create(api)
    client = bearer(api_url, record["key"])
    client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"})
    tokens = minted_tokens(salt_master, record["id"])
    assert api.request("DELETE", f"/apikeys/{record['id']}").status_code == 200
    refused = client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}, expect=401)
    assert refused["status"] == 401
    # its Salt token is gone too
    (token,) = tokens
    inline = {"client": "local", "tgt": "minion-1", "fun": "test.ping", "token": token}
    assert ApiClient(api_url).run(inline, path="/run", expect=401)["status"] == 401
    assert api.get(f"/apikeys/{record['id']}").status_code == 404


def test_an_expired_key_is_refused(api, api_url):
    record = create(api, expires_in=2)
    client = bearer(api_url, record["key"])
    client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"})
    time.sleep(2.5)
    client.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}, expect=401)


def test_a_key_cannot_be_broader_than_its_creator(api_url, limited_credentials, api):
    limited = ApiClient(api_url)
    limited.login(limited_credentials)  # test.* on every minion
    refused = create(limited, scopes=["cmd.run"], expect=403)
    assert "cmd.run" in refused["message"]
    create(limited, scopes=["test.*", "@runner"], expect=403)
    create(limited, scopes=[".*"], expect=403)
    mine = create(limited, scopes=[{"minion-1": ["test.ping"]}])
    # the owner sees it; the admin sees every key; another user's key is 404
    listed = limited.get("/apikeys").json()
    response_schema("apikeys.json", "#/$defs/list").validate(listed)
    assert [k["id"] for k in listed["return"]] == [mine["id"]]
    assert mine["id"] in [k["id"] for k in api.get("/apikeys").json()["return"]]
    admin_key = create(api)
    assert limited.get(f"/apikeys/{admin_key['id']}").status_code == 404
    assert limited.request("DELETE", f"/apikeys/{admin_key['id']}").status_code == 404
    shown = limited.get(f"/apikeys/{mine['id']}").json()
    response_schema("apikeys.json", "#/$defs/shown").validate(shown)
    assert "key" not in shown["return"]
    # an admin may revoke anyone's key
    assert api.request("DELETE", f"/apikeys/{mine['id']}").status_code == 200
    assert api.request("DELETE", f"/apikeys/{admin_key['id']}").status_code == 200


def test_a_key_cannot_create_keys_nor_log_in(keyed, key):
    create(keyed, scopes=[{"minion-1": ["test.ping"]}], expect=403)
    # no Salt token of a key is ever handed out (each is tracked, revoked with the key)
    login = {"username": key["id"], "password": key["key"], "eauth": "rest_ext"}
    assert ApiClient(keyed.url).post("/login", json=login).status_code == 401
    assert ApiClient(keyed.url).post("/token", json=login).status_code == 401


def test_bad_requests(api):
    create(api, scopes="test.*", expect=400)
    create(api, scopes=[], expect=400)
    create(api, name="../x", expect=400)
    create(api, expires_in=-1, expect=400)
    create(api, expires_in=10**12, expect=400)
    assert (
        ApiClient(api.url, token="sre_0123456789abcdef_" + "x" * 43).get("/me").status_code == 401
    )


def test_me_for_a_password_login_and_a_key(api, keyed, key):
    me = api.get("/me").json()["return"]
    assert me["name"] == "saltdev" and me["eauth"] == "sharedsecret" and me["key"] is None
    assert ".*" in me["permissions"] and me["expire"] > time.time()
    response_schema("me.json").validate(api.get("/me").json())
    response_schema("me.json").validate(keyed.get("/me").json())
    mine = keyed.get("/me").json()["return"]
    assert mine["backend"] == "api-key" and mine["eauth"] == "rest_ext"
    assert mine["key"]["name"] == "ci" and mine["key"]["owner"] == "saltdev"
    assert sorted(mine["permissions"], key=repr) == sorted(SCOPES, key=repr)
    assert mine["expire"] <= key["expires"]
    assert "hash" not in str(mine) and key["key"] not in str(mine)
    # last_used shows once written (batched) or pending in this worker
    shown = api.get(f"/apikeys/{key['id']}").json()["return"]
    assert shown["last_used"] and shown["last_used"] >= key["created"]


def test_revocation_bites_at_once_in_every_worker(start_extra_api, api_credentials, salt_api):
    """Two workers: both have verified and cached the key; after one revokes it, no
    request to either succeeds (fresh connections land on either worker)."""
    with start_extra_api({"num_processes": 2}) as extra:
        admin = ApiClient(extra.url)
        admin.login(api_credentials)
        record = create(admin)

        def fresh():
            client = ApiClient(extra.url)
            client.http.headers["Authorization"] = f"Bearer {record['key']}"
            client.http.headers["Connection"] = "close"
            return client

        pids = set()
        for _ in range(40):
            assert fresh().get("/me").status_code == 200
            pids.add(fresh().get("/stats").json().get("pid"))
        assert len(pids) == 2  # both workers served (and cached) the key
        assert admin.request("DELETE", f"/apikeys/{record['id']}").status_code == 200
        statuses = [fresh().get("/me").status_code for _ in range(40)]
        assert set(statuses) == {401}, statuses
