"""The readiness checks of one worker, built from its context.

* ``master``: the master takes connections on its ``ret_port`` and a master worker
  echoes a ``ping`` sent through the request channel (the path every job takes);
* ``bus``: this worker's subscription to the master's event bus runs and is connected;
* ``token_store``: a throwaway entry is written to, read from and removed from Salt's
  token store (the one logins use), on an executor thread;
* ``shared_store`` (only with ``shared_store`` set): the store answered the worker's
  last heartbeat (written every second), i.e. it is not marked unavailable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from salt_ext_rest.context import ApiContext
from salt_ext_rest.operations.readiness import Check, Readiness


class CheckFailed(Exception):
    """A check did not pass; the message is its detail."""


def master_check(context: ApiContext) -> Check:
    async def master() -> str:
        started = time.monotonic()
        if not await context.gateway.master_reachable():
            raise CheckFailed("the master's ret_port refuses connections")
        # what is left of the check's bound (Readiness cuts it off there anyway)
        left = context.config.probe_timeout - (time.monotonic() - started)
        await context.gateway.ping_master(max(left, 0.05))
        return "request channel answered"

    return master


def bus_check(context: ApiContext) -> Check:
    async def bus() -> str:
        if not context.bus.running:
            raise CheckFailed("the event bus subscription is not running")
        if not context.bus.connected.is_set():
            raise CheckFailed("not connected to the master's event bus")
        return f"connected, {context.bus.received} events received"

    return bus


def token_store_check(context: ApiContext) -> Check:
    async def token_store() -> str:
        await context.gateway.probe_token_store()
        return "write, read and remove succeeded"

    return token_store


def shared_store_check(context: ApiContext) -> Check:
    async def shared_store() -> str:
        status: dict[str, Any] = context.shared.state.status()
        if not status.get("available", True):
            raise CheckFailed(f"unavailable: {status.get('last_error') or 'no answer'}")
        return f"{status.get('kind', 'store')} available"

    return shared_store


CHECKS: dict[str, Callable[[ApiContext], Check]] = {
    "master": master_check,
    "bus": bus_check,
    "token_store": token_store_check,
}


def readiness_for(context: ApiContext) -> Readiness:
    """The worker's :class:`Readiness`, each check bounded by ``probe_timeout``."""
    checks = {name: make(context) for name, make in CHECKS.items()}
    if context.config.shared_store:
        checks["shared_store"] = shared_store_check(context)
    return Readiness(checks, context.config.probe_timeout)
