"""Built-in plugin: Salt token and Salt eauth authentication, Salt ACL policy."""

from __future__ import annotations

from salt_ext_rest.auth.backends import SaltEauthAuthenticator, SaltTokenAuthenticator
from salt_ext_rest.authz import SaltAclPolicy
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_authenticators(context):
    return [SaltTokenAuthenticator(context), SaltEauthAuthenticator(context)]


@hookimpl(trylast=True)
def rest_policies(context):
    return [SaltAclPolicy(context.gateway)]
