"""The Tornado application class: ``root_prefix``, request counters, the app override.

Every route is mounted below ``root_prefix`` (rest_cherrypy's mount point). Every
request passes through :meth:`RestApplication.get_handler_delegate`, which counts it
for ``/stats`` and graceful shutdown, and serves the single-page app to browsers
navigating to an API URL (see :mod:`salt_ext_rest.http.static`).
"""

from __future__ import annotations

from typing import Any

import tornado.httputil
import tornado.web

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http import static
from salt_ext_rest.http.stats import ServerStats
from salt_ext_rest.http.stream_slots import StreamSlots
from salt_ext_rest.operations.route_meter import RouteMeter

Route = tuple[Any, ...]


def _prefixed(routes: list[Route], root_prefix: str) -> list[Route]:
    prefix = root_prefix.rstrip("/")
    if not prefix:
        return list(routes)
    mounted = []
    for route in routes:
        pattern = route[0]
        pattern = f"{prefix}/?" if pattern == "/" else prefix + pattern
        mounted.append((pattern, *route[1:]))
    return mounted


class RestApplication(tornado.web.Application):
    def __init__(self, context: ApiContext, routes: list[Route], **settings: Any) -> None:
        self.context = context
        self.stats = ServerStats()
        self.stream_slots = StreamSlots(context.config.max_streams_per_token, context.shared)
        context.shared.counters = self.stats.counters
        self.root_prefix = context.config.root_prefix.rstrip("/")
        # /metrics: requests by route pattern (each route's kwargs name it)
        self.meter = RouteMeter(context.metrics)
        routes = self.meter.label(routes)
        if "default_handler_args" in settings:
            settings["default_handler_args"] = self.meter.fallback(settings["default_handler_args"])
        super().__init__(_prefixed(routes, context.config.root_prefix), **settings)

    def get_handler_delegate(
        self,
        request: tornado.httputil.HTTPServerRequest,
        target_class: type[tornado.web.RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes] | None = None,
        path_kwargs: dict[str, bytes] | None = None,
    ) -> Any:
        self.meter.begin(request, target_kwargs)
        path, prefix = request.path or "/", self.root_prefix
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :] or "/"
            override = static.app_override(
                self.context.config, request.method or "", path, request.headers.get("Accept")
            )
            if override is not None:
                target_class, target_kwargs = static.SingleFileHandler, override
                path_args, path_kwargs = [], {}
        self.stats.begin(request, target_class)
        return super().get_handler_delegate(
            request, target_class, target_kwargs, path_args, path_kwargs
        )

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.stats.end(handler)
        self.meter.end(handler)
        super().log_request(handler)
