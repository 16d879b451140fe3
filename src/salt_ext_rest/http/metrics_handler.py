"""``GET /metrics`` (``metrics_path``): the Prometheus text exposition of the deployment.

Who may scrape is ``metrics_access``: ``token`` (any valid API token or session
cookie; 401 otherwise), ``open``, or ``addresses`` (TCP peers within
``metrics_allow``; 403 otherwise; ``X-Forwarded-For`` is never believed). Refusals are
the API's usual JSON errors. The exposition is read from every worker's files on an
executor thread, never on the IOLoop.
"""

from __future__ import annotations

import ipaddress

from salt_ext_rest.errors import Forbidden, NotFound
from salt_ext_rest.http import origin, render
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.operations.metrics import CONTENT_TYPE, Metrics


def peer_allowed(peer: str, allow: tuple[str, ...]) -> bool:
    """Is ``peer`` (an address) inside one of the ``allow`` networks?"""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    candidates = [address] if mapped is None else [address, mapped]
    return any(a in net for net in origin.networks(allow) for a in candidates)


class MetricsHandler(ApiHandler):
    def negotiate(self) -> str:
        # Prometheus asks for text formats: the exposition is not negotiated, and a
        # refusal is JSON whatever was asked for.
        try:
            return super().negotiate()
        except Exception:
            return render.JSON

    async def get(self) -> None:
        await self.check_access()
        metrics = self.context.metrics
        if not isinstance(metrics, Metrics):
            raise NotFound("Metrics are not collected in this process")
        metrics.sample()
        body = await self.context.gateway.call(metrics.exposition)
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)

    async def check_access(self) -> None:
        config = self.context.config
        if config.metrics_access == "open":
            return
        if config.metrics_access == "addresses":
            if not peer_allowed(self.peer_address(), config.metrics_allow):
                raise Forbidden("This address may not read the metrics")
            return
        await self.identify()
