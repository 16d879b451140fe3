"""The rest_cherrypy contract (lowstate, login, token, run, result shapes, formats)
through a real salt-api."""

import time
import uuid

import pytest
import requests
import yaml

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

MINIONS = {"minion-1", "minion-2"}
PING = {"client": "local", "tgt": "*", "fun": "test.ping"}


@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


def test_root_lists_enabled_clients(anon):
    body = anon.get("/").json()
    assert body["return"] == "Welcome"
    assert "local" in body["clients"] and "ssh" not in body["clients"]


def test_get_login_asks_to_log_in(anon):
    response = anon.get("/login")
    assert response.status_code == 200
    assert response.json() == {"status": None, "return": "Please log in"}


def test_login_record_header_and_cookie(anon, api_credentials):
    response = anon.post("/login", json=api_credentials)
    assert response.status_code == 200
    record = response.json()["return"][0]
    assert set(record) == {"token", "expire", "start", "user", "eauth", "perms"}
    assert record["user"] == "saltdev" and record["eauth"] == "sharedsecret"
    assert record["expire"] > record["start"] > time.time() - 60
    assert response.headers["X-Auth-Token"] == record["token"]
    cookie = response.headers["Set-Cookie"]
    assert f"session_id={record['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "expires=" in cookie


@pytest.mark.parametrize("encoding", ["json", "form", "yaml", "text-plain", "list"])
def test_login_accepts_every_body_encoding(anon, api_credentials, encoding):
    kwargs = {
        "json": {"json": api_credentials},
        "list": {"json": [api_credentials]},
        "form": {"data": api_credentials},
        "yaml": {
            "data": yaml.safe_dump(api_credentials),
            "headers": {"Content-Type": "application/x-yaml"},
        },
        "text-plain": {
            "data": requests.compat.json.dumps(api_credentials),
            "headers": {"Content-Type": "text/plain;charset=UTF-8"},
        },
    }[encoding]
    response = anon.post("/login", **kwargs)
    assert response.status_code == 200, response.text
    assert response.json()["return"][0]["user"] == "saltdev"


def test_bad_password_is_401(anon, api_credentials):
    response = anon.post("/login", json={**api_credentials, "password": "wrong"})
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert "wrong" not in response.text and "Set-Cookie" not in response.headers


def test_perms_are_what_salt_enforces(anon, limited_credentials, api_credentials):
    limited = anon.post("/login", json=limited_credentials).json()["return"][0]
    assert limited["perms"] == ["test.*"]
    full = [
        anon.post("/login", json=api_credentials).json()["return"][0]["perms"] for _ in range(3)
    ]
    # Computing perms must not mutate the master's external_auth: no growth, no duplicates.
    assert full[0] == full[1] == full[2] == [".*", "@jobs", "@runner", "@wheel"]


def test_local_runs_on_both_minions(api):
    assert api.run(PING) == [dict.fromkeys(MINIONS, True)]


def test_single_dict_and_yaml_and_form_bodies(api):
    assert api.post("/", json=PING).json()["return"] == [dict.fromkeys(MINIONS, True)]
    body = yaml.safe_dump([{**PING, "fun": "test.echo", "arg": ["hi"]}])
    response = api.post("/", data=body, headers={"Content-Type": "application/x-yaml"})
    assert response.json()["return"] == [dict.fromkeys(MINIONS, "hi")]
    form = {"client": "local", "tgt": "minion-1", "fun": "test.arg", "arg": ["1", "two"]}
    response = api.post("/", data=form)
    assert response.json()["return"][0]["minion-1"]["args"] == [1, "two"]


def test_text_plain_body_is_json(api):
    response = api.post(
        "/",
        data=requests.compat.json.dumps([PING]),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.json()["return"] == [dict.fromkeys(MINIONS, True)]


def test_yaml_response_on_request(api):
    response = api.post("/", json=[PING], headers={"Accept": "application/x-yaml"})
    assert response.headers["Content-Type"] == "application/x-yaml"
    assert yaml.safe_load(response.text) == {"return": [dict.fromkeys(MINIONS, True)]}


def test_several_chunks_and_legacy_keys(api):
    chunks = [
        {
            "client": "local",
            "tgt": "minion-1",
            "fun": "test.echo",
            "arg": "one",
            "expr_form": "glob",
        },
        {
            "client": "local",
            "tgt": ["minion-2"],
            "tgt_type": "list",
            "fun": "test.kwarg",
            "kwarg": {"a": 1},
        },
    ]
    first, second = api.run(*chunks)
    assert first == {"minion-1": "one"}
    assert second["minion-2"]["a"] == 1


def test_full_return_and_batch_null_tolerated(api):
    (result,) = api.run({**PING, "tgt": "minion-1", "full_return": True, "batch": None})
    assert result["minion-1"]["ret"] is True and result["minion-1"]["retcode"] == 0


def test_local_async_returns_the_jid(api):
    (pub,) = api.run({**PING, "client": "local_async"})
    assert set(pub["minions"]) == MINIONS and pub["jid"].isdigit()


def test_local_batch_and_subset(api):
    results = api.run({**PING, "client": "local_batch", "batch": "1"})
    merged = {mid: ret for result in results for mid, ret in result.items()}
    assert merged == dict.fromkeys(MINIONS, True)
    (subset,) = api.run({**PING, "client": "local_subset", "sub": 1})
    assert len(subset) == 1 and set(subset) <= MINIONS


def test_runner_and_wheel_shapes(api):
    (up,) = api.run({"client": "runner", "fun": "manage.up"})
    assert set(up) == MINIONS
    (full,) = api.run({"client": "runner", "fun": "test.arg", "arg": ["a"], "full_return": True})
    assert set(full) == {"data", "tag"}
    (wheel,) = api.run({"client": "wheel", "fun": "key.list_all"})
    assert set(wheel) == {"tag", "data"}
    assert set(wheel["data"]) >= {"fun", "jid", "tag", "user", "return", "success"}
    assert set(wheel["data"]["return"]["minions"]) >= MINIONS
    (job,) = api.run({"client": "runner_async", "fun": "test.sleep", "s_time": 0})
    assert set(job) == {"jid", "tag"}


def test_local_timeout_and_missing_minions(api):
    chunk = {**PING, "fun": "test.sleep", "arg": [3], "timeout": 30, "report_missing": True}
    (result,) = api.run(chunk)
    assert result["return"] == dict.fromkeys(MINIONS, True)
    assert result["missing"] == [] and sorted(result["minions"]) == sorted(MINIONS)


def test_no_matching_minion_is_empty(api):
    assert api.run({**PING, "tgt": "no-such-minion"}) == [{}]


def test_logout_revokes_at_once(api):
    assert api.post("/logout").json() == {"return": "Your token has been cleared"}
    assert api.post("/", json=[PING]).status_code == 401
    assert api.post("/logout").status_code == 401


def test_cookie_authenticates_like_the_header(anon, api_credentials):
    anon.post("/login", json=api_credentials)
    assert "X-Auth-Token" not in anon.http.headers
    assert anon.run(PING) == [dict.fromkeys(MINIONS, True)]


def test_token_endpoint_and_run_with_inline_token(anon, api_credentials):
    response = anon.post("/token", json=api_credentials)
    assert response.status_code == 200
    (record,) = response.json()
    assert set(record) == {"token", "expire", "start", "name", "eauth"}
    result = anon.run({**PING, "token": record["token"]}, path="/run")
    assert result == [dict.fromkeys(MINIONS, True)]


def test_run_with_inline_credentials(anon, api_credentials):
    result = anon.run({**PING, **api_credentials}, path="/run")
    assert result == [dict.fromkeys(MINIONS, True)]


def test_limited_user_is_forbidden_outside_its_acl(api_url, limited_credentials):
    client = ApiClient(api_url)
    client.login(limited_credentials)
    assert client.run({**PING, "fun": "test.echo", "arg": ["x"]}) == [dict.fromkeys(MINIONS, "x")]
    body = client.run({**PING, "fun": "grains.items"}, expect=403)
    assert body["status"] == 403
    client.run({"client": "wheel", "fun": "key.list_all"}, expect=403)
    client.run({"client": "wheel_async", "fun": "key.list_all"}, expect=403)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/nowhere", {}, 404),
        ("DELETE", "/", {}, 405),
        ("PUT", "/login", {}, 405),
        ("GET", "/", {"headers": {"Accept": "text/csv"}}, 406),
        ("POST", "/", {"data": "a,b", "headers": {"Content-Type": "text/csv"}}, 415),
        ("POST", "/", {"data": "{nope", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/", {"data": "[: x", "headers": {"Content-Type": "application/x-yaml"}}, 400),
        ("POST", "/", {"data": b"", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/login", {"json": {"username": "x"}}, 401),
        (
            "POST",
            "/",
            {"data": b"x" * (2 * 1024 * 1024), "headers": {"Content-Type": "application/json"}},
            413,
        ),
    ],
)
def test_errors_are_json_with_meaningful_status(api, method, path, kwargs, status):
    response = api.request(method, path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status and body["message"]
    assert "Traceback" not in response.text and "<html" not in response.text.lower()


def test_invalid_chunk_names_json_path(api):
    body = api.run(
        PING, {"client": "local", "tgt": "*", "fun": "test.ping", "timeout": "soon"}, expect=400
    )
    assert body["path"] == "$[1].timeout"


def test_disabled_client_refused_before_authentication(anon):
    body = anon.run({"client": "ssh", "tgt": "*", "fun": "test.ping"}, expect=400)
    assert "Client disabled: 'ssh'" in body["message"]


def test_raw_shell_refused(api):
    body = api.run({**PING, "fun": "cmd.run", "arg": ["true"], "raw_shell": True}, expect=403)
    assert "Raw shell" in body["message"]


@pytest.mark.parametrize(
    "chunk",
    [
        {},
        {"client": "local_async"},
        {"client": "local_batch", "batch": 1},
        {"client": "local_subset", "sub": 1},
    ],
)
def test_a_syndics_auth_list_is_refused(api, chunk):
    """Salt's master reads a publish's ``auth_list`` as a syndic's (and failed on one sent
    with a token: a 503); a client may not send one."""
    body = api.run({**PING, **chunk, "auth_list": [".*"]}, expect=400)
    assert body["message"].startswith("$[0].auth_list:"), body


def test_wrong_accept_refused_before_anything_runs(api):
    refused = f"refused-{uuid.uuid4().hex[:8]}"
    chunk = {"client": "local_async", "tgt": "minion-1", "fun": "test.arg"}
    response = api.post("/", json=[{**chunk, "arg": [refused]}], headers={"Accept": "text/csv"})
    assert response.status_code == 406
    # The master caches a job's load before the publish returns: once a job published
    # after the refusal is in the cache, one published for the refused request would be.
    allowed = f"control-{uuid.uuid4().hex[:8]}"
    (control,) = api.run({**chunk, "arg": [allowed]})
    (jobs,) = api.run({"client": "runner", "fun": "jobs.list_jobs"})
    assert control["jid"] in jobs and allowed in str(jobs[control["jid"]])
    assert refused not in str(jobs)
