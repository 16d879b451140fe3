"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness), without authentication.

``/healthz`` answers from the IOLoop alone: the process runs and its loop serves.
``/readyz`` answers 200 when every readiness check passes, else 503 with the failing
checks' names and ``Retry-After``; a caller with a valid token also gets each check's
outcome (``checks``). Neither is written to the access log unless ``log_probes``.
"""

from __future__ import annotations

import asyncio
import math
import re

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.http.credentials import COOKIE, from_request
from salt_ext_rest.operations.checks import readiness_for
from salt_ext_rest.operations.readiness import Readiness

Route = tuple[str, type, dict[str, object]]


class ProbeHandler(ApiHandler):
    """Base of both probes: kept out of the access log unless ``log_probes``."""

    @property
    def quiet(self) -> bool:
        return not self.context.config.log_probes


class HealthHandler(ProbeHandler):
    async def get(self) -> None:
        self.send({"status": "ok"})


class ReadyHandler(ProbeHandler):
    def initialize(self, context: ApiContext, readiness: Readiness) -> None:  # type: ignore[override]
        super().initialize(context)
        self.readiness = readiness

    async def get(self) -> None:
        report = await self.readiness.report()
        body = report.body(details=await self.authenticated())
        if not report.ready:
            self.set_header("Retry-After", str(max(1, math.ceil(self.readiness.max_age))))
        self.send(body, 200 if report.ready else 503)

    async def authenticated(self) -> bool:
        """Does the request carry a valid token (header or cookie)? Never raises: an
        invalid or unverifiable token only means no details."""
        found = from_request(self.request, self.get_cookie(COOKIE))
        if not found.token:
            return False
        try:
            await asyncio.wait_for(self.identify(found), self.context.config.probe_timeout)
        except Exception:  # invalid, expired or unverifiable in time: no details
            return False
        return True


def probe_routes(context: ApiContext) -> list[Route]:
    """The two probes at ``health_path`` and ``ready_path`` (below ``root_prefix``);
    one :class:`Readiness` per worker."""
    config = context.config
    ready = {"context": context, "readiness": readiness_for(context)}
    return [
        (_pattern(config.health_path), HealthHandler, {"context": context}),
        (_pattern(config.ready_path), ReadyHandler, ready),
    ]


def _pattern(path: str) -> str:
    return re.escape("/" + path.strip("/")) + "/?"
