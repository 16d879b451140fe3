"""Salt eauth module ``rest_ext``: identities rest_ext verifies itself (API keys, OIDC/JWT).

Loaded by Salt from the extension (:func:`salt_ext_rest.loader.loader_dirs` names this
directory for the ``auth`` loader), in salt-api and in the master. Enable it with::

    external_auth:
      rest_ext: {}

* ``auth(username, password)``: ``username`` is a key's id, ``password`` the key;
  true only for a live key whose secret matches (the slow hash is checked).
  Or ``password`` is a proof made by this very process (:mod:`salt_ext_rest.auth.proof`)
  that it verified ``username`` (a JWT bearer): only a salt-api worker can mint those.
* ``groups(username, password)``: a proof's groups (the JWT's group claim).
* ``acl(username, token=...)``: for a key (a 16-hex id), the key's scopes, read from
  the key store on every call, so Salt's ``LoadAuth`` checks publishes, runner and
  wheel calls made with the key's Salt token against them; a revoked or expired key
  gets ``[]`` (nothing). For any other name ``None``: Salt then applies the
  ``external_auth: rest_ext:`` entries of the user and its ``group%``. When the load
  carries a ``token``, the identity is the token's, never the claimed ``username``.
"""

import logging
import time
from typing import Any

import salt.cache

from salt_ext_rest.apikeys.store import ID_RE, KeyStore, is_live
from salt_ext_rest.auth import proof

log = logging.getLogger(__name__)

__virtualname__ = "rest_ext"
EAUTH = "rest_ext"
_TOKEN_STORES: dict[int, Any] = {}
__opts__: dict[str, Any]


def __virtual__():
    return __virtualname__


def _token_store(opts):
    key = id(opts)
    if key not in _TOKEN_STORES:
        cluster_id = opts.get("eauth_tokens.cluster_id") or opts.get("cluster_id")
        _TOKEN_STORES[key] = salt.cache.factory(
            opts, driver=opts.get("eauth_tokens.cache_driver", "localfs"), cluster_id=cluster_id
        )
    return _TOKEN_STORES[key]


def _token_owner(opts, token):
    """The key id a live ``rest_ext`` Salt token was minted for, or ``None``."""
    try:
        tdata = _token_store(opts).fetch("tokens", token)
    except Exception:  # pylint: disable=broad-except
        return None
    if not isinstance(tdata, dict) or tdata.get("eauth") != EAUTH:
        return None
    if tdata.get("expire", 0) < time.time():
        return None
    return tdata.get("name")


def auth(username, password, **kwargs):
    """Is ``password`` the live key whose id is ``username``, or this process's proof?"""
    verified = proof.check(password)
    if verified is not None:
        return verified.get("user") == username and not ID_RE.fullmatch(str(username))
    record = KeyStore(__opts__).verify(password)
    return record is not None and record.get("id") == username


def groups(username, password=None, **kwargs):
    """The groups a proof carries (a JWT's group claim); none for a key."""
    verified = proof.check(password)
    if verified is None or verified.get("user") != username:
        return []
    return [str(group) for group in verified.get("groups") or []]


def acl(username=None, token=None, **kwargs):
    """A key's scopes (``[]`` for an unknown, revoked or expired key); ``None`` for
    other identities (Salt then reads ``external_auth: rest_ext:``)."""
    name = _token_owner(__opts__, token) if token else username
    if not isinstance(name, str):
        return []
    if not ID_RE.fullmatch(name):
        return None
    record = KeyStore(__opts__).get(name)
    if record is None or not is_live(record):
        return []
    return list(record.get("scopes") or [])
