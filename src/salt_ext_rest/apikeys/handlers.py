"""``/apikeys``: create, list, show and revoke scoped API keys.

* ``POST /apikeys`` ``{name, scopes, expires_in?}`` → 201, the record and the key
  (shown this once). Scopes must be provably within the creator's own ACL (403
  naming what is not); an API key cannot create keys.
* ``GET /apikeys``: the caller's keys (a caller with unrestricted permissions sees all).
* ``GET /apikeys/<id>``, ``DELETE /apikeys/<id>``: one of the caller's keys (an
  unrestricted caller: anyone's); another's key is 404, as an unknown one.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

from salt_ext_rest.apikeys import scopes as scopes_mod
from salt_ext_rest.apikeys.authenticator import EAUTH, ApiKeyAuthenticator, public
from salt_ext_rest.apikeys.store import ID_RE, KeyStore, new_key
from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.acl import is_unrestricted
from salt_ext_rest.errors import BadRequest, Conflict, Forbidden, NotFound
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.operations.audit import identity_fields

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class _KeysBase(ApiHandler):
    @property
    def store(self) -> KeyStore:
        return KeyStore(self.context.opts)

    def authenticator(self) -> ApiKeyAuthenticator | None:
        # the authenticators may be wrapped (counted for /metrics): look inside
        each = (getattr(a, "inner", a) for a in self.context.authenticators)
        found = [a for a in each if isinstance(a, ApiKeyAuthenticator)]
        return found[0] if found else None

    async def caller(self) -> tuple[Identity, bool]:
        """The caller and whether its permissions are unrestricted (an admin)."""
        identity = await self.identify()
        acl = await self.context.gateway.auth_list(identity)
        return identity, is_unrestricted(acl)

    def view(self, record: dict[str, Any], last_used: float | None) -> dict[str, Any]:
        pending = None
        authenticator = self.authenticator()
        if authenticator is not None:
            pending = authenticator.pending_use(record["id"])
        used = max(filter(None, (last_used, pending)), default=None)
        return {**public(record), "last_used": used}

    async def visible(self, kid: str, identity: Identity, admin: bool) -> dict[str, Any]:
        record = (
            await self.context.gateway.call(self.store.get, kid) if ID_RE.fullmatch(kid) else None
        )
        if not record or not (admin or _owns(identity, record)):
            raise NotFound("No such API key")
        return record


def _owns(identity: Identity, record: Mapping[str, Any]) -> bool:
    return record.get("owner") == identity.name and record.get("owner_eauth") == identity.eauth


class ApiKeysHandler(_KeysBase):
    async def get(self) -> None:
        identity, admin = await self.caller()
        gateway = self.context.gateway
        records = await gateway.call(self.store.records)
        mine = [r for r in records if admin or _owns(identity, r)]
        used = await gateway.call(lambda: [self.store.last_used(r["id"]) for r in mine])
        self.send({"return": [self.view(r, u) for r, u in zip(mine, used, strict=True)]})

    async def post(self) -> None:
        body = await self.read_body()
        identity, admin = await self.caller()
        try:
            record = await self.create(body, identity, admin)
        except Exception as error:
            self.context.audit.refused("apikey_created", error, **identity_fields(identity))
            raise
        self.context.audit.record(
            "apikey_created", "ok", **identity_fields(identity), **_audited(record)
        )
        self.send({"return": record}, status=201)

    async def create(self, body: Any, identity: Identity, admin: bool) -> dict[str, Any]:
        """The new key's record and, this once, the key itself."""
        if identity.eauth == EAUTH and ID_RE.fullmatch(identity.name):
            raise Forbidden("An API key cannot create API keys")
        if EAUTH not in (self.context.opts.get("external_auth") or {}):
            raise Conflict("API keys need the rest_ext eauth: external_auth: {rest_ext: {}}")
        name, scopes, lifetime = self._request(body)
        if not admin:
            acl = await self.context.gateway.auth_list(identity)
            missing = scopes_mod.uncovered(scopes, acl)
            if missing:
                raise Forbidden(
                    "The scopes exceed your own permissions: "
                    + ", ".join(f"{kind} {fun!r} on {tgt!r}" for kind, tgt, fun in missing)
                )
        key, kid, secret = new_key()
        now = time.time()
        record = {
            "id": kid,
            "name": name,
            "owner": identity.name,
            "owner_eauth": identity.eauth,
            "scopes": scopes,
            "created": now,
            "expires": now + lifetime,
        }
        stored = await self.context.gateway.call(self.store.create, record, secret)
        return {**self.view(stored, None), "key": key}

    def _request(self, body: Any) -> tuple[str, list[Any], float]:
        if not isinstance(body, Mapping):
            raise BadRequest("The body is an object: {name, scopes, expires_in}")
        name, scopes = body.get("name"), body.get("scopes")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise BadRequest("'name': 1-64 letters, digits, '_', '.', '-'")
        try:
            if not scopes_mod.grants(scopes):
                raise scopes_mod.ScopeError("scopes may not be empty")
        except scopes_mod.ScopeError as exc:
            raise BadRequest(f"'scopes': {exc}") from None
        config = self.context.config
        lifetime = body.get("expires_in", config.apikey_default_lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise BadRequest("'expires_in': seconds, a positive number")
        if lifetime > config.apikey_max_lifetime:
            raise BadRequest(f"'expires_in': at most {config.apikey_max_lifetime} seconds")
        return name, list(scopes if isinstance(scopes, list) else ()), float(lifetime)


class ApiKeyHandler(_KeysBase):
    async def get(self, kid: str) -> None:
        identity, admin = await self.caller()
        record = await self.visible(kid, identity, admin)
        used = await self.context.gateway.call(self.store.last_used, kid)
        self.send({"return": self.view(record, used)})

    async def delete(self, kid: str) -> None:
        identity, admin = await self.caller()
        record = await self.visible(kid, identity, admin)
        gateway = self.context.gateway
        tokens = await gateway.call(self.store.delete, kid)
        authenticator = self.authenticator()
        if authenticator is not None:
            authenticator.forget(kid)
        await asyncio.gather(*(gateway.revoke_token(token) for token in tokens))
        fields = {**identity_fields(identity), **_audited(record)}
        self.context.audit.record("apikey_revoked", "ok", **fields, tokens=len(tokens))
        self.send({"return": {"id": kid, "revoked": True}})


def _audited(record: Mapping[str, Any]) -> dict[str, Any]:
    """An API key's audited fields: never its secret or hash."""
    names = ("id", "name", "owner", "owner_eauth", "scopes", "expires")
    return {f"key_{name}": record.get(name) for name in names}
