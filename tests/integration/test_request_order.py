"""What runs before authentication, through a real salt-api.

Only the chunk count and the client allow-list are checked before the caller is
authenticated: an unauthenticated body, however large, is answered 401 without being
validated, and other requests are answered meanwhile.
"""

import concurrent.futures
import json
import secrets
import time

import pytest
import requests

from salt_ext_rest.testing.api import ApiClient
from tests.support.tokens import valid_tokens

pytestmark = [pytest.mark.integration]

PING = {"client": "local", "tgt": "*", "fun": "test.ping"}


@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


@pytest.mark.parametrize("path", ["/", "/minions", "/run"])
def test_empty_lowstate_without_credentials_is_401(anon, path):
    response = anon.post(path, json={})
    assert response.status_code == 401, response.text
    assert response.json()["status"] == 401


def test_disabled_client_is_still_refused_before_authentication(anon):
    response = anon.post("/", json=[{"client": "ssh", "tgt": "*", "fun": "test.ping"}])
    assert response.status_code == 400
    assert "Client disabled: 'ssh'" in response.json()["message"]


def large_unauthenticated_body():
    """~1 MiB of lowstate that passes the cheap checks (one chunk, an enabled client) and
    takes about a second to validate against its schema (80,000 list items)."""
    chunk = {"client": "local", "tgt": ["minion-1"] * 40_000, "fun": ["test.ping"] * 40_000}
    return json.dumps([chunk]).encode()


def test_unauthenticated_large_bodies_are_401_fast_and_the_loop_stays_free(api_url):
    body = large_unauthenticated_body()
    assert 900_000 < len(body) < 1024 * 1024
    headers = {"Content-Type": "application/json"}

    def post():
        started = time.monotonic()
        status = requests.post(f"{api_url}/", data=body, headers=headers, timeout=60).status_code
        return status, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        posts = [pool.submit(post) for _ in range(4)]
        latencies = []
        while not all(p.done() for p in posts) or not latencies:
            started = time.monotonic()
            assert requests.get(f"{api_url}/", timeout=30).status_code == 200
            latencies.append(time.monotonic() - started)
        results = [p.result() for p in posts]
    assert [status for status, _ in results] == [401] * 4
    assert max(elapsed for _, elapsed in results) < 2.0, results
    assert max(latencies) < 0.5, latencies


def test_chunk_count_is_capped_before_anything_runs(api, salt_run_cli):
    marker = f"chunk-cap-{secrets.token_hex(4)}"
    chunk = {"client": "local_async", "tgt": "minion-1", "fun": "test.echo", "arg": [marker]}
    response = api.post("/", json=[chunk] * 201)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["status"] == 413
    time.sleep(1)  # a publish would be in the job cache by now
    assert marker not in str(salt_run_cli.run("jobs.list_jobs").data)


def test_unauthenticated_chunk_count_cap_needs_no_credentials(anon):
    response = anon.post("/", json=[{}] * 201)
    assert response.status_code == 413


def test_run_revokes_minted_tokens_when_validation_fails(anon, api_credentials, salt_master):
    before = valid_tokens(salt_master)
    bad_chunk = {**PING, **api_credentials, "timeout": "soon"}
    response = anon.post("/run", json=[{**PING, **api_credentials}, bad_chunk])
    assert response.status_code == 400, response.text
    assert response.json()["path"] == "$[1].timeout"
    assert valid_tokens(salt_master) - before == set()
