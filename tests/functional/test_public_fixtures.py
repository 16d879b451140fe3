"""The public pytest plugin's fast fixtures, as a plugin author uses them (no daemons)."""

import pytest

from salt_ext_rest.plugins import ApiHandler, hookimpl
from salt_ext_rest.testing.api import ApiClient


class PingHandler(ApiHandler):
    async def get(self):
        identity = await self.identify()
        self.send({"return": {"pong": identity.name, "flag": self.context.config.plugins}})


class LocalPlugin:
    @hookimpl
    def rest_routes(self, context):
        return [(r"/local/ping", PingHandler, {"context": context})]


@pytest.fixture(scope="module")
def rest_ext_plugins():
    return [LocalPlugin()]


@pytest.fixture(scope="module")
def rest_ext_config():
    return {"plugins": {"local": {"flag": True}}}


def test_lowstate_reaches_the_stand_in_gateway(rest_ext_app_client, rest_ext_fake_gateway):
    ping = {"client": "local", "tgt": "*", "fun": "test.ping"}
    assert rest_ext_app_client.run(ping) == [{"echo": "test.ping"}]
    (sent,) = rest_ext_fake_gateway.chunks
    assert sent["fun"] == "test.ping" and sent["token"] in rest_ext_fake_gateway.tokens


def test_plugins_and_config_from_overridden_fixtures(rest_ext_app_client, rest_ext_app_url):
    body = rest_ext_app_client.get("/local/ping").json()
    assert body == {"return": {"pong": "user", "flag": {"local": {"flag": True}}}}
    assert ApiClient(rest_ext_app_url).get("/local/ping").status_code == 401
