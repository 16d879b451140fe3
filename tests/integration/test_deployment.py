"""Deployment options through a real salt-api: static app, root_prefix, CORS,
TLS with a chain and Secure cookies, request body limit, log files without tokens."""

import http.client
import json
import socket
import ssl
import time

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from tests.support.certs import make_server_certs

pytestmark = [pytest.mark.integration]

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
GUI = "https://gui.example.com"
INDEX = "<!doctype html><title>salt gui</title><main id=app></main>"
JS = "console.log('salt gui');"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(INDEX)
    (root / "static" / "js").mkdir(parents=True)
    (root / "static" / "js" / "app.js").write_text(JS)
    (root / "favicon.ico").write_bytes(b"\x00\x00\x01\x00icon")
    (root / "secret.txt").write_text("not for the web")
    (root / "logs").mkdir()
    return root


@pytest.fixture(scope="module")
def web_api(site, salt_master, salt_minion, salt_minion_2, netapi_module):
    """A salt-api like SaltGUI's deployment: app, static files, a prefix, CORS, log files."""
    from salt_ext_rest.testing.saltapi import start_api

    conf = {
        "root_prefix": "/api",
        "app": str(site / "index.html"),
        "static": str(site / "static"),
        "favicon": str(site / "favicon.ico"),
        "cors_origin": [GUI],
        "log_access_file": str(site / "logs" / "access.log"),
        "log_error_file": str(site / "logs" / "error.log"),
    }
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


@pytest.fixture(scope="module")
def web(web_api):
    return f"{web_api.url}/api"


# -- single-page app, static files, favicon, root_prefix ------------------------------
def test_app_is_served_at_app_path_and_below(web):
    for path in ("/app", "/app/", "/app/minions/deep/link"):
        response = requests.get(f"{web}{path}", timeout=30)
        assert response.status_code == 200 and response.text == INDEX
        assert response.headers["Content-Type"].startswith("text/html")


def test_browser_navigation_gets_the_app_api_clients_get_json(web):
    page = requests.get(f"{web}/minions", headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert page.status_code == 200 and page.text == INDEX
    unknown = requests.get(f"{web}/no/such/page", headers={"Accept": "text/html"}, timeout=30)
    assert unknown.text == INDEX
    for accept in ("application/json", "*/*", "application/x-yaml", "text/html;q=0.5, */*"):
        api = requests.get(f"{web}/minions", headers={"Accept": accept}, timeout=30)
        assert api.status_code == 401, accept
    assert requests.get(f"{web}/", headers={"Accept": "*/*"}, timeout=30).json()["return"] == (
        "Welcome"
    )
    post = requests.post(f"{web}/login", headers={"Accept": BROWSER_ACCEPT}, json={}, timeout=30)
    # only GET is ever answered with the app; a login body without credentials is 401
    assert post.status_code == 401 and post.json()["status"] == 401


def test_static_files_with_validators_and_json_errors(web):
    response = requests.get(f"{web}/static/js/app.js", timeout=30)
    assert response.status_code == 200 and response.text == JS
    etag = response.headers["Etag"]
    again = requests.get(f"{web}/static/js/app.js", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    missing = requests.get(f"{web}/static/js/none.js", timeout=30)
    assert missing.status_code == 404 and missing.json()["status"] == 404
    favicon = requests.get(f"{web}/favicon.ico", timeout=30)
    assert favicon.content == b"\x00\x00\x01\x00icon"


def test_no_path_traversal_out_of_static(web_api):
    for path in ("/api/static/../secret.txt", "/api/static/%2e%2e/secret.txt"):
        conn = http.client.HTTPConnection("127.0.0.1", web_api.port, timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        assert response.status in (403, 404), (path, response.status)
        assert "not for the web" not in body


def test_everything_is_below_root_prefix(web_api, web, api_credentials):
    for path in ("/", "/login", "/app", "/static/js/app.js", "/favicon.ico", "/minions"):
        assert requests.get(f"{web_api.url}{path}", timeout=30).status_code == 404, path
    client = ApiClient(web)
    client.login(api_credentials)
    assert requests.get(web, timeout=30).json()["return"] == "Welcome"  # /api without slash
    response = client.post("/minions", json={"tgt": "minion-1", "fun": "test.ping"})
    assert response.status_code == 202
    (link,) = response.json()["_links"]["jobs"]
    assert link["href"].startswith("/api/jobs/")
    assert client.get(link["href"][len("/api") :]).status_code == 200


# -- CORS --------------------------------------------------------------------------
def test_cors_exact_origin_gets_credentials(web, api_credentials):
    response = requests.post(f"{web}/login", json=api_credentials, headers={"Origin": GUI})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == GUI
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Auth-Token" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]
    error = requests.get(f"{web}/stats", headers={"Origin": GUI}, timeout=30)
    assert error.status_code == 401  # errors stay readable by the allowed origin
    assert error.headers["Access-Control-Allow-Origin"] == GUI


def test_cors_other_origins_are_never_reflected(web):
    response = requests.get(f"{web}/", headers={"Origin": "https://evil.example"}, timeout=30)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


PREFLIGHTS = [
    ("/", "POST"),
    ("/login", "POST"),
    ("/logout", "POST"),
    ("/token", "POST"),
    ("/run", "POST"),
    ("/events", "GET"),
    ("/minions", "POST"),
    ("/minions/minion-1", "GET"),
    ("/jobs", "GET"),
    ("/jobs/20010101000000000000", "GET"),
    ("/keys", "POST"),
    ("/keys/minion-1", "GET"),
    ("/hook/a/b", "POST"),
    ("/stats", "GET"),
]


@pytest.mark.parametrize(("path", "method"), PREFLIGHTS)
def test_preflight_on_every_route(web, path, method):
    headers = {
        "Origin": GUI,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "x-auth-token, content-type",
        "Accept": "text/csv",  # never 406 on a preflight
    }
    response = requests.options(f"{web}{path}", headers=headers, timeout=30)
    assert response.status_code == 204, response.text
    assert response.headers["Access-Control-Allow-Origin"] == GUI
    assert "X-Auth-Token" in response.headers["Access-Control-Allow-Headers"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    methods = response.headers["Access-Control-Allow-Methods"]
    assert methods == response.headers["Allow"] and method in methods.split(", ")


def test_preflight_for_a_method_the_route_lacks_grants_nothing(web):
    headers = {"Origin": GUI, "Access-Control-Request-Method": "DELETE"}
    response = requests.options(f"{web}/jobs", headers=headers, timeout=30)
    assert response.status_code == 204 and response.headers["Allow"] == "GET, OPTIONS"
    assert "Access-Control-Allow-Methods" not in response.headers


def test_preflight_for_a_foreign_origin_grants_nothing(web):
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = requests.options(f"{web}/login", headers=headers, timeout=30)
    assert response.status_code == 204
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_no_cors_headers_unless_configured(api_url):
    response = requests.get(f"{api_url}/", headers={"Origin": GUI}, timeout=30)
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    headers = {"Origin": GUI, "Access-Control-Request-Method": "POST"}
    preflight = requests.options(f"{api_url}/", headers=headers, timeout=30)
    assert preflight.status_code == 204 and preflight.headers["Allow"] == "GET, POST, OPTIONS"
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


# -- log files -----------------------------------------------------------------------
def test_access_and_error_logs_without_tokens(web, site, api_credentials):
    client = ApiClient(web)
    token = client.login(api_credentials)["token"]
    assert client.get("/stats").status_code == 200
    requests.get(f"{web}/jobs?token={token}", timeout=30)
    requests.get(f"{web}/all_events/{token}", timeout=30)
    time.sleep(0.5)
    access = (site / "logs" / "access.log").read_text()
    errors = (site / "logs" / "error.log").read_text()
    assert " 200 GET /api/stats (127.0.0.1)" in access
    assert " 401 GET /api/jobs?token=<redacted>" in access
    assert "rest_ext: serving on http://127.0.0.1" in errors
    assert "200 GET /api/stats" not in errors  # access lines stay in the access log
    for text in (access, errors):
        assert token not in text and api_credentials["password"] not in text


# -- CORS "*", body size -----------------------------------------------------------
@pytest.fixture(scope="module")
def small_api(salt_master, netapi_module):
    from salt_ext_rest.testing.saltapi import start_api

    conf = {"cors_origin": "*", "max_request_body_size": 1024}
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


def test_cors_star_allows_any_origin_without_credentials(small_api):
    headers = {"Origin": "https://any.example", "Access-Control-Request-Method": "POST"}
    response = requests.options(f"{small_api.url}/login", headers=headers, timeout=30)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    plain = requests.get(f"{small_api.url}/", headers={"Origin": "https://any.example"})
    assert plain.headers["Access-Control-Allow-Origin"] == "*"


def test_body_over_the_limit_is_413(small_api):
    ping = {"client": "local", "tgt": "*", "fun": "test.ping"}
    small = requests.post(f"{small_api.url}/", json=[ping], timeout=30)
    assert small.status_code == 401  # within the limit: read, then authentication fails
    big = requests.post(f"{small_api.url}/", json=[{**ping, "pad": "x" * 2000}], timeout=30)
    assert big.status_code == 413 and big.json()["status"] == 413

    def chunked():
        yield json.dumps([{**ping, "pad": "x" * 600}]).encode()
        yield json.dumps([{**ping, "pad": "x" * 600}]).encode()

    streamed = requests.post(
        f"{small_api.url}/", data=chunked(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_oversized_chunked_body_never_reaches_the_handler(small_api, api_credentials):
    client = ApiClient(small_api.url)
    token = client.login(api_credentials)["token"]

    def chunks():
        yield b"{"
        yield b" " * 2000
        yield b"}"

    response = requests.post(
        f"{small_api.url}/logout",
        data=chunks(),
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    time.sleep(0.5)
    assert client.get("/stats").status_code == 200  # the token was not revoked


def test_413_comes_before_the_body_is_sent(small_api):
    with socket.create_connection(("127.0.0.1", small_api.port), timeout=10) as sock:
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        started = time.monotonic()
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413"), reply
    assert time.monotonic() - started < 5


# -- TLS ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_api(tmp_path_factory, salt_master, netapi_module):
    from salt_ext_rest.testing.saltapi import start_api

    certs = make_server_certs(tmp_path_factory.mktemp("tls"))
    conf = {
        "disable_ssl": False,
        "ssl_crt": str(certs.crt),
        "ssl_key": str(certs.key),
        "ssl_chain": str(certs.chain),
    }
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api, certs


def test_https_with_chain_and_secure_cookie(tls_api, api_credentials):
    api, certs = tls_api
    assert api.url.startswith("https://")
    # Only the root CA is trusted: the handshake needs the intermediate from ssl_chain.
    response = requests.post(
        f"{api.url}/login", json=api_credentials, verify=str(certs.root_ca), timeout=30
    )
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = response.json()["return"][0]["token"]
    stats = requests.get(
        f"{api.url}/stats", headers={"X-Auth-Token": token}, verify=str(certs.root_ca)
    )
    assert stats.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(api.url.replace("https://", "http://") + "/", timeout=10)


def test_ssl_chain_is_sent_to_a_client_trusting_only_the_root(tls_api):
    api, certs = tls_api
    assert certs.crt.read_text().count("BEGIN CERTIFICATE") == 1  # no intermediate in it
    client = ssl.create_default_context(cafile=str(certs.root_ca))
    with (
        socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock,
        client.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 200")
