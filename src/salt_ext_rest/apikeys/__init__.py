"""Scoped API keys: a named secret with an eauth-style ACL, enforced by the master.

:mod:`.store` keeps the records (slow hash only) in the master's cachedir;
:mod:`.scopes` proves a key's scopes are within its creator's ACL;
:mod:`.authenticator` turns ``sre_...`` keys into identities backed by Salt tokens
of the ``rest_ext`` eauth (:mod:`salt_ext_rest.eauth.rest_ext`), whose ``acl()``
returns the key's scopes to Salt's own ``LoadAuth``.
"""
