"""
Integration fixtures: one salt-master, two minions and a salt-api per test session.

The stack comes from the project's public pytest plugin (``salt_ext_rest.testing``,
loaded through the ``pytest11`` entry point); this file only gives its ``rest_ext_*``
fixtures the names the tests use and adds what only this project needs (a second
minion, CLIs, the master's event bus, the example plugin installed).

The netapi module under test is ``rest_ext``; set ``SALT_EXT_REST_NETAPI_MODULE`` to
``rest_cherrypy`` or ``rest_tornado`` to run the same tests against Salt's modules.

Master configuration layers (later wins; dicts merge, lists replace, ``REMOVE``
deletes — see :func:`salt_ext_rest.testing.config.merge_config`): salt-factories'
defaults; the harness baseline (clients, eauth, shared secret, the netapi block);
``rest_ext_config`` merged into the ``rest_ext:`` block; ``rest_ext_master_config_overrides``.
The master is session-scoped: override those in a conftest.py covering the whole
session. For a different master config in one module or test, use
``salt_stack_factory``; for a different netapi block on the session master, use
``start_extra_api``.
"""

import concurrent.futures
import pathlib
import subprocess
import sys

import pytest
import requests

from salt_ext_rest.testing import config as cfg
from salt_ext_rest.testing.openapi_check import ResponseChecker, checking_requests
from salt_ext_rest.testing.stack import minion_factory

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


# The session master, minions and salt-api are the public plugin's fixtures
# (salt_ext_rest.testing); the names below are what this project's tests request.


@pytest.fixture(scope="session")
def netapi_module(rest_ext_netapi_module):
    """The netapi module the session's salt-api serves (``rest_ext`` by default)."""
    return rest_ext_netapi_module


@pytest.fixture(scope="session")
def sharedsecret(rest_ext_sharedsecret):
    """Random per-session secret of the ``sharedsecret`` eauth backend."""
    return rest_ext_sharedsecret


@pytest.fixture(scope="session")
def api_port(rest_ext_port):
    """Loopback TCP port of the session's salt-api."""
    return rest_ext_port


@pytest.fixture(scope="session")
def salt_master(rest_ext_master):
    """The running session salt-master."""
    return rest_ext_master


@pytest.fixture(scope="session")
def salt_minion(rest_ext_minion):
    """Running minion ``minion-1``, key accepted."""
    return rest_ext_minion


def side_by_side(*calls):
    """Run ``calls`` in threads and wait for all; re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


@pytest.fixture(scope="session")
def session_minions(salt_master):
    """``minion-1`` and ``minion-2``, keys accepted, started and stopped side by side
    (a minion takes seconds to start and about five to stop)."""
    minions = [minion_factory(salt_master, mid) for mid in ("minion-1", "minion-2")]
    try:
        side_by_side(*(minion.start for minion in minions))
        yield minions
    finally:
        side_by_side(*(minion.terminate for minion in minions))


@pytest.fixture(scope="session")
def rest_ext_minion(session_minions):
    """The public plugin's ``minion-1``, started here beside ``minion-2``."""
    return session_minions[0]


@pytest.fixture(scope="session")
def salt_minion_2(session_minions):
    """Running minion ``minion-2``, key accepted."""
    return session_minions[1]


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    """``salt`` CLI bound to the session master."""
    return salt_master.salt_cli(timeout=60)


@pytest.fixture(scope="session")
def salt_run_cli(salt_master):
    """``salt-run`` CLI bound to the session master."""
    return salt_master.salt_run_cli(timeout=60)


@pytest.fixture(scope="session")
def salt_api(rest_ext_salt_api, salt_minion_2):
    """The running session salt-api; both minions are up so API tests can target them."""
    return rest_ext_salt_api


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
def start_extra_api(rest_ext_start_api):
    """
    Context manager factory: another salt-api on the session master.

    ``with start_extra_api({"max_request_body_size": 1024}) as api:`` runs a second
    salt-api (own port, log and pid file) whose netapi block is the defaults merged
    with the given dict; ``api.url`` is its base URL. Stopped when the block exits.
    Accepts :func:`salt_ext_rest.testing.saltapi.start_api` keyword arguments.
    """
    return rest_ext_start_api


@pytest.fixture(scope="session")
def salt_stack_factory(rest_ext_stack_factory):
    """
    Context manager factory: a separate master + minion(s) + salt-api.

    ``with salt_stack_factory({"token_expire": 5}) as stack:`` yields a
    :class:`salt_ext_rest.testing.stack.SaltStack` (``stack.url``, ``stack.credentials``,
    ``stack.minions``). See :func:`salt_ext_rest.testing.stack.salt_stack`.
    """
    return rest_ext_stack_factory


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


@pytest.fixture(scope="session")
def openapi_checker(salt_api, api_url):
    """The session API's OpenAPI document, ready to check responses against."""
    response = requests.get(f"{api_url}/openapi.json", timeout=60)
    assert response.status_code == 200, response.text
    return ResponseChecker(response.json())


@pytest.fixture(autouse=True)
def responses_match_openapi(request, netapi_module):
    """Every response of the session's salt-api (rest_ext) a test receives through
    ``requests`` must match ``GET /openapi.json``; the test fails otherwise. Tests that
    do not use the session API are not touched."""
    if netapi_module != "rest_ext" or "salt_api" not in request.fixturenames:
        yield
        return
    checker = request.getfixturevalue("openapi_checker")
    with checking_requests(checker, request.getfixturevalue("api_url")) as problems:
        yield
    if problems:
        pytest.fail("responses not matching the OpenAPI document:\n" + "\n".join(problems[:20]))


@pytest.fixture
def api(rest_ext_client, salt_api):
    """An ApiClient on the session API, logged in as the full-rights user."""
    return rest_ext_client


@pytest.fixture
def master_events(salt_master):
    """A listening handle on the session master's event bus (Salt's sync API)."""
    import salt.utils.event

    from tests.support.tokens import master_opts

    opts = master_opts(salt_master)
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True) as event:
        yield event


@pytest.fixture(scope="session")
def salt_cluster(rest_ext_cluster_factory, redis_server, sharedsecret):
    """A three-master cluster (127.0.0.1-3), ``minion-1`` and ``minion-2`` on master 0,
    ``rest_ext`` on every master sharing ``redis_server`` and serving the browser test's
    app; one for the session (test_browser, test_cluster and test_pepper share it: each
    cluster start costs about a minute, and every test that stops a part of it starts
    it again)."""
    app = REPO_ROOT / "tests" / "browser_app"  # served as SaltGUI is (test_browser.py)
    conf = {"app": str(app / "index.html"), "static": str(app / "static")}
    with rest_ext_cluster_factory(
        masters=3,
        minions=("minion-1", "minion-2"),
        redis_url=redis_server.url,
        sharedsecret=sharedsecret,  # the session's logins work on the cluster too
        netapi_conf={**conf, "static_path": "/static"},
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_balancer(salt_cluster, rest_ext_haproxy_factory):
    """HAProxy round robin over the cluster's three APIs (``cluster_balancer.url``),
    health-checking rest_ext's readiness probe (``GET /`` for Salt's modules)."""
    check = "/readyz" if salt_cluster.spec.netapi_module == "rest_ext" else "/"
    with rest_ext_haproxy_factory(salt_cluster.urls, check_path=check) as balancer:
        yield balancer
