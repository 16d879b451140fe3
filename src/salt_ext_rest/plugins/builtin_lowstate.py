"""Built-in plugin: one JSON Schema per Salt client, shipped as package data."""

from __future__ import annotations

from salt_ext_rest.lowstate.validation import builtin_schemas
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_lowstate_schemas(context):
    return builtin_schemas()
