"""Turn a decoded body into a list of lowstate chunks and normalise legacy keys."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from salt_ext_rest.errors import BadRequest

CREDENTIAL_KEYS = ("token", "username", "password", "eauth")


def as_chunks(data: Any) -> list[dict[str, Any]]:
    """A list of dicts, or a single dict wrapped in a list."""
    if data is None:
        raise BadRequest("The request body is empty: send a lowstate (a dict or a list of dicts)")
    if isinstance(data, Mapping):
        return [dict(data)]
    if isinstance(data, list) and data and all(isinstance(c, Mapping) for c in data):
        return [dict(c) for c in data]
    raise BadRequest("Lowstates must be a dict or a non-empty list of dicts")


def normalise(chunk: dict[str, Any]) -> dict[str, Any]:
    """rest_cherrypy's forgiving rules: ``arg`` becomes a list, ``expr_form`` → ``tgt_type``."""
    chunk = copy.copy(chunk)
    if "arg" in chunk and not isinstance(chunk["arg"], list):
        chunk["arg"] = [] if chunk["arg"] in (None, "") else [chunk["arg"]]
    if "expr_form" in chunk:
        legacy = chunk.pop("expr_form")
        chunk.setdefault("tgt_type", legacy)
    if chunk.get("batch", "") is None:
        chunk.pop("batch")
    return chunk


def strip_credentials(chunk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in chunk.items() if k not in CREDENTIAL_KEYS}
