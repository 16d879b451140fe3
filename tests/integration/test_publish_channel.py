"""Jobs are published through each worker's one request channel (backend/publisher.py;
closed after a while unused, built again for the next publish): a master that hangs
mid-way, or restarts, gives a clear 503 within the publish timeout, never a hang, and
the same salt-api publishes again after.

The module has its own master (it is frozen and restarted here), never the session's.
"""

import time

import pytest

from salt_ext_rest.testing.api import ApiClient
from tests.support.processes import frozen

pytestmark = [pytest.mark.integration]

#: the chunk's ``timeout``: also the publish's (Salt's LocalClient.pub takes it so)
PUBLISH_TIMEOUT = 3
#: the publish timeout, and a margin for a busy machine
ANSWERED_WITHIN = PUBLISH_TIMEOUT + 5
BACK_WITHIN = 90.0


@pytest.fixture(scope="module")
def stack(salt_stack_factory):
    with salt_stack_factory({}) as running:
        yield running


@pytest.fixture
def api(stack):
    client = ApiClient(stack.url)
    client.login(stack.credentials)
    return client


def ping(stack, **extra):
    return {"client": "local", "tgt": stack.minions[0].id, "fun": "test.ping", **extra}


RUNNER = {"client": "runner", "fun": "test.arg", "arg": ["a"], "kwarg": {"k": "v"}}


def wait_until_jobs_run(api, stack):
    deadline = time.monotonic() + BACK_WITHIN
    while True:
        response = api.post("/", json=[ping(stack, timeout=10)], timeout=30)
        if response.status_code == 200 and response.json()["return"] == [
            {stack.minions[0].id: True}
        ]:
            return
        assert time.monotonic() < deadline, (response.status_code, response.text)
        time.sleep(1)


def test_a_master_hung_mid_way_answers_503_within_the_publish_timeout(api, stack):
    """SIGSTOP after a job ran: the worker's channel is connected and the master's port
    still takes connections (so the reachability check passes), but nobody answers."""
    (first,) = api.run(ping(stack))
    assert first == {stack.minions[0].id: True}
    with frozen(stack.master.pid):
        for chunk in (ping(stack, timeout=PUBLISH_TIMEOUT), {**RUNNER, "timeout": 3}):
            started = time.monotonic()
            response = api.post("/", json=[chunk], timeout=60)
            took = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["message"].startswith("The Salt master"), response.text
            assert "Traceback" not in response.text
            assert took < ANSWERED_WITHIN, (chunk["client"], took)
    wait_until_jobs_run(api, stack)
    (ret,) = api.run(RUNNER)
    assert ret["args"] == ["a"] and ret["kwargs"]["k"] == "v"


def test_the_same_salt_api_publishes_again_after_the_master_restarts(api, stack):
    (first,) = api.run(ping(stack))
    assert first == {stack.minions[0].id: True}
    api_pid = stack.api.pid
    stack.master.terminate()
    stack.master.start()
    wait_until_jobs_run(api, stack)
    (ret,) = api.run(RUNNER)
    assert ret["args"] == ["a"] and ret["kwargs"]["k"] == "v"
    assert stack.api.pid == api_pid
