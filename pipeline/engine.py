"""Runs the pure rules against a key-value store: the same code in the worker and in tests.

The worker's store is one faust table (tests use a dict: ``tests/support/dict_store.py``). The
worker computes each
notification's step against a :class:`Batch` (reads see the batch's own staged steps), stages
it only once its events are built (a record that fails leaves no trace), and *after* the
batch's events were emitted flushes it: per operation alias, expected hosts, one summary, then
the marker records of the hosts that summary counted. With one table they land in one
changelog partition in that order, so a crash leaves a prefix of them, which redelivery
repairs (see :mod:`pipeline.operation`). One summary write per operation per batch.
"""

from collections.abc import Callable, Iterator
from typing import Protocol

from precache.pipeline import operation
from precache.pipeline.notifications import End, Notification, Progress, Start
from precache.pipeline.operation import (
    HELD,
    HeldEntry,
    Limits,
    Marker,
    RawKept,
    Step,
    Summary,
    as_held,
    json_len,
)
from precache.pipeline.packing import pack

CHUNK_BYTES = Limits().chunk_bytes


class Reader(Protocol):
    """What the rules read: the store, or a :class:`Batch` in front of it."""

    def get_summary(self, op_id: str) -> Summary | None: ...
    def get_marker(self, op_id: str, host: str) -> Marker | None: ...
    def get_expected(self, op_id: str) -> list[str] | None: ...
    def is_listed(self, op_id: str, host: str) -> bool: ...
    def held(self, op_id: str) -> list[tuple[str, HeldEntry]]: ...
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
    n: Notification,
    offset: int,
    partition: int,
    now: float,
    store: Reader,
    limits: Limits,
    raw: Callable[[], RawKept] | None = None,
) -> Step:
    """One notification's step; reads only, so it can be dropped if anything after fails."""
    alias = None if n.request_id else store.get_alias(operation.alias_key(n))
    op_id = operation.operation_id(n, alias)
    summary = store.get_summary(op_id)
    if summary is None and store.is_forgotten(op_id):
        note = "notification for an operation past its retention: ignored"
        return Step(op_id=op_id, note=note, ignored=True)
    listed = summary is not None and summary["hosts_total"] is not None
    marker = None
    if isinstance(n, Progress):
        marker = store.get_marker(op_id, n.host if listed else f"{HELD}{offset}")
    held: list[tuple[str, HeldEntry]] = []
    if isinstance(n, (Start, End)) and summary:
        held = _held_for(store, op_id, summary, listed)

    def is_listed(host: str) -> bool:
        return store.is_listed(op_id, host)

    step = operation.apply(
        n, offset, summary, marker, now, limits, partition, op_id, is_listed, held, raw
    )
    if isinstance(n, Start) and not n.request_id and step.reject is None:
        step.alias = (operation.alias_key(n), op_id)
    return step


def _held_for(
    store: Reader, op_id: str, summary: Summary, listed: bool
) -> list[tuple[str, HeldEntry]]:
    """Held progress a start/end needs: all of it to resolve, or after a crash the entries
    of resolved hosts whose markers were cut off (see ``operation._repair_resolved``)."""
    if not listed:
        return store.held(op_id) if summary["hosts_held"] else []
    lost = {
        h
        for h in summary.get("last_hosts", ())
        if not h.startswith(HELD) and store.get_marker(op_id, h) is None
    }
    return [(k, e) for k, e in store.held(op_id) if e["host"] in lost] if lost else []


def tick(partition: int, now: float, store: Reader, limits: Limits) -> list[Step]:
    """Grace/stall rules for the open operations of one partition; an operation whose rules
    raise is quarantined (one step with ``reject``), the others go on."""
    steps = []
    for op_id, summary in list(store.open_summaries(partition)):

        def counted(host: str, op_id: str = op_id, summary: Summary = summary) -> bool:
            return operation.is_counted(host, store.get_marker(op_id, host), summary)

        def expected(op_id: str = op_id) -> list[str] | None:
            return store.get_expected(op_id)

        try:
            step = operation.tick(summary, now, limits, expected, counted)
        except Exception as exc:  # any failure of one operation's rules
            step = operation.quarantine(summary, repr(exc))
        if step is not None:
            steps.append(step)
    return steps


def commit(step: Step, store: Store, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Write one step in the crash-safe order (see :func:`write`)."""
    if step.reject is not None and step.summary is None:
        return
    if step.expected is not None:
        store.put_expected(step.op_id, step.expected)
    if step.alias is not None:
        store.put_alias(*step.alias)
    write(store, step.op_id, step.summary, dict(step.markers), chunk_bytes)


def write(
    store: Store,
    op_id: str,
    summary: Summary | None,
    markers: dict[str, Marker],
    chunk_bytes: int = CHUNK_BYTES,
) -> None:
    """The summary, then the markers of the hosts it newly counted, in records of at most
    ``chunk_bytes``.

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
    chunks = split(markers, chunk_bytes)
    hosts = last_hosts(store, op_id, list(markers))
    store.put_summary(op_id, {**summary, "last_hosts": hosts, "marker_chunks": chunk + len(chunks)})
    for i, part in enumerate(chunks):
        store.put_markers(op_id, chunk + i, part)


def split(markers: dict[str, Marker], budget: int) -> list[dict[str, Marker]]:
    """Marker records of at most ``budget`` JSON bytes (one marker is always below it: the
    rules refuse a record whose marker is not)."""
    runs = pack(markers.items(), lambda hm: json_len(hm[0]) + json_len(hm[1]), budget, 2)
    return [dict(run) for run in runs]


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


def expected_set(hosts: list[str] | None) -> frozenset[str]:
    return frozenset(hosts or ())


class Batch:
    """A batch's view of a store: reads see the batch's staged steps; :meth:`flush` stores them.

    :meth:`compute` has no effect; :meth:`stage` records a step (so the rules see each other's
    effects, duplicates in one batch included); the real store then gets one summary per
    operation, written before the markers of every host it counted since the last flush.
    """

    def __init__(self, store: Store, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.store = store
        self.chunk_bytes = chunk_bytes
        self._summaries: dict[str, Summary] = {}
        self._markers: dict[str, dict[str, Marker]] = {}  # op -> host -> marker, in order
        self._expected: dict[str, list[str]] = {}
        self._listed: dict[str, frozenset[str]] = {}
        self._aliases: dict[str, str] = {}
        self._forget: list[str] = []
        self._key_bytes = 0  # largest JSON size of one operation's staged marker keys
        self._keys: dict[str, int] = {}

    def full(self) -> bool:
        """One operation's hosts staged here fill ``chunk_bytes`` of its summary's
        ``last_hosts``: flush before staging more (the summary stays well below 1 MB)."""
        return self._key_bytes >= self.chunk_bytes

    def compute(
        self,
        n: Notification,
        offset: int,
        partition: int,
        now: float,
        limits: Limits,
        raw: Callable[[], RawKept] | None = None,
    ) -> Step:
        return process(n, offset, partition, now, self, limits, raw)

    def apply(
        self, n: Notification, offset: int, partition: int, now: float, limits: Limits
    ) -> Step:
        step = self.compute(n, offset, partition, now, limits)
        self.stage(step)
        return step

    def tick_steps(self, partition: int, now: float, limits: Limits) -> list[Step]:
        """Grace and stall rules (not staged); completed operations past ``retention_s`` are
        forgotten at the flush (their last status stays in the compacted status topic)."""
        steps = tick(partition, now, self, limits)
        self._forget += self.store.expired(partition, now - limits.retention_s)
        return steps

    def tick(self, partition: int, now: float, limits: Limits) -> list[Step]:
        steps = self.tick_steps(partition, now, limits)
        for step in steps:
            self.stage(step)
        return steps

    def stage(self, step: Step) -> None:
        if step.reject is not None and step.summary is None:
            return
        if step.expected is not None:
            self._expected[step.op_id] = step.expected
            self._listed.pop(step.op_id, None)
        if step.alias is not None:
            self._aliases[step.alias[0]] = step.alias[1]
        if step.summary is not None:
            self._summaries[step.op_id] = step.summary
        if step.markers:
            staged = self._markers.setdefault(step.op_id, {})
            size = self._keys.get(step.op_id, 0)
            size += sum(json_len(key) for key, _ in step.markers if key not in staged)
            self._keys[step.op_id] = size
            self._key_bytes = max(self._key_bytes, size)
            staged.update(step.markers)

    def flush(self) -> None:
        store = self.store
        for key, op_id in self._aliases.items():
            store.put_alias(key, op_id)
        for op_id, hosts in self._expected.items():
            store.put_expected(op_id, hosts)
        for op_id, summary in self._summaries.items():
            write(store, op_id, summary, self._markers.pop(op_id, {}), self.chunk_bytes)
        for op_id, markers in self._markers.items():  # repairs of already counted hosts
            write(store, op_id, None, markers, self.chunk_bytes)
        for op_id in self._forget:
            if op_id not in self._summaries:
                store.forget(op_id)
        self._summaries, self._markers, self._expected, self._aliases = {}, {}, {}, {}
        self._listed, self._forget = {}, []
        self._keys, self._key_bytes = {}, 0

    def get_summary(self, op_id: str) -> Summary | None:
        summary = self._summaries.get(op_id)
        return summary if summary is not None else self.store.get_summary(op_id)

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        marker = self._markers.get(op_id, {}).get(host)
        return marker if marker is not None else self.store.get_marker(op_id, host)

    def get_expected(self, op_id: str) -> list[str] | None:
        hosts = self._expected.get(op_id)
        return hosts if hosts is not None else self.store.get_expected(op_id)

    def is_listed(self, op_id: str, host: str) -> bool:
        if op_id not in self._expected:
            return self.store.is_listed(op_id, host)
        listed = self._listed.get(op_id)
        if listed is None:
            listed = self._listed[op_id] = expected_set(self._expected[op_id])
        return host in listed

    def held(self, op_id: str) -> list[tuple[str, HeldEntry]]:
        staged = self._markers.get(op_id, {})
        stored = [(k, m) for k, m in self.store.held(op_id) if k not in staged]
        return stored + [(k, as_held(m)) for k, m in staged.items() if k.startswith(HELD)]

    def get_alias(self, key: str) -> str | None:
        return self._aliases.get(key) or self.store.get_alias(key)

    def is_forgotten(self, op_id: str) -> bool:
        return self.store.is_forgotten(op_id)

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        seen = set()
        for op_id, summary in list(self.store.open_summaries(partition)):
            seen.add(op_id)
            summary = self._summaries.get(op_id, summary)
            if is_open(summary):
                yield op_id, summary
        for op_id, summary in list(self._summaries.items()):
            mine = op_id not in seen and summary["partition"] == partition
            if mine and is_open(summary):
                yield op_id, summary


def is_open(summary: Summary) -> bool:
    """Ticked: not completed, not quarantined."""
    return summary["state"] != "completed" and not summary.get("quarantined")
