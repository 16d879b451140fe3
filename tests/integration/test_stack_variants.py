"""Behaviour that needs its own master: ssh enabled, short-lived tokens, a short
``gather_job_timeout``, the master going down."""

import time

import pytest
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from salt_ext_rest.backend.gateway import REACHABLE_TTL
from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.config import ENABLED_CLIENTS

pytestmark = [pytest.mark.integration]

TOKEN_EXPIRE = 4
#: Salt waits this long for minions to answer ``saltutil.find_job`` (10 s by default):
#: short, so a stopped minion is given up on quickly.
GATHER_JOB_TIMEOUT = 2
#: the roster's only host: 127.0.0.1 on a port nothing listens on
SSH_HOST = "unreachable"


@pytest.fixture(scope="module")
def roster_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("roster") / "roster"
    port = ports.get_unused_localhost_port()
    path.write_text(f"{SSH_HOST}:\n  host: 127.0.0.1\n  port: {port}\n  user: nobody\n")
    return path


@pytest.fixture(scope="module")
def stack(salt_stack_factory, roster_file):
    overrides = {
        "netapi_enable_clients": [*ENABLED_CLIENTS, "ssh"],
        "token_expire": TOKEN_EXPIRE,
        "gather_job_timeout": GATHER_JOB_TIMEOUT,
        "roster_file": str(roster_file),
    }
    with salt_stack_factory(overrides) as running:
        yield running


@pytest.fixture
def api(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    return client


def ssh_chunk(**extra):
    return {"client": "ssh", "tgt": SSH_HOST, "fun": "test.ping", **extra}


# The lowstate schema refuses every ssh key, argument and target shape outside its
# allow-lists (tests/unit/test_validation.py runs each case in process); the cases
# below send one of each kind through a real salt-api with ssh enabled.
@pytest.mark.parametrize(
    "extra",
    [
        {"ssh_options": ["ProxyCommand=touch /tmp/pwned"]},
        {"arg": ["-o", "ProxyCommand=sh"]},
    ],
)
def test_ssh_enabled_still_refuses_injection(api, extra):
    assert "ssh" in api.get("/").json()["clients"]
    body = api.run({"client": "ssh", "tgt": "nohost", "fun": "test.ping", **extra}, expect=400)
    assert body["path"].startswith("$[0]")


#: the keys salt-ssh passes on to ssh, its roster or the remote script (black-box, one
#: request each; every other key and target shape is in tests/unit/test_validation.py)
SSH_OPTIONS = {
    "ssh_remote_port_forwards": {"ssh_remote_port_forwards": "-oLocalCommand=touch {canary}"},
    "ssh_sudo_user": {"ssh_sudo": True, "ssh_sudo_user": "root; touch {canary}"},
    "ssh_update_roster": {"ssh_update_roster": True, "ssh_passwd": "x\nevil:\n  host: h"},
    "ignore_host_keys": {"ignore_host_keys": True},
    "no_host_keys": {"no_host_keys": True},
    "ssh_user": {"ssh_user": "-oProxyCommand=touch {canary}"},
    "ssh_options": {"ssh_options": ["LocalCommand=touch {canary}"]},
}


def _fill(value, canary):
    if isinstance(value, str):
        return value.format(canary=canary)
    if isinstance(value, list):
        return [_fill(item, canary) for item in value]
    return value


@pytest.mark.parametrize("option", sorted(SSH_OPTIONS))
def test_ssh_accepts_only_allow_listed_keys(stack, roster_file, tmp_path, option):
    """Refused with 400 naming the key, before authentication (inline eauth on /run)."""
    canary = tmp_path / "canary"
    extra = {key: _fill(value, canary) for key, value in SSH_OPTIONS[option].items()}
    roster = roster_file.read_text()
    client = ApiClient(stack.url)
    body = client.run(ssh_chunk(**extra, **stack.credentials), path="/run", expect=400)
    assert body["path"] == "$[0]" and repr(option) in body["message"]
    # without any credentials it is the same 400: refused before authentication
    body = client.run(ssh_chunk(**extra), path="/", expect=400)
    assert repr(option) in body["message"]
    assert not canary.exists() and roster_file.read_text() == roster


@pytest.mark.parametrize("tgt", ["root@127.0.0.1", f"{SSH_HOST}\nx"])
def test_ssh_targets_are_roster_names(stack, tgt):
    client = ApiClient(stack.url)
    body = client.run(ssh_chunk(tgt=tgt, **stack.credentials), path="/run", expect=400)
    assert body["path"].startswith("$[0].tgt")


def test_ssh_runs_with_a_rest_ext_token(api):
    (result,) = api.run(ssh_chunk())
    # salt-ssh ran and answered as it does for a host it cannot reach
    assert list(result) == [SSH_HOST] and result[SSH_HOST]["retcode"] == 255
    assert "Connection refused" in result[SSH_HOST]["stderr"]


def test_ssh_never_connects_to_a_host_outside_the_roster(api):
    """salt-ssh would connect to any resolvable name it is given; only roster targets run."""
    assert api.run(ssh_chunk(tgt="localhost")) == [{}]


def test_ssh_follows_the_callers_acl(stack):
    limited = ApiClient(stack.url)  # sharedsecret 'limited': test.* only
    limited.login(cfg.api_credentials(stack.sharedsecret, username=cfg.LIMITED_USER))
    (result,) = limited.run(ssh_chunk())
    assert list(result) == [SSH_HOST]
    body = limited.run(ssh_chunk(fun="cmd.run", arg=["id"]), expect=403)
    assert "over ssh" in body["message"]


def test_expired_token_is_refused(stack):
    client = ApiClient(stack.url)
    record = client.login(stack.credentials)
    assert record["expire"] - record["start"] == pytest.approx(TOKEN_EXPIRE, abs=1)
    ping = {"client": "local", "tgt": "*", "fun": "test.ping"}
    assert len(client.run(ping)[0]) == 1
    time.sleep(max(0.0, record["expire"] - time.time()) + 0.5)  # past the token's own expiry
    client.run(ping, expect=401)


def test_local_waits_past_gather_job_timeout(stack):
    """A job that outlives ``gather_job_timeout`` still returns (rest_tornado returned {})."""
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    (minion,) = stack.minions
    seconds = GATHER_JOB_TIMEOUT + 2
    chunk = {"client": "local", "tgt": "*", "fun": "test.sleep", "arg": [seconds], "timeout": 30}
    started = time.monotonic()
    assert client.run(chunk) == [{minion.id: True}]
    assert time.monotonic() - started >= seconds


def test_silent_minion_is_reported(stack):
    """A minion whose key is accepted but that never answers, beside one that does.

    To the master, an accepted key whose minion is not connected is what a stopped
    minion is: it is targeted, never returns and does not answer ``find_job``.
    """
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    (minion,) = stack.minions
    silent = random_string("silent-")
    (accepted,) = client.run({"client": "wheel", "fun": "key.gen_accept", "id_": silent})
    assert accepted["data"]["success"] is True, accepted
    try:
        chunk = {"client": "local", "tgt": "*", "fun": "test.ping", "timeout": 2}
        client.login(stack.credentials)  # this stack's tokens live TOKEN_EXPIRE seconds
        (default,) = client.run(chunk)  # Salt's LocalClient.cmd shape, as rest_cherrypy
        assert sorted(default) == sorted([minion.id, silent]) and default[minion.id] is True
        assert default[silent] is False or default[silent].startswith("Minion did not")
        client.login(stack.credentials)
        (report,) = client.run({**chunk, "report_missing": True})
        assert report["return"] == {minion.id: True} and report["missing"] == [silent]
        assert sorted(report["minions"]) == sorted([minion.id, silent])
        assert report["jid"].isdigit()
    finally:
        client.login(stack.credentials)
        client.run({"client": "wheel", "fun": "key.delete", "match": silent})


def test_listed_minion_that_does_not_exist_is_missing(stack):
    client = ApiClient(stack.url)
    (minion,) = stack.minions
    chunk = {"client": "local", "tgt": [minion.id, "no-such-minion"], "tgt_type": "list"}
    chunk.update(fun="test.ping", timeout=2)
    client.login(stack.credentials)  # this stack's tokens live TOKEN_EXPIRE seconds
    (salt_shape,) = client.run(chunk)
    assert set(salt_shape) == {minion.id, "no-such-minion"} and salt_shape[minion.id] is True
    assert salt_shape["no-such-minion"] is False or salt_shape["no-such-minion"].startswith(
        "Minion did not return"
    )
    client.login(stack.credentials)
    (report,) = client.run({**chunk, "report_missing": True})
    assert report["return"] == {minion.id: True} and report["missing"] == ["no-such-minion"]
    assert report["jid"].isdigit()


def test_master_down_is_503(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    stack.master.terminate()
    try:
        # rest_ext trusts a successful check that the master is reachable for
        # REACHABLE_TTL seconds: let one made by an earlier test's request lapse.
        time.sleep(REACHABLE_TTL)
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
