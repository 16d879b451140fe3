"""A single-page app and static files (rest_cherrypy's ``app``, ``static``, ``favicon``).

* ``app``: one HTML file served at ``app_path`` and every path below it (for apps
  using the HTML5 history API). When it is set, a ``GET`` anywhere else whose
  ``Accept`` prefers ``text/html`` (a browser navigating, e.g. reloading
  ``/minions`` in SaltGUI) is answered with the app as well, like rest_cherrypy's
  ``html_override`` tool. API clients (JSON, YAML, ``*/*``) are never redirected.
* ``static``: a directory served below ``static_path``.
* ``favicon``: a file served at ``/favicon.ico``.

Files are served by Tornado's :class:`~tornado.web.StaticFileHandler` (ETag,
``Last-Modified``, ranges, no path traversal). Errors are JSON, like the API's.
"""

from __future__ import annotations

import os
from typing import Any

import tornado.web

from salt_ext_rest.config import RestConfig
from salt_ext_rest.errors import RestError
from salt_ext_rest.http import render, request_id
from salt_ext_rest.http.render import parse_accept

API_MEDIA = ("application/json", "application/x-yaml", "application/yaml", "text/yaml")


class JsonErrorStaticHandler(tornado.web.StaticFileHandler):
    """Tornado's static file handler with the API's JSON error bodies."""

    def set_default_headers(self) -> None:
        request_id.stamp(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = RestError(self._reason)
        error.status, error.reason = status_code, self._reason
        self.set_header("Content-Type", render.JSON)
        self.finish(render.render(error.body(), render.JSON))


class StaticDirHandler(JsonErrorStaticHandler):
    """The ``static`` directory: never a dotfile or anything under a dot-directory,
    never a file a symbolic link leads to outside the directory (404), whatever
    Tornado's own checks are."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        root = os.path.abspath(root)
        relative = os.path.relpath(os.path.abspath(absolute_path), root)
        if any(part.startswith(".") for part in relative.split(os.sep)):
            raise tornado.web.HTTPError(404)
        real_root = os.path.realpath(root)
        real = os.path.realpath(absolute_path)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise tornado.web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


class SingleFileHandler(JsonErrorStaticHandler):
    """Serve one file whatever the rest of the path is (``app``, ``favicon``)."""

    def initialize(self, path: str, filename: str, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(path)
        self.filename = filename

    async def get(self, *args: Any, include_body: bool = True) -> None:
        self.set_header("Cache-Control", "no-cache")
        await super().get(self.filename, include_body=include_body)

    def head(self, *args: Any) -> Any:
        return self.get(include_body=False)


def _split(path: str) -> dict[str, str]:
    full = os.path.abspath(path)
    return {"path": os.path.dirname(full), "filename": os.path.basename(full)}


def static_routes(config: RestConfig) -> list[tuple[str, type, dict[str, Any]]]:
    routes: list[tuple[str, type, dict[str, Any]]] = []
    if config.app:
        app_path = config.app_path.rstrip("/")
        routes.append((rf"{app_path}(?:/.*)?", SingleFileHandler, _split(config.app)))
    if config.static:
        static_path = config.static_path.rstrip("/")
        target = {"path": os.path.abspath(config.static)}
        routes.append((rf"{static_path}/(.*)", StaticDirHandler, target))
    if config.favicon:
        routes.append((r"/favicon\.ico", SingleFileHandler, _split(config.favicon)))
    return routes


def _qualities(accept: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for quality, media in parse_accept(accept):
        found[media] = max(quality, found.get(media, 0.0))
    return found


def wants_html(accept: str | None) -> bool:
    """``text/html`` named explicitly and preferred over every API format."""
    if not accept:
        return False
    qualities = _qualities(accept)
    html = qualities.get("text/html", 0.0)
    wildcard = max(qualities.get("*/*", 0.0), qualities.get("application/*", 0.0))
    api = max(wildcard, *(qualities.get(media, 0.0) for media in API_MEDIA))
    return html > 0 and html > api


def app_override(config: RestConfig, method: str, path: str, accept: str | None) -> dict | None:
    """Handler kwargs to serve the app instead of the route, or ``None``.

    ``path`` is relative to ``root_prefix``. Never for the app's own or static paths.
    """
    if not config.app or method not in ("GET", "HEAD") or not wants_html(accept):
        return None
    for prefix in (config.app_path, config.static_path):
        base = prefix.rstrip("/")
        if path == base or path.startswith(base + "/"):
            return None
    return _split(config.app)
