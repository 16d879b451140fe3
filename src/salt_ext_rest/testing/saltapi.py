"""
salt-api factories for any netapi module (``rest_ext``, ``rest_cherrypy``, ``rest_tornado``).

salt-factories' :class:`~saltfactories.daemons.api.SaltApi` only recognises
``rest_cherrypy`` and ``rest_tornado`` (it raises ``UsageError`` otherwise) and only
checks that the port accepts TCP connections. :class:`NetapiSaltApi` takes the module
name, checks that module's port, then waits until the HTTP server answers.

salt-api has no config file of its own: it reads ``<config_dir>/master`` (plus
``master.d/*.conf``) of the master it belongs to, and starts every netapi module whose
block is present there. To run *another* salt-api with a different block on the same
master, :func:`extra_api_daemon` writes a copy of the master's config file into a new
config directory, with only the requested module's block and its own ``api_logfile``
and ``api_pidfile``. Every other key (``root_dir``, ``sock_dir``, ``pki_dir``,
``external_auth``, ...) is unchanged, so the extra salt-api talks to the same running
master and minions. Keys the *master* process reads too (``external_auth``,
``netapi_enable_clients`` checked at publish, ...) must not differ between the copy and
the master: use :func:`salt_ext_rest.testing.stack.salt_stack` for those.

Caution: when a daemon stops, pytest-shell-utilities kills every process still
listening on its checked port -- the pytest process included if a test opened a
listening socket on that port.
"""

import contextlib
import logging
import pathlib
import shutil
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Mapping

import attr
import pytest
import requests
import yaml
from pytestshellutils.exceptions import FactoryNotStarted
from pytestshellutils.utils import ports
from saltfactories.bases import SaltDaemon
from saltfactories.daemons.api import SaltApi
from saltfactories.daemons.master import SaltMaster

from salt_ext_rest.testing.config import (
    DEFAULT_NETAPI_MODULE,
    LOOPBACK,
    NETAPI_MODULES,
    netapi_config,
)
from salt_ext_rest.testing.teardown import terminate

log = logging.getLogger(__name__)

#: lines of the salt-api log shown when it fails to start.
LOG_TAIL_LINES = 300


@attr.s(kw_only=True, slots=True)
class NetapiSaltApi(SaltApi):
    """
    A salt-api daemon serving ``netapi_module``, ready once ``GET /`` answers.

    Any HTTP status counts as "answering": readiness means the server is up, not
    that ``/`` is implemented correctly (tests check that).
    """

    netapi_module = attr.ib(default=DEFAULT_NETAPI_MODULE)

    def __attrs_post_init__(self):
        """Check the module's block, watch its port, add the HTTP readiness check."""
        block = self.config.get(self.netapi_module)
        # salt-factories freezes configs into ImmutableDict: a Mapping, not a dict.
        if not isinstance(block, Mapping) or "port" not in block:
            raise pytest.UsageError(
                f"The master config {self.config.get('conf_file')} has no "
                f"'{self.netapi_module}:' block with a 'port'"
            )
        # ``check_ports`` is an attrs field of pytestshellutils' Daemon; mypy's attrs
        # plugin does not see the base class's slots. pytestshellutils checks (and, when
        # the daemon stops, kills whatever listens on) that port on ``localhost`` only:
        # an API on another address (a cluster master on 127.0.0.2) is checked by the
        # HTTP readiness check alone.
        if _listen_host(block) == LOOPBACK:
            self.check_ports = [int(block["port"])]  # type: ignore[misc]
        # Skip SaltApi.__attrs_post_init__: it hard-codes rest_cherrypy/rest_tornado.
        SaltDaemon.__attrs_post_init__(self)
        self.start_check(self._check_http_ready)

    @property
    def netapi_block(self):
        """The ``<netapi_module>:`` config block."""
        return self.config[self.netapi_module]

    @property
    def port(self):
        """The TCP port the API listens on."""
        return int(self.netapi_block["port"])

    @property
    def url(self):
        """Base URL of the API, without a trailing slash."""
        block = self.netapi_block
        scheme = "http" if block.get("disable_ssl") else "https"
        return f"{scheme}://{_listen_host(block)}:{self.port}"

    def log_file(self):
        """
        Path of this salt-api's log file.

        salt-factories writes ``api_logfile`` into every master config it creates (and
        :func:`write_api_config_copy` into its copies); a relative path is under
        ``root_dir``, as salt-api resolves it.
        """
        path = pathlib.Path(self.config["api_logfile"])
        return path if path.is_absolute() else pathlib.Path(self.config["root_dir"]) / path

    def _check_http_ready(self, timeout_at):
        """Start check: one ``GET /`` attempt; pytestshellutils repeats it until the timeout."""
        if http_answers(self.url):
            return True
        time.sleep(0.05)  # salt-api answers about a second after it starts: poll finely
        return False


def _listen_host(block):
    """The address a client reaches the API at (wildcards become the loopback address)."""
    host = block.get("host") or block.get("address") or LOOPBACK
    return LOOPBACK if host in ("0.0.0.0", "::", "", "localhost") else host


def http_answers(url, timeout=2.0):
    """Return True if ``GET url/`` gets any HTTP response (status ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self-signed certificates when SSL is on
        try:
            requests.get(f"{url}/", timeout=timeout, verify=False)
        except requests.RequestException:
            return False
    return True


def read_log_tail(path, lines=LOG_TAIL_LINES):
    """Return the last ``lines`` lines of ``path``, or a note if it does not exist."""
    path = pathlib.Path(path)
    if not path.is_file():
        return f"<{path} does not exist>"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def failure_report(daemon):
    """Return a text block with the salt-api log tail, for start failures."""
    try:
        log_file = daemon.log_file()
    except Exception as exc:
        return f"--- could not locate the salt-api log: {exc!r} ---\n"
    return f"--- salt-api log {log_file} (tail) ---\n{read_log_tail(log_file)}\n--- end ---\n"


def salt_api_daemon(master, netapi_module=DEFAULT_NETAPI_MODULE, **factory_kwargs):
    """
    Return an unstarted :class:`NetapiSaltApi` reading ``master``'s config file.

    Same as ``master.salt_api_daemon(...)`` but with our factory class. One start
    attempt by default (salt-factories retries 3 times, tripling the wait on failure).
    """
    factory_kwargs.setdefault("max_start_attempts", 1)
    return master.salt_api_daemon(
        factory_class=NetapiSaltApi, netapi_module=netapi_module, **factory_kwargs
    )


def write_api_config_copy(master, netapi_module, block):
    """
    Copy ``master``'s config file (and ``master.d``) with only ``netapi_module: block``.

    Returns the loaded config; its ``conf_file`` points into a new directory under the
    master's ``root_dir`` that also holds this salt-api's ``api.log`` and ``api.pid``.
    """
    src = pathlib.Path(master.config_file)
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    for module in NETAPI_MODULES:
        raw.pop(module, None)
    raw[netapi_module] = block
    dest = pathlib.Path(tempfile.mkdtemp(prefix="api-", dir=master.config["root_dir"]))
    raw["api_logfile"] = str(dest / "api.log")
    raw["api_pidfile"] = str(dest / "api.pid")
    if (src.parent / "master.d").is_dir():
        shutil.copytree(src.parent / "master.d", dest / "master.d")
    conf_file = dest / "master"
    conf_file.write_text(yaml.safe_dump(raw, default_flow_style=False), encoding="utf-8")
    # Loaded the way salt-factories loads a master's config file (Salt's own loader).
    return SaltMaster.load_config(str(conf_file), None)


def build_netapi_block(netapi_module, netapi_conf=None, merge_defaults=True):
    """
    Return the block for an extra salt-api.

    With ``merge_defaults`` the defaults (free loopback port, ``disable_ssl``) are
    updated with ``netapi_conf``; without, ``netapi_conf`` is used verbatim.
    """
    netapi_conf = dict(netapi_conf or {})
    if not merge_defaults:
        return netapi_conf
    port = netapi_conf.pop("port", None) or ports.get_unused_localhost_port()
    return netapi_config(netapi_module, port, **netapi_conf)


def extra_api_daemon(
    master,
    netapi_conf=None,
    netapi_module=DEFAULT_NETAPI_MODULE,
    merge_defaults=True,
    **factory_kwargs,
):
    """
    Return an unstarted salt-api for ``master`` serving ``netapi_module`` with ``netapi_conf``.

    See the module docstring for how the config copy works.
    """
    block = build_netapi_block(netapi_module, netapi_conf, merge_defaults)
    config = write_api_config_copy(master, netapi_module, block)
    factory_kwargs.setdefault("max_start_attempts", 1)
    # FactoriesManager.salt_api_daemon() only reads ``master.config``.
    master_view = types.SimpleNamespace(config=config)
    return master.factories_manager.salt_api_daemon(
        master_view, factory_class=NetapiSaltApi, netapi_module=netapi_module, **factory_kwargs
    )


@contextlib.contextmanager
def api_started(daemon, start_timeout=None):
    """
    Start ``daemon``, yield it, terminate it on exit. On a failed start the salt-api
    log tail is written to stderr and appended to the re-raised :class:`FactoryNotStarted`.
    """
    start_reporting(daemon, start_timeout)
    try:
        yield daemon
    finally:
        terminate(daemon)


def start_reporting(daemon, start_timeout=None):
    """
    Start ``daemon``; on a failed start write the salt-api log tail to stderr and
    append it to the re-raised :class:`FactoryNotStarted`.
    """
    started_at = time.monotonic()
    try:
        daemon.start(start_timeout=start_timeout)
    except FactoryNotStarted as exc:
        daemon.terminate()
        report = failure_report(daemon)
        sys.stderr.write(report)
        raise FactoryNotStarted(f"{exc}\n{report}") from exc
    log.info("%s ready at %s in %.1fs", daemon, daemon.url, time.monotonic() - started_at)


@contextlib.contextmanager
def start_api(master, netapi_conf=None, netapi_module=DEFAULT_NETAPI_MODULE, **kwargs):
    """
    Run an extra salt-api on ``master`` with another netapi block; yield the daemon.

    Example::

        with start_api(salt_master, {"max_request_body_size": 1024}) as api:
            requests.get(api.url + "/")

    ``netapi_conf`` is merged over a free loopback port and ``disable_ssl: true``
    (pass ``merge_defaults=False`` to use it verbatim). ``start_timeout`` and the
    other keyword arguments go to :func:`extra_api_daemon` / the factory.
    """
    start_timeout = kwargs.pop("start_timeout", None)
    daemon = extra_api_daemon(master, netapi_conf, netapi_module, **kwargs)
    with api_started(daemon, start_timeout=start_timeout) as started:
        yield started


def api_start_failure(
    master, netapi_conf=None, netapi_module=DEFAULT_NETAPI_MODULE, start_timeout=30, **kwargs
):
    """
    Start an extra salt-api expected to fail; return its log text.

    Fails the test if the API starts and answers HTTP. Use it for "bad config stops
    salt-api with a clear message" tests.
    """
    daemon = extra_api_daemon(master, netapi_conf, netapi_module, **kwargs)
    try:
        daemon.start(start_timeout=start_timeout)
    except FactoryNotStarted:
        return read_log_tail(daemon.log_file(), lines=10_000)
    finally:
        daemon.terminate()
    pytest.fail(f"salt-api started with {netapi_module}: {daemon.netapi_block!r}")
