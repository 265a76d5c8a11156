"""The inventory's counts for ``/metrics``, kept as entries change: pure, no faust or Kafka.

A scrape must not walk the entries (1,000,000 at 100,000 hosts x 10 images), so the store
keeps, per (region, image), its entries by state and its cached copies by the minute their
cached mark was taken (:class:`ImageTally`), adjusted on every write of an entry. A scrape
then costs per image, not per host: the state counts are read, and the copies expiring within
a window are summed over the minutes of that window (:func:`expiring`), at most one look-up
per minute of it however many hosts the image has.

*Expiring within W* at ``now``: the copy's state is ``cached`` (as :func:`pipeline.inventory.
summarize` counts copies), it expires (``cached_at`` + min age) by ``now + W``, and it is not
presumed gone yet (``gone_by``, one manager interval later, is still ahead): a copy whose
``gone_by`` passed has most likely been purged, and counting it forever would keep an alert
firing for an image nobody caches any more. Resolution: the minute (``cached_at`` is taken to
its minute's start, so a copy may count up to 60 s early).
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from precache.pipeline.inventory import Entry, Expiry, state_of

MINUTE_S = 60


@dataclass(slots=True)
class ImageTally:
    """One (region, image)'s entries by state, and its cached copies by cached minute."""

    cached: int = 0
    failed: int = 0
    minutes: dict[int, int] = field(default_factory=dict)  # epoch minute -> cached copies

    def add(self, entry: Entry, sign: int) -> None:
        """Count ``entry`` in (``sign`` 1) or out (-1)."""
        if state_of(entry) == "failed":
            self.failed += sign
            return
        self.cached += sign
        minute = cached_minute(entry)
        if minute is None:
            return
        n = self.minutes.get(minute, 0) + sign
        if n:
            self.minutes[minute] = n
        else:
            del self.minutes[minute]

    def change(self, old: Entry | None, new: Entry) -> None:
        if old is not None:
            self.add(old, -1)
        self.add(new, 1)


def cached_minute(entry: Entry) -> int | None:
    """The epoch minute of the entry's cached mark (None: never cached, or unreadable time)."""
    cached = entry.get("cached")
    if not cached:
        return None
    at = cached.get("at")
    return _minute(at[:16]) if type(at) is str else None


@functools.lru_cache(maxsize=4096)
def _minute(head: str) -> int | None:
    """``YYYY-MM-DDTHH:MM`` as an epoch minute, parsed once per distinct minute (a batch's
    touches mostly share it)."""
    try:
        return int(datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()) // MINUTE_S
    except ValueError:
        return None


def expiring(tally: ImageTally, expiry: Expiry, now: float, within_s: float) -> int:
    """Cached copies expiring within ``within_s`` of ``now`` (module doc): at most one look-up
    per minute of the window, or per minute bucket the image has, whichever is fewer."""
    if expiry.never or not tally.minutes:
        return 0
    # cached_at + min_age <= now + within  and  cached_at + min_age + interval > now
    last = int((now + within_s - expiry.min_age_s) // MINUTE_S)
    first = int((now - expiry.min_age_s - expiry.interval_s()) // MINUTE_S)  # gone: <= first
    minutes = tally.minutes
    if len(minutes) <= last - first:
        return sum(n for m, n in minutes.items() if first < m <= last)
    return sum(minutes.get(m, 0) for m in range(first + 1, last + 1))


def expiring_within(
    tally: ImageTally, expiry: Expiry, now: float, windows: Iterable[float]
) -> list[int]:
    """:func:`expiring` for each of ``windows``."""
    return [expiring(tally, expiry, now, w) for w in windows]
