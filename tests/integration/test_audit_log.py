"""The audit log through a real salt-api: exactly the expected lines for a login, a
failed login, a denied chunk, an allowed job and a logout (no token, no password in
the file); the file reopened after logrotate moved it; X-Request-ID echoed or generated,
in the access log too."""

import json
import re
import socket
import time

import pytest
import requests

from salt_ext_rest.operations.audit import session_id
from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
COMMON = {"time", "event", "outcome", "request_id", "address", "worker"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("audit-logs")


@pytest.fixture(scope="module")
def audit_api(logs, salt_master, salt_minion, salt_minion_2, netapi_module):
    from salt_ext_rest.testing.saltapi import start_api

    conf = {
        "audit_log_file": str(logs / "audit.log"),
        "log_access_file": str(logs / "access.log"),
        "websockets": True,
    }
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


def read_lines(path, count, prefix="", timeout=15.0):
    """The file's lines once ``count`` of them have a request id starting with
    ``prefix`` (a writer thread writes them every 50 ms)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            if sum(str(x["request_id"]).startswith(prefix) for x in lines) >= count:
                break
        time.sleep(0.05)
    return lines


def tagged(client, request_id):
    client.http.headers["X-Request-ID"] = request_id
    return client


def test_api_key_created_used_and_revoked(audit_api, logs, api_credentials):
    """An API key's life: created (its public record, never the secret), a chunk run
    with it (``backend: api-key``), revoked (with how many Salt tokens ended)."""
    path = logs / "audit.log"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    admin = tagged(ApiClient(audit_api.url), "t6-login")
    admin.login(api_credentials)
    scopes = [{"minion-1": ["test.*"]}]
    created = tagged(admin, "t6-create").post("/apikeys", json={"name": "ci", "scopes": scopes})
    assert created.status_code == 201, created.text
    key = created.json()["return"]
    with_key = tagged(ApiClient(audit_api.url), "t6-job")
    with_key.http.headers["Authorization"] = f"Bearer {key['key']}"
    assert with_key.run({"client": "local", "tgt": "minion-1", "fun": "test.ping"}) == [
        {"minion-1": True}
    ]
    assert tagged(admin, "t6-revoke").request("DELETE", f"/apikeys/{key['id']}").status_code == 200

    lines = read_lines(path, 4, prefix="t6-")[before:]
    lines = [x for x in lines if str(x["request_id"]).startswith("t6-")]
    assert [(x["event"], x["outcome"], x["request_id"]) for x in lines] == [
        ("login", "ok", "t6-login"),
        ("apikey_created", "ok", "t6-create"),
        ("chunk", "allowed", "t6-job"),
        ("apikey_revoked", "ok", "t6-revoke"),
    ]
    _, made, chunk, revoked = lines
    public = {"key_id": key["id"], "key_name": "ci", "key_owner": "saltdev"}
    assert made.items() >= {**public, "key_scopes": scopes, "user": "saltdev"}.items()
    assert chunk["backend"] == "api-key" and chunk["fun"] == "test.ping" and chunk["jid"]
    assert revoked.items() >= {**public, "user": "saltdev"}.items() and revoked["tokens"] >= 1
    assert key["key"] not in path.read_text()


def test_login_failed_login_denied_chunk_allowed_job_logout(
    audit_api, logs, api_credentials, limited_credentials
):
    path = logs / "audit.log"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    admin = tagged(ApiClient(audit_api.url), "t1-login")
    record = admin.login(api_credentials)
    wrong = {**api_credentials, "password": "not-the-secret"}
    anon = tagged(ApiClient(audit_api.url), "t1-bad-login")
    assert anon.post("/login", json=wrong).status_code == 401
    limited = tagged(ApiClient(audit_api.url), "t1-limited-login")
    limited_record = limited.login(limited_credentials)
    denied = {"client": "local", "tgt": "minion-1", "fun": "grains.items"}
    tagged(limited, "t1-denied").run({**denied, "kwarg": {"password": "hunter2"}}, expect=403)
    job = {
        "client": "local",
        "tgt": "minion-1",
        "fun": "test.arg",
        "arg": ["one", "password=hunter2"],
        "kwarg": {"api_token": "hunter2", "color": "blue"},
    }
    (result,) = tagged(admin, "t1-job").run(job)
    assert result["minion-1"]["args"] == ["one"]  # Salt parsed password=... as a kwarg
    assert tagged(admin, "t1-logout").post("/logout").status_code == 200

    lines = read_lines(path, 6, prefix="t1-")[before:]
    assert [(x["event"], x["outcome"], x["request_id"]) for x in lines] == [
        ("login", "ok", "t1-login"),
        ("login", "failed", "t1-bad-login"),
        ("login", "ok", "t1-limited-login"),
        ("chunk", "denied", "t1-denied"),
        ("chunk", "allowed", "t1-job"),
        ("logout", "ok", "t1-logout"),
    ]
    login, failed, limited_login, chunk_denied, chunk_allowed, logout = lines
    assert {x["address"] for x in lines} == {"127.0.0.1"}
    assert len({x["worker"] for x in lines}) == 1 and lines[0]["worker"] != 0
    admin_session = session_id(record["token"])
    assert login == {
        **{k: login[k] for k in COMMON},
        "user": "saltdev",
        "eauth": "sharedsecret",
        "session": admin_session,
        "expire": record["expire"],
    }
    assert set(failed) == COMMON | {"user", "eauth", "reason"}
    assert failed["user"] == "saltdev" and "Could not authenticate" in failed["reason"]
    assert limited_login["session"] == session_id(limited_record["token"])
    assert chunk_denied == {
        **{k: chunk_denied[k] for k in COMMON},
        "user": "limited",
        "eauth": "sharedsecret",
        "session": session_id(limited_record["token"]),
        "client": "local",
        "fun": "grains.items",
        "tgt": "minion-1",
        "tgt_type": "glob",
        "arg": [],
        "kwarg": {"password": "<redacted>"},
        "reason": "User 'limited' is not authorized for this request",
    }
    assert re.fullmatch(r"\d{20}", chunk_allowed["jid"])
    assert chunk_allowed == {
        **{k: chunk_allowed[k] for k in COMMON},
        "user": "saltdev",
        "eauth": "sharedsecret",
        "session": admin_session,
        "client": "local",
        "fun": "test.arg",
        "tgt": "minion-1",
        "tgt_type": "glob",
        "arg": ["one", "password=<redacted>"],
        "kwarg": {"api_token": "<redacted>", "color": "blue"},
        "jid": chunk_allowed["jid"],
    }
    assert set(logout) == COMMON | {"user", "eauth", "session"}
    assert logout["session"] == admin_session

    text = path.read_text()
    secrets = (record["token"], limited_record["token"], api_credentials["password"])
    for secret in (*secrets, "hunter2", "not-the-secret"):
        assert secret not in text


def test_the_file_is_reopened_after_rotation(audit_api, logs, api_credentials):
    path = logs / "audit.log"
    client = tagged(ApiClient(audit_api.url), "t2-before")
    client.login(api_credentials)
    assert read_lines(path, 1, prefix="t2-before")[-1]["request_id"] == "t2-before"
    path.rename(logs / "audit.log.1")  # logrotate, without copytruncate or a signal
    tagged(client, "t2-after").login(api_credentials)
    lines = read_lines(path, 1, prefix="t2-after")
    assert [(x["event"], x["request_id"]) for x in lines] == [("login", "t2-after")]
    assert (logs / "audit.log.1").read_text().splitlines()[-1].find('"t2-before"') > 0


def test_request_id_echoed_or_generated_and_in_the_access_log(audit_api, logs):
    url = audit_api.url
    echoed = requests.get(f"{url}/", headers={"X-Request-ID": "t3.echo:1"}, timeout=30)
    assert echoed.headers["X-Request-ID"] == "t3.echo:1"
    missing = requests.get(f"{url}/nowhere", headers={"X-Request-ID": "t3-404"}, timeout=30)
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "t3-404"
    refused = requests.post(f"{url}/", json=[], headers={"X-Request-ID": "t3-401"}, timeout=30)
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "t3-401"
    generated = requests.get(f"{url}/", timeout=30).headers["X-Request-ID"]
    replaced = requests.get(f"{url}/", headers={"X-Request-ID": "a b\tc"}, timeout=30)
    assert UUID.fullmatch(generated) and UUID.fullmatch(replaced.headers["X-Request-ID"])
    assert generated != replaced.headers["X-Request-ID"]
    deadline = time.monotonic() + 15
    access = ""
    while time.monotonic() < deadline and generated not in access:
        access = (logs / "access.log").read_text()
        time.sleep(0.05)
    assert re.search(r" 200 GET / \(127\.0\.0\.1\) [0-9.]+ms t3\.echo:1$", access, re.M)
    assert re.search(r" 404 GET /nowhere .* t3-404$", access, re.M)
    assert re.search(rf" 200 GET / .* {generated}$", access, re.M)


def test_websocket_upgrade_carries_the_request_id(audit_api, api_credentials):
    token = ApiClient(audit_api.url).login(api_credentials)["token"]
    request = (
        f"GET /all_events/{token} HTTP/1.1\r\nHost: 127.0.0.1:{audit_api.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Request-ID: t4-ws\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", audit_api.port), timeout=30) as sock:
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
    status, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.startswith("HTTP/1.1 101")
    assert "x-request-id: t4-ws" in [h.lower() for h in headers]


def test_key_generation_lines(audit_api, logs, api_credentials, limited_credentials):
    path = logs / "audit.log"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    mid = f"audit-{int(time.time() * 1000)}"
    client = tagged(ApiClient(audit_api.url), "t5-keygen")
    response = client.post("/keys", data={"mid": mid, **api_credentials})
    assert response.status_code == 200, response.text
    tagged(client, "t5-denied")
    assert client.post("/keys", data={"mid": mid, **limited_credentials}).status_code == 403
    tagged(client, "t5-conflict")
    assert client.post("/keys", data={"mid": mid, **api_credentials}).status_code == 409
    tagged(client, "t5-bad-password")
    wrong = {**api_credentials, "password": "not-the-secret"}
    assert client.post("/keys", data={"mid": mid, **wrong}).status_code == 401
    admin = ApiClient(audit_api.url)
    admin.login(api_credentials)
    admin.run({"client": "wheel", "fun": "key.delete", "match": mid})
    lines = [x for x in read_lines(path, 4, prefix="t5-")[before:] if x["event"] == "keygen"]
    assert [(x["outcome"], x["request_id"], x["mid"], x["user"]) for x in lines] == [
        ("ok", "t5-keygen", mid, "saltdev"),
        ("denied", "t5-denied", mid, "limited"),
        ("error", "t5-conflict", mid, "saltdev"),
        ("failed", "t5-bad-password", mid, "saltdev"),
    ]
    assert (lines[0]["keysize"], lines[0]["force"]) == (2048, False)
    assert "already has an accepted key" in lines[2]["reason"]
    text = path.read_text()
    assert "PRIVATE KEY" not in text and "not-the-secret" not in text
    assert api_credentials["password"] not in text
