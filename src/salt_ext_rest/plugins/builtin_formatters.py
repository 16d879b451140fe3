"""Built-in plugin: event formatters."""

from __future__ import annotations

from salt_ext_rest.events.formatters import RawJsonFormatter
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_event_formatters(context):
    return [RawJsonFormatter()]
