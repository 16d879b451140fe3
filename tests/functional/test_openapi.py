"""``GET /openapi.json`` on the assembled application (no daemons): every route of the
router, every method its handler implements, is documented, and what each answers,
with and without a token, matches the document."""

import json

from salt_ext_rest.openapi.paths import templates
from salt_ext_rest.testing.openapi_check import ResponseChecker
from tests.functional.route_walk import AssembledApp, implemented_methods, route_patterns


class OpenApiWalk(AssembledApp):
    def document(self):
        response = self.fetch("/openapi.json")
        assert response.code == 200, response.body
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.body)

    def walk(self, token=None):
        """(method, path, response) for every method of every route (streams skipped)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        # /logout last: it revokes the token; /events: an endless stream once authenticated
        table = sorted(route_patterns(self._app), key=lambda r: r[0].startswith("/logout"))
        table = [
            (pattern, handler) for pattern, handler in table if not pattern.startswith("/events")
        ]
        for method, _, path, response in self.walk_routes(table, headers):
            yield method, path, response

    def problems(self, checker, token=None):
        found = []
        for method, path, response in self.walk(token):
            media = response.headers.get("Content-Type", "").split(";")[0]
            body = None if method == "HEAD" else response.body
            found += checker.check(method, path, response.code, media, body)
        return found

    def test_every_route_and_method_is_documented(self):
        document = self.document()
        for pattern, handler in route_patterns(self._app):
            spec_paths = [t.path for t in templates(pattern, ["p"] * 4)]
            assert spec_paths, pattern
            for method in implemented_methods(handler):
                documented = [
                    p
                    for p in document["paths"].values()
                    if method.lower() in p and not p.get("x-undocumented")
                ]
                assert documented, (method, pattern)
        assert not [p for p, item in document["paths"].items() if item.get("x-undocumented")]

    def test_answers_without_credentials_match_the_document(self):
        checker = ResponseChecker(self.document())
        statuses = {response.code for _, _, response in self.walk()}
        assert {200, 204, 401} <= statuses, statuses
        assert self.problems(checker) == []

    def test_answers_with_a_token_match_the_document(self):
        token = self.io_loop.run_sync(self.gateway.login_token)
        checker = ResponseChecker(self.document())
        statuses = {response.code for _, _, response in self.walk(token)}
        assert {200, 202} <= statuses  # the walk got past authentication
        assert self.problems(checker, token) == []

    def test_a_wrong_answer_is_reported(self):
        """The checker can fail: a body missing a key, an undocumented status."""
        checker = ResponseChecker(self.document())
        assert checker.check("GET", "/", 200, "application/json", b'{"return": "Welcome"}')
        assert checker.check("GET", "/", 418, "application/json", b"{}")
        assert checker.check("GET", "/", 200, "text/html", b"<p>")
        good = json.dumps({"return": "Welcome", "clients": ["local"]}).encode()
        assert checker.check("GET", "/", 200, "application/json", good) == []
