"""The Tornado application: routes, each handler given the one context object."""

from __future__ import annotations

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http import handlers
from salt_ext_rest.http.access_log import log_request
from salt_ext_rest.http.application import RestApplication, parity_routes
from salt_ext_rest.http.base import FallbackHandler
from salt_ext_rest.http.sse import EventsHandler
from salt_ext_rest.http.stream_protocol import StreamSocket
from salt_ext_rest.http.websockets import CherrypyWsSocket, EventSocket


def make_app(context: ApiContext) -> RestApplication:
    kwargs = {"context": context}
    routes: list[tuple[str, type, dict]] = [
        (r"/", handlers.RootHandler, kwargs),
        (r"/login/?", handlers.LoginHandler, kwargs),
        (r"/logout/?", handlers.LogoutHandler, kwargs),
        (r"/token/?", handlers.TokenHandler, kwargs),
        (r"/run/?", handlers.RunHandler, kwargs),
    ]
    # -- event streams (issue 4) --
    routes.extend(event_routes(context))
    # -- end event streams --
    # -- resources, webhook, stats, static app (issue 3) --
    routes.extend(parity_routes(context))
    # -- end issue 3 --
    for extra in context.pm.hook.rest_routes(context=context):
        routes.extend(extra)
    return RestApplication(
        context,
        routes,
        default_handler_class=FallbackHandler,
        default_handler_args=kwargs,
        debug=False,
        log_function=log_request,
    )


def event_routes(context: ApiContext) -> list[tuple[str, type, dict]]:
    """SSE always; WebSockets when ``websockets: true`` (as rest_tornado)."""
    kwargs = {"context": context}
    routes: list[tuple[str, type, dict]] = [(r"/events/?", EventsHandler, kwargs)]
    if not context.config.websockets:
        return routes
    token = f"({context.token_format.url_pattern})"
    routes += [
        (rf"/all_events/{token}", EventSocket, {**kwargs, "format": "raw"}),
        (rf"/formatted_events/{token}", EventSocket, {**kwargs, "format": "formatted"}),
        (rf"/ws/{token}", CherrypyWsSocket, kwargs),
        (r"/ws/?", CherrypyWsSocket, kwargs),
        (r"/stream/?", StreamSocket, kwargs),
    ]
    return routes
