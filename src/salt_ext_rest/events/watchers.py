"""Consumers of raw bus events by tag prefix (the job index), beside the streams.

The bus hands each event whose tag starts with a registered prefix to its handler,
before redaction and before any stream: the handler keeps only what it needs and
must be cheap (it runs on the IOLoop, for every such event). A ``raw`` handler is
handed the body undecoded (bytes; or the data, when the bus decoded it anyway) and
decodes it elsewhere; an ``active`` test (asked per event, must be cheap) lets a
handler follow its prefixes only while it says yes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from salt_ext_rest.backend.bus_client import decode

log = logging.getLogger(__name__)

TagHandler = Callable[[str, Any], None]


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Watcher:
    prefixes: tuple[str, ...]
    handler: TagHandler
    raw: bool
    active: Callable[[], bool]


class TagWatchers:
    def __init__(self) -> None:
        self.handlers: list[Watcher] = []
        self.prefixes: tuple[str, ...] = ()  # every handler's: most tags fail one test

    def add(
        self,
        prefixes: tuple[str, ...],
        handler: TagHandler,
        *,
        raw: bool = False,
        active: Callable[[], bool] = _always,
    ) -> None:
        """Call ``handler(tag, data)`` for each event whose tag starts with a prefix
        (``raw``: ``handler(tag, body or data)``), while ``active()``."""
        self.handlers.append(Watcher(prefixes, handler, raw, active))
        self.prefixes = tuple(dict.fromkeys((*self.prefixes, *prefixes)))

    def wants(self, tag: str) -> bool:
        """Does a handler follow this tag? (asked before the event is decoded; a loop,
        not ``any()`` over a generator: asked for every event on the bus)"""
        if not tag.startswith(self.prefixes):
            return False
        for watcher in self.handlers:
            if tag.startswith(watcher.prefixes) and watcher.active():
                return True
        return False

    def feed(self, tag: Any, data: Any, body: bytes | None = None, undecoded: Any = None) -> Any:
        """Hand the event to its handlers, if any follows its tag (:meth:`wants` need
        not be asked first); ``data`` is ``undecoded`` when the bus did not decode
        ``body``: it is decoded here for a handler that is not ``raw`` (raises on a
        malformed body). The data, decoded or not."""
        if not isinstance(tag, str) or not tag.startswith(self.prefixes):
            return data
        for watcher in self.handlers:
            if not (tag.startswith(watcher.prefixes) and watcher.active()):
                continue
            if body is not None and data is undecoded and not watcher.raw:
                data = decode(body)
            try:
                watcher.handler(tag, body if watcher.raw and data is undecoded else data)
            except Exception:  # one bad consumer must not stop the bus
                log.exception("rest_ext: bus consumer failed (%s)", tag)
        return data
