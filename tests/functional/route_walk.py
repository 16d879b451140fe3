"""Walking every route of the assembled application (no daemons), shared by the route
authentication test and the OpenAPI test.

The routes are read from the Tornado router the server builds (``make_app``), with every
optional route switched on (WebSockets, static files, the app, the favicon); each handler
is sent every HTTP method it implements, with a well-formed body for each POST.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

import tornado.web
from tornado.testing import AsyncHTTPTestCase

from salt_ext_rest.assembly import build_context
from salt_ext_rest.config import load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS
from salt_ext_rest.plugins.manager import make_plugin_manager
from salt_ext_rest.testing.gateway import STAND_IN_OPTS as OPTS
from salt_ext_rest.testing.gateway import StandInGateway

#: A concrete path segment for each capture group a route pattern uses.
SAMPLES = {
    "([0-9a-fA-F]{64})": "ab" * 32,  # a well-formed token no store knows
    "([^/]+)": "minion-1",
    "([0-9A-Za-z_.-]+)": "20260102030405060708",
    "(/.*)?": "/some/hook",
    "(?:/.*)?": "",
    "(.*)": "index.html",
}

#: A well-formed body for each POST, so that what decides the answer is authentication.
LOWSTATE = [{"client": "local", "tgt": "*", "fun": "test.ping"}]
BODIES = {"/minions": [{"tgt": "*", "fun": "test.ping"}], "/keys": {"mid": "minion-9"}}


def route_patterns(app):
    """(pattern, handler class) of every rule of the application's router."""
    return [
        (rule.matcher.regex.pattern.rstrip("$"), rule.target) for rule in app.wildcard_router.rules
    ]


def concrete_path(pattern):
    path = pattern[:-2] if pattern.endswith("/?") else pattern
    for group, sample in SAMPLES.items():
        path = path.replace(group, sample)
    path = path.replace("\\.", ".")
    assert not re.search(r"[()\[\]\\?*+$]", path), f"add a sample for a group of {pattern!r}"
    return path or "/"


def implemented_methods(handler):
    base = tornado.web.RequestHandler
    return [
        method
        for method in handler.SUPPORTED_METHODS
        if getattr(handler, method.lower(), None) is not getattr(base, method.lower())
    ]


def app_options(directory, **extra):
    index = os.path.join(directory, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write("<html></html>")
    block = {
        **OPTS["rest_ext"],
        "websockets": True,
        "static": directory,
        "app": index,
        "favicon": index,
        **extra,
    }
    # Every client enabled: a disabled one is refused (400) before authentication.
    clients = list(NON_SSH_CLIENTS)
    return {**OPTS, "netapi_enable_clients": clients, "pki_dir": directory, "rest_ext": block}


class AssembledApp(AsyncHTTPTestCase):
    """The application as the server builds it, on a stand-in gateway; ``extra`` is
    added to the ``rest_ext`` block."""

    extra: dict = {}

    def get_app(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        opts = app_options(directory, **self.extra)
        self.gateway = StandInGateway(opts)
        pm = make_plugin_manager(load_entry_points=False)
        self.context = build_context(opts, load_config(opts), pm=pm, gateway=self.gateway)
        return make_app(self.context)

    def walk_routes(self, table, headers) -> Iterator[tuple[str, str, str, object]]:
        """(method, pattern, path, response) for every method of every route of ``table``."""
        for pattern, handler in table:
            path = concrete_path(pattern)
            for method in implemented_methods(handler):
                body = None
                if method in ("POST", "PUT", "PATCH"):
                    body = json.dumps(BODIES.get(pattern.removesuffix("/?"), LOWSTATE))
                response = self.fetch(
                    path,
                    method=method,
                    body=body,
                    headers=headers,
                    raise_error=False,
                    allow_nonstandard_methods=True,
                    follow_redirects=False,
                )
                yield method, pattern, path, response
