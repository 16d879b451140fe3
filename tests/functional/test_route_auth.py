"""Every route of the application answers 401 without credentials, unless allow-listed.

The routes are read from the Tornado router the server builds (``make_app``), with every
optional route switched on (WebSockets, static files, the app, the favicon), and each
handler is sent every HTTP method it implements. A route added without authentication
fails here until it is put on :data:`PUBLIC` with a reason.
"""

from tests.functional.route_walk import AssembledApp, route_patterns

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


class RouteWalk(AssembledApp):
    def answers(self):
        """{(method, pattern): status} for every method of every route."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return {
            (method, pattern.removesuffix("/?")): response.code
            for method, pattern, _, response in self.walk_routes(route_patterns(self._app), headers)
        }


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
