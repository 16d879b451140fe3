"""Event formatters: turn one Salt event into one message for a stream."""

from __future__ import annotations

import json
from typing import Any, Protocol


class EventFormatter(Protocol):
    name: str
    media_type: str

    def format(self, event: dict[str, Any]) -> str | None:
        """Return the message for ``event`` (``{"tag", "data"}``), or ``None`` to skip it."""
        ...


class RawJsonFormatter:
    """rest_tornado's ``/all_events`` frame: ``{"tag": ..., "data": {...}}``."""

    name = "raw"
    media_type = "application/json"

    def format(self, event: dict[str, Any]) -> str | None:
        return json.dumps({"tag": event.get("tag"), "data": event.get("data")}, default=str)
