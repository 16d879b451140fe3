"""
Integration fixtures: one salt-master, two minions and a salt-api per test session.

The netapi module under test is ``rest_ext``; set ``SALT_EXT_REST_NETAPI_MODULE`` to
``rest_cherrypy`` or ``rest_tornado`` to run the same tests against Salt's modules.

Master configuration layers (later wins; dicts merge, lists replace, ``REMOVE``
deletes — see :func:`tests.support.config.merge_config`):

1. salt-factories' defaults (ports, paths, ``log_level_logfile: debug``);
2. ``master_config_defaults``: clients, eauth, shared secret and the netapi block;
3. ``master_config_overrides``: empty; override it in a conftest.py.

The master is session-scoped and created once, so an override only takes effect if
it is visible to the *first* test that requests ``salt_master``: override it in a
conftest.py covering the whole session. For a different master config in a single
module or test, use ``salt_stack_factory``; for a different netapi block on the
session master, use ``start_extra_api``.
"""

import functools
import pathlib
import subprocess
import sys

import pytest
from pytestshellutils.utils import ports

from tests.support import config as cfg
from tests.support.saltapi import api_started, salt_api_daemon, start_api
from tests.support.stack import master_factory, minion_factory, salt_stack

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """salt-factories settings: run the working tree, no coverage/sitecustomize injection."""
    return {
        "code_dir": str(REPO_ROOT / "src"),
        "inject_sitecustomize": False,
        "coverage_rc_path": None,
        "coverage_db_path": None,
        # pytest keeps the last 3 base temp dirs: logs survive for post-mortems.
        "root_dir": tmp_path_factory.mktemp("salt"),
    }


@pytest.fixture(scope="session")
def netapi_module():
    """The netapi module the session's salt-api serves (``rest_ext`` by default)."""
    return cfg.netapi_module_from_env()


@pytest.fixture(scope="session")
def sharedsecret():
    """Random per-session secret of the ``sharedsecret`` eauth backend."""
    return cfg.new_sharedsecret()


@pytest.fixture(scope="session")
def api_port():
    """Loopback TCP port of the session's salt-api."""
    return ports.get_unused_localhost_port()


@pytest.fixture(scope="session")
def master_config_defaults(sharedsecret, netapi_module, api_port):
    """Baseline master config: enabled clients, eauth backends, secret, netapi block."""
    return cfg.master_config(sharedsecret, netapi_module, api_port)


@pytest.fixture(scope="session")
def master_config_overrides():
    """Extra master config merged over ``master_config_defaults`` (empty here)."""
    return {}


@pytest.fixture(scope="session")
def salt_master(salt_factories, master_config_defaults, master_config_overrides):
    """The running session salt-master."""
    config = cfg.merge_config(master_config_defaults, master_config_overrides)
    factory = master_factory(salt_factories, config)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_minion(salt_master):
    """Running minion ``minion-1``, key accepted."""
    with minion_factory(salt_master, "minion-1").started() as minion:
        yield minion


@pytest.fixture(scope="session")
def salt_minion_2(salt_master):
    """Running minion ``minion-2``, key accepted."""
    with minion_factory(salt_master, "minion-2").started() as minion:
        yield minion


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    """``salt`` CLI bound to the session master."""
    return salt_master.salt_cli(timeout=60)


@pytest.fixture(scope="session")
def salt_run_cli(salt_master):
    """``salt-run`` CLI bound to the session master."""
    return salt_master.salt_run_cli(timeout=60)


@pytest.fixture(scope="session")
def salt_api(salt_master, salt_minion, salt_minion_2, netapi_module):
    """
    The running session salt-api, answering HTTP on ``api_url``.

    Depends on both minions so API tests can target them. If it does not answer
    ``GET /`` in time, the salt-api log tail is printed and the fixture errors.
    """
    daemon = salt_api_daemon(salt_master, netapi_module)
    with api_started(daemon) as started:
        yield started


@pytest.fixture(scope="session")
def api_url(salt_api, api_port):
    """Base URL of the session salt-api, e.g. ``http://127.0.0.1:PORT`` (no slash)."""
    assert salt_api.port == api_port
    return salt_api.url


@pytest.fixture(scope="session")
def api_credentials(sharedsecret):
    """Login body of the full-rights user ``saltdev`` (``sharedsecret`` eauth)."""
    return cfg.api_credentials(sharedsecret)


@pytest.fixture(scope="session")
def limited_credentials(sharedsecret):
    """Login body of ``limited`` (only ``test.*`` through ``sharedsecret`` eauth)."""
    return cfg.api_credentials(sharedsecret, username=cfg.LIMITED_USER)


@pytest.fixture
def start_extra_api(salt_master, netapi_module):
    """
    Context manager factory: another salt-api on the session master.

    ``with start_extra_api({"max_request_body_size": 1024}) as api:`` runs a second
    salt-api (own port, log and pid file) whose netapi block is the defaults merged
    with the given dict; ``api.url`` is its base URL. Stopped when the block exits.
    Accepts :func:`tests.support.saltapi.start_api` keyword arguments.
    """
    return functools.partial(start_api, salt_master, netapi_module=netapi_module)


@pytest.fixture(scope="session")
def salt_stack_factory(salt_factories, netapi_module):
    """
    Context manager factory: a separate master + minion(s) + salt-api.

    ``with salt_stack_factory({"token_expire": 5}) as stack:`` yields a
    :class:`tests.support.stack.SaltStack` (``stack.url``, ``stack.credentials``,
    ``stack.minions``). See :func:`tests.support.stack.salt_stack`.
    """
    return functools.partial(salt_stack, salt_factories, netapi_module=netapi_module)


PLUGIN_DIR = REPO_ROOT / "tests" / "plugin_example"


def _pip(*args):
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def example_plugin_installed():
    """The example third-party plugin, pip-installed as a user would (removed afterwards).

    salt-api reads entry points when it starts: only APIs started after this fixture
    see the plugin.
    """
    _pip("install", "--no-deps", "--no-build-isolation", str(PLUGIN_DIR))
    yield
    _pip("uninstall", "-y", "rest-ext-example-plugin")


@pytest.fixture
def api(api_url, api_credentials):
    """An ApiClient on the session API, logged in as the full-rights user."""
    from tests.support.api import ApiClient

    client = ApiClient(api_url)
    client.login(api_credentials)
    return client


@pytest.fixture
def master_events(salt_master):
    """A listening handle on the session master's event bus (Salt's sync API)."""
    import salt.utils.event

    from tests.support.tokens import master_opts

    opts = master_opts(salt_master)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True) as event:
        yield event
