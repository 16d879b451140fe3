"""Every route of the application answers 401 without credentials, unless allow-listed.

The routes are read from the Tornado router the server builds (``make_app``), with every
optional route switched on (WebSockets, static files, the app, the favicon), and each
handler is sent every HTTP method it implements. A route added without authentication
fails here until it is put on :data:`PUBLIC` with a reason.
"""

import json
import os
import re
import shutil
import tempfile

import tornado.web
from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS as OPTS
from salt_ext_rest.testing.gateway import StandInGateway

#: (method, route pattern) → why it answers without credentials.
PUBLIC = {
    ("GET", "/"): "the API's landing page: names the clients, runs nothing",
    ("GET", "/login"): "tells a client how to log in",
    ("GET", "/healthz"): "liveness probe: {status: ok}, asks nothing of Salt",
    ("GET", "/readyz"): "readiness probe: check names only; details need a token",
    ("GET", "/openapi\\.json"): "the API's description (OpenAPI): no secret in it",
    ("GET", "/stream"): "the stream protocol authenticates in its first message",
    ("GET", "/app(?:/.*)?"): "the single-page app: a static file",
    ("HEAD", "/app(?:/.*)?"): "the single-page app: a static file",
    ("GET", "/static/(.*)"): "static files",
    ("HEAD", "/static/(.*)"): "static files",
    ("GET", "/favicon\\.ico"): "a static file",
    ("HEAD", "/favicon\\.ico"): "a static file",
}
#: Every method answers a CORS preflight without credentials (browsers send none).
ALWAYS_PUBLIC = {"OPTIONS"}

#: A concrete path segment for each capture group a route pattern uses.
SAMPLES = {
    "([0-9a-fA-F]{64})": "ab" * 32,  # a well-formed token no store knows
    "([^/]+)": "minion-1",
    "([0-9A-Za-z_.-]+)": "20260102030405060708",
    "(/.*)?": "/some/hook",
    "(?:/.*)?": "",
    "(.*)": "index.html",
}

#: A well-formed body for each POST, so that what decides the answer is authentication.
LOWSTATE = [{"client": "local", "tgt": "*", "fun": "test.ping"}]
BODIES = {"/minions": [{"tgt": "*", "fun": "test.ping"}], "/keys": {"mid": "minion-9"}}


def route_patterns(app):
    """(pattern, handler class) of every rule of the application's router."""
    return [
        (rule.matcher.regex.pattern.rstrip("$"), rule.target)
        for rule in app.wildcard_router.rules
    ]


def concrete_path(pattern):
    path = pattern[:-2] if pattern.endswith("/?") else pattern
    for group, sample in SAMPLES.items():
        path = path.replace(group, sample)
    path = path.replace("\\.", ".")
    assert not re.search(r"[()\[\]\\?*+$]", path), f"add a sample for a group of {pattern!r}"
    return path or "/"


def implemented_methods(handler):
    base = tornado.web.RequestHandler
    return [
        method
        for method in handler.SUPPORTED_METHODS
        if getattr(handler, method.lower(), None) is not getattr(base, method.lower())
    ]


def app_options(directory, **extra):
    index = os.path.join(directory, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write("<html></html>")
    block = {
        **OPTS["rest_ext"],
        "websockets": True,
        "static": directory,
        "app": index,
        "favicon": index,
        **extra,
    }
    # Every client enabled: a disabled one is refused (400) before authentication.
    clients = list(NON_SSH_CLIENTS)
    return {**OPTS, "netapi_enable_clients": clients, "pki_dir": directory, "rest_ext": block}


class RouteWalk(AsyncHTTPTestCase):
    extra: dict = {}

    def get_app(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        opts = app_options(directory, **self.extra)
        pm = make_plugin_manager(load_entry_points=False)
        context = build_context(opts, load_config(opts), pm=pm, gateway=StandInGateway(opts))
        return make_app(context)

    def answers(self):
        """{(method, pattern): status} for every method of every route."""
        found = {}
        for pattern, handler in route_patterns(self._app):
            path = concrete_path(pattern)
            for method in implemented_methods(handler):
                body = None
                if method in ("POST", "PUT", "PATCH"):
                    body = json.dumps(BODIES.get(pattern.removesuffix("/?"), LOWSTATE))
                response = self.fetch(
                    path,
                    method=method,
                    body=body,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    raise_error=False,
                    allow_nonstandard_methods=True,
                    follow_redirects=False,
                )
                found[(method, pattern.removesuffix("/?"))] = response.code
        return found


def open_routes(answers: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The (method, route) pairs that answered without 401 and are not allow-listed."""
    return {
        route: status
        for route, status in answers.items()
        if status != 401 and route[0] not in ALWAYS_PUBLIC and route not in PUBLIC
    }


class RouteAuthTest(RouteWalk):
    def test_every_route_needs_credentials_unless_allow_listed(self):
        answers = self.answers()
        # The walk reached the routes that matter (a broken walk would prove nothing).
        assert {"/", "/run", "/minions", "/jobs", "/keys", "/events", "/stream"} <= {
            pattern for _, pattern in answers
        }
        assert open_routes(answers) == {}
        assert set(PUBLIC) - set(answers) == set(), "allow-list entries that match no route"

    def test_allow_listed_routes_answer_without_credentials(self):
        answers = self.answers()
        public = {route: answers[route] for route in PUBLIC}
        assert 401 not in public.values(), public
        assert {answers[r] for r in answers if r[0] in ALWAYS_PUBLIC} - {200, 204} == set()


class OpenWebhookAndStatsTest(RouteWalk):
    extra = {"webhook_disable_auth": True, "stats_disable_auth": True}

    def test_webhook_and_stats_are_open_only_when_configured(self):
        answers = self.answers()
        assert answers[("POST", "/hook(/.*)?")] != 401
        assert answers[("GET", "/stats")] != 401
        assert answers[("POST", "/run")] == 401
