"""The document of a default configuration, built without Salt daemons (the docs'
HTTP API reference): every optional route on, every client but ``ssh`` enabled, only
the built-in plugins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from salt_ext_rest.auth.tokens import TokenFormat
from salt_ext_rest.config import RestConfig
from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS, LowstateValidator
from salt_ext_rest.plugins.manager import make_plugin_manager

REFERENCE_BLOCK: dict[str, Any] = {
    "port": 8000,
    "websockets": True,
    "app": "/srv/app/index.html",
    "static": "/srv/app/static",
    "favicon": "/srv/app/favicon.ico",
}


def reference_document() -> dict[str, Any]:
    from salt_ext_rest.http.routes import routes

    opts = {"netapi_enable_clients": list(NON_SSH_CLIENTS)}
    pm = make_plugin_manager(load_entry_points=False)
    context: Any = SimpleNamespace(
        opts=opts, config=RestConfig(**REFERENCE_BLOCK), pm=pm, token_format=TokenFormat(None)
    )
    context.validator = LowstateValidator(pm.hook.rest_lowstate_schemas(context=context), opts)
    table = routes(context)
    return dict(table[0][2]["document"])
