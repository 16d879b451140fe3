"""Built-in plugin: API key, JWT bearer, Salt token, client certificate and Salt eauth
authentication, Salt ACL policy."""

from __future__ import annotations

from salt_ext_rest.apikeys.authenticator import ApiKeyAuthenticator
from salt_ext_rest.auth.backends import SaltEauthAuthenticator, SaltTokenAuthenticator
from salt_ext_rest.auth.client_cert import ClientCertAuthenticator
from salt_ext_rest.auth.jwt_bearer import JwtAuthenticator
from salt_ext_rest.authz import SaltAclPolicy
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_authenticators(context):
    jwt = [JwtAuthenticator(context)] if context.config.jwt_jwks else []
    certs = [ClientCertAuthenticator(context)] if context.config.client_cert_auth != "off" else []
    return [
        ApiKeyAuthenticator(context),
        *jwt,
        SaltTokenAuthenticator(context),
        *certs,
        SaltEauthAuthenticator(context),
    ]


@hookimpl(trylast=True)
def rest_policies(context):
    return [SaltAclPolicy(context.gateway)]
