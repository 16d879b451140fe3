"""/healthz and /readyz in-process on the stand-in gateway: shapes, details, access log.

The real master going away and coming back is in tests/integration/test_probes.py.
"""

import asyncio
import json
import logging
from unittest import mock

import pytest
from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import ConfigError, load_config
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.schemas import build_validator, load_schema
from salt_ext_rest.testing.gateway import STAND_IN_OPTS, StandInGateway

HEALTHZ = build_validator(load_schema("responses/healthz.json"))
READYZ = build_validator(load_schema("responses/readyz.json"))


def opts_with(**block):
    return {**STAND_IN_OPTS, "rest_ext": {**STAND_IN_OPTS["rest_ext"], **block}}


class ProbeTest(AsyncHTTPTestCase):
    block: dict = {}

    def get_app(self):
        opts = opts_with(**self.block)
        self.gateway = StandInGateway(opts)
        pm = make_plugin_manager(load_entry_points=False)
        self.context = build_context(opts, load_config(opts), pm=pm, gateway=self.gateway)
        return make_app(self.context)

    def get(self, path, headers=None):
        response = self.fetch(path, headers=headers or {}, raise_error=False)
        body = json.loads(response.body) if response.body else None
        return response, body

    def bus_up(self):
        """The worker's bus subscription running and connected (no master here)."""
        self.context.bus.connected.set()
        patcher = mock.patch.object(EventBus, "running", new_callable=mock.PropertyMock)
        patcher.start().return_value = True
        self.addCleanup(patcher.stop)

    def token(self):
        return self.io_loop.run_sync(self.gateway.login_token)


class HealthAndReadyTest(ProbeTest):
    def test_healthz_is_ok_without_credentials(self):
        response, body = self.get("/healthz")
        assert response.code == 200 and body == {"status": "ok"}
        assert response.headers["Content-Type"].startswith("application/json")
        HEALTHZ.validate(body)
        assert self.get("/healthz/")[0].code == 200

    def test_ready_when_every_check_passes(self):
        self.bus_up()
        response, body = self.get("/readyz")
        assert response.code == 200, body
        assert body == {"ready": True, "failing": []}
        assert "Retry-After" not in response.headers
        READYZ.validate(body)

    def test_not_ready_names_the_failing_check_and_details_need_a_token(self):
        response, body = self.get("/readyz")  # the bus subscription was never started
        assert response.code == 503
        assert body == {"ready": False, "failing": ["bus"]}
        assert response.headers["Retry-After"] == "1"
        READYZ.validate(body)
        bogus = {"X-Auth-Token": "ab" * 32}  # well-formed, unknown: no details, no 401
        assert self.get("/readyz", bogus)[1] == body
        response, body = self.get("/readyz", {"X-Auth-Token": self.token()})
        assert response.code == 503
        READYZ.validate(body)
        checks = body["checks"]
        assert set(checks) == {"master", "bus", "token_store"}
        assert checks["bus"]["ok"] is False and "not running" in checks["bus"]["detail"]
        assert checks["master"]["ok"] is True and checks["token_store"]["ok"] is True

    def test_a_session_cookie_also_gets_details(self):
        self.bus_up()
        response, body = self.get("/readyz", {"Cookie": f"session_id={self.token()}"})
        assert response.code == 200 and set(body["checks"]) == {"master", "bus", "token_store"}

    def test_master_and_token_store_failures(self):
        self.bus_up()

        async def refused():
            return False

        async def broken():
            raise OSError("disk full")

        self.gateway.master_reachable = refused
        self.gateway.probe_token_store = broken
        response, body = self.get("/readyz", {"X-Auth-Token": self.token()})
        assert response.code == 503 and body["failing"] == ["master", "token_store"]
        assert body["checks"]["token_store"]["detail"] == "disk full"
        assert "refuses connections" in body["checks"]["master"]["detail"]

    def test_only_get(self):
        response = self.fetch("/readyz", method="POST", body="{}", raise_error=False)
        assert response.code == 405


class AccessLogTest(ProbeTest):
    def test_probes_are_left_out_of_the_access_log(self):
        with self.assertLogs("salt_ext_rest.access", logging.INFO) as logs:
            self.get("/healthz")
            self.get("/readyz")
            self.get("/")
        assert len(logs.records) == 1 and "GET / " in logs.output[0]


class LoggedProbesTest(ProbeTest):
    block = {"log_probes": True, "root_prefix": "/api", "health_path": "/live/z"}

    def test_log_probes_and_paths_below_root_prefix(self):
        with self.assertLogs("salt_ext_rest.access", logging.INFO) as logs:
            assert self.get("/api/live/z")[0].code == 200
            assert self.get("/api/readyz")[0].code == 503
        assert len(logs.records) == 2
        assert self.get("/healthz")[0].code == 404
        assert self.get("/api/healthz")[0].code == 404


class SharedStoreCheckTest(ProbeTest):
    block = {"shared_store": "redis://127.0.0.1:1/0"}

    def test_the_shared_store_is_checked_only_when_configured(self):
        self.bus_up()
        response, body = self.get("/readyz", {"X-Auth-Token": self.token()})
        assert body["checks"]["shared_store"]["ok"] is True  # no failure seen yet
        self.context.shared.state.primary.link.health.failed(ConnectionError("refused"))
        self.io_loop.run_sync(lambda: asyncio.sleep(1.05))  # the last report ages
        response, body = self.get("/readyz", {"X-Auth-Token": self.token()})
        assert response.code == 503 and body["failing"] == ["shared_store"]
        assert "refused" in body["checks"]["shared_store"]["detail"]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"health_path": "/login"}, "'health_path'"),
        ({"ready_path": "/stats/ready"}, "'ready_path'"),
        ({"ready_path": "/healthz/"}, "must differ"),
        ({"health_path": "healthz"}, "health_path"),
        ({"webhook_url": "/readyz"}, "'webhook_url'"),
        ({"health_path": "/static"}, "'health_path'"),
        ({"probe_timeout": 0}, "probe_timeout"),
    ],
)
def test_probe_paths_that_overlap_are_refused(block, message):
    with pytest.raises(ConfigError, match=message):
        load_config(opts_with(**block))
