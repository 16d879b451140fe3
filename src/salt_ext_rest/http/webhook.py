"""``POST /hook[/<path>]``: fire ``salt/netapi/hook/<path>`` on the master's bus.

The event data is ``{"headers", "post", "body", "get"}`` as in rest_cherrypy
(``post``: the decoded body, ``body``: the raw body as text) and rest_tornado
(``get``: the query arguments). Credentials are never copied into the event
(every bus listener would read them): ``Authorization``, ``Proxy-Authorization``, ``X-Auth-Token``,
``Cookie`` and ``Set-Cookie`` headers are dropped. Authentication is required unless
``webhook_disable_auth`` is set; the URL prefix is ``webhook_url``.
"""

from __future__ import annotations

from typing import Any

from salt_ext_rest.errors import BadRequest, ServiceUnavailable, UnsupportedMediaType
from salt_ext_rest.events.bus import has_controls
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.operations import audit

TAG_BASE = "salt/netapi/hook"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-auth-token", "cookie", "set-cookie"}
)


def hook_tag(suffix: str | None) -> str:
    if suffix and has_controls(suffix):
        # A line break in a tag would forge frames on every event stream.
        raise BadRequest("The webhook path must not contain control characters", path="path")
    parts = [part for part in (suffix or "").split("/") if part]
    return "/".join([TAG_BASE, *parts])


def safe_headers(headers: Any) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in SECRET_HEADERS}


class WebhookHandler(ApiHandler):
    async def post(self, suffix: str | None = None) -> None:
        identity = None
        try:
            if not self.context.config.webhook_disable_auth:
                identity = await self.identify()
            tag = await self._fire(suffix)
        except Exception as error:
            self.context.audit.refused("webhook", error, **audit.identity_fields(identity))
            raise
        self.context.audit.record("webhook", "ok", **audit.identity_fields(identity), tag=tag)
        self.send({"success": True})

    async def _fire(self, suffix: str | None) -> str:
        """Fire the hook's event; its tag."""
        tag = hook_tag(suffix)
        data = {
            "headers": safe_headers(self.request.headers),
            "post": await self._payload(),
            "body": self.body.decode("utf-8", errors="replace"),
            "get": self._query(),
        }
        if not await self.context.gateway.fire_event(data, tag):
            raise ServiceUnavailable("The Salt master did not take the event")
        return tag

    async def _payload(self) -> Any:
        """The decoded body; ``{}`` for an empty body or a media type we do not decode.
        Decoded within the body limits, YAML anchors and aliases refused (400)."""
        try:
            decoded = await self.read_body()
        except UnsupportedMediaType:
            return {}
        return {} if decoded is None else decoded

    def _query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            texts = [value.decode("utf-8", errors="replace") for value in values]
            query[name] = texts[0] if len(texts) == 1 else texts
        return query
