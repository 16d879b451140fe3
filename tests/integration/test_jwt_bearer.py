"""OIDC/JWT bearer tokens through a real salt-api: only a token passing every check works.

The test signs tokens with an RSA key generated here and serves the JWKS from a local
HTTP server. The identities' ACLs are the session master's ``external_auth: rest_ext:``
entries (``oidc-alice``: ``test.*`` on minion-1; ``oidc-ops%``: ``test.*`` on minion-2),
enforced by the master like any eauth user's.
"""

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.config import JWT_GROUP, JWT_USER

pytestmark = [pytest.mark.integration]

ISSUER = "https://idp.example.test"
AUDIENCE = "salt-api"
PING = {"client": "local", "tgt": "minion-1", "fun": "test.ping"}


def new_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key():
    return new_rsa()


@pytest.fixture(scope="module")
def jwks_url(signing_key):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def claims(**changes):
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": JWT_USER, "iat": now, "nbf": now - 5}
    return {**base, "exp": now + 300, **changes}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(key, payload):
    """HS256 signed with the issuer's *public* key as the HMAC secret (key confusion)."""
    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    signing_input = f"{head}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def alg_none(payload):
    head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    return f"{head}.{b64(json.dumps(payload).encode())}."


@pytest.fixture
def jwt_api(start_extra_api, jwks_url, salt_api):
    """A salt-api accepting JWTs, on the session master (both minions up)."""
    conf = {"jwt_jwks": jwks_url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    with start_extra_api(conf) as api:
        yield api.url


def bearer(url, token):
    client = ApiClient(url)
    client.http.headers["Authorization"] = f"Bearer {token}"
    return client


def test_only_a_valid_token_passes(jwt_api, signing_key):
    def signed(key=signing_key, kid="k1", **changes):
        return jwt.encode(claims(**changes), key, algorithm="RS256", headers={"kid": kid})

    refused = {
        "expired": signed(exp=int(time.time()) - 120),
        "not yet valid": signed(nbf=int(time.time()) + 600),
        "wrong audience": signed(aud="another-api"),
        "wrong issuer": signed(iss="https://evil.example.test"),
        "unknown kid": signed(key=new_rsa(), kid="k-unknown"),
        "foreign key, known kid": signed(key=new_rsa()),
        "alg none": alg_none(claims()),
        "HS256 with the public key": hs256_with_public_key(signing_key, claims()),
    }
    for case, token in refused.items():
        response = bearer(jwt_api, token).get("/me")
        assert response.status_code == 401, (case, response.text)
        assert token not in response.text

    valid = bearer(jwt_api, signed())
    me = valid.get("/me").json()["return"]
    assert me["name"] == JWT_USER and me["backend"] == "jwt" and me["eauth"] == "rest_ext"
    assert me["permissions"] == [{"minion-1": ["test.*"]}]
    assert valid.run(PING) == [{"minion-1": True}]
    valid.run({**PING, "fun": "cmd.run", "arg": ["id"]}, expect=403)
    valid.run({**PING, "tgt": "minion-2"}, expect=403)
    # X-Auth-Token carries a JWT as well
    assert ApiClient(jwt_api, token=signed()).run(PING) == [{"minion-1": True}]
    # a JWT identity may create API keys within its own ACL
    narrower = {"name": "from-sso", "scopes": [{"minion-1": ["test.ping"]}]}
    created = valid.post("/apikeys", json=narrower)
    assert created.status_code == 201, created.text
    broader = {"name": "too-wide", "scopes": [{"minion-2": ["test.ping"]}]}
    assert valid.post("/apikeys", json=broader).status_code == 403
    assert valid.request("DELETE", f"/apikeys/{created.json()['return']['id']}").status_code == 200


def test_groups_come_from_the_claims(jwt_api, signing_key):
    token = jwt.encode(
        claims(sub="oidc-bob", groups=[JWT_GROUP]),
        signing_key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    client = bearer(jwt_api, token)
    me = client.get("/me").json()["return"]
    assert me["name"] == "oidc-bob" and me["groups"] == [JWT_GROUP]
    assert client.run({**PING, "tgt": "minion-2"}) == [{"minion-2": True}]
    client.run(PING, expect=403)  # minion-1 is oidc-alice's, not the group's
    nobody = jwt.encode(claims(sub="oidc-nobody"), signing_key, "RS256", headers={"kid": "k1"})
    assert bearer(jwt_api, nobody).get("/me").status_code == 403  # external_auth: nothing
