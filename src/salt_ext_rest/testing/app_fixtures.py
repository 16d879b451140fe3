"""
Fast fixtures: the real application in-process on a stand-in gateway, no Salt daemons.

Override ``rest_ext_config`` (keys of the ``rest_ext:`` block) and ``rest_ext_plugins``
(plugin objects registered besides the installed ones) in a conftest.py or a test
module. Every plugin installed in the environment is loaded through its entry point,
as salt-api would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http.app import make_app
from salt_ext_rest.testing.config import merge_config
from salt_ext_rest.testing.gateway import (
    PASSWORD,
    STAND_IN_OPTS,
    StandInGateway,
    build_context_for,
)
from salt_ext_rest.testing.serve import serve_in_thread


@pytest.fixture(scope="session")
def rest_ext_config() -> dict[str, Any]:
    """Keys merged into the ``rest_ext:`` block (in-process app and salt-api alike)."""
    return {}


@pytest.fixture(scope="session")
def rest_ext_plugins() -> list[object]:
    """Plugin objects (modules or instances) registered besides the installed plugins."""
    return []


@pytest.fixture
def rest_ext_opts(rest_ext_config: dict[str, Any]) -> dict[str, Any]:
    """Master opts of the in-process app: the stand-in's, ``rest_ext_config`` merged in."""
    return merge_config(STAND_IN_OPTS, {"rest_ext": rest_ext_config})


@pytest.fixture
def rest_ext_fake_gateway(rest_ext_opts: dict[str, Any]) -> StandInGateway:
    """The stand-in for Salt: password ``good`` for anyone, jobs echoed back."""
    return StandInGateway(rest_ext_opts)


@pytest.fixture
def rest_ext_context(
    rest_ext_opts: dict[str, Any],
    rest_ext_fake_gateway: StandInGateway,
    rest_ext_plugins: list[object],
) -> ApiContext:
    """The application context on the stand-in gateway, with the installed plugins."""
    return build_context_for(
        rest_ext_opts, rest_ext_fake_gateway, rest_ext_plugins, load_entry_points=True
    )


@pytest.fixture
def rest_ext_app(rest_ext_context: ApiContext) -> Any:
    """The Tornado application (for ``tornado.testing`` or your own server)."""
    return make_app(rest_ext_context)


@pytest.fixture
def rest_ext_app_url(rest_ext_app: Any) -> Iterator[str]:
    """Base URL of ``rest_ext_app`` served on loopback from a background thread."""
    with serve_in_thread(rest_ext_app) as url:
        yield url


@pytest.fixture
def rest_ext_app_client(rest_ext_app_url: str) -> Any:
    """An :class:`~salt_ext_rest.testing.api.ApiClient` on the in-process app, logged in."""
    from salt_ext_rest.testing.api import ApiClient

    client = ApiClient(rest_ext_app_url)
    client.login({"username": "user", "password": PASSWORD, "eauth": "auto"})
    return client
