"""Decode request bodies the way rest_cherrypy does (REFERENCE.md R2).

JSON, YAML, form (``arg``/``kwarg`` YAML-parsed like the CLI, repeated ``arg`` → list)
and ``text/plain`` parsed as JSON (browsers' ``fetch`` without a Content-Type).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import salt.utils.args
import yaml

from salt_ext_rest.errors import BadRequest, UnsupportedMediaType


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8") from None


def _json(body: bytes) -> Any:
    try:
        return json.loads(_text(body))
    except ValueError:
        raise BadRequest("Invalid JSON document") from None


def _yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(_text(body))
    except yaml.YAMLError:
        raise BadRequest("Invalid YAML document") from None


def _form(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in parse_qsl(_text(body), keep_blank_values=True):
        data.setdefault(key, []).append(value)
    flat: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in data.items()}
    if "kwarg" in flat:
        flat["kwarg"] = salt.utils.args.yamlify_arg(flat["kwarg"])
    if "arg" in flat:
        args = flat["arg"] if isinstance(flat["arg"], list) else [flat["arg"]]
        flat["arg"] = [salt.utils.args.yamlify_arg(a) for a in args]
    return flat


_DECODERS = {
    "application/json": _json,
    "application/x-yaml": _yaml,
    "application/yaml": _yaml,
    "text/yaml": _yaml,
    "application/x-www-form-urlencoded": _form,
    "text/plain": _json,
    "": _json,
}


def decode_body(content_type: str | None, body: bytes) -> Any:
    """Decode ``body``; ``None`` for an empty body. Unknown media types → 415."""
    kind = media_type(content_type)
    if kind not in _DECODERS:
        raise UnsupportedMediaType(f"Content type not supported: {kind}")
    if not body.strip():
        return None
    return _DECODERS[kind](body)
