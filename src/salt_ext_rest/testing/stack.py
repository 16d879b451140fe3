"""
Master, minions and salt-api factories, and throw-away stacks built from them.

Use :func:`salt_stack` when a test needs a different *master* configuration
(``external_auth``, ``netapi_enable_clients``, ``token_expire``, ...): those keys are
read by the master process as well as by salt-api, so they cannot be changed with a
config copy the way :func:`salt_ext_rest.testing.saltapi.start_api` changes the netapi block.
"""

import contextlib

import attr
from pytestshellutils.utils import ports
from saltfactories.utils import random_string

from salt_ext_rest.testing.config import (
    DEFAULT_NETAPI_MODULE,
    api_credentials,
    master_config,
    merge_config,
    new_sharedsecret,
)
from salt_ext_rest.testing.saltapi import api_started, salt_api_daemon


def master_factory(salt_factories, config, master_id=None):
    """
    Return an unstarted master configured with ``config``.

    ``config`` is passed as salt-factories *overrides*, so its values win over
    salt-factories' defaults (ports, paths and logging stay salt-factories').
    """
    return salt_factories.salt_master_daemon(
        master_id or random_string("master-"), overrides=config
    )


def minion_factory(master, minion_id=None):
    """Return an unstarted minion of ``master``; the master accepts its key on start."""
    return master.salt_minion_daemon(
        minion_id or random_string("minion-"), overrides={"log_level_logfile": "debug"}
    )


@attr.s(frozen=True)
class SaltStack:
    """A running master, its minions and (optionally) its salt-api."""

    master = attr.ib()
    minions = attr.ib()
    api = attr.ib()
    sharedsecret = attr.ib()

    @property
    def url(self):
        """Base URL of the stack's salt-api."""
        return self.api.url

    @property
    def credentials(self):
        """Login body for the full-rights user (``sharedsecret`` eauth)."""
        return api_credentials(self.sharedsecret)


@contextlib.contextmanager
def salt_stack(
    salt_factories,
    master_overrides=None,
    minion_count=1,
    netapi_module=DEFAULT_NETAPI_MODULE,
    sharedsecret=None,
    with_api=True,
):
    """
    Start a fresh master (baseline config merged with ``master_overrides``), minions
    and salt-api; yield a :class:`SaltStack`; stop everything on exit.

    ``master_overrides`` follows :func:`salt_ext_rest.testing.config.merge_config` (lists
    replace, ``REMOVE`` deletes). Costs a few seconds per stack: prefer the session
    stack or :func:`salt_ext_rest.testing.saltapi.start_api` when they suffice.
    """
    sharedsecret = sharedsecret or new_sharedsecret()
    base = master_config(sharedsecret, netapi_module, ports.get_unused_localhost_port())
    master = master_factory(salt_factories, merge_config(base, master_overrides))
    with contextlib.ExitStack() as stack:
        stack.enter_context(master.started())
        minions = [
            stack.enter_context(minion_factory(master).started()) for _ in range(minion_count)
        ]
        api = None
        if with_api:
            api = stack.enter_context(api_started(salt_api_daemon(master, netapi_module)))
        yield SaltStack(master=master, minions=minions, api=api, sharedsecret=sharedsecret)
