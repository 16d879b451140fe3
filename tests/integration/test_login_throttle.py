"""Login throttling per username and per client address, through a real salt-api.

One salt-api with small buckets (they refill slowly: one attempt per 20 s), so a
handful of requests is enough to empty them.
"""

import pytest

from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.config import LIMITED_USER
from salt_ext_rest.testing.saltapi import start_api
from tests.support.tokens import valid_tokens

pytestmark = [pytest.mark.integration]

PING = {"client": "local", "tgt": "minion-1", "fun": "test.ping"}
SLOW = 0.05  # attempts per second refilled: nothing refills during the test


@pytest.fixture(scope="module")
def throttled_api(salt_master, salt_minion, netapi_module):
    conf = {
        "login_user_burst": 3,
        "login_user_rate": SLOW,
        "login_address_burst": 6,
        "login_address_rate": SLOW,
    }
    with start_api(salt_master, conf, netapi_module=netapi_module) as api:
        yield api


def assert_throttled(response):
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["status"] == 429 and body["message"]
    assert int(response.headers["Retry-After"]) >= 1


def test_one_username_is_throttled_while_others_still_log_in(
    throttled_api, api_credentials, limited_credentials
):
    client = ApiClient(throttled_api.url)
    for _ in range(3):
        assert client.post("/login", json=api_credentials).status_code == 200
    assert_throttled(client.post("/login", json=api_credentials))
    # Every way of minting through eauth counts for that username ...
    assert_throttled(client.post("/token", json=[api_credentials]))
    assert_throttled(client.post("/run", json=[{**PING, **api_credentials}]))
    assert_throttled(client.post("/keys", json={"mid": "throttle-probe", **api_credentials}))
    # ... the header a proxy would set does not make it another client ...
    spoofed = client.post(
        "/login", json=api_credentials, headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert_throttled(spoofed)
    # ... and another username from the same client still logs in.
    record = ApiClient(throttled_api.url).login(limited_credentials)
    assert record["user"] == LIMITED_USER
    # The address bucket (6) is now down to 2: two more logins, then every username waits.
    other = ApiClient(throttled_api.url)
    for _ in range(2):
        assert other.post("/login", json=limited_credentials).status_code == 200
    fresh_user = {**api_credentials, "username": "someone-else"}
    assert_throttled(other.post("/login", json=fresh_user))


def test_token_list_length_is_bounded(api_url, api_credentials, salt_master):
    before = valid_tokens(salt_master)
    response = ApiClient(api_url).post("/token", json=[api_credentials] * 11)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["status"] == 413
    assert valid_tokens(salt_master) - before == set()
