"""The operations of the built-in handlers, declared as a plugin's handler would
declare them in its ``openapi`` class attribute (kept here, beside each other,
so the handler modules stay short). See :mod:`salt_ext_rest.openapi.describe`.

A new built-in route: an entry here (or an ``openapi`` attribute on its handler) and
its response schema as ``schemas/responses/<name>.json``, e.g.::

    HealthzHandler: {"get": operation("Liveness", schema("healthz"), auth=False)},

The unit and functional tests fail while a routed handler has no description.
"""

from __future__ import annotations

from typing import Any

from salt_ext_rest.http import handlers, resources, static
from salt_ext_rest.http.job_stream import JobEventsHandler
from salt_ext_rest.http.sse import EventsHandler
from salt_ext_rest.http.stats import StatsHandler
from salt_ext_rest.http.stream_protocol import StreamSocket
from salt_ext_rest.http.webhook import WebhookHandler
from salt_ext_rest.http.websockets import CherrypyWsSocket, EventSocket
from salt_ext_rest.openapi.builtin_operating import OPERATING
from salt_ext_rest.openapi.describe import API_MEDIA, operation, query, response, schema

LOWSTATE = schema("Lowstate")
CREDENTIALS = {
    "type": "object",
    "properties": {k: {"type": "string"} for k in ("username", "password", "eauth")},
    "description": "eauth credentials; a list holding one such object is accepted too",
}
ONE_OR_MORE = {"anyOf": [CREDENTIALS, {"type": "array", "items": CREDENTIALS}]}
SALT = (503, 504)  # the master did not answer / timed out
RUN = (*SALT, 429)
MINION_ID = {"mid": {"type": "string", "pattern": "^[^/]+$"}}
JID = {"jid": {"type": "string", "pattern": f"^{resources.JID_PATTERN}$"}}
#: one Server-Sent Event (what a client's SSE parser yields for each)
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SSE = {"text/event-stream": {"schema": SSE_EVENT}}
PAGE = [query("limit", "page size (paged view)"), query("cursor", "the next page's cursor")]
JOB_FILTERS = ("function", "user", "target", "target_type", "start", "end", "status")


def _upgrade(
    summary: str,
    description: str,
    params: list[dict[str, Any]] | None = None,
    auth: bool | str = True,
) -> dict[str, Any]:
    """A WebSocket route: a GET answered with 101 (or a JSON refusal)."""
    return operation(
        summary,
        None,
        status=101,
        description=description,
        parameters=params,
        auth=auth,
        errors=(400, 401, 403, 404, 426),
        responses={"101": {"description": "Switching Protocols (a WebSocket)"}},
    )


_STREAM = "Events as text frames; authenticate with X-Auth-Token, the cookie or the path"
_RUN_DOC = (
    "A lowstate chunk, or a list of them (form-encoded: one chunk, ``arg`` repeated); "
    "each chunk's ``client`` must be in ``netapi_enable_clients``."
)

BUILTIN: dict[type, dict[str, Any]] = {
    handlers.RootHandler: {
        "get": operation("Welcome: the enabled clients", schema("root"), auth=False),
        "post": operation(
            "Run lowstate chunks",
            schema("lowstate_results"),
            body=LOWSTATE,
            description=_RUN_DOC,
            errors=RUN,
        ),
    },
    handlers.LoginHandler: {
        "get": operation("The login prompt", schema("login_prompt"), auth=False),
        "post": operation(
            "Log in: a session token (header and cookie)",
            schema("login"),
            body=ONE_OR_MORE,
            auth=False,
            errors=(401, 403, 429, *SALT),
        ),
    },
    handlers.LogoutHandler: {
        "post": operation("Revoke the session token", schema("logout"), errors=SALT),
    },
    handlers.TokenHandler: {
        "post": operation(
            "Mint Salt tokens (at most 10 credential sets)",
            schema("tokens"),
            body=ONE_OR_MORE,
            auth=False,
            errors=(401, 403, 429, *SALT),  # 403: an empty ACL mints nothing
        ),
    },
    handlers.RunHandler: {
        "post": operation(
            "Run lowstate chunks carrying their own credentials",
            schema("lowstate_results"),
            body=LOWSTATE,
            description=_RUN_DOC + " Credentials (token or eauth) travel in each chunk.",
            auth="optional",
            errors=RUN,
        ),
    },
    EventsHandler: {
        "get": operation(
            "Server-Sent Events from the master's bus (rest_cherrypy's framing)",
            None,
            parameters=[
                query("tag", "tag globs"),
                query("jid", "job ids"),
                query("minion", "minion ids"),
                query("format", "the formatter: raw (default), sse, cloudevents, formatted"),
                query("last_event_id", "resume after this event id"),
            ],
            errors=(400, 429, *SALT),
            responses={"200": {"description": "an endless event stream", "content": SSE}},
        ),
    },
    EventSocket: {
        "path": {"token": {"type": "string", "pattern": "^[0-9a-fA-F]+$"}},
        "get": _upgrade("WebSocket: raw events (rest_tornado)", _STREAM),
    },
    CherrypyWsSocket: {
        "path": {"token": {"type": "string", "pattern": "^[0-9a-fA-F]+$"}},
        "get": _upgrade(
            "WebSocket: events as 'data: <json>' frames (rest_cherrypy)",
            _STREAM,
            [query("format_events", "the formatted minions/jobs view")],
        ),
    },
    StreamSocket: {
        "get": _upgrade(
            "WebSocket: rest_ext's subscribe protocol",
            "JSON messages; credentials in a header, the cookie or the first message;"
            " a subscribe with 'job' follows one job to its summary and end",
            auth="optional",
        ),
    },
    resources.MinionsHandler: {
        "get": operation(
            "Every minion's grains; with limit/cursor/grain a page from the grains cache",
            {"anyOf": [schema("minions"), schema("minions-page")]},
            parameters=[*PAGE, query("grain", "grain match, 'key:glob' (paged view)")],
            errors=(400, *RUN),
        ),
        "post": operation(
            "Start jobs (local_async)",
            schema("jobs_started"),
            status=202,
            body=LOWSTATE,
            errors=RUN,
        ),
    },
    resources.MinionHandler: {
        "path": {"mid": MINION_ID["mid"]},
        "get": operation(
            "The grains of the minions matching a glob", schema("minions"), errors=RUN
        ),
    },
    resources.JobsHandler: {
        "path": JID,
        "get": operation(
            "Jobs (with limit or a filter: a page of the job index), or one job's returns "
            "(with view=status: its per-minion envelope)",
            {"anyOf": [schema("jobs"), schema("jobs-page"), schema("job-status")]},
            parameters=[
                *PAGE,
                *(query(name, f"filter: {name}") for name in JOB_FILTERS),
                query("view", "one job: 'status' for the per-minion envelope"),
            ],
            errors=(400, *RUN),
        ),
    },
    JobEventsHandler: {
        "path": JID,
        "get": operation(
            "One job's events (replay, live, a summary event, then the end)",
            None,
            parameters=[
                query("timeout", "seconds without a return before the summary (0 < t <= 3600)"),
                query("last_event_id", "resume after this event id"),
            ],
            errors=(400, 429, *SALT),
            responses={"200": {"description": "the job's event stream", "content": SSE}},
        ),
    },
    resources.KeysHandler: {
        "get": operation(
            "Every minion key by state; with limit/cursor/status a page",
            {"anyOf": [schema("keys"), schema("keys-page")]},
            parameters=[*PAGE, query("status", "accepted, pending, rejected or denied")],
            errors=(400, *RUN),
        ),
        "post": operation(
            "Generate and accept a key pair: a tar of it",
            None,
            body={"type": "object", "required": ["mid"], "properties": {"mid": {"type": "string"}}},
            auth=False,
            errors=(401, 403, 409, 429, *SALT),
            responses={
                "200": response(
                    {"type": "string", "format": "binary"}, "the key pair", (resources.TAR,)
                )
            },
        ),
    },
    resources.KeyHandler: {
        "path": {"mid": MINION_ID["mid"]},
        "get": operation("One minion key's fingerprints", schema("keys"), errors=RUN),
    },
    WebhookHandler: {
        "path": {"path": {"type": "string"}},
        "post": operation(
            "Fire salt/netapi/hook/<path> on the bus",
            schema("webhook"),
            body={},
            body_required=False,
            auth="optional",
            errors=SALT,
        ),
    },
    StatsHandler: {
        "get": operation(
            "Counters of this worker and the deployment", schema("stats"), auth="optional"
        ),
    },
}

BUILTIN.update(OPERATING)

_FILE = {"description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}}
_STATIC = {
    "responses": {"200": _FILE, "304": {"description": "Not Modified"}},
    "security": [],
    "x-errors": [404],
    "x-plain": True,
}
STATIC: dict[type, dict[str, Any]] = {
    static.SingleFileHandler: {
        "get": {"summary": "The single-page app or favicon", **_STATIC},
        "head": {"summary": "The single-page app or favicon, headers only", **_STATIC},
    },
    static.StaticDirHandler: {
        "path": {"file": {"type": "string"}},
        "get": {"summary": "A static file", **_STATIC},
        "head": {"summary": "A static file, headers only", **_STATIC},
    },
}
BUILTIN.update(STATIC)
__all__ = ["API_MEDIA", "BUILTIN"]
