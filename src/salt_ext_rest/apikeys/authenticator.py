"""``sre_...`` API keys, sent as ``Authorization: Bearer`` or ``X-Auth-Token``.

A key's first use in a worker pays the slow hash once: the key is the password of the
``rest_ext`` eauth, which mints a Salt token named after the key's id. After that the
worker remembers ``sha256(key) -> token`` and each request costs one token lookup
(Salt's token store, behind the worker's token cache), as a Salt token does. The
record is re-read (no KDF) every ``apikey_recheck_interval`` seconds.

Revocation bites at once: it deletes the record (the master's ``rest_ext.acl()``
then answers ``[]`` to every call) and revokes the key's Salt tokens with the usual
bus notice (every worker forgets them). Last-used times are written in batches.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salt_ext_rest.apikeys.store import EAUTH, PREFIX, KeyStore, is_live, parse_key
from salt_ext_rest.auth.identity import Credentials, Identity

if TYPE_CHECKING:
    from salt_ext_rest.services import Services

__all__ = ["EAUTH", "ApiKeyAuthenticator", "public"]
#: seconds between writes of last-used times
FLUSH_INTERVAL = 30.0


@dataclass
class _Entry:
    record: dict[str, Any]
    token: str
    recheck_at: float


class ApiKeyAuthenticator:
    name = "api-key"

    def __init__(self, context: Services) -> None:
        self.context = context
        self.store = KeyStore(context.opts)
        self.recheck = float(getattr(context.config, "apikey_recheck_interval", 10.0))
        self._entries: dict[str, _Entry] = {}
        self._minting: dict[str, asyncio.Future[_Entry | None]] = {}
        self._used: dict[str, float] = {}
        self._flushed_at = time.monotonic()
        self._writes: set[asyncio.Future[Any]] = set()

    @property
    def enabled(self) -> bool:
        return EAUTH in (self.context.opts.get("external_auth") or {})

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        key = credentials.token
        if not key or not key.startswith(PREFIX) or not self.enabled:
            return None
        parsed = parse_key(key)
        if parsed is None:
            return None
        fast = hashlib.sha256(key.encode()).hexdigest()
        entry = await self._cached(fast)
        tdata = await self.context.gateway.get_token(entry.token) if entry else {}
        if not tdata:
            self._entries.pop(fast, None)
            entry = await self._mint_once(fast, key)
            tdata = await self.context.gateway.get_token(entry.token) if entry else {}
        if entry is None or not tdata:
            return None
        self._note_used(parsed[0])
        identity = Identity.from_token_data(tdata, backend=self.name)
        identity.extra["key"] = public(entry.record)
        return identity

    async def _cached(self, fast: str) -> _Entry | None:
        entry = self._entries.get(fast)
        if entry is None:
            return None
        if not is_live(entry.record):
            self._entries.pop(fast, None)
            return None
        if time.monotonic() >= entry.recheck_at:
            record = await self.context.gateway.call(self.store.get, entry.record["id"])
            if not is_live(record) or (record or {}).get("hash") != entry.record.get("hash"):
                self._entries.pop(fast, None)
                return None
            entry.record, entry.recheck_at = record or {}, time.monotonic() + self.recheck
        return entry

    async def _mint_once(self, fast: str, key: str) -> _Entry | None:
        """One mint per key at a time (concurrent first requests share it)."""
        pending = self._minting.get(fast)
        if pending is None:
            pending = asyncio.ensure_future(self._mint(key))
            self._minting[fast] = pending
            pending.add_done_callback(lambda _f: self._minting.pop(fast, None))
        entry = await asyncio.shield(pending)
        if entry is not None:
            self._entries[fast] = entry
        return entry

    async def _mint(self, key: str) -> _Entry | None:
        kid = key[len(PREFIX) : len(PREFIX) + 16]
        creds = Credentials(username=kid, password=key, eauth=EAUTH, source="apikey")
        minted = await self.context.gateway.mint_token(creds)
        if not minted:
            return None
        gateway = self.context.gateway
        await gateway.call(self.store.add_token, kid, minted["token"])
        record = await gateway.call(self.store.get, kid)
        if not is_live(record):  # revoked while minting
            await gateway.revoke_token(minted["token"])
            return None
        return _Entry(record or {}, minted["token"], time.monotonic() + self.recheck)

    def forget(self, kid: str) -> None:
        """Drop what this worker remembers of key ``kid`` (revoked here)."""
        for fast, entry in list(self._entries.items()):
            if entry.record.get("id") == kid:
                del self._entries[fast]

    def _note_used(self, kid: str) -> None:
        self._used[kid] = time.time()
        if time.monotonic() - self._flushed_at < FLUSH_INTERVAL:
            return
        self._flushed_at = time.monotonic()
        batch = dict(self._used)  # still pending (shown) until the write is done
        write = asyncio.ensure_future(self.context.gateway.call(self.store.mark_used, batch))
        self._writes.add(write)
        write.add_done_callback(lambda f: self._written(f, batch))

    def _written(self, write: asyncio.Future[Any], batch: dict[str, float]) -> None:
        self._writes.discard(write)
        if write.cancelled() or write.exception() is not None:
            return  # kept pending: the next flush writes them
        for kid, when in batch.items():
            if self._used.get(kid) == when:
                del self._used[kid]

    def pending_use(self, kid: str) -> float | None:
        """A last-used time not yet written."""
        return self._used.get(kid)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a record: never the hash or its salt."""
    fields = ("id", "name", "owner", "owner_eauth", "scopes", "created", "expires")
    return {name: record.get(name) for name in fields}
