"""``GET /me``: who the caller is and what it may do, for any identity.

``{"return": {name, eauth, backend, groups, expire, key, permissions}}``: ``key`` is
the API key's public record (``null`` for other identities), ``expire`` when the
identity stops working (a key's expiry when sooner than its token's), ``permissions``
the ACL Salt enforces for the caller (what a UI may offer).
"""

from __future__ import annotations

from salt_ext_rest.http.base import ApiHandler


class MeHandler(ApiHandler):
    async def get(self) -> None:
        identity = await self.identify()
        permissions = await self.context.gateway.permissions(identity.token_data())
        key = identity.extra.get("key")
        expire = identity.expire
        if key and key.get("expires"):
            expire = min(expire, float(key["expires"]))
        me = {
            "name": identity.name,
            "eauth": identity.eauth,
            "backend": identity.backend,
            "groups": list(identity.groups),
            "expire": expire,
            "key": key,
            "permissions": permissions,
        }
        self.send({"return": me})
