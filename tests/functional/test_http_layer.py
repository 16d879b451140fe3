"""The HTTP layer in-process, without Salt daemons: a stand-in gateway replaces Salt.

What needs a master, minions and salt-api is in tests/integration; these tests pin
down request handling that does not: negotiation, body limits, token pre-checks,
cookies and error bodies.
"""

import json

from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS as OPTS
from salt_ext_rest.testing.gateway import StandInGateway


class HttpLayerTest(AsyncHTTPTestCase):
    def get_app(self):
        self.gateway = StandInGateway(OPTS)
        pm = make_plugin_manager(load_entry_points=False)
        self.context = build_context(OPTS, load_config(OPTS), pm=pm, gateway=self.gateway)
        return make_app(self.context)

    def request(self, path, method="GET", body=None, headers=None):
        return self.fetch(path, method=method, body=body, headers=headers or {}, raise_error=False)

    def login(self):
        body = json.dumps({"username": "u", "password": "good", "eauth": "auto"})
        response = self.request("/login", "POST", body, {"Content-Type": "application/json"})
        assert response.code == 200, response.body
        return json.loads(response.body)["return"][0]["token"], response

    def test_login_sets_token_header_and_hardened_cookie(self):
        token, response = self.login()
        assert response.headers["X-Auth-Token"] == token
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    def test_lowstate_reaches_salt_with_the_token_and_no_password(self):
        token, _ = self.login()
        chunk = {"client": "local", "tgt": "*", "fun": "test.ping", "password": "x"}
        response = self.request(
            "/",
            "POST",
            json.dumps(chunk),
            {"X-Auth-Token": token, "Content-Type": "application/json"},
        )
        assert json.loads(response.body) == {"return": [{"echo": "test.ping"}]}
        (sent,) = self.gateway.chunks
        assert sent["token"] == token and "password" not in sent

    def test_malformed_tokens_never_reach_the_token_store(self):
        for token in ("../../x", "a" * 63, "z" * 64, "' OR 1=1"):
            response = self.request("/", "POST", "{}", {"X-Auth-Token": token})
            assert response.code in (400, 401)
        chunk = json.dumps({"client": "local", "tgt": "*", "fun": "test.ping"})
        for token in ("../../x", "a" * 63):
            headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
            response = self.request("/", "POST", chunk, headers)
            assert response.code == 401
            assert response.headers["WWW-Authenticate"] == "Session"
        assert self.gateway.lookups == []

    def test_406_is_decided_before_the_body_or_credentials(self):
        keep = {"Connection": "keep-alive"}  # Tornado's test client asks for close otherwise
        response = self.request("/", "POST", "not even json", {"Accept": "text/csv", **keep})
        assert response.code == 406
        assert self.gateway.chunks == [] and self.gateway.lookups == []
        # the body was never read: the server closes the connection and says so
        assert response.headers["Connection"] == "close"

    def test_errors_after_the_body_was_read_keep_the_connection(self):
        chunk = json.dumps({"client": "local", "tgt": "*", "fun": "test.ping"})
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        response = self.request("/", "POST", chunk, headers)
        assert response.code == 401
        assert response.headers.get("Connection") != "close"

    def test_declared_oversized_body_is_refused_with_413(self):
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        response = self.request("/", "POST", "x" * 4096, headers)
        assert response.code == 413
        assert json.loads(response.body)["status"] == 413
        assert response.headers["Connection"] == "close"

    def test_yaml_errors_when_yaml_is_asked_for(self):
        response = self.request("/nowhere", headers={"Accept": "application/x-yaml"})
        assert response.code == 404
        assert response.headers["Content-Type"] == "application/x-yaml"
        assert b"status: 404" in response.body

    def test_disabled_client_refused_before_authentication(self):
        chunk = json.dumps({"client": "wheel", "fun": "key.list_all"})
        response = self.request("/", "POST", chunk, {"Content-Type": "application/json"})
        assert response.code == 400
        assert b"Client disabled: 'wheel'" in response.body

    def test_logout_revokes(self):
        token, _ = self.login()
        assert self.request("/logout", "POST", "", {"X-Auth-Token": token}).code == 200
        assert token not in self.gateway.tokens
        assert self.request("/logout", "POST", "", {"X-Auth-Token": token}).code == 401

    def test_run_revokes_the_token_it_minted_for_inline_credentials(self):
        chunk = {
            "client": "local",
            "tgt": "*",
            "fun": "test.ping",
            "username": "u",
            "password": "good",
            "eauth": "auto",
        }
        response = self.request(
            "/run", "POST", json.dumps([chunk]), {"Content-Type": "application/json"}
        )
        assert response.code == 200
        assert self.gateway.tokens == {}
