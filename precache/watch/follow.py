"""Which operation the watcher follows, and what each event means for it: pure, no Kafka.

Rules (also in README, "Watching an operation"):

- An operation matches when its region equals ``--region`` and its aggregate's name or uuid
  equals ``--aggregate`` (each filter only when given).
- Backlog (the status topic read from its beginning up to its end at start-up): operations
  whose latest snapshot is ``completed`` are done and never followed, even if they appear again.
  Among the ``running`` ones the *first* is the one that started first (``started_at``, then
  operation id). ``stalled`` ones are not picked up at start-up (an operation that lost its
  ``.end`` stays stalled for ever and would block every watch); they qualify once they resume.
- Live: the first matching event of a ``running`` or ``completed`` snapshot, in the order the
  watcher reads them, starts the follow; a stall alone never does.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from precache.watch.events import Event, HostFailure, Snapshot

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    aggregate: str | None = None
    region: str | None = None

    def matches(self, data: Snapshot | HostFailure) -> bool:
        if self.region is not None and data.region != self.region:
            return False
        if self.aggregate is None:
            return True
        agg = data.aggregate
        wanted = self.aggregate
        return wanted == agg.name or wanted.lower() == (agg.uuid or "").lower()


def choose_first(snapshots: Iterable[Snapshot], filters: Filters) -> Snapshot | None:
    """The running operation a watcher started now follows, or None to wait for one."""
    running = [s for s in snapshots if s.state == "running" and filters.matches(s)]
    if not running:
        return None
    return min(running, key=lambda s: (s.started_at or _EPOCH, s.operation_id))


def latest_per_operation(events: Iterable[Event]) -> dict[str, Snapshot]:
    """What a compacted status topic means: the last snapshot of each operation wins."""
    latest: dict[str, Snapshot] = {}
    for event in events:
        if isinstance(event.data, Snapshot):
            latest[event.operation_id] = event.data
    return latest


@dataclass(frozen=True)
class Started:
    event: Event
    snapshot: Snapshot


@dataclass(frozen=True)
class Progressed:
    event: Event
    snapshot: Snapshot


@dataclass(frozen=True)
class Stalled:
    event: Event
    snapshot: Snapshot


@dataclass(frozen=True)
class Completed:
    event: Event
    snapshot: Snapshot


@dataclass(frozen=True)
class HostFailed:
    event: Event
    failure: HostFailure


Update = Started | Progressed | Stalled | Completed | HostFailed
