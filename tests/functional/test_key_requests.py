"""``POST /keys`` request checks in-process, with the stand-in gateway instead of Salt.

Every malformed field is refused with 400 naming it, before any credential is looked
up and before a key is generated. tests/integration/test_acl_arguments.py sends a few
of these through a real salt-api.
"""

import json

from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS, StandInGateway

OPTS = {
    **STAND_IN_OPTS,
    "netapi_enable_clients": ["local", "runner", "wheel"],
    "pki_dir": "/nonexistent/pki",  # minion ids are checked against it, as paths
}
CREDENTIALS = {"username": "u", "password": "good", "eauth": "auto"}


class KeysGateway(StandInGateway):
    """Allows every call (ACLs are Salt's: integration tests) and records key generation."""

    def __init__(self, opts):
        super().__init__(opts)
        self.generated = []

    async def allowed(self, identity, chunk, form=None):
        return True

    async def gen_accept(self, mid, keysize, force):
        self.generated.append((mid, keysize, force))
        return {"pub": "public", "priv": "private"}


class KeyRequestTest(AsyncHTTPTestCase):
    def get_app(self):
        self.gateway = KeysGateway(OPTS)
        pm = make_plugin_manager(load_entry_points=False)
        context = build_context(OPTS, load_config(OPTS), pm=pm, gateway=self.gateway)
        return make_app(context)

    def post_keys(self, body):
        response = self.fetch(
            "/keys",
            method="POST",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            raise_error=False,
        )
        return response.code, json.loads(response.body) if response.body else None

    def test_credentials_must_be_strings(self):
        for key in ("username", "password", "eauth", "token"):
            for value in (["x"], {"x": 1}, 7):
                with self.subTest(key=key, value=value):
                    code, body = self.post_keys({"mid": "typed-creds", **CREDENTIALS, key: value})
                    assert code == 400, body
                    assert body["path"] == f"$.{key}"
        assert self.gateway.lookups == [] and self.gateway.generated == []

    def test_keysize_is_capped(self):
        for keysize in (1024, 4097, 8192, "big", "-2048", ""):
            with self.subTest(keysize=keysize):
                code, body = self.post_keys({"mid": "big", "keysize": keysize, **CREDENTIALS})
                assert code == 400, body
                assert body["path"] == "$.keysize"
        assert self.gateway.generated == []

    def test_a_well_formed_request_reaches_key_generation(self):
        """The control: the same requests with good fields do generate a key."""
        response = self.fetch(
            "/keys",
            method="POST",
            body=json.dumps({"mid": "web-1", "keysize": 4096, **CREDENTIALS}),
            headers={"Content-Type": "application/json"},
            raise_error=False,
        )
        assert response.code == 200, response.body
        assert self.gateway.generated == [("web-1", 4096, False)]
