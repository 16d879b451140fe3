"""The Tornado application: routes, each handler given the one context object."""

from __future__ import annotations

import tornado.web

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http import handlers
from salt_ext_rest.http.access_log import log_request
from salt_ext_rest.http.base import FallbackHandler


def make_app(context: ApiContext) -> tornado.web.Application:
    kwargs = {"context": context}
    routes: list[tuple[str, type, dict]] = [
        (r"/", handlers.RootHandler, kwargs),
        (r"/login/?", handlers.LoginHandler, kwargs),
        (r"/logout/?", handlers.LogoutHandler, kwargs),
        (r"/token/?", handlers.TokenHandler, kwargs),
        (r"/run/?", handlers.RunHandler, kwargs),
    ]
    for extra in context.pm.hook.rest_routes(context=context):
        routes.extend(extra)
    return tornado.web.Application(
        routes,
        default_handler_class=FallbackHandler,
        default_handler_args=kwargs,
        debug=False,
        log_function=log_request,
    )
