"""The lowstate request path: cheap checks → authenticate → validate → authorize → dispatch.

Before authentication only what needs no walk of the body runs (the chunk count and
the client allow-list), so an unauthenticated caller cannot make the API validate a
large body. Every token minted for the request (inline eauth credentials) is revoked
when it ends, whatever failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from salt_ext_rest.apikeys.authenticator import EAUTH as KEY_EAUTH
from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.authz import authorize
from salt_ext_rest.backend.dispatch import Many
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import PayloadTooLarge, ServiceUnavailable, refused_after_login
from salt_ext_rest.lowstate.chunks import as_chunks, normalise, strip_credentials

Identify = Callable[[dict[str, Any]], Awaitable[Identity]]

#: more chunks than this are validated on an executor thread, not on the IOLoop
OFFLOOP_CHUNKS = 16


def as_caller(identity: Identity) -> Identify:
    """The :data:`Identify` of a request whose chunks all run as one caller."""

    async def same(_chunk: dict[str, Any]) -> Identity:
        return identity

    return same


def precheck(context: ApiContext, data: Any, client: str | None = None) -> None:
    """Before authentication: at most ``max_lowstate_chunks`` chunks (413), and each
    ``client`` named (or ``client``, when the route forces one) known and enabled (400)."""
    items = [data] if isinstance(data, Mapping) else data if isinstance(data, list) else []
    limit = context.config.max_lowstate_chunks
    if len(items) > limit:
        raise PayloadTooLarge(f"At most {limit} lowstate chunks are accepted per request")
    assert context.validator is not None
    context.validator.check_clients([{"client": client}] if client else items)


def parse_lowstate(context: ApiContext, data: Any) -> list[dict[str, Any]]:
    """Decoded body → validated chunks (400 with the JSON path on bad input)."""
    chunks = [normalise(chunk) for chunk in as_chunks(data)]
    assert context.validator is not None
    context.validator.check(chunks)
    return chunks


async def validate(
    context: ApiContext, chunks: list[dict[str, Any]], offload: bool = False
) -> list[dict[str, Any]]:
    """:func:`parse_lowstate`, on an executor thread when the body is large."""
    if offload or len(chunks) > OFFLOOP_CHUNKS:
        return await context.gateway.call(parse_lowstate, context, chunks)
    return parse_lowstate(context, chunks)


async def run_lowstate(
    context: ApiContext, chunks: list[dict[str, Any]], identify: Identify, offload: bool = False
) -> list[Any]:
    """Authenticate every chunk, validate them, authorize each, then run them in order."""
    identities: list[Identity] = []
    try:
        for chunk in chunks:
            identities.append(await identify(chunk))
        chunks = await validate(context, chunks, offload)
        for identity, chunk in zip(identities, chunks, strict=True):
            await authorize(context.policies, identity, [chunk])
        results: list[Any] = []
        for identity, chunk in zip(identities, chunks, strict=True):
            results.extend(await _run_chunk(context, identity, chunk))
        return results
    finally:
        for identity in {i.token: i for i in identities if i.ephemeral}.values():
            await context.gateway.revoke_token(identity.token)


async def _run_chunk(context: ApiContext, identity: Identity, chunk: dict[str, Any]) -> list[Any]:
    if not await context.gateway.master_reachable():
        raise ServiceUnavailable("The Salt master is not available")
    # Salt sees only the token: passwords never travel in a publish, where minions
    # and event bus listeners could read them.
    low = {**strip_credentials(chunk), "token": identity.token}
    if identity.eauth == KEY_EAUTH:
        # Names the eauth whose acl() Salt's LoadAuth asks for this token's scopes
        # (without it the master falls back to external_auth's empty rest_ext entry).
        low["eauth"] = KEY_EAUTH
    try:
        result = await context.gateway.call(context.dispatcher.run, low)
    except Exception as exc:
        refused = refused_after_login(exc, identity.name)
        if refused is None:
            raise
        raise refused from None
    return list(result) if isinstance(result, Many) else [result]
