"""
The master configuration shared by every integration test stack.

Authentication uses only Salt's test-friendly eauth backends (``auto`` and
``sharedsecret``): tests never create or use system users. Every server binds to
the loopback interface.
"""

import copy
import dataclasses
import os
import secrets

from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS

#: netapi modules the harness knows how to configure and check.
NETAPI_MODULES = ("rest_ext", "rest_cherrypy", "rest_tornado")
#: the module under test.
DEFAULT_NETAPI_MODULE = "rest_ext"
#: set e.g. ``SALT_EXT_REST_NETAPI_MODULE=rest_cherrypy`` to run the suite against Salt's module.
NETAPI_MODULE_ENV = "SALT_EXT_REST_NETAPI_MODULE"

LOOPBACK = "127.0.0.1"
#: user allowed everything, in both eauth backends.
API_USER = "saltdev"
#: user allowed only ``test.ping`` (auto) / ``test.*`` (sharedsecret).
LIMITED_USER = "limited"
#: user allowed ``test.*`` and ``grains.items`` on ``minion-1`` only (auto).
ONE_MINION_USER = "oneminion"

#: user whose wheel rights are restricted by argument: accept and generate keys of
#: minions named ``web*`` only, and nothing else (``sharedsecret`` only).
WEB_KEYS_USER = "webkeys"
WEB_KEYS_ACL = [
    {
        "@wheel": [
            {"key.accept": {"args": ["web.*"]}},
            {"key.gen_accept": {"args": ["web.*"]}},
        ]
    }
]

#: a JWT bearer's user (``test.*`` on minion-1) and group (``test.*`` on minion-2),
#: entries of the ``rest_ext`` eauth
JWT_USER = "oidc-alice"
JWT_GROUP = "oidc-ops"
#: a client certificate's user (``test.*`` on minion-1), an entry of the ``rest_ext`` eauth
CERT_USER = "cert-carol"

ENABLED_CLIENTS = list(NON_SSH_CLIENTS)


class _Remove:
    """Type of :data:`REMOVE`."""

    def __repr__(self):
        return "REMOVE"


#: use as a value in an overrides dict to delete that key from the merged config.
REMOVE = _Remove()


def netapi_module_from_env():
    """Return the netapi module to test: ``$SALT_EXT_REST_NETAPI_MODULE`` or ``rest_ext``."""
    module = os.environ.get(NETAPI_MODULE_ENV, DEFAULT_NETAPI_MODULE).strip()
    if module not in NETAPI_MODULES:
        raise ValueError(f"{NETAPI_MODULE_ENV}={module!r}: expected one of {NETAPI_MODULES}")
    return module


def new_sharedsecret():
    """Return a fresh random secret for the ``sharedsecret`` eauth backend."""
    return secrets.token_urlsafe(24)


def netapi_config(netapi_module, port, **extra):
    """
    Return the ``<netapi_module>:`` block: plain HTTP on loopback at ``port``.

    rest_tornado names the listen address ``address``; the others use ``host``.
    ``extra`` keys are added (or replace the defaults).
    """
    host_key = "address" if netapi_module == "rest_tornado" else "host"
    return {"port": int(port), host_key: LOOPBACK, "disable_ssl": True, **extra}


def external_auth_config():
    """Return ``external_auth`` with the two test backends and no system users, and the
    extension's ``rest_ext`` eauth (API keys; empty: its ACLs are the keys' scopes)."""
    full = [".*", "@runner", "@wheel", "@jobs"]
    return {
        "auto": {
            API_USER: list(full),
            LIMITED_USER: ["test.ping"],
            ONE_MINION_USER: [{"minion-1": ["test.*", "grains.items"]}],
        },
        "sharedsecret": {
            API_USER: list(full),
            LIMITED_USER: ["test.*"],
            WEB_KEYS_USER: copy.deepcopy(WEB_KEYS_ACL),
        },
        # JWT identities (keys ignore these entries: their ACL is their scopes)
        "rest_ext": {
            JWT_USER: [{"minion-1": ["test.*"]}],
            f"{JWT_GROUP}%": [{"minion-2": ["test.*"]}],
            CERT_USER: [{"minion-1": ["test.*"]}],
        },
    }


def master_config(sharedsecret, netapi_module, api_port):
    """Return the baseline master config every stack starts from (API block included)."""
    return {
        "netapi_enable_clients": list(ENABLED_CLIENTS),
        "external_auth": external_auth_config(),
        "sharedsecret": sharedsecret,
        netapi_module: netapi_config(netapi_module, api_port),
        "log_level_logfile": "debug",
    }


def merge_config(base, overrides):
    """
    Return a deep copy of ``base`` updated with ``overrides``.

    Nested dicts are merged, every other value (lists included) replaces the base
    value, and :data:`REMOVE` deletes the key. salt-factories' own merge appends
    lists instead, which makes "restrict ``netapi_enable_clients``" impossible;
    that's why fixtures merge here and hand salt-factories the final dict.
    """
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if value is REMOVE:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def api_credentials(sharedsecret, username=API_USER):
    """Return the login body for ``username`` through the ``sharedsecret`` backend."""
    return {"username": username, "password": sharedsecret, "eauth": "sharedsecret"}


@dataclasses.dataclass(frozen=True)
class RestExtApi:
    """A running API: its base URL (no trailing slash) and a full-rights login body."""

    url: str
    credentials: dict[str, str]
