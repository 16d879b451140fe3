"""OIDC/JWT bearer tokens: ``Authorization: Bearer <JWT>`` checked with PyJWT.

Issuer, audience, expiry and not-before are required and checked; the algorithm must
be one of ``jwt_algorithms`` (asymmetric only: ``none`` and HMAC never verify) and the
key is the JWKS key named by the token's ``kid``. The claim ``jwt_user_claim`` names
the Salt user, ``jwt_groups_claim`` its groups. The identity gets a Salt token of the
``rest_ext`` eauth (minted with this worker's proof, :mod:`.proof`), so the master
applies the ``external_auth: rest_ext:`` entries of the user and its ``group%`` to
everything it runs. A verified JWT is remembered (by its SHA-256) until it expires.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import jwt

from salt_ext_rest.apikeys.store import EAUTH, ID_RE
from salt_ext_rest.auth import proof
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.auth.jwks import Jwks
from salt_ext_rest.errors import Forbidden

if TYPE_CHECKING:
    from salt_ext_rest.services import Services

log = logging.getLogger(__name__)

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
USER_RE = re.compile(r"[A-Za-z0-9@._+-]{1,128}")


class JwtAuthenticator:
    name = "jwt"

    def __init__(self, context: Services) -> None:
        self.context = context
        config = context.config
        self.config = config
        self.jwks = Jwks(config.jwt_jwks, config.jwt_jwks_ttl, context.gateway.call)
        self._verified: dict[str, tuple[float, str]] = {}  # sha256 -> (exp, Salt token)

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        token = credentials.token
        if not token or not JWT_RE.fullmatch(token) or EAUTH not in self._eauths():
            return None
        fast = hashlib.sha256(token.encode()).hexdigest()
        hit = self._verified.get(fast)
        if hit and hit[0] > time.time():
            tdata = await self.context.gateway.get_token(hit[1])
            if tdata:
                return Identity.from_token_data(tdata, backend=self.name)
        self._verified.pop(fast, None)
        claims = await self.verify(token)
        if claims is None:
            return None
        user, groups = self.subject(claims)
        if user is None:
            return None
        creds = Credentials(username=user, password=proof.issue(user, groups), eauth=EAUTH)
        tdata = await self.context.gateway.mint_token(creds)
        if not tdata:
            return None
        if not tdata.get("perms"):
            await self.context.gateway.revoke_token(tdata["token"])
            raise Forbidden("no permissions: external_auth grants this identity nothing")
        if len(self._verified) > 10000:
            self._verified.clear()
        self._verified[fast] = (float(claims["exp"]), tdata["token"])
        return Identity.from_token_data(tdata, backend=self.name)

    def _eauths(self) -> dict[str, Any]:
        return self.context.opts.get("external_auth") or {}

    async def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token that passes every check, else ``None``."""
        config = self.config
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in config.jwt_algorithms:
                return None
            key = await self.jwks.key(str(header.get("kid", "")))
            if key is None:
                return None
            return jwt.decode(
                token,
                key,
                algorithms=list(config.jwt_algorithms),
                audience=config.jwt_audience,
                issuer=config.jwt_issuer,
                leeway=config.jwt_leeway,
                options={"require": ["exp", "iss", "aud"], "verify_nbf": True},
            )
        except jwt.PyJWTError as exc:
            log.debug("rest_ext: JWT refused: %s", type(exc).__name__)
            return None

    def subject(self, claims: dict[str, Any]) -> tuple[str | None, list[str]]:
        """The Salt user and groups the claims name (``None``: no usable user)."""
        user = claims.get(self.config.jwt_user_claim)
        if not isinstance(user, str) or not USER_RE.fullmatch(user) or ID_RE.fullmatch(user):
            return None, []
        groups = claims.get(self.config.jwt_groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            groups = []
        return user, [g for g in groups if isinstance(g, str) and USER_RE.fullmatch(g)]
