"""Which operation the watcher follows, and what each event means for it: pure, no Kafka.

Rules (also in docs/watch.md):

- An operation matches when its region equals ``--region`` and its aggregate's name or uuid
  equals ``--aggregate`` (each filter only when given).
- Followed by id (``--request-id``, and ``precache cache``): an operation matches only when its
  ``request_id`` (Nova's ``x-openstack-request-id``) or its ``global_request_id`` (the one the
  client sent) is one of the ids; the other filters still apply. Such an operation is followed
  whatever its state: completed already (it ran before the watcher read it), stalled, or
  running. The operation id itself is never parsed.
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

from precache.contract import parse_time
from precache.watch.events import Event, HostFailedData, OperationData


@dataclass(frozen=True)
class Filters:
    aggregate: str | None = None
    region: str | None = None
    request_ids: frozenset[str] = frozenset()  # Nova's request id and/or the global one

    @property
    def by_id(self) -> bool:
        """One known operation is wanted, not "the first one that matches"."""
        return bool(self.request_ids)

    def matches(self, data: OperationData | HostFailedData) -> bool:
        if self.region is not None and data.region != self.region:
            return False
        if self.by_id and not ({data.request_id, data.global_request_id} & self.request_ids):
            return False
        if self.aggregate is None:
            return True
        agg = data.aggregate
        wanted = self.aggregate
        return wanted == agg.name or wanted.lower() == (agg.uuid or "").lower()


def choose_first(snapshots: Iterable[OperationData], filters: Filters) -> OperationData | None:
    """The operation a watcher started now follows, or None to wait for one: the first running
    one; by id, the one with that id in any state."""
    wanted = ("running", "stalled", "completed") if filters.by_id else ("running",)
    running = [s for s in snapshots if s.state in wanted and filters.matches(s)]
    if not running:
        return None
    return min(running, key=lambda s: (parse_time(s.started_at), s.operation_id))


def latest_per_operation(events: Iterable[Event]) -> dict[str, OperationData]:
    """What a compacted status topic means: the last snapshot of each operation wins."""
    latest: dict[str, OperationData] = {}
    for event in events:
        if isinstance(event.data, OperationData):
            latest[event.operation_id] = event.data
    return latest


@dataclass(frozen=True)
class Started:
    event: Event
    snapshot: OperationData


@dataclass(frozen=True)
class Progressed:
    event: Event
    snapshot: OperationData


@dataclass(frozen=True)
class Stalled:
    event: Event
    snapshot: OperationData


@dataclass(frozen=True)
class Completed:
    event: Event
    snapshot: OperationData


@dataclass(frozen=True)
class HostFailed:
    event: Event
    failure: HostFailedData


Update = Started | Progressed | Stalled | Completed | HostFailed
