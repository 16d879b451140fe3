"""
Smoke tests of the integration harness: the stack is up and the API answers.

They fail (not skip) while the API does not answer ``GET /`` with ``Welcome``.
"""

import pytest
import requests

pytestmark = [pytest.mark.integration]

TIMEOUT = 30


def get_root(url):
    """``GET url/`` asking for JSON."""
    return requests.get(f"{url}/", headers={"Accept": "application/json"}, timeout=TIMEOUT)


def assert_welcome(response):
    """Assert ``response`` is the ``GET /`` welcome document."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["return"] == "Welcome"


def test_root_says_welcome(api_url):
    assert_welcome(get_root(api_url))


def test_both_minions_answer_through_the_master(salt_cli, salt_minion, salt_minion_2):
    for minion in (salt_minion, salt_minion_2):
        ret = salt_cli.run("test.ping", minion_tgt=minion.id)
        assert ret.returncode == 0, ret
        assert ret.data is True, ret


def test_sharedsecret_credentials_log_in(api_url, api_credentials):
    response = requests.post(f"{api_url}/login", json=api_credentials, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["return"][0]["eauth"] == "sharedsecret"


def test_extra_api_runs_beside_the_session_api(api_url, start_extra_api):
    with start_extra_api() as extra:
        assert extra.url != api_url
        assert_welcome(get_root(extra.url))
    assert_welcome(get_root(api_url))
