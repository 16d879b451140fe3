"""Every route of the session's salt-api answers 401 without credentials, unless allow-listed.

The routes come from the router ``make_app`` builds for the session master's own
configuration (built here, in the test process, as each salt-api worker builds it);
each concrete URL and each method its handler implements is then sent, without
credentials, to the running salt-api.
"""

import json

import pytest
import requests

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import StandInGateway
from tests.functional.route_walk import (
    BODIES,
    LOWSTATE,
    concrete_path,
    implemented_methods,
    route_patterns,
)
from tests.functional.test_route_auth import open_routes
from tests.support.tokens import master_opts

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def session_router(salt_api, netapi_module, salt_master):
    if netapi_module != "rest_ext":
        pytest.skip("the router read here is rest_ext's")
    opts = master_opts(salt_master)
    pm = make_plugin_manager(load_entry_points=False)
    context = build_context(opts, load_config(opts), pm=pm, gateway=StandInGateway(opts))
    try:
        yield make_app(context)
    finally:
        context.close()


def test_every_route_of_the_session_api_needs_credentials(session_router, api_url):
    answers = {}
    for pattern, handler in route_patterns(session_router):
        route = pattern.removesuffix("/?")
        for method in implemented_methods(handler):
            body = None
            if method in ("POST", "PUT", "PATCH"):
                body = json.dumps(BODIES.get(route, LOWSTATE))
            response = requests.request(
                method,
                f"{api_url}{concrete_path(pattern)}",
                data=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                allow_redirects=False,
                timeout=30,
            )
            answers[(method, route)] = response.status_code
    assert {"/", "/run", "/minions", "/jobs", "/keys", "/events", "/hook(/.*)?"} <= {
        route for _, route in answers
    }
    assert open_routes(answers) == {}
