"""Event formatters: turn one bus event into one message for a stream.

Built-ins (registered by a ``trylast`` plugin): ``raw`` (rest_tornado's
``{"tag", "data"}``), ``sse`` (rest_cherrypy's ``/ws`` text frames ``data: <json>``),
``cloudevents`` (CloudEvents 1.0 structured JSON), and ``formatted``, the minions/jobs
view, a stateful formatter that serves its own streams
(:mod:`salt_ext_rest.events.formatted`).
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Protocol

from salt_ext_rest.events.model import BusEvent


class EventFormatter(Protocol):
    name: str
    media_type: str

    def format(self, event: BusEvent) -> str | None:
        """Return the message for ``event``, or ``None`` to skip it."""
        ...


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


class RawJsonFormatter:
    """rest_tornado's ``/all_events`` frame and the SSE ``data:`` payload."""

    name = "raw"
    media_type = "application/json"

    def format(self, event: BusEvent) -> str | None:
        return dumps({"tag": event.tag, "data": event.data})


class CherrypyWsFormatter:
    """rest_cherrypy's ``/ws`` text frame: ``data: <json>`` and a blank line."""

    name = "sse"
    media_type = "text/plain"

    def format(self, event: BusEvent) -> str | None:
        return f"data: {dumps({'tag': event.tag, 'data': event.data})}\n\n"


class CloudEventsFormatter:
    """CloudEvents 1.0, structured JSON mode."""

    name = "cloudevents"
    media_type = "application/cloudevents+json"

    def __init__(self, source: str = "salt-master") -> None:
        self.source = source

    def format(self, event: BusEvent) -> str | None:
        stamp = datetime.datetime.fromtimestamp(event.stamp or 0, datetime.timezone.utc)
        return dumps(
            {
                "specversion": "1.0",
                "id": event.id,
                "source": self.source,
                "type": "io.saltproject.event" if not event.notice else "io.saltproject.notice",
                "subject": event.tag,
                "time": stamp.isoformat().replace("+00:00", "Z"),
                "datacontenttype": "application/json",
                "data": event.data,
            }
        )
