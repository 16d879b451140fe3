"""``GET /metrics`` in-process (stand-in gateway): access control, route labels, counts.

The same code runs in salt-api (tests/integration/test_metrics.py drives it there,
with several workers).
"""

import json
import os
import tempfile
from unittest import mock

from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families
from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.operations import metrics
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS, StandInGateway


def samples(text):
    """{(sample name, sorted labels): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


class MetricsBase(AsyncHTTPTestCase):
    extra: dict = {}

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        block = {**STAND_IN_OPTS["rest_ext"], **self.extra}
        self.opts = {**STAND_IN_OPTS, "sock_dir": self.tmp.name, "rest_ext": block}
        directory = metrics.metrics_directory(self.opts, block["port"])
        # as the server does before it starts the workers (restored after the test)
        self.patches = [
            mock.patch.dict(os.environ, {metrics.ENV: metrics.prepare_directory(directory)}),
            mock.patch.object(values, "ValueClass", values.ValueClass),
        ]
        for patch in self.patches:
            patch.start()
        super().setUp()

    def tearDown(self):
        super().tearDown()
        for patch in reversed(self.patches):
            patch.stop()
        self.tmp.cleanup()

    def get_app(self):
        self.gateway = StandInGateway(self.opts)
        pm = make_plugin_manager(load_entry_points=False)
        config = load_config(self.opts)
        self.context = build_context(self.opts, config, pm=pm, gateway=self.gateway)
        return make_app(self.context)

    def request(self, path, method="GET", body=None, headers=None):
        return self.fetch(path, method=method, body=body, headers=headers or {}, raise_error=False)

    def login(self, password="good"):
        body = json.dumps({"username": "u", "password": password, "eauth": "auto"})
        return self.request("/login", "POST", body, {"Content-Type": "application/json"})

    def scrape(self, token=None):
        response = self.request("/metrics", headers={"X-Auth-Token": token} if token else {})
        assert response.code == 200, response.body
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return samples(response.body.decode())


class TokenAccessTest(MetricsBase):
    def test_refused_without_a_valid_token_as_a_json_error(self):
        for headers in ({}, {"X-Auth-Token": "a" * 64}):
            response = self.request("/metrics", headers={"Accept": "text/plain", **headers})
            assert response.code == 401
            body = json.loads(response.body)
            assert body["status"] == 401 and "Traceback" not in response.body.decode()

    def test_requests_logins_and_chunks_are_counted(self):
        assert self.login("bad").code == 401
        token = json.loads(self.login().body)["return"][0]["token"]
        before = self.scrape(token)
        chunk = json.dumps({"client": "local", "tgt": "*", "fun": "test.ping"})
        headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
        for _ in range(3):
            assert self.request("/", "POST", chunk, headers).code == 200
        assert self.request("/no/such/thing", headers=headers).code == 404
        after = self.scrape(token)

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        requests = "rest_ext_http_requests_total"
        assert moved(requests, route="/", method="POST", status="200") == 3
        assert moved(requests, route="(unmatched)", method="GET", status="404") == 1
        # the first scrape is counted once it finished: seen by the second
        assert moved(requests, route="/metrics/?", method="GET", status="200") == 1
        duration = "rest_ext_http_request_duration_seconds_count"
        assert moved(duration, route="/", method="POST") == 3
        chunks = "rest_ext_lowstate_chunks_total"
        assert moved(chunks, client="local", outcome="ok") == 3
        # the stand-in echoes chunks back: no jid, no job
        assert moved("rest_ext_jobs_published_total", client="local") == 0
        auth = "rest_ext_auth_results_total"
        assert value(before, auth, backend="salt-eauth", result="rejected") == 1
        assert value(before, auth, backend="salt-eauth", result="ok") == 1
        assert moved(auth, backend="salt-token", result="ok") == 4  # 3 runs and a scrape
        assert value(after, "rest_ext_workers") == 1


class OpenAccessTest(MetricsBase):
    extra = {"metrics_access": "open", "metrics_path": "/ops/metrics"}

    def test_open_scrape_at_the_configured_path(self):
        assert self.request("/metrics").code == 404
        response = self.request("/ops/metrics/")
        assert response.code == 200
        assert b"# TYPE rest_ext_http_requests_total counter" in response.body


class AddressAccessTest(MetricsBase):
    extra = {"metrics_access": "addresses", "metrics_allow": ["192.0.2.0/24"]}

    def test_an_address_outside_the_list_gets_403_even_with_a_token(self):
        token = json.loads(self.login().body)["return"][0]["token"]
        response = self.request("/metrics", headers={"X-Auth-Token": token})
        assert response.code == 403
        assert json.loads(response.body)["status"] == 403


class LoopbackAllowedTest(MetricsBase):
    extra = {"metrics_access": "addresses", "metrics_allow": ["127.0.0.0/8", "::1"]}

    def test_an_address_inside_the_list_scrapes_without_a_token(self):
        assert "rest_ext_workers" in {name for name, _ in self.scrape()}


class MetricsOffTest(MetricsBase):
    extra = {"metrics": False}

    def test_no_route_and_no_metrics(self):
        assert self.request("/metrics").code == 404
        assert not self.context.metrics.enabled
