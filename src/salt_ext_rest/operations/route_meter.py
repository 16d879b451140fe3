"""Requests counted by route template, method and status, with their latency.

The ``route`` label is the route's pattern from the table (relative to
``root_prefix``), never the raw path, so the label set stays bounded. Tornado hands
:meth:`~salt_ext_rest.http.application.RestApplication.get_handler_delegate` the
matched rule's own ``kwargs`` dict: each route gets a dict of its own, and the dict's
identity names the route. The label rides on the request object until the request
is logged (an attribute: cheaper than a weak mapping, gone with the request).
"""

from __future__ import annotations

from typing import Any

import tornado.httputil
import tornado.web

from salt_ext_rest.operations.metrics import NullMetrics

UNMATCHED = "(unmatched)"
OTHER = "(other)"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Route = tuple[Any, ...]


class RouteMeter:
    def __init__(self, metrics: NullMetrics) -> None:
        self.metrics = metrics
        self._labels: dict[int, str] = {}

    def label(self, routes: list[Route]) -> list[Route]:
        """``routes`` with a kwargs dict of their own each, remembered under their pattern."""
        labelled = []
        for route in routes:
            if len(route) >= 3 and isinstance(route[2], dict) and isinstance(route[0], str):
                kwargs = dict(route[2])
                self._labels[id(kwargs)] = route[0]
                route = (route[0], route[1], kwargs, *route[3:])
            labelled.append(route)
        return labelled

    def fallback(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The unmatched-URL handler's kwargs, labelled :data:`UNMATCHED`."""
        kwargs = dict(kwargs)
        self._labels[id(kwargs)] = UNMATCHED
        return kwargs

    def begin(self, request: tornado.httputil.HTTPServerRequest, kwargs: Any) -> None:
        if self.metrics.enabled:
            request.rest_ext_route = self._labels.get(id(kwargs), OTHER)  # type: ignore[attr-defined]

    def end(self, handler: tornado.web.RequestHandler) -> None:
        request = handler.request
        route = getattr(request, "rest_ext_route", None)
        if route is None:
            return
        request.rest_ext_route = None  # type: ignore[attr-defined]
        method = request.method if request.method in METHODS else "other"
        self.metrics.request(route, str(method), handler.get_status(), request.request_time())
