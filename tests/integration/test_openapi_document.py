"""``GET /openapi.json`` on the session's real salt-api, and the bugs fuzzing it found."""

import pytest
import requests
from openapi_spec_validator import validate

pytestmark = pytest.mark.usefixtures("salt_api")


@pytest.fixture(autouse=True)
def rest_ext_only(netapi_module):
    if netapi_module != "rest_ext":
        pytest.skip("the OpenAPI document is rest_ext's")


def test_the_document_is_served_without_credentials_and_is_openapi_3_1(api_url):
    response = requests.get(f"{api_url}/openapi.json", timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    validate(document)
    assert {"/", "/login", "/minions/{mid}", "/jobs/{jid}", "/keys", "/events"} <= set(
        document["paths"]
    )
    # the lowstate schemas are those of this master's netapi_enable_clients
    clients = requests.get(f"{api_url}/", timeout=60).json()["clients"]
    schemas = document["components"]["schemas"]
    assert {f"lowstate.{client}" for client in clients} <= set(schemas)
    assert "lowstate.ssh" not in schemas


@pytest.mark.parametrize("timeout", ["0", 0])
def test_a_zero_publish_timeout_is_a_bad_request_not_a_master_outage(api, timeout):
    """Found by schemathesis: Salt publishes within ``timeout``, and 0 made the
    publish itself time out, answered 503 "The Salt master did not answer"."""
    chunk = {"client": "local_async", "tgt": "*", "fun": "test.ping", "timeout": timeout}
    body = api.run(chunk, expect=400)
    assert body["path"] == "$[0].timeout", body
    assert api.run({**chunk, "timeout": "5"})[0]["jid"]
