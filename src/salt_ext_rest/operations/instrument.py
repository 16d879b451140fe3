"""Where the metrics come from: the context's components, wired up at assembly.

* authenticators are wrapped (:class:`CountedAuthenticator`): results by backend;
* the bus, the token cache and the executors keep their own tallies, followed by
  :meth:`Metrics.watch` and sampled once a second (:func:`start_sampling`);
* requests are counted by the application (``log_request``), chunks and jobs by the
  lowstate run path, streams where they open (:mod:`salt_ext_rest.events.service`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from salt_ext_rest.auth.identity import Authenticator, Credentials, Identity
from salt_ext_rest.auth.throttle import LoginThrottled
from salt_ext_rest.config import RestConfig
from salt_ext_rest.errors import Forbidden, TooManyRequests
from salt_ext_rest.operations.metrics import (
    ENV,
    Metrics,
    NullMetrics,
    metrics_directory,
)

if TYPE_CHECKING:
    from salt_ext_rest.context import ApiContext

#: built-in backends and the credentials they judge: ``None`` from them is a refusal
ADDRESSED = {
    "salt-token": lambda c: bool(c.token),
    "salt-eauth": lambda c: c.has_eauth,
}


def make_metrics(opts: dict[str, Any], config: RestConfig) -> NullMetrics:
    """The worker's metrics, when ``metrics`` is on and the server prepared a directory
    (``PROMETHEUS_MULTIPROC_DIR`` names this deployment's): otherwise no-ops, e.g. in
    salt-api's parent process, which only checks the configuration."""
    if not config.metrics:
        return NullMetrics()
    directory = metrics_directory(opts, config.port)
    if os.environ.get(ENV) != directory:
        return NullMetrics()
    return Metrics(directory, periodic=config.num_processes > 1)


class CountedAuthenticator:
    """An authenticator whose results are counted by backend and result."""

    def __init__(self, inner: Authenticator, metrics: NullMetrics) -> None:
        self.inner, self.metrics, self.name = inner, metrics, inner.name
        self.addressed = ADDRESSED.get(inner.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        try:
            identity = await self.inner.authenticate(credentials)
        except LoginThrottled:
            self.metrics.auth(self.name, "throttled")
            self.metrics.login_throttled()
            raise
        except TooManyRequests:
            self.metrics.auth(self.name, "busy")
            raise
        except Forbidden:
            self.metrics.auth(self.name, "forbidden")
            raise
        except Exception:
            self.metrics.auth(self.name, "error")
            raise
        if identity is not None:
            self.metrics.auth(self.name, "ok")
        elif self.addressed is not None and self.addressed(credentials):
            self.metrics.auth(self.name, "rejected")
        return identity


def instrument(context: ApiContext) -> None:
    """Count the authenticators' results and follow the components' tallies."""
    metrics = context.metrics
    if not metrics.enabled:
        return
    context.authenticators = [CountedAuthenticator(a, metrics) for a in context.authenticators]
    bus, gateway = context.bus, context.gateway
    metrics.watch("events_received", lambda: bus.received)
    metrics.watch("events_delivered", lambda: bus.queued)
    metrics.watch("events_dropped_undecodable", lambda: bus.undecodable + bus.backlog.undecodable)
    metrics.watch("events_dropped_slow_consumer", lambda: bus.slow_dropped)
    metrics.watch("slow_consumers_cut", lambda: bus.cut)
    metrics.watch("bus_reconnects", lambda: bus.reconnects)
    cache = gateway.token_cache
    metrics.watch("token_cache_hit", lambda: cache.hits)
    metrics.watch("token_cache_miss", lambda: cache.misses)
    metrics.watch("queue_salt", lambda: gateway.pool._work_queue.qsize())
    metrics.watch("queue_auth", lambda: gateway.auth_pool._work_queue.qsize())
