"""rest_ext on every master of a real Salt master cluster, with Redis and HAProxy."""

import pytest

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MINIONS = {"minion-1", "minion-2"}


def test_login_on_a_runs_local_on_b(salt_cluster):
    a, b = ApiClient(salt_cluster.url(0)), ApiClient(salt_cluster.url(1))
    token = a.login(salt_cluster.credentials)["token"]
    b.http.headers["X-Auth-Token"] = token
    (ret,) = b.run({"client": "local", "tgt": "*", "fun": "test.ping"})
    assert ret == dict.fromkeys(MINIONS, True)
