"""How a watch is shown: plain lines (Nova's format), a rich live bar, or JSON lines."""

from typing import Protocol

from precache.watch.follow import Filters, Update
from precache.watch.summary import Summary


class Renderer(Protocol):
    def waiting(self, filters: Filters) -> None:
        """No operation is followed yet."""

    def update(self, update: Update) -> None:
        """Something happened to the followed operation."""

    def finished(self, summary: Summary) -> None:
        """The followed operation completed."""

    def gave_up(self, reason: str) -> None:
        """The watch ends without completion (stall, timeout)."""

    def close(self) -> None:
        """Release the terminal; called once, whatever happened."""


def describe(filters: Filters) -> str:
    """`` of aggregate 'x' in region 'y'`` for the waiting message."""
    parts = []
    if filters.aggregate:
        parts.append(f" of aggregate '{filters.aggregate}'")
    if filters.region:
        parts.append(f" in region '{filters.region}'")
    if filters.request_ids:
        parts.append(f" with request id {' or '.join(sorted(filters.request_ids))}")
    return "".join(parts)
