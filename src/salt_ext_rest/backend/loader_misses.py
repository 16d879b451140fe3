"""Remember which functions an eauth loader lacks.

``LoadAuth`` asks its loader for optional functions on every login and ACL lookup
(``auto.groups``, ``auto.acl``, ``auto.process_acl``: most eauth modules define none
of them). Salt's ``LazyLoader`` answers each miss by rescanning its module
directories, four rescans per login, about a third of a login's CPU. Misses are
remembered here for ``ttl`` seconds, so a module installed later is still found.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

MISS_TTL = 60.0


class KnownMisses:
    """A stand-in for a Salt loader that answers repeated misses without a rescan."""

    def __init__(self, loader: Any, ttl: float = MISS_TTL) -> None:
        self._loader, self._ttl = loader, ttl
        self._misses: dict[str, float] = {}  # name -> monotonic time it was missing

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return name in self._loader
        seen = self._misses.get(name)
        if seen is not None and time.monotonic() - seen < self._ttl:
            return False
        found = name in self._loader
        if found:
            self._misses.pop(name, None)
        else:
            self._misses[name] = time.monotonic()
        return found

    def __getitem__(self, name: str) -> Any:
        return self._loader[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loader)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)
