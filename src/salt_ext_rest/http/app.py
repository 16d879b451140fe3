"""The Tornado application: the route table, each handler given the one context object."""

from __future__ import annotations

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http.access_log import log_request
from salt_ext_rest.http.application import RestApplication
from salt_ext_rest.http.base import FallbackHandler
from salt_ext_rest.http.routes import routes


def make_app(context: ApiContext) -> RestApplication:
    return RestApplication(
        context,
        routes(context),
        default_handler_class=FallbackHandler,
        default_handler_args={"context": context},
        debug=False,
        log_function=log_request,
    )
