"""Client certificates (mTLS): a certificate the TLS handshake verified names a Salt user.

``client_cert_auth: optional | required`` with ``ssl_client_ca``: OpenSSL checks the
chain and validity dates during the handshake (an expired or foreign certificate
never reaches a handler). ``client_cert_user`` picks the name: the subject's ``cn``,
or the first ``email``, ``dns`` or ``uri`` subject alternative name. The user gets a
``rest_ext`` Salt token minted with this worker's proof (:mod:`.proof`), so the
master applies ``external_auth: rest_ext:`` to it. A certificate is used only when
the request carries no other credentials; verified ones are remembered by their
SHA-256 until they expire.
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING, Any

from salt_ext_rest.apikeys.store import EAUTH, ID_RE
from salt_ext_rest.auth import proof
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.auth.jwt_bearer import USER_RE
from salt_ext_rest.errors import Forbidden

if TYPE_CHECKING:
    from salt_ext_rest.services import Services

SAN_TYPES = {"email": "email", "dns": "DNS", "uri": "URI"}


def cert_user(cert: dict[str, Any], field: str) -> str | None:
    """The Salt user a verified certificate names, by ``client_cert_user``."""
    if field == "cn":
        names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
    else:
        names = [v for k, v in cert.get("subjectAltName", ()) if k == SAN_TYPES[field]]
    user = names[0] if names else None
    if not isinstance(user, str) or not USER_RE.fullmatch(user) or ID_RE.fullmatch(user):
        return None
    return user


class ClientCertAuthenticator:
    name = "client-cert"

    def __init__(self, context: Services) -> None:
        self.context = context
        self._verified: dict[str, tuple[float, str]] = {}  # sha256 -> (notAfter, Salt token)

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        presented = credentials.client_cert
        if not presented or credentials.token or credentials.has_eauth:
            return None
        if EAUTH not in (self.context.opts.get("external_auth") or {}):
            return None
        gateway = self.context.gateway
        hit = self._verified.get(presented["sha256"])
        if hit and hit[0] > time.time():
            tdata = await gateway.get_token(hit[1])
            if tdata:
                return Identity.from_token_data(tdata, backend=self.name)
        cert = presented["cert"] or {}
        user = cert_user(cert, self.context.config.client_cert_user)
        if user is None:
            return None
        creds = Credentials(username=user, password=proof.issue(user, []), eauth=EAUTH)
        tdata = await gateway.mint_token(creds)
        if not tdata:
            return None
        if not tdata.get("perms"):
            await gateway.revoke_token(tdata["token"])
            raise Forbidden("no permissions: external_auth grants this identity nothing")
        not_after = ssl.cert_time_to_seconds(cert["notAfter"]) if "notAfter" in cert else 0
        if len(self._verified) > 10000:
            self._verified.clear()
        self._verified[presented["sha256"]] = (float(not_after), tdata["token"])
        return Identity.from_token_data(tdata, backend=self.name)
