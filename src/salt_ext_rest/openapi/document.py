"""The OpenAPI 3.1 document, generated from the route table at startup.

Paths come from the route table :func:`salt_ext_rest.http.routes.routes` built (plugin
routes included); each handler's operations from its ``openapi`` class attribute
(:mod:`salt_ext_rest.openapi.describe`; the built-ins' in
:mod:`salt_ext_rest.openapi.builtin`); request bodies of lowstate routes from the
very JSON Schemas the :class:`~salt_ext_rest.lowstate.validation.LowstateValidator`
validates with (plugins' ``rest_lowstate_schemas`` included); response bodies from
``schemas/responses/*.json``. A route whose handler declares nothing is listed with
``x-undocumented`` (and a warning is logged); the unit tests allow none.
"""

from __future__ import annotations

import copy
import http
import json
import logging
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import salt_ext_rest
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.lowstate.validation import LowstateValidator
from salt_ext_rest.openapi import paths as pathmod
from salt_ext_rest.openapi.describe import API_MEDIA, content

log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
SECURITY_SCHEMES = {
    "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "session_id"},
}
ERROR_REF = "#/components/responses/Error"
PREFLIGHT = {
    "summary": "CORS preflight (cors_origin)",
    "security": [],
    "responses": {"204": {"description": "the allowed methods in Allow"}},
}


def spec_for(handler: type) -> dict[str, Any] | None:
    """The handler's own ``openapi`` attribute (not inherited), else the built-ins'."""
    from salt_ext_rest.openapi.builtin import BUILTIN

    own = handler.__dict__.get("openapi")
    return own if own is not None else BUILTIN.get(handler)


def undocumented(table: Iterable[tuple[Any, ...]]) -> list[str]:
    """Patterns of the routes whose handler declares no operations."""
    return [route[0] for route in table if spec_for(route[1]) is None]


def build_document(
    table: Iterable[tuple[Any, ...]], validator: LowstateValidator, root_prefix: str = "/"
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        _add_route(paths, route[0], route[1])
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "salt-ext-rest (rest_ext)",
            "version": salt_ext_rest.__version__,
            "description": "The HTTP API of Salt's rest_ext netapi module.",
        },
        "servers": [{"url": root_prefix.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": {**response_schemas(), **lowstate_schemas(validator)},
            "responses": error_responses(paths),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _add_route(paths: dict[str, dict[str, Any]], pattern: str, handler: type) -> None:
    spec = spec_for(handler)
    if spec is None:
        log.warning("rest_ext: route %s (%s) has no OpenAPI description", pattern, handler)
    spec = spec or {}
    api = issubclass(handler, ApiHandler)
    operations = {m: finish_operation(spec[m], api) for m in METHODS if m in spec}
    if api and spec:
        operations.setdefault("options", copy.deepcopy(PREFLIGHT))
    path_schemas = spec.get("path", {})
    for template in pathmod.templates(pattern, list(path_schemas)):
        item = paths.setdefault(template.path, {})
        if not spec:
            item["x-undocumented"] = True
        if template.params:
            item["parameters"] = [_path_parameter(name, path_schemas) for name in template.params]
        for method, op in operations.items():
            op = copy.deepcopy(op)
            if template.params:  # a value the route's pattern refuses: no route, 404
                op["responses"].setdefault("404", {"$ref": f"{ERROR_REF}404"})
            item.setdefault(method, op)


def _path_parameter(name: str, schemas: Mapping[str, Any]) -> dict[str, Any]:
    schema = schemas.get(name, {"type": "string"})
    return {"name": name, "in": "path", "required": True, "schema": schema}


def finish_operation(declared: Mapping[str, Any], api: bool) -> dict[str, Any]:
    """The operation with the error statuses every such operation can answer."""
    op = copy.deepcopy(dict(declared))
    errors = set(op.pop("x-errors", ()))
    plain = op.pop("x-plain", False)  # not an API handler's answer: no 406
    if api and not plain:
        errors.add(406)
    if "requestBody" in op:
        errors |= {400, 413, 415}
    if op.get("security"):
        errors |= {401, 403}
    responses = op.setdefault("responses", {})
    for status in sorted(errors):
        responses.setdefault(str(status), {"$ref": f"{ERROR_REF}{status}"})
    return op


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("salt_ext_rest.schemas").joinpath(name).read_text("utf-8"))


def _bundled(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def response_schemas() -> dict[str, Any]:
    """``schemas/responses/<name>.json`` as component ``<name>``."""
    folder = resources.files("salt_ext_rest.schemas").joinpath("responses")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            name = entry.name[:-5]
            found[name] = _response_refs(_bundled(json.loads(entry.read_text("utf-8"))), name)
    return found


def _response_refs(schema: Any, local: str) -> Any:
    """``#/$defs/...`` and ``<other>.json#/...`` references of a response schema,
    pointed at the components those files become."""
    if isinstance(schema, list):
        return [_response_refs(item, local) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and not value.startswith("#/components/"):
            base, _, fragment = value.partition("#")
            target = base[: -len(".json")] if base.endswith(".json") else local
            out[key] = f"#/components/schemas/{target}{fragment}"
        else:
            out[key] = _response_refs(value, local)
    return out


def _rewrite_refs(schema: Any, local: str) -> Any:
    """``common.json#...`` and local ``#...`` references, pointed into components."""
    if isinstance(schema, list):
        return [_rewrite_refs(item, local) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str):
            base, _, fragment = value.partition("#")
            target = "lowstate.common" if base == "common.json" else local
            out[key] = (
                f"#/components/schemas/{target}{fragment}" if base in ("", "common.json") else value
            )
        else:
            out[key] = _rewrite_refs(value, local)
    return out


def lowstate_schemas(validator: LowstateValidator) -> dict[str, Any]:
    """``Lowstate`` (a chunk or a non-empty list of chunks) and one schema per enabled
    client, each the ``allOf`` of every schema contributed for it."""
    found: dict[str, Any] = {
        "lowstate.common": _rewrite_refs(_bundled(_load("lowstate/common.json")), "lowstate.common")
    }
    chunks = []
    for client, parts in validator.schemas.items():
        if client not in validator.enabled:
            continue
        names = (
            [f"lowstate.{client}"]
            if len(parts) == 1
            else [f"lowstate.{client}.{i}" for i in range(len(parts))]
        )
        for name, part in zip(names, parts, strict=True):
            found[name] = _rewrite_refs(_bundled(part), name)
        if len(parts) > 1:
            found[f"lowstate.{client}"] = {
                "allOf": [{"$ref": f"#/components/schemas/{n}"} for n in names]
            }
        chunks.append({"$ref": f"#/components/schemas/lowstate.{client}"})
    chunk: dict[str, Any] = {"anyOf": chunks} if chunks else {"not": {}}
    found["Lowstate"] = {
        "description": "a lowstate chunk, or a non-empty list of them",
        "anyOf": [chunk, {"type": "array", "minItems": 1, "items": chunk}],
    }
    return found


def error_responses(paths: Mapping[str, Any]) -> dict[str, Any]:
    """``Error<status>``, for every status the operations refer to: the JSON (or YAML)
    error body of :mod:`salt_ext_rest.errors`."""
    prefix = ERROR_REF
    statuses = {
        int(answer["$ref"][len(prefix) :])
        for item in paths.values()
        for method in METHODS
        for answer in item.get(method, {}).get("responses", {}).values()
        if answer.get("$ref", "").startswith(prefix)
    }
    error = {"$ref": "#/components/schemas/error"}
    return {
        f"Error{status}": {"description": _phrase(status), "content": content(error, API_MEDIA)}
        for status in sorted(statuses)
    }


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"
