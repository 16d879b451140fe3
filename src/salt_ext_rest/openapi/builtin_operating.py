"""The operations of the routes for operating and identity: the probes, ``/metrics``,
``/me`` and ``/apikeys`` (merged into :data:`salt_ext_rest.openapi.builtin.BUILTIN`)."""

from __future__ import annotations

from typing import Any

from salt_ext_rest.apikeys.handlers import ApiKeyHandler, ApiKeysHandler
from salt_ext_rest.http.me import MeHandler
from salt_ext_rest.http.metrics_handler import MetricsHandler
from salt_ext_rest.openapi.describe import operation, response, schema
from salt_ext_rest.operations.probes import HealthHandler, ReadyHandler

OPERATIONS: dict[type, dict[str, Any]] = {
    HealthHandler: {
        "get": operation("Liveness: the process answers", schema("healthz"), auth=False)
    },
    ReadyHandler: {
        "get": operation(
            "Readiness: master, event bus, token store (and shared store) work",
            schema("readyz"),
            auth="optional",
            description="Check details only for an authenticated caller",
            responses={"503": response(schema("readyz"), "Not ready: the failing checks")},
        )
    },
    MetricsHandler: {
        "get": operation(
            "Prometheus metrics of this host's workers",
            auth="optional",
            description="Who may read them is set by ``metrics_access`` (default: a token)",
            errors=(401, 403),
            responses={
                "200": response(
                    {"type": "string"}, "Prometheus text exposition format", ("text/plain",)
                )
            },
        )
    },
}


def _keys(part: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/apikeys/$defs/{part}"}


KEY_ID = {"kid": {"type": "string"}}
IDENTITY: dict[type, dict[str, Any]] = {
    MeHandler: {"get": operation("Who the caller is and what it may run", schema("me"))},
    ApiKeysHandler: {
        "get": operation("The caller's API keys (an unrestricted caller: all)", _keys("list")),
        "post": operation(
            "Create a scoped API key (its secret is shown this once)",
            _keys("created"),
            status=201,
            body=_keys("create"),
            errors=(409,),
        ),
    },
    ApiKeyHandler: {
        "path": KEY_ID,
        "get": operation("One API key's record", _keys("shown"), errors=(404,)),
        "delete": operation(
            "Revoke an API key (its tokens end at once)", _keys("revoked"), errors=(404,)
        ),
    },
}
OPERATING = {**OPERATIONS, **IDENTITY}
