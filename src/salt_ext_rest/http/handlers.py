"""rest_cherrypy-compatible endpoints: /, /login, /logout, /token, /run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.errors import Forbidden, PayloadTooLarge, Unauthorized
from salt_ext_rest.http import origin
from salt_ext_rest.http.base import ApiHandler, cookie_path
from salt_ext_rest.http.credentials import COOKIE
from salt_ext_rest.http.lowstate_run import as_caller, precheck, run_lowstate
from salt_ext_rest.lowstate.chunks import as_chunks
from salt_ext_rest.operations import audit

#: credential sets ``POST /token`` mints in one request
MAX_TOKEN_REQUESTS = 10


class RootHandler(ApiHandler):
    async def get(self) -> None:
        self.send({"return": "Welcome", "clients": self.context.enabled_clients})

    async def post(self) -> None:
        data = await self.read_body()
        precheck(self.context, data)
        identity = await self.identify()
        results = await run_lowstate(
            self.context, as_chunks(data), as_caller(identity), self.large_body
        )
        self.send({"return": results})


def credentials_from(data: Any) -> Credentials:
    """``{username, password, eauth}`` from a login body (dict, or a list with one dict).

    A body that parsed but carries no usable credentials is 401 with the reason, as
    rest_cherrypy answers it (only an unparseable body is 400)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        raise Unauthorized("Could not authenticate: send username, password and eauth")
    for key in ("username", "password", "eauth"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise Unauthorized(
                f"Could not authenticate: $.{key} must be a non-empty string", path=f"$.{key}"
            )
    return Credentials(
        username=data["username"], password=data["password"], eauth=data["eauth"], source="body"
    )


class LoginHandler(ApiHandler):
    async def get(self) -> None:
        self.set_header("WWW-Authenticate", "Session")
        self.send({"status": None, "return": "Please log in"})

    async def post(self) -> None:
        data = await self.read_body()
        try:
            identity, perms = await self._log_in(data)
        except Exception as error:
            self.context.audit.login_refused(data, error)
            raise
        self.context.audit.login(identity)
        self.set_header("X-Auth-Token", identity.token)
        self._set_session_cookie(identity)
        self.send(
            {
                "return": [
                    {
                        "token": identity.token,
                        "expire": identity.expire,
                        "start": identity.start,
                        "user": identity.name,
                        "eauth": identity.eauth,
                        "perms": perms or {},
                    }
                ]
            }
        )

    async def _log_in(self, data: Any) -> tuple[Identity, Any]:
        credentials = self.with_address(credentials_from(data))
        identity = await authenticate(self.context.authenticators, credentials)
        if identity is None:
            raise Unauthorized("Could not authenticate using provided credentials")
        perms = identity.extra.get("perms")
        if perms is None:  # an authenticator that does not compute them
            perms = await self.context.gateway.permissions(identity.token_data())
        if not perms:  # accepted by the eauth backend, allowed nothing: no session
            await self.context.gateway.revoke_token(identity.token)
            raise Forbidden("no permissions: the external_auth ACL of this user is empty")
        return identity, perms

    def _set_session_cookie(self, identity: Identity) -> None:
        config = self.context.config
        self.set_cookie(
            COOKIE,
            identity.token,
            path=cookie_path(config),
            expires=identity.expire,
            httponly=True,
            secure=origin.request_scheme(self.request, config.trusted_proxies) == "https",
            samesite=config.cookie_samesite,
        )


class LogoutHandler(ApiHandler):
    async def post(self) -> None:
        identity = await self.identify()
        await self.context.gateway.revoke_token(identity.token)
        self.context.audit.record("logout", "ok", **audit.identity_fields(identity))
        self.context.bus.close_token(identity.token, "logged out")
        self.clear_cookie(COOKIE, path=cookie_path(self.context.config))
        self.send({"return": "Your token has been cleared"})


class TokenHandler(ApiHandler):
    """``POST /token``: mint Salt tokens; a bare list, as rest_cherrypy."""

    async def post(self) -> None:
        data = await self.read_body()
        items = data if isinstance(data, list) else [data]
        if len(items) > MAX_TOKEN_REQUESTS:
            raise PayloadTooLarge(f"At most {MAX_TOKEN_REQUESTS} credential sets per request")
        identities: list[Identity] = []
        try:
            for item in items:
                identities.append(await self._mint(item))
        except BaseException:
            for minted in identities:  # all or nothing: no token outlives a refused request
                await self.context.gateway.revoke_token(minted.token)
            raise
        for identity in identities:
            self.context.audit.login(identity, event="token")
        self.send([_token_record(identity) for identity in identities])

    async def _mint(self, item: Any) -> Identity:
        try:
            credentials = self.with_address(credentials_from(item))
            identity = await authenticate(self.context.authenticators, credentials)
            if identity is None:
                raise Unauthorized("Could not authenticate using provided credentials")
        except Exception as error:
            self.context.audit.login_refused(item, error, event="token")
            raise
        return identity


def _token_record(identity: Identity) -> dict[str, Any]:
    return {k: v for k, v in identity.token_data().items() if k != "groups"}


class RunHandler(ApiHandler):
    """``POST /run``: credentials travel inside each chunk; no session."""

    async def post(self) -> None:
        data = await self.read_body()
        precheck(self.context, data)
        chunks = as_chunks(data)
        results = await run_lowstate(self.context, chunks, self._identify_chunk, self.large_body)
        self.send({"return": results})

    async def _identify_chunk(self, chunk: dict[str, Any]) -> Identity:
        return await self.identify_inline(chunk, "inline") or await self.identify()
