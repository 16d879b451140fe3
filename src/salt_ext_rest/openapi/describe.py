"""Helpers to declare a handler's operations in a few lines (its ``openapi`` attribute).

A handler class declares what it serves in its own ``openapi`` class attribute (not
inherited: a subclass declares its own), a dict of::

    {"path": {"<name>": <schema>, ...},   # the route's capturing groups, in order
     "get": operation(...), "post": operation(...), ...}

``operation()`` builds an OpenAPI operation object; response bodies refer to the
JSON Schemas under ``salt_ext_rest/schemas/responses/`` by file name (``schema("login")``)
or are given inline. The error statuses every API handler can answer (406 for an
``Accept`` it cannot serve; 400, 413 and 415 for a body; 401 and 403 when it
authenticates) are added by the generator; name the others in ``errors``.
"""

from __future__ import annotations

from typing import Any

#: the response media types of every API handler (``Accept``; YAML as rest_cherrypy)
API_MEDIA = ("application/json", "application/x-yaml")
#: the request body media types :func:`salt_ext_rest.lowstate.body.decode_body` reads
BODY_MEDIA = (
    "application/json",
    "application/x-yaml",
    "application/yaml",
    "text/yaml",
    "application/x-www-form-urlencoded",
    "text/plain",
)
#: the security requirement of an authenticated operation: header token or cookie
AUTHENTICATED: list[dict[str, list[str]]] = [{"token": []}, {"cookie": []}]


def schema(name: str) -> dict[str, str]:
    """A reference to ``schemas/responses/<name>.json`` (or another component schema)."""
    return {"$ref": f"#/components/schemas/{name}"}


def content(body: dict[str, Any], media: tuple[str, ...] = API_MEDIA) -> dict[str, Any]:
    return {m: {"schema": body} for m in media}


def response(
    body: dict[str, Any] | None, description: str = "OK", media: tuple[str, ...] = API_MEDIA
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if body is not None:
        answer["content"] = content(body, media)
    return answer


def operation(
    summary: str,
    ok: dict[str, Any] | None = None,
    *,
    status: int = 200,
    body: dict[str, Any] | None = None,
    body_media: tuple[str, ...] = BODY_MEDIA,
    body_required: bool = True,
    auth: bool | str = True,
    errors: tuple[int, ...] = (),
    description: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    responses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OpenAPI operation. ``ok``: the schema of the ``status`` answer (API media);
    ``auth``: True (token or cookie), False (none) or ``"optional"``; ``errors``: the
    statuses, beyond those every handler answers, that come as the JSON error body."""
    op: dict[str, Any] = {"summary": summary}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": content(body, body_media)}
    op["responses"] = {str(status): response(ok), **(responses or {})}
    if auth is True:
        op["security"] = AUTHENTICATED
    elif auth == "optional":
        op["security"] = [*AUTHENTICATED, {}]
    else:
        op["security"] = []
    op["x-errors"] = sorted(set(errors))
    return op


def query(name: str, description: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": body or {"type": "string"},
    }
