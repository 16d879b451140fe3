"""Async jobs return the jid of the job that runs; secrets never reach the API's log."""

import secrets
import time

import pytest

from salt_ext_rest.testing.api import ApiClient
from tests.support.bus import wait_for_event
from tests.support.tokens import store_expired_token

pytestmark = [pytest.mark.integration]


def test_wheel_async_returns_the_jid_of_the_job_that_runs(api, master_events):
    (pub,) = api.run({"client": "wheel_async", "fun": "key.list_all"})
    assert pub["tag"] == f"salt/wheel/{pub['jid']}"
    data = wait_for_event(master_events, f"salt/wheel/{pub['jid']}/ret")
    assert data["jid"] == pub["jid"] and data["success"] is True
    assert "minion-1" in data["return"]["minions"]
    assert data["user"] == "saltdev"


def test_runner_async_returns_the_jid_of_the_job_that_runs(api, master_events):
    (pub,) = api.run({"client": "runner_async", "fun": "test.arg", "arg": ["x"]})
    data = wait_for_event(master_events, f"salt/run/{pub['jid']}/ret")
    assert data["jid"] == pub["jid"]


def test_no_password_or_token_in_the_api_log(api_url, api_credentials, salt_api, salt_master):
    wrong = "wrong-" + secrets.token_hex(8)
    client = ApiClient(api_url)
    assert client.post("/login", json={**api_credentials, "password": wrong}).status_code == 401
    token = client.login(api_credentials)["token"]
    client.run({"client": "local", "tgt": "*", "fun": "test.ping"})
    client.run({"client": "local", "tgt": "*", "fun": "test.ping", **api_credentials}, path="/run")
    expired = store_expired_token(salt_master)
    assert ApiClient(api_url, token=expired).get("/login").status_code == 200
    ping = [{"client": "local", "tgt": "*", "fun": "test.ping"}]
    assert ApiClient(api_url, token=expired).post("/", json=ping).status_code == 401
    client.post("/logout")
    # salt-api writes its log through a queue, in order: once a later request's access
    # line is in the file, every record of the requests above is too.
    last = f"/last-{secrets.token_hex(4)}"
    assert client.get(last).status_code == 404
    deadline = time.monotonic() + 30
    while last not in (text := salt_api.log_file().read_text(encoding="utf-8", errors="replace")):
        assert time.monotonic() < deadline, f"{last} never reached the API's log"
        time.sleep(0.1)
    assert "rest_ext" in text or "salt_ext_rest" in text  # the log is the API's, and is written
    for secret in (api_credentials["password"], wrong, token, expired):
        assert secret not in text
