"""/minions, /jobs, /keys with rest_cherrypy's shapes through a real salt-api."""

import io
import tarfile
import time

import pytest
from saltfactories.utils import random_string

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

MINIONS = {"minion-1", "minion-2"}


@pytest.fixture
def limited(api_url, limited_credentials):
    client = ApiClient(api_url)
    client.login(limited_credentials)
    return client


def minion_jobs(salt_run_cli):
    jobs = salt_run_cli.run("jobs.list_jobs").data
    return {jid for jid, job in jobs.items() if not job["Function"].startswith("runner.")}


def test_get_minions_reads_cached_grains_without_a_job(api, salt_run_cli):
    before = minion_jobs(salt_run_cli)
    body = api.get("/minions").json()
    (grains,) = body["return"]
    assert set(grains) == MINIONS
    assert grains["minion-1"]["id"] == "minion-1" and "os" in grains["minion-2"]
    one = api.get("/minions/minion-2").json()
    assert set(one) == {"return"} and set(one["return"][0]) == {"minion-2"}
    time.sleep(1)
    assert minion_jobs(salt_run_cli) == before  # no grains.items job was published


@pytest.fixture
def minion_1_uncached(salt_cli, salt_run_cli):
    salt_run_cli.run("cache.clear_grains", tgt="minion-1")
    assert salt_run_cli.run("cache.grains", tgt="minion-1").data == {"minion-1": {}}
    yield
    # The master caches a minion's grains again when it compiles the minion's pillar.
    salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="minion-1")
    assert salt_run_cli.run("cache.grains", tgt="minion-1").data["minion-1"]


def test_get_minions_falls_back_to_a_job_for_uncached_minions(api, minion_1_uncached, salt_run_cli):
    before = minion_jobs(salt_run_cli)
    (grains,) = api.get("/minions").json()["return"]
    assert set(grains) == MINIONS and grains["minion-1"]["id"] == "minion-1"
    new = minion_jobs(salt_run_cli) - before
    assert len(new) == 1  # exactly one grains.items job, for the minion missing from the cache
    (job,) = [salt_run_cli.run("jobs.list_job", jid).data for jid in new]
    assert job["Function"] == "grains.items" and job["Target"] == ["minion-1"]


def test_minions_acl_is_salts(limited):
    response = limited.get("/minions")
    assert response.status_code == 403 and response.json()["status"] == 403


def test_post_minions_starts_jobs_and_links_them(api):
    chunks = [
        {"tgt": "minion-1", "fun": "test.arg", "arg": ["x"]},
        {"tgt": "*", "fun": "test.ping"},
    ]
    response = api.post("/minions", json=chunks)
    assert response.status_code == 202, response.text
    body = response.json()
    first, second = body["return"]
    assert first["minions"] == ["minion-1"] and set(second["minions"]) == MINIONS
    assert body["_links"] == {"jobs": [{"href": f"/jobs/{r['jid']}"} for r in body["return"]]}
    job = wait_for_job(api, second["jid"], MINIONS)
    assert job["return"] == [dict.fromkeys(MINIONS, True)]
    (info,) = job["info"]
    assert info["Function"] == "test.ping" and info["jid"] == second["jid"]
    assert set(info["Minions"]) == MINIONS and info["User"] == "saltdev"


def wait_for_job(api, jid, minions, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        response = api.get(f"/jobs/{jid}")
        assert response.status_code == 200, response.text
        body = response.json()
        if set(body["return"][0]) == minions:
            return body
        time.sleep(0.5)
    raise AssertionError(f"job {jid} did not finish: {body}")


def test_post_minions_form_body_and_acl(api, limited):
    response = api.post("/minions", data={"tgt": "minion-2", "fun": "test.echo", "arg": "hi"})
    assert response.status_code == 202
    (pub,) = response.json()["return"]
    assert wait_for_job(api, pub["jid"], {"minion-2"})["return"] == [{"minion-2": "hi"}]
    denied = limited.post("/minions", json=[{"tgt": "*", "fun": "cmd.run", "arg": ["id"]}])
    assert denied.status_code == 403


def test_get_jobs_lists_the_job_cache(api):
    (pub,) = api.run({"client": "local_async", "tgt": "minion-1", "fun": "test.ping"})
    body = api.get("/jobs").json()
    assert set(body) == {"return"}
    (jobs,) = body["return"]
    job = jobs[pub["jid"]]
    assert {"Function", "Arguments", "Target", "Target-type", "User", "StartTime"} <= set(job)
    assert job["Function"] == "test.ping" and job["Target"] == "minion-1"


def test_unknown_jid_has_no_returns(api):
    body = api.get("/jobs/20010101000000000000").json()
    assert body["return"] == [{}] and body["info"][0]["jid"] == "20010101000000000000"


def test_jobs_need_runner_rights(limited):
    assert limited.get("/jobs").status_code == 403


def test_keys_list_and_fingerprint(api):
    keys = api.get("/keys").json()["return"]
    assert {"minions", "minions_pre", "minions_rejected", "minions_denied", "local"} <= set(keys)
    assert set(keys["minions"]) >= MINIONS
    finger = api.get("/keys/minion-1").json()
    assert list(finger["return"]["minions"]) == ["minion-1"]
    assert finger["return"]["minions"]["minion-1"].count(":") > 10


def test_keys_need_wheel_rights(limited):
    assert limited.get("/keys").status_code == 403
    assert limited.get("/keys/minion-1").status_code == 403


def drain_events(event, seconds=2.0):
    found, deadline = [], time.time() + seconds
    while time.time() < deadline:
        item = event.get_event(wait=0.2, full=True, no_block=False)
        if item:
            found.append(item)
    return found


def test_post_keys_returns_a_tar_and_keeps_the_key_off_the_bus(
    anon_url_client, api_credentials, master_events, salt_api
):
    mid = random_string("kick-")
    response = anon_url_client.post(
        "/keys", data={"mid": mid, **api_credentials}, headers={"Accept": "application/x-tar"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-tar"
    assert f'filename="saltkeys-{mid}.tar"' in response.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"minion.pem", "minion.pub"}
        assert members["minion.pem"].mode == 0o600
        priv = tar.extractfile("minion.pem").read().decode()
        pub = tar.extractfile("minion.pub").read().decode()
    assert "PRIVATE KEY" in priv and "PUBLIC KEY" in pub
    keys = ApiClient(anon_url_client.url)
    keys.login(api_credentials)
    assert mid in keys.get("/keys").json()["return"]["minions"]
    body = priv.splitlines()[1]  # a line of the private key's base64
    events = drain_events(master_events)
    assert not [e for e in events if body in repr(e)]
    with open(salt_api.log_file(), encoding="utf-8", errors="replace") as handle:
        assert body not in handle.read()
    again = anon_url_client.post("/keys", data={"mid": mid, **api_credentials})
    assert again.status_code == 409
    forced = anon_url_client.post("/keys", json={"mid": mid, "force": True, **api_credentials})
    assert forced.status_code == 200 and forced.content != response.content
    assert keys.run({"client": "wheel", "fun": "key.delete", "match": mid})[0]["data"]["success"]


@pytest.fixture
def anon_url_client(api_url):
    return ApiClient(api_url)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"mid": "x"}, 401),
        ({"mid": "x", "username": "saltdev", "password": "wrong", "eauth": "sharedsecret"}, 401),
        ({"mid": "../etc", "username": "saltdev", "password": "p", "eauth": "sharedsecret"}, 400),
    ],
)
def test_post_keys_needs_body_credentials(anon_url_client, body, status):
    response = anon_url_client.post("/keys", json=body)
    assert response.status_code == status, response.text


def test_post_keys_with_a_session_only_is_401(api):
    assert api.post("/keys", json={"mid": "nokey"}).status_code == 401


def test_post_keys_acl(anon_url_client, limited_credentials):
    response = anon_url_client.post("/keys", json={"mid": "nokey", **limited_credentials})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/jobs"),
        ("DELETE", "/jobs/20010101000000000000"),
        ("POST", "/minions/minion-1"),
        ("PUT", "/minions"),
        ("POST", "/keys/minion-1"),
        ("DELETE", "/keys"),
        ("GET", "/hook"),
        ("POST", "/stats"),
    ],
)
def test_only_documented_methods(api, method, path):
    response = api.request(method, path, json=[{"client": "local", "tgt": "*", "fun": "test.ping"}])
    assert response.status_code == 405
    assert response.json()["status"] == 405 and "Allow" in response.headers
