"""``POST /login`` bodies without usable credentials, through a real salt-api: 401 with
a JSON reason, as rest_cherrypy answers them; only an unparseable body is 400."""

import urllib.parse

import pytest

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]


@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


@pytest.mark.parametrize(
    "body",
    [
        {"totally": "invalid"},
        {"username": "saltdev", "eauth": "sharedsecret"},
        {"username": "saltdev", "password": ["x"], "eauth": "sharedsecret"},
        [1, 2],
        "just a string",
    ],
    ids=["no-keys", "no-password", "password-list", "list", "string"],
)
def test_login_without_usable_credentials_is_401_with_a_reason(anon, body):
    response = anon.post("/login", json=body)
    assert response.status_code == 401, response.text
    payload = response.json()
    assert payload["status"] == 401 and payload["message"]
    assert "Set-Cookie" not in response.headers


def test_login_with_an_unparseable_body_stays_400(anon):
    response = anon.post("/login", data="{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_login_form_without_password_is_401(anon):
    body = urllib.parse.urlencode({"username": "saltdev", "eauth": "sharedsecret"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert anon.post("/login", data=body, headers=headers).status_code == 401
