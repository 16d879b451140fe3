"""Every per-thread Salt object, in one place.

Salt's clients, loaders and caches are not safe to share between threads, and
building one is costly (a loader scans Salt's modules). Each executor thread keeps
its own, built on first use. They are keyed by the ``opts`` dict they were built
from, so two gateways with different options in one process never share one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()


def _objects() -> dict[tuple[str, int], tuple[dict[str, Any], Any]]:
    objects = getattr(_local, "objects", None)
    if objects is None:
        objects = _local.objects = {}
    return objects


def per_thread(opts: dict[str, Any], name: str, factory: Callable[[dict[str, Any]], T]) -> T:
    """This thread's ``name`` for ``opts``, built with ``factory(opts)`` on first use."""
    objects = _objects()
    entry = objects.get((name, id(opts)))
    if entry is None or entry[0] is not opts:
        entry = objects[(name, id(opts))] = (opts, factory(opts))
    return entry[1]


def forget(opts: dict[str, Any], name: str) -> Any:
    """Drop this thread's ``name`` for ``opts`` (the next use builds a new one); returns it."""
    entry = _objects().pop((name, id(opts)), None)
    return entry[1] if entry is not None and entry[0] is opts else None
