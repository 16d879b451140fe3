"""rest_cherrypy-compatible endpoints: /, /login, /logout, /token, /run (R1–R4, R8, R14)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.errors import BadRequest, Unauthorized
from salt_ext_rest.http import origin
from salt_ext_rest.http.base import COOKIE, ApiHandler, cookie_path
from salt_ext_rest.http.lowstate_run import parse_lowstate, run_lowstate


class RootHandler(ApiHandler):
    async def get(self) -> None:
        self.send({"return": "Welcome", "clients": self.context.enabled_clients})

    async def post(self) -> None:
        chunks = parse_lowstate(self.context, self.decoded_body())
        identity = await self.identify()
        results = await run_lowstate(self.context, chunks, lambda _chunk: _same(identity))
        self.send({"return": results})


async def _same(identity: Identity) -> Identity:
    return identity


def credentials_from(data: Any) -> Credentials:
    """``{username, password, eauth}`` from a login body (dict, or a list with one dict)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        raise BadRequest("Send username, password and eauth")
    for key in ("username", "password", "eauth"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise BadRequest(f"$.{key}: a non-empty string is required", path=f"$.{key}")
    return Credentials(
        username=data["username"], password=data["password"], eauth=data["eauth"], source="body"
    )


class LoginHandler(ApiHandler):
    async def get(self) -> None:
        self.set_header("WWW-Authenticate", "Session")
        self.send({"status": None, "return": "Please log in"})

    async def post(self) -> None:
        identity = await authenticate(self.context, credentials_from(self.decoded_body()))
        if identity is None:
            raise Unauthorized("Could not authenticate using provided credentials")
        perms = identity.extra.get("perms")
        if perms is None:  # an authenticator that does not compute them
            perms = await self.context.gateway.permissions(identity.token_data())
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
        if self.context.bus is not None:
            self.context.bus.close_token(identity.token, "logged out")
        self.clear_cookie(COOKIE, path=cookie_path(self.context.config))
        self.send({"return": "Your token has been cleared"})


class TokenHandler(ApiHandler):
    """``POST /token``: mint Salt tokens; a bare list, as rest_cherrypy (R8)."""

    async def post(self) -> None:
        data = self.decoded_body()
        items = data if isinstance(data, list) else [data]
        tokens = []
        for item in items:
            identity = await authenticate(self.context, credentials_from(item))
            if identity is None:
                raise Unauthorized("Could not authenticate using provided credentials")
            tokens.append({k: v for k, v in identity.token_data().items() if k != "groups"})
        self.send(tokens)


class RunHandler(ApiHandler):
    """``POST /run``: credentials travel inside each chunk; no session (R8)."""

    async def post(self) -> None:
        chunks = parse_lowstate(self.context, self.decoded_body())
        results = await run_lowstate(self.context, chunks, self._identify_chunk)
        self.send({"return": results})

    async def _identify_chunk(self, chunk: dict[str, Any]) -> Identity:
        return await self.identify_inline(chunk, "inline") or await self.identify()
