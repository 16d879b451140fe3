"""The one object every handler receives: configuration, plugins, Salt access."""

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
from salt_ext_rest.config import ConfigError, RestConfig
from salt_ext_rest.errors import RestError
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.formatted import FormattedView
from salt_ext_rest.events.formatters import EventFormatter
from salt_ext_rest.events.redact import Redactor
from salt_ext_rest.events.visibility import VisibilityPolicy
from salt_ext_rest.lowstate.validation import LowstateValidator
from salt_ext_rest.plugins.manager import make_plugin_manager

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    opts: dict[str, Any]
    config: RestConfig
    pm: pluggy.PluginManager
    gateway: SaltGateway
    dispatcher: Dispatcher
    token_format: TokenFormat
    started: float = field(default_factory=time.time)
    authenticators: list[Authenticator] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    validator: LowstateValidator | None = None
    formatters: dict[str, EventFormatter] = field(default_factory=dict)
    visibility: dict[str, VisibilityPolicy] = field(default_factory=dict)
    bus: EventBus | None = None
    view: FormattedView | None = None

    @classmethod
    def build(
        cls,
        opts: dict[str, Any],
        config: RestConfig,
        pm: pluggy.PluginManager | None = None,
        gateway: SaltGateway | None = None,
    ):
        """Build the context and collect what plugins contribute (once, at startup)."""
        gateway = gateway or SaltGateway(
            opts, config.thread_pool, config.auth_thread_pool, config.token_cache_ttl
        )
        context = cls(
            opts=opts,
            config=config,
            pm=pm or make_plugin_manager(),
            gateway=gateway,
            dispatcher=Dispatcher(gateway),
            token_format=TokenFormat(opts.get("hash_type")),
        )
        hook = context.pm.hook
        context.authenticators = [
            a for group in hook.rest_authenticators(context=context) for a in group
        ]
        context.policies = [p for group in hook.rest_policies(context=context) for p in group]
        context.validator = LowstateValidator(hook.rest_lowstate_schemas(context=context), opts)
        for group in hook.rest_event_formatters(context=context):
            for formatter in group:
                context.formatters.setdefault(formatter.name, formatter)
        for group in hook.rest_event_visibility(context=context):
            for policy in group:
                context.visibility.setdefault(policy.name, policy)
        if config.event_visibility not in context.visibility:
            known = ", ".join(sorted(context.visibility))
            raise ConfigError(f"'event_visibility': unknown policy; available: {known}")
        return context

    def start_events(self) -> EventBus:
        """Subscribe to the master event bus (once per process, on the running loop)."""
        if self.bus is None:
            config = self.config
            self.bus = EventBus(
                self.opts,
                config.event_replay_size,
                config.event_queue_size,
                Redactor(config.event_redact_keys),
            )
            self.bus.start()
        return self.bus

    def start_view(self) -> FormattedView:
        """Start the formatted minions/jobs view (after :meth:`start_events`)."""
        if self.view is None:
            self.start_events()
            self.view = FormattedView(self)
            self.view.start()
        return self.view

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


def check_plugins(opts: dict[str, Any], config: RestConfig) -> None:
    """Build the context once, as a worker will, and throw it away.

    What only plugins know (``event_visibility`` policies, formatters, schemas) is then
    checked when salt-api starts, not in each worker after the fork; raises
    :class:`ConfigError`. Nothing is started: no bus subscription, no thread.
    """
    ApiContext.build(opts, config).close()
