"""Consumers of raw bus events by tag prefix (the job index), beside the streams.

The bus hands each event whose tag starts with a registered prefix to its handler,
before redaction and before any stream: the handler keeps only what it needs and
must be cheap (it runs on the IOLoop, for every such event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

TagHandler = Callable[[str, Any], None]


class TagWatchers:
    def __init__(self) -> None:
        self.handlers: list[tuple[tuple[str, ...], TagHandler]] = []

    def add(self, prefixes: tuple[str, ...], handler: TagHandler) -> None:
        """Call ``handler(tag, data)`` for each event whose tag starts with a prefix."""
        self.handlers.append((prefixes, handler))

    def wants(self, tag: str) -> bool:
        """Does a handler follow this tag? (asked before the event is decoded)"""
        return any(tag.startswith(prefixes) for prefixes, _handler in self.handlers)

    def feed(self, tag: Any, data: Any) -> None:
        if not isinstance(tag, str):
            return
        for prefixes, handler in self.handlers:
            if tag.startswith(prefixes):
                try:
                    handler(tag, data)
                except Exception:  # one bad consumer must not stop the bus
                    log.exception("rest_ext: bus consumer failed (%s)", tag)
