"""Runner and wheel ACL checks on the IOLoop, when they are cheap and pure.

A caller's eauth ACL is computed by Salt on an executor thread (its eauth module may
read a store); here it is remembered beside the caller's token in the token cache
(:class:`~salt_ext_rest.backend.token_cache.TokenCache`), so it lives no longer than
the token's entry (``token_cache_ttl``) and dies with it: logout, revocation notice,
refresh of the entry. When no argument of a call can change Salt's verdict
(:func:`~salt_ext_rest.backend.acl.arguments_matter` is false, as for SaltGUI's admin
ACL or a bare ``@runner``), Salt's own ``spec_check`` decides on the loop; otherwise
the exact check runs on the executor as before. No executor hop, no store read, and no
executor thread's first-use Salt objects for the common case.
"""

from __future__ import annotations

from typing import Any

import salt.utils.minions

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import acl


class LoopAcl:
    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self._ckminions: salt.utils.minions.CkMinions | None = None

    async def auth_list(self, identity: Identity) -> list[Any]:
        """The gateway's ``auth_list``, remembered with the token's cache entry."""
        key = (identity.name, identity.eauth, identity.groups, identity.start, identity.expire)
        cache = self.gateway.token_cache
        found = cache.acl(identity.token, key)
        if found is not None:
            return list(found)
        entry = cache.entry(identity.token)  # what the ACL is computed for
        acl_list = list(await self.gateway.auth_list(identity))
        cache.remember_acl(identity.token, entry, key, acl_list)
        return acl_list

    async def allowed(self, identity: Identity, chunk: dict[str, Any], form: str) -> bool:
        """Salt's runner/wheel verdict: here when no argument matters, else the exact
        check on the executor, with the arguments the call will really run with."""
        acl_list = await self.auth_list(identity)
        if acl.arguments_matter(acl_list):
            return bool(
                await self.gateway.call(acl.call_allowed, self.gateway, identity, chunk, form)
            )
        return acl.name_allowed(await self.ckminions(), acl_list, chunk["fun"], form)

    async def ckminions(self) -> salt.utils.minions.CkMinions:
        """A CkMinions used on the loop only, for its pure matching (built off the loop)."""
        if self._ckminions is None:
            built = await self.gateway.call(salt.utils.minions.CkMinions, self.gateway.opts)
            self._ckminions = self._ckminions or built
        return self._ckminions
