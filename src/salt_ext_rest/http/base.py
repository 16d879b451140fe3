"""The base handler: negotiate → read body → authenticate, with one error path.

Every response body is JSON (or YAML when asked for): errors included, no HTML, no
traceback. Bodies are streamed in so an oversized one is refused (413) before it is
read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

import tornado.web

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.config import RestConfig
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import (
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RestError,
    Unauthorized,
)
from salt_ext_rest.http import cors, credentials, origin, render, request_id
from salt_ext_rest.http.credentials import COOKIE
from salt_ext_rest.lowstate.body import BodyLimits, decode_body
from salt_ext_rest.operations import audit

log = logging.getLogger(__name__)

#: bodies larger than this are decoded on an executor thread, not on the IOLoop
OFFLOOP_BODY_BYTES = 64 * 1024


def cookie_path(config: RestConfig) -> str:
    """The cookie is sent only below ``root_prefix``, where the API is mounted."""
    return config.root_prefix.rstrip("/") or "/"


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Base for every rest_ext handler. Subclasses implement ``get``/``post`` coroutines."""

    context: ApiContext
    request_id: str  # X-Request-ID (:mod:`.request_id`), set by ``set_default_headers``

    def initialize(self, context: ApiContext) -> None:
        self.context = context
        self.media = render.JSON
        self._chunks: list[bytes] = []
        self._size = 0
        self._set_cors_headers()

    # -- CORS (cors_origin), X-Request-ID and OPTIONS ----------------------------------
    def set_default_headers(self) -> None:
        request_id.stamp(self)
        if hasattr(self, "context"):  # runs again when an error response clears headers
            self._set_cors_headers()

    def bind_request(self) -> None:
        """Name this request in the audit lines its task writes (:mod:`.operations.audit`)."""
        audit.bind(self.request_id, self.peer_address())

    def _set_cors_headers(self) -> None:
        origin = self.request.headers.get("Origin")
        for name, value in cors.response_headers(self.context.config.cors_origin, origin).items():
            self.set_header(name, value)

    def allowed_methods(self) -> list[str]:
        base = tornado.web.RequestHandler
        methods = [
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if getattr(type(self), m.lower()) is not getattr(base, m.lower())
        ]
        return [*methods, "OPTIONS"]

    async def options(self, *args: Any, **kwargs: Any) -> None:
        """Answer any preflight with 204; CORS headers only for an allowed origin."""
        methods = self.allowed_methods()
        self.set_header("Allow", ", ".join(methods))
        headers = self.request.headers
        for name, value in cors.preflight_headers(
            self.context.config.cors_origin,
            headers.get("Origin"),
            headers.get("Access-Control-Request-Method"),
            methods,
        ).items():
            self.set_header(name, value)
        self.set_status(204)
        self.finish()

    # -- request intake -----------------------------------------------------------
    def negotiate(self) -> str:
        """The response media type, from ``Accept`` (406 before anything runs)."""
        return render.negotiate(self.request.headers.get("Accept"))

    def prepare(self) -> None:
        self.bind_request()
        self.context.bus.requests.add(self)  # no read is held while it runs
        self.context.bus.flush()  # and what was held, it sees (a revocation notice)
        if self.request.method == "OPTIONS":
            return  # a preflight has no body and must not fail on its Accept header
        self.media = self.negotiate()
        limit = self.context.config.max_request_body_size
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes")

    def on_finish(self) -> None:
        self.context.bus.requests.discard(self)
        super().on_finish()

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._size += len(chunk)
        if self._size > self.context.config.max_request_body_size:
            # A body without Content-Length (chunked) grew too large: answer 413 now.
            # Tornado then stops reading and closes the connection; the handler
            # method never runs. (Raising here would drop the connection unanswered.)
            error = PayloadTooLarge("The request body is too large")
            self.send_error(error.status, exc_info=(type(error), error, None))
            return
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self._chunks)

    def decoded_body(self) -> Any:
        """The decoded body, within ``max_body_depth`` / ``max_body_nodes`` (400 beyond)."""
        config = self.context.config
        limits = BodyLimits(config.max_body_depth, config.max_body_nodes)
        return decode_body(self.request.headers.get("Content-Type"), self.body, limits)

    @property
    def large_body(self) -> bool:
        """Large enough to be decoded and validated on an executor thread."""
        return self._size > OFFLOOP_BODY_BYTES

    async def read_body(self) -> Any:
        """:meth:`decoded_body`, decoded off the IOLoop when the body is large."""
        if not self.large_body:
            return self.decoded_body()
        return await self.context.gateway.call(self.decoded_body)

    # -- authentication -----------------------------------------------------------
    def header_credentials(self) -> Credentials:
        """``X-Auth-Token`` wins over the ``session_id`` cookie, as in rest_cherrypy.

        The cookie is the one credential a browser adds by itself, so it is refused
        (403) for an unsafe method sent from another site's page (:mod:`.origin`).
        """
        found = credentials.from_request(self.request, self.get_cookie(COOKIE))
        if found.source == "cookie" and self.request.method not in origin.SAFE_METHODS:
            refusal = origin.refuse_cookie(self.request, self.context.config)
            if refusal:
                raise Forbidden(refusal)
        return found

    async def identify_inline(self, data: Any, source: str) -> Identity | None:
        """Credentials carried in a body or chunk (``token``, or ``username``/``password``/
        ``eauth``); ``None`` when there are none. A token minted from eauth credentials
        here is marked ephemeral: revoke it when the request is done."""
        found = credentials.from_body(data, source)
        if found is None:
            return None
        identity = await self.identify(found)
        return identity if found.token else dataclasses.replace(identity, ephemeral=True)

    def peer_address(self) -> str:
        """The TCP peer's address: never ``X-Forwarded-For`` or ``X-Real-Ip``."""
        return request_id.peer_address(self.request)

    def with_address(self, credentials: Credentials) -> Credentials:
        """``credentials`` with the peer address (login throttling counts per address)
        and, with ``client_cert_auth``, the verified client certificate."""
        return dataclasses.replace(
            credentials, address=self.peer_address(), client_cert=self.client_certificate()
        )

    def client_certificate(self) -> dict[str, Any] | None:
        if self.context.config.client_cert_auth == "off" or not self.context.config.tls:
            return None
        der = self.request.get_ssl_certificate(binary_form=True)
        if not isinstance(der, bytes) or not der:
            return None
        cert = self.request.get_ssl_certificate()
        return {"cert": cert, "sha256": hashlib.sha256(der).hexdigest()}

    async def identify(self, credentials: Credentials | None = None) -> Identity:
        credentials = self.with_address(credentials or self.header_credentials())
        identity = await authenticate(self.context.authenticators, credentials)
        if identity is None:
            raise Unauthorized("No valid credentials: log in or send a valid X-Auth-Token")
        return identity

    # -- responses ----------------------------------------------------------------
    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", self.media)
        self.set_header("Cache-Control", "private, no-store")
        self.finish(render.render(data, self.media))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = self._as_rest_error(status_code, exc_info[1] if exc_info else None)
        self.clear_header("Set-Cookie")
        if isinstance(error, Unauthorized):
            self.set_header("WWW-Authenticate", "Session")
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            self.set_header("Retry-After", str(retry_after))
        if error.status == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if self._body_unread():
            # Tornado closes a connection whose request body was not read, but only
            # after the response headers went out without saying so: a client would
            # send its next request on a dead keep-alive connection.
            self.set_header("Connection", "close")
        self.set_status(error.status)
        self.set_header("Content-Type", self.media)
        self.finish(render.render(error.body(), self.media))

    def _body_unread(self) -> bool:
        """Is part of the request body still unread (refused before it was read)?"""
        headers = self.request.headers
        length = headers.get("Content-Length", "")
        if length.isdigit():
            return self._size < int(length)
        return "chunked" in headers.get("Transfer-Encoding", "").lower()  # unknown: assume so

    def _as_rest_error(self, status_code: int, exc: BaseException | None) -> RestError:
        if isinstance(exc, tornado.web.HTTPError):
            if status_code == 405:
                return MethodNotAllowed(f"{self.request.method} is not allowed here")
            error = RestError(exc.log_message or self._reason)
            error.status, error.reason = status_code, self._reason
            return error
        if exc is None:
            error = RestError(self._reason)
            error.status, error.reason = status_code, self._reason
            return error
        return self.context.map_exception(exc)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, RestError | tornado.web.HTTPError):
            return
        if self.context.pm.hook.rest_map_exception(exc=value) is None:
            log.error(
                "rest_ext: %s %s failed",
                self.request.method,
                self.request.path,
                exc_info=(typ, value, tb),
            )


class FallbackHandler(ApiHandler):
    """Unknown URLs: a JSON 404."""

    def prepare(self) -> None:
        super().prepare()
        raise NotFound("No such resource")
