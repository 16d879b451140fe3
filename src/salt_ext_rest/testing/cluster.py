"""
A real Salt master cluster (Salt 3007+) with salt-api serving ``rest_ext`` on every master.

Master ``i`` listens on ``127.0.0.<i+1>`` (Linux routes all of ``127.0.0.0/8`` to the
loopback interface), every master on the *same* ``ret_port``, ``publish_port`` and
``cluster_pool_port``, as Salt's own cluster tests do. The masters share what a
cluster must share: ``cluster_pki_dir`` (peer keys, ``.aes``, minion keys), the
``cachedir`` (jobs, ``.root_key``) and the token store, ``file_roots`` and
``pillar_roots``. salt-factories prefixes an absolute ``cachedir`` with the master's
``root_dir``, so the shared directories are symlinked into each ``root_dir`` instead.
Minions connect to master 0. Each master runs one salt-api whose ``rest_ext`` block
listens on the master's address with its own port (pytest-shell-utilities kills every
process listening on a stopped daemon's port: distinct ports keep one API's stop from
killing the others) and uses ``shared_store`` (Redis) when a URL is given, with a
fresh ``shared_store_prefix`` per cluster.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import pathlib
import secrets
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import attr
import pytest

from salt_ext_rest.testing.cluster_layout import (
    ADDRESSES,
    START_TIMEOUT,
    cluster_master_overrides,
    forget_master_key,
    free_port_on,
    link_shared,
    shared_dirs,
    wait_settled,
    write_cluster_key,
)
from salt_ext_rest.testing.config import (
    DEFAULT_NETAPI_MODULE,
    api_credentials,
    master_config,
    merge_config,
    netapi_config,
    new_sharedsecret,
)
from salt_ext_rest.testing.saltapi import salt_api_daemon, start_api, start_reporting
from salt_ext_rest.testing.stack import master_factory, minion_factory


def side_by_side(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` in threads, wait for all, re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(calls))) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


@attr.s(frozen=True)
class ClusterSpec:
    """What to build: master count, minions, the ``rest_ext`` block, the shared store."""

    masters: int = attr.ib(default=3)
    minions: tuple[str, ...] = attr.ib(default=("minion-1",), converter=tuple)
    netapi_conf: dict[str, Any] = attr.ib(factory=dict)
    #: merged into every master's config last (``merge_config`` rules).
    master_overrides: dict[str, Any] = attr.ib(factory=dict)
    redis_url: str = attr.ib(default="")
    netapi_module: str = attr.ib(default=DEFAULT_NETAPI_MODULE)
    sharedsecret: str = attr.ib(factory=new_sharedsecret)
    prefix: str = attr.ib(factory=lambda: f"rest_ext:{secrets.token_hex(4)}:")

    @masters.validator
    def _check_masters(self, _attribute: Any, value: int) -> None:
        if not 1 <= value <= len(ADDRESSES):
            raise ValueError(f"masters: 1 to {len(ADDRESSES)}, not {value}")

    def api_block(self, index: int, port: int | None = None) -> dict[str, Any]:
        """The ``rest_ext`` block of master ``index``'s salt-api."""
        store = {"shared_store": self.redis_url, "shared_store_prefix": self.prefix}
        extra = {"host": ADDRESSES[index], **(store if self.redis_url else {})}
        block = netapi_config(self.netapi_module, port or free_port_on([ADDRESSES[index]]))
        return merge_config(merge_config(block, extra), self.netapi_conf)


@attr.s
class SaltCluster:
    """Running masters, minions and one salt-api per master."""

    spec: ClusterSpec = attr.ib()
    masters: list[Any] = attr.ib()
    minions: list[Any] = attr.ib()
    apis: list[Any] = attr.ib()

    @property
    def addresses(self) -> tuple[str, ...]:
        return ADDRESSES[: len(self.masters)]

    @property
    def urls(self) -> list[str]:
        """Base URL of each master's salt-api."""
        return [api.url for api in self.apis]

    def url(self, index: int) -> str:
        return str(self.apis[index].url)

    @property
    def credentials(self) -> dict[str, str]:
        """Login body for the full-rights user (``sharedsecret`` eauth)."""
        return api_credentials(self.spec.sharedsecret)

    def stop_api(self, index: int) -> None:
        """Terminate master ``index``'s salt-api (open streams break)."""
        self.apis[index].terminate()

    def start_api(self, index: int) -> None:
        """Start master ``index``'s salt-api again (same port); no-op when running."""
        if not self.apis[index].is_running():
            start_reporting(self.apis[index], START_TIMEOUT)

    def extra_api(self, index: int, netapi_conf: dict[str, Any] | None = None) -> Any:
        """``with cluster.extra_api(1, {...}) as api:``: another salt-api on master
        ``index`` (its address, a free port, the cluster's shared store, ``netapi_conf``)."""
        block = merge_config(self.spec.api_block(index), netapi_conf or {})
        return start_api(self.masters[index], block, self.spec.netapi_module, merge_defaults=False)


def _configure_masters(salt_factories: Any, spec: ClusterSpec) -> list[Any]:
    root = pathlib.Path(tempfile.mkdtemp(prefix="cluster-", dir=salt_factories.root_dir))
    dirs = shared_dirs(root)
    if spec.masters > 1:
        write_cluster_key(dirs["pki"])
    addresses = list(ADDRESSES[: spec.masters])
    names = ("ret_port", "publish_port") + (("cluster_pool_port",) if spec.masters > 1 else ())
    ports = {name: free_port_on(addresses) for name in names}
    masters = []
    for index, address in enumerate(addresses):
        base = master_config(spec.sharedsecret, spec.netapi_module, 0)
        base[spec.netapi_module] = spec.api_block(index)
        config = merge_config(base, cluster_master_overrides(index, spec.masters, dirs, ports))
        config = merge_config(config, spec.master_overrides)
        master = master_factory(salt_factories, config, master_id=address)
        link_shared(master, dirs)
        masters.append(master)
    return masters


@contextlib.contextmanager
def salt_cluster(salt_factories: Any, spec: ClusterSpec | None = None) -> Iterator[SaltCluster]:
    """Start a cluster (masters, minions on master 0, one salt-api per master); yield a
    :class:`SaltCluster`; stop everything on exit."""
    spec = spec or ClusterSpec()
    masters = _configure_masters(salt_factories, spec)
    with contextlib.ExitStack() as stack:
        # One after the other, as Salt's own cluster tests start them: each joins the
        # cluster the earlier ones formed.
        for master in masters:
            start_side_by_side(stack, [master])
        if len(masters) > 1:
            wait_settled(masters)
        minions = [minion_factory(masters[0], mid) for mid in spec.minions]
        for minion in minions:
            minion.before_start(forget_master_key, minion)
        start_side_by_side(stack, minions)
        apis = [salt_api_daemon(m, spec.netapi_module) for m in masters]
        start_side_by_side(stack, apis, starter=_start_api)
        yield SaltCluster(spec=spec, masters=masters, minions=minions, apis=apis)


def start_side_by_side(
    stack: contextlib.ExitStack, daemons: list[Any], starter: Callable[[Any], None] | None = None
) -> None:
    """Start ``daemons`` in threads; each is terminated when ``stack`` closes."""
    for daemon in daemons:
        stack.callback(daemon.terminate)
    start = starter or functools.partial(_start, timeout=START_TIMEOUT)
    side_by_side(*(functools.partial(start, daemon) for daemon in daemons))


def _start(daemon: Any, timeout: float = START_TIMEOUT) -> None:
    daemon.start(start_timeout=timeout)


def _start_api(api: Any) -> None:
    """Start a salt-api; on failure the error carries its log tail."""
    start_reporting(api, START_TIMEOUT)


@pytest.fixture(scope="session")
def rest_ext_cluster_factory(
    request: pytest.FixtureRequest, salt_factories: Any
) -> Callable[..., Any]:
    """``with rest_ext_cluster_factory(masters=3) as cluster:`` a running master cluster
    with ``rest_ext`` on every master (see :class:`ClusterSpec` for the keyword arguments
    and :class:`SaltCluster` for what it yields). The APIs share the session's
    ``redis_server`` unless ``redis_url`` is given (``""``: no shared store)."""

    def factory(**kwargs: Any) -> Any:
        if "redis_url" not in kwargs:
            kwargs["redis_url"] = request.getfixturevalue("redis_server").url
        return salt_cluster(salt_factories, ClusterSpec(**kwargs))

    return factory
