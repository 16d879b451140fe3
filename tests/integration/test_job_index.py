"""``GET /jobs?limit=…``: pages of the job index through a real salt-api.

The job cache is seeded through Salt's own ``local_cache`` returner
(:mod:`salt_ext_rest.testing.jobcache`) before an extra salt-api with two workers
starts on the session master, with an index file of its own: it is backfilled from
the cache, then kept current from the bus. What the tests expect is computed from the seeding plan.
"""

import datetime
import urllib.parse

import pytest
from saltfactories.utils import random_string

from salt_ext_rest.schemas import build_validator, load_schema
from salt_ext_rest.testing import jobcache
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import start_api
from tests.support.polling import wait_for as poll

pytestmark = [pytest.mark.integration]

PAGE = build_validator(load_schema("responses/jobs-page.json"))
STATUS = build_validator(load_schema("responses/job-status.json"))
SEEDED = 1200
START = datetime.datetime(2011, 3, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def seeded(salt_master):
    user = random_string("seed-")
    return jobcache.seed(salt_master.config, list(jobcache.plan(SEEDED, user, START)))


@pytest.fixture(scope="module")
def index_api(salt_master, netapi_module, seeded, salt_minion_2, tmp_path_factory):
    # an index file of its own: the session's salt-api writes the master's default
    # one (one writer per file) and backfilled it before the seeding
    path = tmp_path_factory.mktemp("job-index") / "jobs.sqlite"
    conf = {"num_processes": 2, "job_index_path": str(path)}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture(scope="module")
def admin(index_api, api_credentials):
    client = ApiClient(index_api.url)
    client.login(api_credentials)
    return client


@pytest.fixture
def limited(index_api, limited_credentials):
    client = ApiClient(index_api.url)
    client.login(limited_credentials)
    return client


def pages(client, **params):
    """Every item over every page, following ``next``; checks the Link header."""
    items, path = [], "/jobs?" + urllib.parse.urlencode(params)
    for _ in range(1000):
        response = client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        PAGE.validate(body)
        items.extend(body["return"])
        if body["next"] is None:
            assert "Link" not in response.headers
            return items
        assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        path = body["next"]
    raise AssertionError("more than 1000 pages")


def wait_for(check, timeout=120):
    return poll(check, timeout)


@pytest.fixture(scope="module")
def backfilled(admin, seeded):
    user = seeded[0].user
    found = wait_for(lambda: len(pages(admin, limit=500, user=user)) == len(seeded))
    assert found, "the seeded jobs did not all reach the index"
    return seeded


def test_pages_cover_the_job_cache_newest_first(admin, backfilled):
    items = pages(admin, limit=97, user=backfilled[0].user)
    assert [i["jid"] for i in items] == sorted((j.jid for j in backfilled), reverse=True)
    by_jid = {job.jid: job for job in backfilled}
    for item in items:
        job = by_jid[item["jid"]]
        assert item["function"] == job.fun
        assert item["target_type"] == job.tgt_type
        assert item["target"] == (",".join(job.tgt) if job.tgt_type == "list" else job.tgt)
        assert item["arguments"][0] == job.arg[0]
        assert item["arguments"][1]["password"] == "<redacted>"
        counts = item["minions"]
        assert counts["targeted"] == len(job.minions)
        assert counts["returned"] == len(job.returns)
        assert counts["failed"] == job.failed
        assert counts["missing"] == len(job.minions) - len(job.returns)
        assert item["status"] == "finished"


def test_filters_run_on_the_server(admin, backfilled):
    user = backfilled[0].user
    expect = {j.jid for j in backfilled if j.fun.startswith("cmd.")}
    assert {i["jid"] for i in pages(admin, limit=500, user=user, function="cmd.*")} == expect
    expect = {j.jid for j in backfilled if j.tgt_type == "list"}
    got = pages(admin, limit=500, user=user, target_type="list", target="minion-1,minion-2")
    assert {i["jid"] for i in got} == expect
    expect = {j.jid for j in backfilled if j.failed}
    assert (
        expect and {i["jid"] for i in pages(admin, limit=500, user=user, status="failed")} == expect
    )
    start = (START + datetime.timedelta(seconds=100)).astimezone(datetime.timezone.utc)
    end = start + datetime.timedelta(seconds=50)
    window = pages(admin, limit=500, user=user, start=start.isoformat(), end=end.isoformat())
    assert [i["jid"] for i in window] == [j.jid for j in reversed(backfilled[100:150])]


def test_restricted_callers_see_what_their_acl_shows(limited, admin, backfilled):
    user = backfilled[0].user
    assert limited.get("/jobs").status_code == 403  # rest_cherrypy's answer needs @runner
    seen = {i["jid"] for i in pages(limited, limit=50, user=user)}
    assert seen == {j.jid for j in backfilled if j.fun.startswith("test.")}


def test_a_live_job_is_indexed_once_with_its_returns(admin):
    arg = random_string("live-")
    admin.run({"client": "local", "tgt": "minion-*", "fun": "test.arg",
               "arg": [arg], "kwarg": {"api_password": "s3cret"}})  # fmt: skip

    def indexed():
        items = pages(admin, limit=20, function="test.arg")
        found = [i for i in items if i["arguments"][:1] == [arg]]
        return found if found and found[0]["minions"]["returned"] == 2 else None

    (item,) = wait_for(indexed, timeout=30)
    assert item["minions"]["targeted"] == 2 and item["minions"]["failed"] == 0
    assert item["target"] == "minion-*" and item["target_type"] == "glob"
    assert "s3cret" not in str(item["arguments"])


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=x", "cursor=bm9wZQ", "status=sleeping", "start=yesterday"],
)
def test_bad_parameters_are_400(admin, query):
    response = admin.get(f"/jobs?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "Traceback" not in response.text


def test_a_corrupt_index_is_rebuilt(salt_master, netapi_module, tmp_path, api_credentials):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    conf = {"job_index_path": str(path)}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        client = ApiClient(api.url)
        client.login(api_credentials)
        assert wait_for(lambda: client.get("/jobs?limit=1").json()["complete"], timeout=120)
        assert len(client.get("/jobs?limit=5").json()["return"]) == 5
    assert list(tmp_path.glob("jobs.sqlite.corrupt-*"))


def seed_one(salt_master, jid, minions, returns):
    job = jobcache.SeedJob(jid=jid, fun="test.arg", arg=["x"], tgt=minions, tgt_type="list",
                           user="saltdev", minions=minions, returns=returns)  # fmt: skip
    jobcache.seed(salt_master.config, [job])


def test_the_status_view_takes_success_from_salts_flags(api, salt_master):
    jid = jobcache.make_jid(datetime.datetime.now() - datetime.timedelta(days=1), 0)
    returns = {
        "minion-1": {"return": True, "retcode": 0, "success": True},
        "minion-2": {"return": True, "retcode": 1},  # a retcode without the flag
        "minion-x": {"return": False},  # neither: unknown, whatever the value
    }
    seed_one(salt_master, jid, ["minion-1", "minion-2", "minion-x", "ghost-1"], returns)
    body = api.get(f"/jobs/{jid}?view=status").json()
    STATUS.validate(body)
    assert body["jid"] == jid and body["function"] == "test.arg" and body["user"] == "saltdev"
    minions = body["minions"]
    assert minions["minion-1"] == {"status": "returned", "retcode": 0, "success": True,
                                   "return": True}  # fmt: skip
    assert minions["minion-2"]["success"] is False and minions["minion-2"]["retcode"] == 1
    assert minions["minion-x"]["success"] is None and minions["minion-x"]["return"] is False
    assert minions["ghost-1"] == {"status": "not_connected", "retcode": None, "success": None,
                                  "return": None}  # fmt: skip
    summary = body["summary"]
    assert (summary["targeted"], summary["returned"], summary["not_connected"]) == (4, 3, 1)
    assert (summary["succeeded"], summary["failed"], summary["unknown"]) == (1, 1, 1)
    assert summary["ok"] is False and summary["complete"] is True


def test_the_status_view_of_a_live_job(api):
    (pub,) = api.run({"client": "local_async", "tgt": "minion-1", "fun": "test.retcode",
                      "arg": [3]})  # fmt: skip

    def returned():
        body = api.get(f"/jobs/{pub['jid']}?view=status").json()
        return body if body["minions"].get("minion-1", {}).get("status") == "returned" else None

    body = wait_for(returned, timeout=60)
    assert body["minions"]["minion-1"]["retcode"] == 3
    assert body["minions"]["minion-1"]["success"] is False
    assert body["summary"]["failed"] == 1 and body["summary"]["ok"] is False


def test_a_connected_minion_without_a_return_is_running_then_did_not_return(api, salt_master):
    now = datetime.datetime.now()
    young, old = jobcache.make_jid(now, 0), jobcache.make_jid(now - datetime.timedelta(days=1), 7)
    for jid in (young, old):
        seed_one(salt_master, jid, ["minion-2"], {})
    assert api.get(f"/jobs/{young}?view=status").json()["minions"]["minion-2"]["status"] == (
        "running"
    )
    assert api.get(f"/jobs/{old}?view=status").json()["minions"]["minion-2"]["status"] == (
        "did_not_return"
    )


def test_an_unknown_view_is_400(api):
    response = api.get("/jobs/20010101000000000000?view=nope")
    assert response.status_code == 400 and response.json()["status"] == 400
