"""One stream of the formatted view, and what of the view it may see.

Jobs are shown when the visibility policy allows their ``salt/job/<jid>/new`` event;
minions by the policy's ``minion(id)`` answer: with their grains (what ``GET
/minions`` would show the caller), as a bare id (a minion the caller may target),
or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.formatted_model import Change, minion_check
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.subscription import Subscription
from salt_ext_rest.events.visibility import GRAINS, ID_ONLY, Predicate, minion_access

log = logging.getLogger(__name__)


class ViewSubscription(Subscription):
    """A stream of view messages. It sits in the bus's subscriptions (so logout and
    shutdown close it) but takes nothing from the bus: the view :meth:`push`-es."""

    def offer(self, event: BusEvent) -> bool:
        return False

    def push(self, event: BusEvent) -> None:
        Subscription.offer(self, event)


@dataclass
class Viewer:
    subscription: ViewSubscription
    event_filter: EventFilter
    visible: Predicate

    def allows(self, check: BusEvent) -> bool:
        return self.access(check) is not None

    def access(self, check: BusEvent) -> str | None:
        """``None`` (hidden), :data:`ID_ONLY` (a minion without grains) or :data:`GRAINS`."""
        try:
            if not self.event_filter.matches(check):
                return None
            mid = _minion_of(check)
            if mid is not None:
                return minion_access(self.visible, check, mid)
            return GRAINS if self.visible(check) else None
        except Exception:  # a policy failing on odd data hides the entry, nothing more
            log.debug("rest_ext: formatted view: visibility check failed", exc_info=True)
            return None

    def message(self, change: Change) -> dict[str, Any] | None:
        """``change.message`` as this viewer may see it (``None``: not at all)."""
        access = self.access(change.check)
        if access != ID_ONLY:
            return change.message if access is not None else None
        return {
            "minions": {
                mid: _id_only(mid, entry)
                for mid, entry in change.message.get("minions", {}).items()
            }
        }

    def minions(self, records: dict[str, Any]) -> dict[str, Any]:
        """The snapshot's minions as this viewer may see them (already filtered)."""
        shown = {}
        for mid, record in records.items():
            access = self.access(minion_check(mid))
            if access is not None:
                shown[mid] = record if access == GRAINS else _id_only(mid, record)
        return shown


def _minion_of(check: BusEvent) -> str | None:
    """The minion id of a minion entry's stand-in event (:func:`minion_check`)."""
    parts = check.tag.split("/")
    return parts[2] if len(parts) == 4 and parts[:2] == ["salt", "minion"] else None


def _id_only(mid: str, entry: Any) -> Any:
    return None if entry is None else {"id": mid, "grains": {}}
