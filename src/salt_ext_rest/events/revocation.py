"""Revocation notices: a logout on any worker (or any master of a cluster) takes
effect on every worker at once.

``gateway.revoke_token`` deletes the token, then fires
``salt/netapi/rest_ext/internal/revoked`` with ``{"digest": sha256(token)}`` on the
master's bus. Every worker's bus hands it to :meth:`RevocationWatch.on_revoked`,
which forgets the token in the token cache (the next request reads the store) and
re-reads the store for the streams that token opened here, closing them (1008)
only if the token is gone.

The notice is a hint, the token store is the truth: any minion can fire an event
with that tag, so a notice never ends a session whose token the store still holds.
A worker that lost the bus may have missed notices: it forgets every cached token
when the bus comes back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import TYPE_CHECKING, Any

from salt_ext_rest.backend.token_cache import digest
from salt_ext_rest.events.service import CLOSE_POLICY

if TYPE_CHECKING:
    from salt_ext_rest.backend.gateway import SaltGateway
    from salt_ext_rest.events.bus import EventBus
    from salt_ext_rest.events.subscription import Subscription

log = logging.getLogger(__name__)

KIND = "revoked"
REASON = "token revoked"
_DIGEST = re.compile("[0-9a-f]{64}")


@functools.lru_cache(maxsize=4096)
def _digest_of(token: str) -> str:
    """The digest of an open stream's token, computed once per token, not per notice."""
    return digest(token)


class RevocationWatch:
    """Acts on revocation notices and bus reconnects for one worker."""

    def __init__(self, gateway: SaltGateway, bus: EventBus) -> None:
        self.gateway, self.bus = gateway, bus
        self._rechecks: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        self.bus.on_internal(KIND, self.on_revoked)
        self.bus.on_reconnect(self.on_reconnect)

    def on_revoked(self, data: dict[str, Any]) -> None:
        token_digest = data.get("digest")
        if not isinstance(token_digest, str) or not _DIGEST.fullmatch(token_digest):
            log.debug("rest_ext: ignored a revocation notice without a valid digest")
            return
        self.gateway.token_cache.forget_digest(token_digest)
        streams = self.streams_of(token_digest)
        if streams:
            token = streams[0].identity.token  # type: ignore[union-attr]
            task = asyncio.get_running_loop().create_task(self.recheck(token, streams))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    def streams_of(self, token_digest: str) -> list[Subscription]:
        """The open streams of this worker authenticated by the token with that digest
        (live ones, and those still waiting for a resume)."""
        return [
            sub
            for sub in self.bus.everyone()
            if sub.closed is None
            and sub.identity is not None
            and _digest_of(sub.identity.token) == token_digest
        ]

    async def recheck(self, token: str, streams: list[Subscription]) -> None:
        """Close ``streams`` if the store no longer holds ``token`` (read afresh: the
        notice made the cache forget it)."""
        try:
            tdata = await self.gateway.get_token(token)
        except Exception as exc:  # the store unreadable: the streams' guard rechecks later
            log.warning("rest_ext: could not recheck a revoked token: %r", exc)
            return
        if tdata:
            log.warning("rest_ext: ignored a revocation notice for a token the store holds")
            return
        for sub in streams:
            sub.close(REASON, CLOSE_POLICY)

    def on_reconnect(self) -> None:
        """The bus was lost: notices may have been missed, so no cached token is trusted."""
        self.gateway.token_cache.clear()
