"""Startup: build the context from the plugins' contributions, start its event streams.

Each worker process builds one :class:`~salt_ext_rest.context.ApiContext` (after the
fork) and starts the bus subscription and the formatted view on its IOLoop; salt-api's
parent process builds one first, only to check what plugins contribute.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pluggy

from salt_ext_rest.auth.tokens import TokenFormat
from salt_ext_rest.backend.dispatch import Dispatcher
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.backend.job_index import JobIndex, index_path
from salt_ext_rest.backend.jobs import JobRunner
from salt_ext_rest.config import ConfigError, RestConfig
from salt_ext_rest.context import ApiContext
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.redact import Redactor
from salt_ext_rest.events.revocation import RevocationWatch
from salt_ext_rest.events.shared_history import attach_shared_history
from salt_ext_rest.lowstate.validation import LowstateValidator
from salt_ext_rest.operations.audit import Audit
from salt_ext_rest.operations.audit_sink import open_sink
from salt_ext_rest.operations.instrument import instrument, make_metrics
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.shared.select import make_link, make_shared_state
from salt_ext_rest.shared.worker import WorkerShare


def build_context(
    opts: dict[str, Any],
    config: RestConfig,
    pm: pluggy.PluginManager | None = None,
    gateway: SaltGateway | None = None,
) -> ApiContext:
    """Build the context and collect what plugins contribute (once, at startup)."""
    gateway = gateway or SaltGateway(
        opts, config.thread_pool, config.auth_thread_pool, config.token_cache_ttl
    )
    link = make_link(config)
    redactor = Redactor(config.event_redact_keys)  # the streams' rules, and the audit log's
    context = ApiContext(
        opts=opts,
        config=config,
        pm=pm or make_plugin_manager(),
        gateway=gateway,
        dispatcher=Dispatcher(gateway),
        token_format=TokenFormat(opts.get("hash_type")),
        bus=EventBus(
            opts,
            config.event_replay_size,
            config.event_queue_size,
            redactor,
            idle_hold=config.event_idle_hold,
        ),
        shared=WorkerShare(make_shared_state(opts, config, link)),
        audit=Audit(open_sink(config), redactor),
        metrics=make_metrics(opts, config),
    )
    context.jobs = JobRunner(gateway, context.dispatcher, context.bus)
    if config.job_index:
        path = index_path(opts, config.job_index_path)
        context.job_index = JobIndex(opts, path, context.bus.redact)
    if link is not None:
        attach_shared_history(context.bus, link, config.event_history_size)
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
    instrument(context)
    return context


def check_plugins(opts: dict[str, Any], config: RestConfig) -> None:
    """Build the context once, as a worker will, and throw it away.

    What only plugins know (``event_visibility`` policies, formatters, schemas) is then
    checked when salt-api starts, not in each worker after the fork; raises
    :class:`ConfigError`. Nothing is started: no bus subscription, no thread.
    """
    build_context(opts, config).close()


def start_streams(context: ApiContext) -> None:
    """Subscribe to the master's event bus (with revocation notices acted on), then
    start the stateful formatters (the formatted view): those with a ``start()`` (on
    the running loop); start the worker's heartbeat to the shared state."""
    RevocationWatch(context.gateway, context.bus).install()
    if context.job_index is not None:  # before the bus starts: no job event is missed
        index = context.job_index  # the writer only; it decodes on its own thread
        context.bus.watchers.add(
            ("salt/job/", "salt/run/"), index.on_event, raw=True, active=index.wants_events
        )
        context.job_index.start()
    context.bus.start()
    context.shared.start()
    context.audit.start()
    context.metrics.start()
    for formatter in context.formatters.values():
        start = getattr(formatter, "start", None)
        if callable(start):
            start()


async def stop_streams(context: ApiContext) -> None:
    """End every stream, the stateful formatters' (``await stop()``) first, then the bus."""
    for formatter in context.formatters.values():
        stop = getattr(formatter, "stop", None)
        if callable(stop):
            await stop()
    await context.bus.stop()
    await context.shared.stop()
    context.metrics.stop()
    if context.job_index is not None:
        context.job_index.stop()
    if context.jobs is not None:  # the worker's publish channel, closed rather than dropped
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(context.jobs.publisher.close(), 5)
