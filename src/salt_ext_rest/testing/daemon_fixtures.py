"""
Daemon fixtures: a real salt-master, a minion and salt-api serving ``rest_ext``, once
per session (pytest-salt-factories). Registered only when pytest-salt-factories and
requests are installed (``pip install salt-ext-rest[testing]``).

The master config is the harness baseline (eauth ``sharedsecret``/``auto`` users, every
non-SSH client enabled, the ``rest_ext:`` block on a free loopback port), then
``rest_ext_config`` merged into the ``rest_ext:`` block, then
``rest_ext_master_config_overrides`` (see :func:`salt_ext_rest.testing.config.merge_config`).
The session master starts once: override these fixtures in a conftest.py that covers
the whole session. Plugins must be installed before the session starts: salt-api reads
entry points when it starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytestshellutils.utils import ports

from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.api import ApiClient
from salt_ext_rest.testing.saltapi import api_started, salt_api_daemon, start_api
from salt_ext_rest.testing.stack import master_factory, minion_factory, salt_stack


@pytest.fixture(scope="session")
def rest_ext_netapi_module() -> str:
    """The netapi module salt-api serves: ``rest_ext`` (``$SALT_EXT_REST_NETAPI_MODULE``)."""
    return cfg.netapi_module_from_env()


@pytest.fixture(scope="session")
def rest_ext_sharedsecret() -> str:
    """Random per-session secret of the ``sharedsecret`` eauth backend."""
    return cfg.new_sharedsecret()


@pytest.fixture(scope="session")
def rest_ext_port() -> int:
    """Loopback TCP port of the session's salt-api."""
    return int(ports.get_unused_localhost_port())


@pytest.fixture(scope="session")
def rest_ext_master_config_overrides() -> dict[str, Any]:
    """Master config merged last (``external_auth``, ``netapi_enable_clients``, ...)."""
    return {}


@pytest.fixture(scope="session")
def rest_ext_master_config(
    rest_ext_sharedsecret: str,
    rest_ext_netapi_module: str,
    rest_ext_port: int,
    rest_ext_config: dict[str, Any],
    rest_ext_master_config_overrides: dict[str, Any],
) -> dict[str, Any]:
    """The session master's config: baseline, ``rest_ext_config``, then the overrides."""
    base = cfg.master_config(rest_ext_sharedsecret, rest_ext_netapi_module, rest_ext_port)
    block = cfg.merge_config(base, {rest_ext_netapi_module: rest_ext_config})
    return cfg.merge_config(block, rest_ext_master_config_overrides)


@pytest.fixture(scope="session")
def rest_ext_master(salt_factories: Any, rest_ext_master_config: dict[str, Any]) -> Iterator[Any]:
    """The running session salt-master (a salt-factories daemon)."""
    factory = master_factory(salt_factories, rest_ext_master_config)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def rest_ext_minion(rest_ext_master: Any) -> Iterator[Any]:
    """Running minion ``minion-1``, key accepted."""
    with minion_factory(rest_ext_master, "minion-1").started() as minion:
        yield minion


@pytest.fixture(scope="session")
def rest_ext_salt_api(
    rest_ext_master: Any, rest_ext_minion: Any, rest_ext_netapi_module: str
) -> Iterator[Any]:
    """The running session salt-api; its log tail is shown if it does not start."""
    daemon = salt_api_daemon(rest_ext_master, rest_ext_netapi_module)
    with api_started(daemon) as started:
        yield started


@pytest.fixture(scope="session")
def rest_ext_api(rest_ext_salt_api: Any, rest_ext_sharedsecret: str) -> cfg.RestExtApi:
    """URL of the session salt-api and the login body of the full-rights user."""
    return cfg.RestExtApi(rest_ext_salt_api.url, cfg.api_credentials(rest_ext_sharedsecret))


@pytest.fixture
def rest_ext_client(rest_ext_api: cfg.RestExtApi) -> ApiClient:
    """An :class:`~salt_ext_rest.testing.api.ApiClient` on the session API, logged in."""
    client = ApiClient(rest_ext_api.url)
    client.login(rest_ext_api.credentials)
    return client


@pytest.fixture
def rest_ext_start_api(rest_ext_master: Any, rest_ext_netapi_module: str) -> Callable[..., Any]:
    """``with rest_ext_start_api({"max_request_body_size": 1024}) as api:``: another
    salt-api on the session master with that netapi block (see ``start_api``)."""
    return functools.partial(start_api, rest_ext_master, netapi_module=rest_ext_netapi_module)


@pytest.fixture(scope="session")
def rest_ext_stack_factory(salt_factories: Any, rest_ext_netapi_module: str) -> Callable[..., Any]:
    """``with rest_ext_stack_factory({"token_expire": 5}) as stack:``: a separate
    master, minion(s) and salt-api (see ``salt_stack``)."""
    return functools.partial(salt_stack, salt_factories, netapi_module=rest_ext_netapi_module)
