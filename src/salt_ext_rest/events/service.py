"""Opening a stream: visibility for the caller, filters, resume, and a guard that ends
the stream when the caller's token expires or is revoked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.errors import BadRequest
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.formatters import EventFormatter
from salt_ext_rest.events.subscription import Subscription
from salt_ext_rest.events.visibility import VisibilityPolicy
from salt_ext_rest.services import Services

if TYPE_CHECKING:
    from salt_ext_rest.events.bus import EventBus
    from salt_ext_rest.operations.metrics import NullMetrics

CLOSE_POLICY = 1008


class StreamContext(Services, Protocol):
    """What opening a stream needs: the services, the bus, visibility policies and formatters."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def visibility(self) -> Mapping[str, VisibilityPolicy]: ...

    @property
    def formatters(self) -> Mapping[str, EventFormatter]: ...

    @property
    def metrics(self) -> NullMetrics: ...


@dataclass
class Stream:
    """A subscription plus what ends it; ``close()`` when the client goes away."""

    context: StreamContext
    subscription: Subscription
    formatter: EventFormatter
    guard: asyncio.Task | None = field(default=None, repr=False)
    ended: Callable[[], None] | None = field(default=None, repr=False)  # /metrics

    def close(self) -> None:
        if self.ended is not None:
            self.ended()
        if self.guard is not None:
            self.guard.cancel()
        self.subscription.close("client closed the stream")
        self.context.bus.unsubscribe(self.subscription)


def formatter_for(context: StreamContext, name: str | None, default: str) -> EventFormatter:
    chosen = name or default
    if chosen not in context.formatters:
        known = ", ".join(sorted(context.formatters))
        raise BadRequest(f"Unknown event format {chosen!r}; available: {known}", path="format")
    return context.formatters[chosen]


async def open_stream(
    context: StreamContext,
    identity: Identity,
    event_filter: EventFilter,
    formatter: EventFormatter,
    last_id: str | None = None,
    transport: str = "websocket",
) -> Stream:
    """A stream of the bus for ``identity``, or the stream of a stateful formatter
    (one with ``open_stream``, such as the formatted view), which serves its own;
    counted open until it is closed."""
    stream = await _open(context, identity, event_filter, formatter, last_id, transport)
    stream.ended = context.metrics.stream_opened(transport, formatter.name)
    return stream


async def _open(
    context: StreamContext,
    identity: Identity,
    event_filter: EventFilter,
    formatter: EventFormatter,
    last_id: str | None,
    transport: str,
) -> Stream:
    serve = getattr(formatter, "open_stream", None)
    if serve is not None:
        stream: Stream = await serve(identity, event_filter, transport)
        return stream
    policy = context.visibility[context.config.event_visibility]
    visible = await policy.prepare(identity)

    def matcher(event) -> bool:
        return event_filter.matches(event) and visible(event)

    sub = context.bus.subscribe(identity, matcher, last_id)
    stream = Stream(context, sub, formatter)
    stream.guard = asyncio.get_running_loop().create_task(_guard(context, sub, identity))
    return stream


async def _guard(context: StreamContext, sub: Subscription, identity: Identity) -> None:
    """Close ``sub`` when the token expires, or within an interval of its revocation."""
    interval = context.config.stream_recheck_interval
    while sub.closed is None:
        remaining = identity.expire - time.time()
        if remaining <= 0:
            sub.close("token expired", CLOSE_POLICY)
            return
        await asyncio.sleep(min(interval, remaining))
        if sub.closed is None and not await context.gateway.get_token(identity.token):
            sub.close("token expired or revoked", CLOSE_POLICY)
