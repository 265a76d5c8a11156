"""Feeds the events in reading order and says what each one changes for the followed operation.

No I/O: the runner reads, the tracker decides (rules in :mod:`precache.watch.follow`).
Duplicates (the pipeline delivers at least once) are dropped by event id and host name.
"""

from collections.abc import Iterable

from precache.watch.events import Event, EventType, HostFailedData, OperationData
from precache.watch.follow import (
    Completed,
    Filters,
    HostFailed,
    Progressed,
    Stalled,
    Started,
    Update,
    choose_first,
    latest_per_operation,
)


class Tracker:
    def __init__(self, filters: Filters) -> None:
        self._filters = filters
        self._done_before: frozenset[str] = frozenset()
        self._followed: str | None = None
        self._stalled = False
        self._seen: set[str] = set()
        self._failures: dict[str, dict[str, Event]] = {}
        self.latest: OperationData | None = None
        self.completed: OperationData | None = None

    @property
    def followed(self) -> str | None:
        return self._followed

    def start(self, backlog: Iterable[Event]) -> list[Update]:
        """Takes the status topic's backlog; follows its first running operation, if any."""
        events = list(backlog)
        latest = latest_per_operation(events)
        if not self._filters.by_id:  # by id, the operation wanted may well be completed already
            self._done_before = frozenset(op for op, s in latest.items() if s.state == "completed")
        first = choose_first(latest.values(), self._filters)
        if first is None:
            return []
        last = next(e for e in reversed(events) if e.operation_id == first.operation_id)
        return self._follow(last, first)

    def feed(self, event: Event) -> list[Update]:
        if event.operation_id in self._done_before:
            return []
        if isinstance(event.data, HostFailedData):  # belongs by operation id, filters or not
            return self._host_failed(event, event.data)
        if not self._filters.matches(event.data):
            return []
        if self._followed is None:
            stalled = event.type is EventType.STALLED or event.data.state == "stalled"
            if stalled and not self._filters.by_id:
                return []
            return self._follow(event, event.data)
        if event.operation_id != self._followed:
            return []
        return self._snapshot(event, event.data)

    def error_hosts(self) -> set[str]:
        """Every failed host known so far: capped list, missing hosts and host.failed events."""
        hosts = set(self._failures.get(self._followed or "", {}))
        if self.latest is not None:
            hosts.update(self.latest.failed_hosts, self.latest.missing_hosts)
        return hosts

    def unnamed_failures(self) -> int:
        """Failed hosts the completed snapshot counts but no event has named yet."""
        if self.completed is None:
            return 0
        return max(0, self.completed.hosts_failed - len(self.error_hosts()))

    def _follow(self, event: Event, snapshot: OperationData) -> list[Update]:
        op = snapshot.operation_id
        self._followed = op
        self._failures = {op: self._failures.get(op, {})}
        self._seen.add(event.id)
        self.latest = snapshot
        updates: list[Update] = [Started(event, snapshot)]
        updates += [
            HostFailed(e, e.data) for e in self._buffered(op) if isinstance(e.data, HostFailedData)
        ]
        if event.type is EventType.COMPLETED or snapshot.state == "completed":
            self.completed = snapshot
            updates.append(Completed(event, snapshot))
        elif event.type is EventType.STALLED or snapshot.state == "stalled":
            self._stalled = True
            updates.append(Stalled(event, snapshot))
        return updates

    def _buffered(self, op: str) -> list[Event]:
        events = list(self._failures[op].values())
        self._seen.update(e.id for e in events)
        return events

    def _snapshot(self, event: Event, snapshot: OperationData) -> list[Update]:
        if self.completed is not None or event.id in self._seen:
            return []
        self._seen.add(event.id)
        self.latest = snapshot
        if event.type is EventType.COMPLETED or snapshot.state == "completed":
            self.completed = snapshot
            return [Completed(event, snapshot)]
        if event.type is EventType.STALLED or snapshot.state == "stalled":
            first_stall = not self._stalled
            self._stalled = True
            return [Stalled(event, snapshot) if first_stall else Progressed(event, snapshot)]
        self._stalled = False
        return [Progressed(event, snapshot)]

    def _host_failed(self, event: Event, failure: HostFailedData) -> list[Update]:
        op = failure.operation_id
        if self._followed is not None and op != self._followed:
            return []
        hosts = self._failures.setdefault(op, {})
        if failure.host in hosts or event.id in self._seen:
            return []
        hosts[failure.host] = event
        if self._followed is None:
            return []
        self._seen.add(event.id)
        return [HostFailed(event, failure)]
