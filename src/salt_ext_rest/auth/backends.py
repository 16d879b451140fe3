"""Built-in authenticators: Salt tokens and Salt eauth (whatever ``external_auth`` configures)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from salt_ext_rest.apikeys.store import EAUTH as KEY_EAUTH
from salt_ext_rest.auth.identity import Authenticator, Credentials, Identity
from salt_ext_rest.auth.throttle import LoginThrottle
from salt_ext_rest.errors import Forbidden, TooManyRequests

if TYPE_CHECKING:
    from salt_ext_rest.services import Services


class SaltTokenAuthenticator:
    """A Salt eauth token from ``X-Auth-Token``, the ``session_id`` cookie or an inline ``token``.

    The token's format is checked first: anything but hex of the master's
    ``hash_type`` length never reaches the token store.
    """

    name = "salt-token"

    def __init__(self, context: Services) -> None:
        self.context = context

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        token = credentials.token
        if not token or not self.context.token_format.is_valid(token):
            return None
        tdata = await self.context.gateway.get_token(token)
        if not tdata or tdata.get("expire", 0) < time.time():
            return None
        if tdata.get("eauth") not in (self.context.opts.get("external_auth") or {}):
            return None
        return Identity.from_token_data(tdata, backend=self.name)


class SaltEauthAuthenticator:
    """``username``/``password``/``eauth`` checked by Salt's eauth; mints a Salt token.

    eauth runs on a dedicated executor (never on the IOLoop); each attempt is
    throttled per username and per client address (:mod:`.throttle`, 429 with
    ``Retry-After``), and at most ``login_max_inflight`` checks wait at once.
    """

    name = "salt-eauth"

    def __init__(self, context: Services) -> None:
        self.context = context
        self._inflight = 0
        config = context.config
        self.throttle = LoginThrottle(
            context.shared.state,
            (config.login_user_burst, config.login_user_rate),
            (config.login_address_burst, config.login_address_rate),
        )

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        if not credentials.has_eauth:
            return None
        fields = (credentials.username, credentials.password, credentials.eauth)
        if not all(isinstance(value, str) for value in fields):
            return None  # not credentials eauth could check
        if credentials.eauth not in (self.context.opts.get("external_auth") or {}):
            return None
        if credentials.eauth == KEY_EAUTH:
            # API keys are sent as keys (apikeys.authenticator): every Salt token of a
            # key is then one rest_ext minted and revokes with the key, never handed out.
            return None
        username = str(credentials.username)
        await self.throttle.begin(username, credentials.address)
        if self._inflight >= self.context.config.login_max_inflight:
            raise TooManyRequests("Too many logins in progress; retry shortly")
        self._inflight += 1
        try:
            tdata = await self.context.gateway.mint_token(credentials)
        finally:
            self._inflight -= 1
        if not tdata:
            await self.throttle.refused(username, credentials.address)
            return None
        if not tdata.get("perms"):
            # Accepted by the eauth backend (PAM accepts every local account) but
            # allowed nothing by external_auth: no token, on any route that logs in.
            await self.context.gateway.revoke_token(tdata["token"])
            raise Forbidden("no permissions: the external_auth ACL of this user is empty")
        return Identity.from_token_data(tdata, backend=self.name)


async def authenticate(
    authenticators: Sequence[Authenticator], credentials: Credentials
) -> Identity | None:
    """Ask each authenticator in turn (plugins first, built-ins last)."""
    for authenticator in authenticators:
        identity = await authenticator.authenticate(credentials)
        if identity is not None:
            return identity
    await asyncio.sleep(0)
    return None
