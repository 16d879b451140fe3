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
from salt_ext_rest.backend.dispatch import JobReturns, Many
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import PayloadTooLarge, ServiceUnavailable, refused_after_login
from salt_ext_rest.lowstate.chunks import as_chunks, normalise, strip_credentials
from salt_ext_rest.operations.audit import job_id

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
            await _authorize(context, identity, chunk)
        results: list[Any] = []
        for identity, chunk in zip(identities, chunks, strict=True):
            results.extend(await _run_chunk(context, identity, chunk))
        return results
    finally:
        for identity in {i.token: i for i in identities if i.ephemeral}.values():
            await context.gateway.revoke_token(identity.token)


async def _authorize(context: ApiContext, identity: Identity, chunk: dict[str, Any]) -> None:
    """The policies' verdict on one chunk; a refusal is audited."""
    try:
        await authorize(context.policies, identity, [chunk])
    except Exception as exc:
        context.audit.chunk(identity, chunk, exc)
        raise


async def _run_chunk(context: ApiContext, identity: Identity, chunk: dict[str, Any]) -> list[Any]:
    """Run one chunk; audited as allowed (with its jid) or as Salt's refusal or error,
    and counted (chunks by client and outcome, jobs published)."""
    try:
        result = await _salt_run(context, identity, chunk)
    except Exception as exc:
        context.audit.chunk(identity, chunk, exc)
        raise
    client, jid = str(chunk["client"]), job_id(chunk["client"], result)
    context.audit.chunk(identity, chunk, jid=jid)
    context.metrics.chunk(client, "ok")
    if jid and client in JOB_CLIENTS:
        context.metrics.job_published(client)
    if isinstance(result, JobReturns):
        return [dict(result)]
    return list(result) if isinstance(result, Many) else [result]


#: clients that publish a job to minions
JOB_CLIENTS = frozenset(
    {"local", "local_async", "local_subset", "local_batch", "runner_async", "wheel_async"}
)


async def _salt_run(context: ApiContext, identity: Identity, chunk: dict[str, Any]) -> Any:
    client, metrics = str(chunk.get("client")), context.metrics
    if not await context.gateway.master_reachable():
        metrics.chunk(client, "unavailable")
        raise ServiceUnavailable("The Salt master is not available")
    # Salt sees only the token: passwords never travel in a publish, where minions
    # and event bus listeners could read them.
    low = {**strip_credentials(chunk), "token": identity.token}
    if identity.eauth == KEY_EAUTH:
        # Names the eauth whose acl() Salt's LoadAuth asks for this token's scopes
        # (without it the master falls back to external_auth's empty rest_ext entry).
        low["eauth"] = KEY_EAUTH
    try:
        if context.jobs is not None and context.jobs.handles(low):
            return await context.jobs.run(low)  # returns from the bus's one subscription
        return await context.gateway.call(context.dispatcher.run, low)
    except Exception as exc:
        refused = refused_after_login(exc, identity.name)
        metrics.chunk(client, "error" if refused is None else "refused")
        if refused is None:
            raise
        raise refused from None
