"""Server-side event filters: tag globs, jids, minion ids (all optional, ANDed)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from salt_ext_rest.errors import BadRequest
from salt_ext_rest.events.model import BusEvent

MAX_VALUES = 64


@dataclass(frozen=True)
class EventFilter:
    tags: tuple[str, ...] = ()
    jids: frozenset[str] = frozenset()
    minions: frozenset[str] = frozenset()

    def matches(self, event: BusEvent) -> bool:
        if self.tags and not any(fnmatch.fnmatchcase(event.tag, glob) for glob in self.tags):
            return False
        if self.jids and _jid(event) not in self.jids:
            return False
        return not self.minions or bool(_minions(event) & self.minions)

    @classmethod
    def build(cls, tags: Iterable[Any] = (), jids: Iterable[Any] = (), minions: Iterable[Any] = ()):
        values = {"tag": list(tags), "jid": list(jids), "minion": list(minions)}
        for name, items in values.items():
            if len(items) > MAX_VALUES or not all(isinstance(i, str) and i for i in items):
                raise BadRequest(f"'{name}' filters must be at most {MAX_VALUES} non-empty strings")
        return cls(tuple(values["tag"]), frozenset(values["jid"]), frozenset(values["minion"]))

    @classmethod
    def from_query(cls, arguments: Mapping[str, list[bytes]]) -> EventFilter:
        def strings(name: str) -> list[str]:
            return [v.decode("utf-8", "replace") for v in arguments.get(name, [])]

        return cls.build(strings("tag"), strings("jid"), strings("minion"))

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> EventFilter:
        def listed(name: str) -> list[Any]:
            value = message.get(name) or []
            return [value] if isinstance(value, str) else list(value)

        return cls.build(listed("tags"), listed("jids"), listed("minions"))


def _jid(event: BusEvent) -> str | None:
    jid = event.data.get("jid")
    if isinstance(jid, str):
        return jid
    parts = event.tag.split("/")
    return parts[2] if len(parts) > 2 and parts[1] in ("job", "run", "wheel") else None


def _minions(event: BusEvent) -> set[str]:
    found: set[str] = set()
    for key in ("id", "minion_id"):
        if isinstance(event.data.get(key), str):
            found.add(event.data[key])
    targeted = event.data.get("minions")
    if isinstance(targeted, list):
        found.update(m for m in targeted if isinstance(m, str))
    parts = event.tag.split("/")
    if len(parts) >= 5 and parts[1] == "job" and parts[3] == "ret":
        found.add(parts[4])
    return found
