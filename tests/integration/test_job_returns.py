"""Synchronous jobs whose returns come from the API's one bus subscription (issue 14):
complete under concurrency, and a minion that never answers reported as Salt does."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
import salt.client

from salt_ext_rest.testing.api import ApiClient
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]

MINIONS = {"minion-1", "minion-2"}


def test_ten_concurrent_pings_all_complete(api_url, api):
    token = api.http.headers["X-Auth-Token"]

    def ping(index: int) -> object:
        client = ApiClient(api_url, token=token)
        (result,) = client.run({"client": "local", "tgt": "*", "fun": "test.arg", "arg": [index]})
        return result

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(ping, range(10)))
    for index, result in enumerate(results):
        assert set(result) == MINIONS, result
        assert all(ret["args"] == [index] for ret in result.values()), result


def test_full_return_as_salt_gives_it(api):
    (result,) = api.run(
        {"client": "local", "tgt": "minion-1", "fun": "test.ping", "full_return": True}
    )
    assert result["minion-1"]["ret"] is True and result["minion-1"]["retcode"] == 0
    assert result["minion-1"]["jid"].isdigit()


def test_silent_minion_as_salt_reports_it(api, salt_master):
    """An accepted key whose minion is not connected: targeted, never answers, asked
    with find_job, then reported missing; the same rows as Salt's LocalClient.cmd."""
    silent = "silent-" + secrets.token_hex(4)
    (accepted,) = api.run({"client": "wheel", "fun": "key.gen_accept", "id_": silent})
    assert accepted["data"]["success"] is True, accepted
    try:
        chunk = {"client": "local", "tgt": ["minion-1", silent], "tgt_type": "list"}
        chunk.update(fun="test.ping", timeout=2, gather_job_timeout=2)
        (ours,) = api.run(chunk)
        (report,) = api.run({**chunk, "report_missing": True})
        local = salt.client.LocalClient(mopts=master_opts(salt_master))
        try:
            theirs = local.cmd(["minion-1", silent], "test.ping", tgt_type="list", timeout=2)
        finally:
            local.destroy()
    finally:
        api.run({"client": "wheel", "fun": "key.delete", "match": silent})
    assert ours["minion-1"] is True
    assert set(ours) == set(theirs) == {"minion-1", silent}
    assert type(ours[silent]) is type(theirs[silent])
    if isinstance(theirs[silent], str):
        # Salt's text names the job's jid: compare everything before it
        assert ours[silent].rsplit(" ", 1)[0] == theirs[silent].rsplit(" ", 1)[0]
    assert report["return"] == {"minion-1": True} and report["missing"] == [silent]
    assert sorted(report["minions"]) == sorted(["minion-1", silent])


def test_runner_returns_through_the_bus(api):
    (result,) = api.run({"client": "runner", "fun": "test.arg", "arg": ["a"], "kwarg": {"k": 1}})
    assert result["args"] == ["a"] and result["kwargs"]["k"] == 1
    (full,) = api.run({"client": "runner", "fun": "test.arg", "arg": ["b"], "full_return": True})
    assert full["tag"].startswith("salt/run/") and full["tag"].endswith("/ret")
    assert full["data"]["return"]["args"] == ["b"] and full["data"]["success"] is True
