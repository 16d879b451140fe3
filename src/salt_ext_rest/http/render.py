"""Response formats chosen from ``Accept`` before anything runs."""

from __future__ import annotations

import json
from typing import Any

import yaml

from salt_ext_rest.errors import NotAcceptable

JSON = "application/json"
YAML = "application/x-yaml"
_OFFERS = {JSON: JSON, YAML: YAML, "text/yaml": YAML, "application/yaml": YAML}


def parse_accept(accept: str) -> list[tuple[float, str]]:
    """``(quality, media type)`` pairs of an ``Accept`` header, best first."""
    ranges = []
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((quality, media.lower()))
    return sorted(ranges, key=lambda r: -r[0])


def negotiate(accept: str | None) -> str:
    """The media type to answer with; :class:`NotAcceptable` when we offer none of them."""
    if not accept:
        return JSON
    for quality, media in parse_accept(accept):
        if quality <= 0:
            continue
        if media in _OFFERS:
            return _OFFERS[media]
        if media in ("*/*", "application/*"):
            return JSON
    raise NotAcceptable("Supported response types: application/json, application/x-yaml")


def render(data: Any, media: str) -> bytes:
    if media == YAML:
        return yaml.safe_dump(_plain(data), default_flow_style=False).encode("utf-8")
    return json.dumps(data, default=str).encode("utf-8")


def _plain(data: Any) -> Any:
    """YAML's safe dumper knows only plain types."""
    return json.loads(json.dumps(data, default=str))
