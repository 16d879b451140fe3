"""Tokens minted for a request that fails are revoked, through a real salt-api."""

import secrets

import pytest

from salt_ext_rest.testing.api import ApiClient
from tests.support.tokens import valid_tokens

pytestmark = [pytest.mark.integration]

PING = {"client": "local", "tgt": "*", "fun": "test.ping"}


@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


def test_run_revokes_the_token_of_chunk_one_when_chunk_two_fails(
    anon, api_credentials, salt_master
):
    before = valid_tokens(salt_master)
    bad = {**api_credentials, "password": "wrong-" + secrets.token_hex(4)}
    response = anon.post("/run", json=[{**PING, **api_credentials}, {**PING, **bad}])
    assert response.status_code == 401, response.text
    assert valid_tokens(salt_master) - before == set()


def test_token_revokes_what_it_minted_when_a_later_set_fails(anon, api_credentials, salt_master):
    before = valid_tokens(salt_master)
    bad = {**api_credentials, "password": "wrong-" + secrets.token_hex(4)}
    response = anon.post("/token", json=[api_credentials, bad])
    assert response.status_code == 401, response.text
    assert valid_tokens(salt_master) - before == set()
