"""What the readiness checks ask of Salt: a request-channel ping, a token-store round trip.

Both are used by :mod:`salt_ext_rest.operations.readiness`, which bounds and caches them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import salt.channel.client
import salt.exceptions
import salt.utils.network

#: the eauth name of the probe's throwaway token: no such backend exists, so no ACL
#: can ever be looked up for it
PROBE_EAUTH = "rest_ext_readiness_probe"
#: prefix of the probe token's key: not hexadecimal, so no client can present it as a
#: token (rest_ext refuses a token that is not in Salt's format before any lookup)
PROBE_KEY_PREFIX = "rest_ext-readiness-"
#: seconds the store keeps the probe entry should the removal itself fail
PROBE_ENTRY_TTL = 60


class ProbeFailed(Exception):
    """A check's answer was wrong; the message is short and safe to show."""


def master_uri(opts: dict[str, Any]) -> str:
    """The master's request server, as Salt's own clients address it."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        str(opts.get("interface", "")), str(opts.get("interface"))
    )
    return f"tcp://{salt.utils.network.ip_bracket(host)}:{int(opts.get('ret_port', 4506))}"


async def ping_master(opts: dict[str, Any], timeout: float) -> None:
    """One clear ``ping`` through the master's request channel (a master worker echoes
    the load back); raises :class:`ProbeFailed` when no correct echo comes in time.

    The opts are copied: Salt's channel factory writes ``master_uri`` into them.
    """
    uri = master_uri(opts)
    nonce = uuid.uuid4().hex
    load = {"cmd": "ping", "rest_ext_probe": nonce}
    channel = salt.channel.client.AsyncReqChannel.factory(
        {**opts, "master_uri": uri}, crypt="clear", master_uri=uri
    )
    try:
        reply = await channel.send(load, tries=1, timeout=timeout)
    except salt.exceptions.SaltReqTimeoutError:
        raise ProbeFailed(f"no answer on the request channel within {timeout:g}s") from None
    finally:
        await channel.close_async()
    if not isinstance(reply, dict) or reply.get("rest_ext_probe") != nonce:
        raise ProbeFailed("unexpected answer on the request channel")


def probe_token_store(loadauth: Any) -> None:
    """Write, read back and remove a throwaway entry in Salt's token store (the store
    logins use). Runs on an executor thread; raises :class:`ProbeFailed` on a mismatch.

    The entry is never a usable credential: its key is not in a token's format, it
    expired before it was written and it names an eauth backend that does not exist.
    """
    opts = loadauth.opts
    now = time.time()
    key = PROBE_KEY_PREFIX + uuid.uuid4().hex
    tdata = {"start": now, "expire": now - 1, "name": "rest_ext", "eauth": PROBE_EAUTH}
    if opts.get("eauth_tokens.cache_driver") == "rediscluster":  # Salt's legacy token modules
        _legacy_round_trip(loadauth, tdata)
        return
    cache = loadauth.cache
    try:
        cache.store("tokens", key, {**tdata, "token": key}, expires=PROBE_ENTRY_TTL)
        read = cache.fetch("tokens", key)
    finally:
        cache.flush("tokens", key)
    if not isinstance(read, dict) or read.get("token") != key:
        raise ProbeFailed("the token store did not return what was written")
    if cache.fetch("tokens", key):
        raise ProbeFailed("the token store did not remove the probe entry")


def _legacy_round_trip(loadauth: Any, tdata: dict[str, Any]) -> None:
    module = loadauth.opts["eauth_tokens"]
    written = loadauth.tokens[f"{module}.mk_token"](loadauth.opts, dict(tdata))
    key = written.get("token") if isinstance(written, dict) else None
    if not key:
        raise ProbeFailed("the token store refused a write")
    try:
        read = loadauth.tokens[f"{module}.get_token"](loadauth.opts, key)
    finally:
        loadauth.tokens[f"{module}.rm_token"](loadauth.opts, key)
    if not isinstance(read, dict) or read.get("token") != key:
        raise ProbeFailed("the token store did not return what was written")
