"""Client certificates (mTLS) through a real salt-api: a certificate from ``ssl_client_ca``
names the Salt user; expired and foreign certificates fail the TLS handshake."""

import pytest
import requests

from salt_ext_rest.testing.config import CERT_USER
from tests.support.certs import make_client_certs, make_server_certs

pytestmark = [pytest.mark.integration]

PING = {"client": "local", "tgt": "minion-1", "fun": "test.ping"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mtls")
    return make_server_certs(directory), make_client_certs(directory, CERT_USER)


@pytest.fixture
def mtls_api(start_extra_api, certs, salt_api):
    server, client = certs
    conf = {
        "disable_ssl": False,
        "ssl_crt": str(server.crt),
        "ssl_key": str(server.key),
        "ssl_chain": str(server.chain),
        "ssl_client_ca": client.ca,
        "client_cert_auth": "optional",
    }
    with start_extra_api(conf) as api:
        yield api.url, server, client


def test_a_client_certificate_is_an_identity(mtls_api, api_credentials):
    url, server, client = mtls_api

    def call(method, path, cert=client.valid, **kwargs):
        return requests.request(
            method, url + path, cert=cert, verify=str(server.root_ca), timeout=60, **kwargs
        )

    me = call("GET", "/me").json()["return"]
    assert me["name"] == CERT_USER and me["backend"] == "client-cert"
    assert me["eauth"] == "rest_ext" and me["permissions"] == [{"minion-1": ["test.*"]}]
    assert call("POST", "/", json=[PING]).json()["return"] == [{"minion-1": True}]
    assert call("POST", "/", json=[{**PING, "tgt": "minion-2"}]).status_code == 403
    assert call("POST", "/", json=[{**PING, "fun": "cmd.run", "arg": ["id"]}]).status_code == 403
    # optional: no certificate is no identity, other credentials still work
    assert call("GET", "/me", cert=None).status_code == 401
    token = call("POST", "/login", cert=None, json=api_credentials).json()["return"][0]["token"]
    other = call("GET", "/me", headers={"X-Auth-Token": token}).json()["return"]
    assert other["name"] == "saltdev"  # sent credentials win over the certificate
    for refused in (client.expired, client.foreign):
        with pytest.raises(requests.exceptions.SSLError):
            call("GET", "/me", cert=refused)
