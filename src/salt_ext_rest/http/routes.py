"""The route table: every URL the API serves, in matching order.

Patterns are relative to ``root_prefix`` (:class:`~salt_ext_rest.http.application.RestApplication`
mounts them); every handler gets the context as its ``context`` argument. Plugins'
``rest_routes`` come last, so a plugin cannot shadow a built-in route.
"""

from __future__ import annotations

import re
from typing import Any

from salt_ext_rest.apikeys.handlers import ApiKeyHandler, ApiKeysHandler
from salt_ext_rest.context import ApiContext
from salt_ext_rest.http import handlers, resources, static
from salt_ext_rest.http.job_stream import JobEventsHandler
from salt_ext_rest.http.me import MeHandler
from salt_ext_rest.http.metrics_handler import MetricsHandler
from salt_ext_rest.http.sse import EventsHandler
from salt_ext_rest.http.stats import StatsHandler
from salt_ext_rest.http.stream_protocol import StreamSocket
from salt_ext_rest.http.webhook import WebhookHandler
from salt_ext_rest.http.websockets import CherrypyWsSocket, EventSocket
from salt_ext_rest.openapi.handler import with_openapi
from salt_ext_rest.operations.probes import probe_routes

Route = tuple[str, type, dict[str, Any]]


def routes(context: ApiContext) -> list[Route]:
    """Lowstate and login, event streams, rest_cherrypy's resources, webhook, stats,
    the probes and metrics, the static app, then what plugins add; ``/openapi.json`` (first)
    describes them all."""
    table = [*core_routes(context), *event_routes(context), *resource_routes(context)]
    table += probe_routes(context)  # /healthz, /readyz
    table += metrics_routes(context)
    table += identity_routes(context)  # /apikeys, /me
    table += static.static_routes(context.config)
    for extra in context.pm.hook.rest_routes(context=context):
        table.extend(extra)
    return with_openapi(context, table)


def core_routes(context: ApiContext) -> list[Route]:
    kwargs = {"context": context}
    return [
        (r"/", handlers.RootHandler, kwargs),
        (r"/login/?", handlers.LoginHandler, kwargs),
        (r"/logout/?", handlers.LogoutHandler, kwargs),
        (r"/token/?", handlers.TokenHandler, kwargs),
        (r"/run/?", handlers.RunHandler, kwargs),
    ]


def metrics_routes(context: ApiContext) -> list[Route]:
    """``GET <metrics_path>``: Prometheus metrics (unless ``metrics: false``)."""
    if not context.config.metrics:
        return []
    path = re.escape(context.config.metrics_path.rstrip("/"))
    return [(rf"{path}/?", MetricsHandler, {"context": context})]


def identity_routes(context: ApiContext) -> list[Route]:
    """Scoped API keys (``/apikeys``; ``/keys`` is Salt's minion keys) and ``/me``."""
    kwargs = {"context": context}
    return [
        (r"/apikeys/?", ApiKeysHandler, kwargs),
        (r"/apikeys/([^/]+)/?", ApiKeyHandler, kwargs),
        (r"/me/?", MeHandler, kwargs),
    ]


def event_routes(context: ApiContext) -> list[Route]:
    """SSE always; WebSockets when ``websockets: true`` (as rest_tornado)."""
    kwargs = {"context": context}
    table: list[Route] = [(r"/events/?", EventsHandler, kwargs)]
    if not context.config.websockets:
        return table
    token = f"({context.token_format.url_pattern})"
    return [
        *table,
        (rf"/all_events/{token}", EventSocket, {**kwargs, "format": "raw"}),
        (rf"/formatted_events/{token}", EventSocket, {**kwargs, "format": "formatted"}),
        (rf"/ws/{token}", CherrypyWsSocket, kwargs),
        (r"/ws/?", CherrypyWsSocket, kwargs),
        (r"/stream/?", StreamSocket, kwargs),
    ]


def resource_routes(context: ApiContext) -> list[Route]:
    """``/minions``, ``/jobs``, ``/keys`` (rest_cherrypy's), the webhook and ``/stats``."""
    kwargs = {"context": context}
    hook = context.config.webhook_url.rstrip("/")
    return [
        (r"/minions/?", resources.MinionsHandler, kwargs),
        (r"/minions/([^/]+)/?", resources.MinionHandler, kwargs),
        (r"/jobs/?", resources.JobsHandler, kwargs),
        (rf"/jobs/({resources.JID_PATTERN})/events/?", JobEventsHandler, kwargs),
        (rf"/jobs/({resources.JID_PATTERN})/?", resources.JobsHandler, kwargs),
        (r"/keys/?", resources.KeysHandler, kwargs),
        (r"/keys/([^/]+)/?", resources.KeyHandler, kwargs),
        (rf"{hook}(/.*)?", WebhookHandler, kwargs),
        (r"/stats/?", StatsHandler, kwargs),
    ]
