"""Behaviour that needs its own master: ssh enabled, short-lived tokens, the master going down."""

import time

import pytest

from tests.support.api import ApiClient
from tests.support.config import ENABLED_CLIENTS

pytestmark = [pytest.mark.integration]

TOKEN_EXPIRE = 4


@pytest.fixture(scope="module")
def stack(salt_stack_factory):
    overrides = {"netapi_enable_clients": [*ENABLED_CLIENTS, "ssh"], "token_expire": TOKEN_EXPIRE}
    with salt_stack_factory(overrides) as running:
        yield running


@pytest.fixture
def api(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    return client


@pytest.mark.parametrize(
    "extra",
    [
        {"ssh_options": ["ProxyCommand=touch /tmp/pwned"]},
        {"roster_file": "/etc/passwd"},
        {"arg": ["-o", "ProxyCommand=sh"]},
        {"tgt": "-oProxyCommand=sh"},
    ],
)
def test_ssh_enabled_still_refuses_injection(api, extra):
    assert "ssh" in api.get("/").json()["clients"]
    body = api.run({"client": "ssh", "tgt": "nohost", "fun": "test.ping", **extra}, expect=400)
    assert body["path"].startswith("$[0]")


def test_expired_token_is_refused(stack):
    client = ApiClient(stack.url)
    record = client.login(stack.credentials)
    assert record["expire"] - record["start"] == pytest.approx(TOKEN_EXPIRE, abs=1)
    ping = {"client": "local", "tgt": "*", "fun": "test.ping"}
    assert len(client.run(ping)[0]) == 1
    time.sleep(TOKEN_EXPIRE + 1)
    client.run(ping, expect=401)


def test_silent_minion_is_reported(stack):
    client = ApiClient(stack.url)
    (minion,) = stack.minions
    minion.terminate()
    try:
        chunk = {"client": "local", "tgt": "*", "fun": "test.ping", "timeout": 2}
        client.login(stack.credentials)  # this stack's tokens live TOKEN_EXPIRE seconds
        (default,) = client.run(chunk)  # Salt's LocalClient.cmd shape, as rest_cherrypy
        assert list(default) == [minion.id]
        assert default[minion.id] is False or default[minion.id].startswith("Minion did not")
        client.login(stack.credentials)
        (report,) = client.run({**chunk, "report_missing": True})
        assert report["return"] == {} and report["missing"] == [minion.id]
        assert report["minions"] == [minion.id] and report["jid"].isdigit()
    finally:
        minion.start()


def test_master_down_is_503(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    stack.master.terminate()
    try:
        started = time.monotonic()
        for chunk in (
            {"client": "local", "tgt": "*", "fun": "test.ping"},
            {"client": "runner", "fun": "manage.up"},
            {"client": "wheel", "fun": "key.list_all"},
        ):
            body = client.run(chunk, expect=503)
            assert body["message"] == "The Salt master is not available"
            assert time.monotonic() - started < 10
    finally:
        stack.master.start()


def test_hook_is_503_while_the_master_is_down_and_works_again_after(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    assert client.post("/hook/before", json={"n": 1}).status_code == 200
    stack.master.terminate()
    try:
        started = time.monotonic()
        response = client.post("/hook/during", json={"n": 2})
        assert response.status_code == 503, response.text
        assert response.json()["message"] == "The Salt master did not take the event"
        assert time.monotonic() - started < 10
    finally:
        stack.master.start()
    client.login(stack.credentials)
    deadline = time.monotonic() + 60
    while client.post("/hook/after", json={"n": 3}).status_code != 200:
        assert time.monotonic() < deadline, "the hook did not recover after the master restart"
        time.sleep(1)
