"""What a plugin author imports: ``from salt_ext_rest.plugins import hookimpl, ApiHandler, ...``.

Each name is loaded on first use (so importing the hook markers does not pull in the
HTTP layer). Where each lives:

* :data:`hookimpl`: the hook marker (also ``salt_ext_rest.hookimpl``);
* :class:`Services`: what hooks receive as ``context`` (``opts``, ``config``,
  ``gateway``, ``token_format``);
* :class:`Credentials`, :class:`Identity`, :class:`Authenticator` (``rest_authenticators``);
* :class:`Policy` (``rest_policies``), :class:`VisibilityPolicy` (``rest_event_visibility``),
  :class:`EventFormatter` and :class:`BusEvent` (``rest_event_formatters``);
* :class:`ApiHandler` (``rest_routes``) and :class:`RestError` with its subclasses
  (``rest_map_exception`` and any error a plugin raises);
* :func:`operation`: describes a handler's operations in its ``openapi`` class
  attribute (``GET /openapi.json``).
"""

from __future__ import annotations

import importlib
from typing import Any

_ERRORS = (
    "RestError",
    "BadRequest",
    "ValidationFailed",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "NotAcceptable",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "ServiceUnavailable",
    "GatewayTimeout",
)
_WHERE = {
    "hookimpl": "salt_ext_rest.plugins.markers",
    "Services": "salt_ext_rest.services",
    "Credentials": "salt_ext_rest.auth.identity",
    "Identity": "salt_ext_rest.auth.identity",
    "Authenticator": "salt_ext_rest.auth.identity",
    "Policy": "salt_ext_rest.authz",
    "VisibilityPolicy": "salt_ext_rest.events.visibility",
    "EventFormatter": "salt_ext_rest.events.formatters",
    "BusEvent": "salt_ext_rest.events.model",
    "ApiHandler": "salt_ext_rest.http.base",
    "operation": "salt_ext_rest.openapi.describe",
    **dict.fromkeys(_ERRORS, "salt_ext_rest.errors"),
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
