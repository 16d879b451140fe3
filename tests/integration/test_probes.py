"""/healthz and /readyz through a real salt-api while its master stops and starts again.

The module has its own master (it is stopped here), never the session's.
"""

import pathlib
import time

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.redis import RedisServer, require_redis_server
from tests.support.processes import frozen

pytestmark = [pytest.mark.integration]

#: the issue's "within a few seconds": probe_timeout (2 s) plus the 1 s report age
TURNS_503_WITHIN = 6.0
READY_AGAIN_WITHIN = 90.0


@pytest.fixture(scope="module")
def stack(salt_stack_factory):
    with salt_stack_factory({}, minion_count=0) as running:
        yield running


def wait_for_status(client, path, status, timeout):
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path, timeout=10)
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, (path, response.status_code, response.text)
        time.sleep(0.2)


def probe_entries(stack):
    tokens = pathlib.Path(stack.master.config["cachedir"]) / "tokens"
    return sorted(p.name for p in tokens.rglob("*rest_ext-readiness-*")) if tokens.exists() else []


def test_ready_not_ready_and_ready_again_without_restarting_salt_api(stack):
    anonymous, admin = ApiClient(stack.url), ApiClient(stack.url)
    admin.login(stack.credentials)
    ready = wait_for_status(anonymous, "/readyz", 200, 30).json()
    assert ready == {"ready": True, "failing": []}  # no details without a token
    checks = admin.get("/readyz").json()["checks"]
    assert set(checks) == {"master", "bus", "token_store"}
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["master"]["detail"] == "request channel answered"
    assert probe_entries(stack) == []  # the token-store probe leaves nothing behind
    api_pid = stack.api.pid

    stack.master.terminate()
    try:
        stopped = time.monotonic()
        response = wait_for_status(anonymous, "/readyz", 503, TURNS_503_WITHIN)
        assert time.monotonic() - stopped < TURNS_503_WITHIN
        body = response.json()
        assert "master" in body["failing"] and "checks" not in body
        assert int(response.headers["Retry-After"]) >= 1
        details = admin.get("/readyz").json()
        assert details["checks"]["master"]["ok"] is False, details
        assert details["checks"]["token_store"]["ok"] is True  # the store is the cachedir
        took = []
        for _ in range(20):  # liveness does not depend on the master, and stays fast
            health = anonymous.get("/healthz", timeout=5)
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            took.append(health.elapsed.total_seconds())
        assert sorted(took)[len(took) // 2] < 0.05, took  # median, wall clock, busy machine
    finally:
        stack.master.start()

    back = wait_for_status(anonymous, "/readyz", 200, READY_AGAIN_WITHIN).json()
    assert back == {"ready": True, "failing": []}
    checks = admin.get("/readyz").json()["checks"]
    assert all(check["ok"] for check in checks.values()), checks
    assert stack.api.pid == api_pid  # the same salt-api throughout


def test_a_hung_master_is_not_ready_although_its_port_takes_connections(stack):
    """SIGSTOP freezes every master process: the kernel still accepts connections on
    ret_port, but no master worker answers the request channel's ping."""
    admin = ApiClient(stack.url)
    admin.login(stack.credentials)
    wait_for_status(admin, "/readyz", 200, READY_AGAIN_WITHIN)
    with frozen(stack.master.pid):
        response = wait_for_status(admin, "/readyz", 503, TURNS_503_WITHIN + 2)
        body = response.json()
        assert body["failing"] == ["master"], body  # bus and token store are fine
        assert "within" in body["checks"]["master"]["detail"], body
        assert admin.get("/healthz", timeout=5).status_code == 200
    wait_for_status(admin, "/readyz", 200, READY_AGAIN_WITHIN)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A redis-server of this module's own: it is stopped here."""
    require_redis_server()
    with RedisServer(tmp_path_factory.mktemp("probes-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def redis_stack(salt_stack_factory, redis):
    with salt_stack_factory({"rest_ext": {"shared_store": redis.url}}, minion_count=0) as running:
        yield running


def test_a_redis_outage_fails_the_shared_store_check_only(redis_stack, redis):
    admin = ApiClient(redis_stack.url)
    admin.login(redis_stack.credentials)
    checks = wait_for_status(admin, "/readyz", 200, 30).json()["checks"]
    assert set(checks) == {"master", "bus", "token_store", "shared_store"}
    redis.stop()
    try:
        # the worker's heartbeat (every second) notices, the report is at most 1 s old
        body = wait_for_status(admin, "/readyz", 503, TURNS_503_WITHIN).json()
        assert body["failing"] == ["shared_store"], body
        assert body["checks"]["shared_store"]["detail"].startswith("unavailable")
        assert admin.get("/healthz").status_code == 200
    finally:
        redis.start()
    wait_for_status(admin, "/readyz", 200, 30)
