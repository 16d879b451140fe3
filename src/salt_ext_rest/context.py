"""The one object every handler receives: configuration, plugins, Salt access.

It is assembled, and its event streams started, by :mod:`salt_ext_rest.assembly`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pluggy

from salt_ext_rest.auth.identity import Authenticator
from salt_ext_rest.auth.tokens import TokenFormat
from salt_ext_rest.authz import Policy
from salt_ext_rest.backend.dispatch import Dispatcher
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.backend.job_index import JobIndex
from salt_ext_rest.backend.jobs import JobRunner
from salt_ext_rest.config import RestConfig
from salt_ext_rest.errors import RestError
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.formatters import EventFormatter
from salt_ext_rest.events.visibility import VisibilityPolicy
from salt_ext_rest.lowstate.validation import LowstateValidator
from salt_ext_rest.operations.audit import Audit
from salt_ext_rest.operations.metrics import NullMetrics
from salt_ext_rest.shared.memory import MemoryState
from salt_ext_rest.shared.worker import WorkerShare

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    opts: dict[str, Any]
    config: RestConfig
    pm: pluggy.PluginManager
    gateway: SaltGateway
    dispatcher: Dispatcher
    token_format: TokenFormat
    bus: EventBus
    shared: WorkerShare = field(default_factory=lambda: WorkerShare(MemoryState()))
    started: float = field(default_factory=time.time)
    authenticators: list[Authenticator] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    validator: LowstateValidator | None = None
    formatters: dict[str, EventFormatter] = field(default_factory=dict)
    visibility: dict[str, VisibilityPolicy] = field(default_factory=dict)
    audit: Audit = field(default_factory=Audit.disabled)
    metrics: NullMetrics = field(default_factory=NullMetrics)  # real ones: operations.metrics
    #: synchronous local/runner calls with returns from the bus (issue 14)
    jobs: JobRunner | None = None
    #: the job index behind ``GET /jobs?limit=`` (issue 14); None: ``job_index: false``
    job_index: JobIndex | None = None

    @property
    def enabled_clients(self) -> list[str]:
        return list(self.validator.enabled) if self.validator else []

    def map_exception(self, exc: BaseException) -> RestError:
        if isinstance(exc, RestError):
            return exc
        mapped = self.pm.hook.rest_map_exception(exc=exc)
        if mapped is not None:
            return mapped
        log.error("rest_ext: unexpected error while serving a request", exc_info=exc)
        return RestError("An unexpected error occurred")

    def close(self) -> None:
        self.gateway.shutdown()
        self.audit.close()
