"""Built-in plugin: map Salt's exceptions to HTTP errors."""

from __future__ import annotations

from salt_ext_rest.errors import from_salt_exception
from salt_ext_rest.plugins.markers import hookimpl


@hookimpl(trylast=True)
def rest_map_exception(exc):
    return from_salt_exception(exc)
