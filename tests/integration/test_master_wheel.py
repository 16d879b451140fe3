"""wheel calls of a caller whose ACL restricts no argument run on Salt's master (as
rest_cherrypy's do), with exactly the arguments rest_ext bound and checked; an ACL with
argument restrictions keeps rest_ext's own path (tests/integration/test_acl_arguments.py)."""

import pytest

from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

MINIONS = {"minion-1", "minion-2"}


def test_wheel_by_name_and_by_position_run_the_same_call(api):
    for minion in sorted(MINIONS):
        (named,) = api.run({"client": "wheel", "fun": "key.finger", "match": minion})
        (positional,) = api.run({"client": "wheel", "fun": "key.finger", "arg": [minion]})
        assert set(named["data"]["return"]["minions"]) == {minion}
        assert named["data"]["return"] == positional["data"]["return"]
        assert named["data"]["jid"] != positional["data"]["jid"]
        for result in (named, positional):
            data = result["data"]
            assert data["success"] is True and data["user"] == cfg.API_USER
            assert data["fun"] == "wheel.key.finger" and result["tag"] == data["tag"]
            assert data["tag"] == f"salt/wheel/{data['jid']}"


def test_wheel_arguments_are_checked_before_the_master_sees_them(api):
    minion = sorted(MINIONS)[0]
    body = api.run(
        {"client": "wheel", "fun": "key.finger", "match": "*", "arg": [minion]}, expect=400
    )
    assert "both in 'arg' and by name" in body["message"]
    (keys,) = api.run({"client": "wheel", "fun": "key.list_all"})
    assert set(keys["data"]["return"]["minions"]) >= MINIONS  # nothing was changed


def test_a_logged_out_token_runs_no_more_wheel_calls(api_url, api_credentials):
    anon = ApiClient(api_url)
    token = anon.login(api_credentials)["token"]
    (keys,) = anon.run({"client": "wheel", "fun": "key.list_all"})  # ACL now cached
    assert set(keys["data"]["return"]["minions"]) >= MINIONS
    assert anon.post("/logout").status_code == 200
    anon.run({"client": "wheel", "fun": "key.list_all", "token": token}, path="/run", expect=401)
