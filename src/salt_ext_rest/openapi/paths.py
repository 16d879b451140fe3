"""Tornado route patterns → OpenAPI path templates.

A capturing group becomes a path parameter (named by the handler's ``openapi``
``path`` entry, in group order); an optional capturing group at the end (``(/.*)?``)
gives two templates, without and with the parameter; an optional trailing slash
(``/?``) and optional non-capturing groups (``(?:/.*)?``) are left out; regex escapes
(``\\.``) are undone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ESCAPED = re.compile(r"\\(.)")


@dataclass(frozen=True)
class PathTemplate:
    path: str
    params: tuple[str, ...]


def _groups(pattern: str) -> list[tuple[int, int, bool, bool]]:
    """Top-level groups: (start, end after the group, capturing, optional)."""
    found, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":  # a character class may hold parentheses
            i = pattern.index("]", i + 1) + 1
            continue
        if char == "(":
            depth, start = depth + 1, i if depth == 0 else start
        elif char == ")":
            depth -= 1
            if depth == 0:
                optional = pattern[i + 1 : i + 2] == "?"
                capturing = not pattern.startswith("(?", start)
                found.append((start, i + 1 + optional, capturing, optional))
        i += 1
    return found


def _literal(text: str) -> str:
    if text.endswith("/?"):
        text = text[:-2]
    return _ESCAPED.sub(r"\1", text)


def templates(pattern: str, names: list[str]) -> list[PathTemplate]:
    """The OpenAPI path templates of one route ``pattern``; ``names`` name its groups."""
    variants: list[tuple[str, tuple[str, ...]]] = [("", ())]
    position, index = 0, 0
    for start, end, capturing, optional in _groups(pattern):
        literal = _literal(pattern[position:start])
        variants = [(path + literal, params) for path, params in variants]
        position = end
        if not capturing:
            continue
        name = names[index] if index < len(names) else f"arg{index}"
        index += 1
        slash = "/" if pattern[start + 1 : start + 2] == "/" else ""
        grown = [(f"{path}{slash}{{{name}}}", (*params, name)) for path, params in variants]
        variants = variants + grown if optional else grown
    tail = _literal(pattern[position:])
    return [PathTemplate((path + tail).rstrip("/") or "/", params) for path, params in variants]
