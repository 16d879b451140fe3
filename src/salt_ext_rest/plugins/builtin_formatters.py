"""Built-in plugin: event formatters and visibility policies."""

from __future__ import annotations

from salt_ext_rest.events.formatted import FormattedView
from salt_ext_rest.events.formatters import (
    CherrypyWsFormatter,
    CloudEventsFormatter,
    RawJsonFormatter,
)
from salt_ext_rest.events.visibility import AclVisibility, ShowAll
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_event_formatters(context):
    source = f"salt-master/{context.opts.get('id', 'master')}"
    view = FormattedView(context)  # stateful: started with the event bus
    return [RawJsonFormatter(), CherrypyWsFormatter(), CloudEventsFormatter(source), view]


@hookimpl(trylast=True)
def rest_event_visibility(context):
    return [ShowAll(context), AclVisibility(context)]
