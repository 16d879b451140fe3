"""Decode request bodies the way rest_cherrypy does, within limits.

JSON, YAML, form (``arg``/``kwarg`` YAML-parsed like the CLI, repeated ``arg`` → list)
and ``text/plain`` parsed as JSON (browsers' ``fetch`` without a Content-Type).

Every decoded body has a bounded nesting depth and number of nodes, and YAML anchors
and aliases are refused while the document is composed (an alias is a shared object:
anything that walks the result would expand it exponentially), so nothing is built
from them. Each problem is a 400 naming it, never a ``RecursionError``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from salt_ext_rest.backend.saltutils import yamlify_arg
from salt_ext_rest.errors import BadRequest, UnsupportedMediaType

try:  # libyaml's event parser when available: the same events, several times faster
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


@dataclass(frozen=True)
class BodyLimits:
    """How deep and how large a decoded body may be (``max_body_depth``/``max_body_nodes``)."""

    max_depth: int = 64
    max_nodes: int = 100_000


DEFAULT_LIMITS = BodyLimits()
ALIAS_MESSAGE = "YAML anchors and aliases (&name, *name, <<) are not accepted"


def _too_deep(limits: BodyLimits) -> BadRequest:
    return BadRequest(f"The request body is nested deeper than {limits.max_depth} levels")


def _too_many(limits: BodyLimits) -> BadRequest:
    return BadRequest(f"The request body has more than {limits.max_nodes} values")


class _LimitedLoader(Composer, _Parser, SafeConstructor, Resolver):
    """A safe loader whose composer refuses anchors and aliases and counts nodes.

    ``Composer`` comes first so its Python ``get_single_node`` (which calls the
    ``compose_node`` below) is used, not the C parser's own composer.
    """

    def __init__(self, stream: str, limits: BodyLimits) -> None:
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise BadRequest(ALIAS_MESSAGE)
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _too_many(self.limits)
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth and not isinstance(event, yaml.ScalarEvent):
                raise _too_deep(self.limits)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(text: str, limits: BodyLimits = DEFAULT_LIMITS) -> Any:
    """``yaml.safe_load`` without anchors and aliases, within ``limits``."""
    loader = _LimitedLoader(text, limits)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise _too_deep(limits) from None
    finally:
        loader.dispose()


def check_limits(data: Any, limits: BodyLimits = DEFAULT_LIMITS) -> None:
    """Walk ``data`` (without recursion): 400 when too deep or too large. Keys,
    scalars, lists and mappings each count as one value."""
    nodes = 0
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _too_many(limits)
        if isinstance(value, dict | list):
            if depth >= limits.max_depth:
                raise _too_deep(limits)
            if isinstance(value, dict):
                nodes += len(value)  # the keys, as YAML's composer counts them
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8") from None


def _json(body: bytes, limits: BodyLimits) -> Any:
    try:
        data = json.loads(_text(body))
    except RecursionError:  # the C scanner's own guard, far beyond any sane depth
        raise _too_deep(limits) from None
    except ValueError:
        raise BadRequest("Invalid JSON document") from None
    check_limits(data, limits)
    return data


def _yaml(body: bytes, limits: BodyLimits) -> Any:
    try:
        return load_yaml(_text(body), limits)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None)
        raise BadRequest(
            f"Invalid YAML document: {problem}" if problem else "Invalid YAML document"
        ) from None


def _yamlify(value: Any, limits: BodyLimits) -> Any:
    """Salt's CLI parsing of a form value, once our loader found no alias in it."""
    if isinstance(value, str):
        with contextlib.suppress(yaml.YAMLError):  # not YAML: Salt keeps the string
            load_yaml(value, limits)
    return yamlify_arg(value)


def _form(body: bytes, limits: BodyLimits) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in parse_qsl(_text(body), keep_blank_values=True):
        data.setdefault(key, []).append(value)
    flat: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in data.items()}
    if "kwarg" in flat:
        flat["kwarg"] = _yamlify(flat["kwarg"], limits)
    if "arg" in flat:
        args = flat["arg"] if isinstance(flat["arg"], list) else [flat["arg"]]
        flat["arg"] = [_yamlify(a, limits) for a in args]
    check_limits(flat, limits)
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


def decode_body(content_type: str | None, body: bytes, limits: BodyLimits = DEFAULT_LIMITS) -> Any:
    """Decode ``body``; ``None`` for an empty body. Unknown media types → 415."""
    kind = media_type(content_type)
    if kind not in _DECODERS:
        raise UnsupportedMediaType(f"Content type not supported: {kind}")
    if not body.strip():
        return None
    return _DECODERS[kind](body, limits)
