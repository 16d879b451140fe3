"""The event every stream carries: one event from the master bus, or a stream notice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BusEvent:
    """One event from the master bus (data already redacted), or a stream notice."""

    id: str
    tag: str
    data: dict[str, Any]
    notice: bool = False
    stamp: float = field(default=0.0, compare=False)
    # Renderings shared by every subscriber (formatters are pure functions of the event).
    rendered: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def render(self, key: str, make: Callable[[BusEvent], T]) -> T:
        """``make(self)``, computed once per event for all subscribers."""
        try:
            return self.rendered[key]
        except KeyError:
            value = self.rendered[key] = make(self)
            return value

    def as_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "data": self.data}
