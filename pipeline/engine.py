"""Runs the pure rules against a key-value store: the same code in the worker and in tests.

The worker's store is one faust table; tests use :class:`DictStore`. The worker applies a batch
of notifications to a :class:`Batch` (reads see the batch's own writes) and then, *after* the
batch's events were emitted, flushes it: per operation expected hosts, alias, one summary, then
the markers of the hosts that summary counted. With one table they land in one changelog
partition in that order, so a crash leaves a prefix of them, which redelivery repairs (see
:mod:`pipeline.operation`). One summary write per operation per batch, not per notification.
"""

from collections.abc import Iterator
from typing import Protocol

from pipeline import operation
from pipeline.notifications import Notification, Progress, Start
from pipeline.operation import Limits, Marker, Step, Summary


class Reader(Protocol):
    """What the rules read: the store, or a :class:`Batch` in front of it."""

    def get_summary(self, op_id: str) -> Summary | None: ...
    def get_marker(self, op_id: str, host: str) -> Marker | None: ...
    def get_expected(self, op_id: str) -> list[str] | None: ...
    def get_alias(self, key: str) -> str | None: ...
    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]: ...
    def is_forgotten(self, op_id: str) -> bool: ...


class Store(Reader, Protocol):
    def expired(self, partition: int, before: float) -> list[str]: ...
    def forget(self, op_id: str) -> None: ...
    def put_summary(self, op_id: str, summary: Summary) -> None: ...
    def put_markers(self, op_id: str, chunk: int, markers: dict[str, Marker]) -> None: ...
    def put_expected(self, op_id: str, hosts: list[str]) -> None: ...
    def put_alias(self, key: str, op_id: str) -> None: ...


def process(
    n: Notification, offset: int, partition: int, now: float, store: Reader, limits: Limits
) -> Step:
    alias = None if n.request_id else store.get_alias(operation.alias_key(n))
    op_id = operation.operation_id(n, alias)
    summary = store.get_summary(op_id)
    if summary is None and store.is_forgotten(op_id):
        return Step(op_id=op_id, note="notification for an operation past its retention: ignored")
    marker = store.get_marker(op_id, n.host) if isinstance(n, Progress) else None
    step = operation.apply(n, offset, summary, marker, now, limits, partition, op_id)
    if isinstance(n, Start) and not n.request_id:
        step.alias = (operation.alias_key(n), op_id)
    if step.expected is not None and store.get_expected(op_id):
        step.expected = None  # written once (start wins over end)
    return step


def tick(partition: int, now: float, store: Reader, limits: Limits) -> list[Step]:
    """Grace/stall rules for the open operations of one partition."""
    steps = []
    for op_id, summary in list(store.open_summaries(partition)):

        def counted(host: str, op_id: str = op_id, summary: Summary = summary) -> bool:
            return operation.is_counted(host, store.get_marker(op_id, host), summary)

        def expected(op_id: str = op_id) -> list[str] | None:
            return store.get_expected(op_id)

        step = operation.tick(summary, now, limits, expected, counted)
        if step is not None:
            steps.append(step)
    return steps


def commit(step: Step, store: Store) -> None:
    """Write one step in the crash-safe order (see :func:`write`)."""
    if step.expected is not None:
        store.put_expected(step.op_id, step.expected)
    if step.alias is not None:
        store.put_alias(*step.alias)
    write(store, step.op_id, step.summary, dict(step.markers))


def write(store: Store, op_id: str, summary: Summary | None, markers: dict[str, Marker]) -> None:
    """The summary, then the markers of the hosts it newly counted, as one chunk record.

    The summary names those hosts (``last_hosts``) and counts the chunks (``marker_chunks``):
    markers in a chunk the summary does not count are ignored, so a crash can cut the writes
    anywhere after the summary and redelivery finds exactly the hosts still to count.
    """
    if summary is None:
        if not markers:
            return
        summary = store.get_summary(op_id)  # marker repairs: the chunk count must move on
        if summary is None:
            return
    chunk = summary.get("marker_chunks", 0)
    hosts = last_hosts(store, op_id, list(markers))
    store.put_summary(
        op_id, {**summary, "last_hosts": hosts, "marker_chunks": chunk + bool(markers)}
    )
    if markers:
        store.put_markers(op_id, chunk, markers)


def last_hosts(store: Store, op_id: str, new: list[str]) -> list[str]:
    """The hosts a summary about to be written must name: those whose markers follow it, and
    any the stored summary named whose marker is still missing (a crash cut them off, and the
    redelivery that repairs them may come later). O(batch), never O(operation)."""
    previous = store.get_summary(op_id)
    if not previous or not previous.get("last_hosts"):
        return new
    fresh = set(new)
    kept = [
        h for h in previous["last_hosts"] if h not in fresh and store.get_marker(op_id, h) is None
    ]
    return new + kept


class Batch:
    """A batch's view of a store: reads see the batch's own writes; :meth:`flush` stores them.

    Steps are committed here one by one (so the rules see each other's effects, duplicates in
    one batch included); the real store then gets one summary per operation, written before the
    markers of every host it counted since the last flush.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._summaries: dict[str, Summary] = {}
        self._markers: dict[str, dict[str, Marker]] = {}  # op -> host -> marker, in order
        self._expected: dict[str, list[str]] = {}
        self._aliases: dict[str, str] = {}
        self._forget: list[str] = []

    def apply(
        self, n: Notification, offset: int, partition: int, now: float, limits: Limits
    ) -> Step:
        step = process(n, offset, partition, now, self, limits)
        self._stage(step)
        return step

    def tick(self, partition: int, now: float, limits: Limits) -> list[Step]:
        """Grace and stall rules; completed operations past ``retention_s`` are forgotten at
        the flush (their last status stays in the compacted status topic)."""
        steps = tick(partition, now, self, limits)
        for step in steps:
            self._stage(step)
        self._forget += self.store.expired(partition, now - limits.retention_s)
        return steps

    def _stage(self, step: Step) -> None:
        if step.expected is not None:
            self._expected[step.op_id] = step.expected
        if step.alias is not None:
            self._aliases[step.alias[0]] = step.alias[1]
        if step.summary is not None:
            self._summaries[step.op_id] = step.summary
        if step.markers:
            self._markers.setdefault(step.op_id, {}).update(step.markers)

    def flush(self) -> None:
        store = self.store
        for key, op_id in self._aliases.items():
            store.put_alias(key, op_id)
        for op_id, hosts in self._expected.items():
            store.put_expected(op_id, hosts)
        for op_id, summary in self._summaries.items():
            write(store, op_id, summary, self._markers.pop(op_id, {}))
        for op_id, markers in self._markers.items():  # repairs of already counted hosts
            write(store, op_id, None, markers)
        for op_id in self._forget:
            if op_id not in self._summaries:
                store.forget(op_id)
        self._summaries, self._markers, self._expected, self._aliases = {}, {}, {}, {}
        self._forget = []

    def get_summary(self, op_id: str) -> Summary | None:
        summary = self._summaries.get(op_id)
        return summary if summary is not None else self.store.get_summary(op_id)

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        marker = self._markers.get(op_id, {}).get(host)
        return marker if marker is not None else self.store.get_marker(op_id, host)

    def get_expected(self, op_id: str) -> list[str] | None:
        hosts = self._expected.get(op_id)
        return hosts if hosts is not None else self.store.get_expected(op_id)

    def get_alias(self, key: str) -> str | None:
        return self._aliases.get(key) or self.store.get_alias(key)

    def is_forgotten(self, op_id: str) -> bool:
        return self.store.is_forgotten(op_id)

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        seen = set()
        for op_id, summary in list(self.store.open_summaries(partition)):
            seen.add(op_id)
            summary = self._summaries.get(op_id, summary)
            if summary["state"] != "completed":
                yield op_id, summary
        for op_id, summary in list(self._summaries.items()):
            mine = op_id not in seen and summary["partition"] == partition
            if mine and summary["state"] != "completed":
                yield op_id, summary


class DictStore:
    """In-memory :class:`Store` for tests and the watcher."""

    def __init__(self) -> None:
        self.summary: dict[str, Summary] = {}
        self.markers: dict[tuple[str, str], Marker] = {}
        self.expected: dict[str, list[str]] = {}
        self.aliases: dict[str, str] = {}
        self.forgotten: set[str] = set()

    def get_summary(self, op_id: str) -> Summary | None:
        return self.summary.get(op_id)

    def put_summary(self, op_id: str, summary: Summary) -> None:
        self.summary[op_id] = summary

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        return self.markers.get((op_id, host))

    def put_markers(self, op_id: str, chunk: int, markers: dict[str, Marker]) -> None:
        for host, marker in markers.items():
            self.markers[(op_id, host)] = marker

    def get_expected(self, op_id: str) -> list[str] | None:
        return self.expected.get(op_id)

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        self.expected[op_id] = hosts

    def get_alias(self, key: str) -> str | None:
        return self.aliases.get(key)

    def put_alias(self, key: str, op_id: str) -> None:
        self.aliases[key] = op_id

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        for op_id, s in self.summary.items():
            if s["partition"] == partition and s["state"] != "completed":
                yield op_id, s

    def is_forgotten(self, op_id: str) -> bool:
        return op_id in self.forgotten

    def expired(self, partition: int, before: float) -> list[str]:
        return [
            op_id
            for op_id, s in self.summary.items()
            if s["partition"] == partition and s.get("completed_wall", before) < before
        ]

    def forget(self, op_id: str) -> None:
        self.summary.pop(op_id, None)
        self.expected.pop(op_id, None)
        self.markers = {k: m for k, m in self.markers.items() if k[0] != op_id}
        self.forgotten.add(op_id)
