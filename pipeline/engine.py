"""Runs the pure rules against a key-value store: the same code in the worker and in tests.

The worker's store is one faust table; tests use :class:`DictStore`. Writes happen in
:func:`commit` in a fixed order (expected hosts, alias, summary, markers) *after* the step's
events were emitted; with one table they land in one changelog partition in that order, so a
crash leaves a prefix of them, which redelivery repairs (see :mod:`pipeline.operation`).
"""

from collections.abc import Iterator
from typing import Protocol

from pipeline import operation
from pipeline.notifications import Notification, Progress, Start
from pipeline.operation import Limits, Marker, Step, Summary


class Store(Protocol):
    def get_summary(self, op_id: str) -> Summary | None: ...
    def put_summary(self, op_id: str, summary: Summary) -> None: ...
    def get_marker(self, op_id: str, host: str) -> Marker | None: ...
    def put_marker(self, op_id: str, host: str, marker: Marker) -> None: ...
    def get_expected(self, op_id: str) -> list[str] | None: ...
    def put_expected(self, op_id: str, hosts: list[str]) -> None: ...
    def get_alias(self, key: str) -> str | None: ...
    def put_alias(self, key: str, op_id: str) -> None: ...
    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]: ...


def process(
    n: Notification, offset: int, partition: int, now: float, store: Store, limits: Limits
) -> Step:
    alias = None if n.request_id else store.get_alias(operation.alias_key(n))
    op_id = operation.operation_id(n, alias)
    summary = store.get_summary(op_id)
    marker = store.get_marker(op_id, n.host) if isinstance(n, Progress) else None
    step = operation.apply(n, offset, summary, marker, now, limits, partition, op_id)
    if isinstance(n, Start) and not n.request_id:
        step.alias = (operation.alias_key(n), op_id)
    if step.expected is not None and store.get_expected(op_id):
        step.expected = None  # written once (start wins over end)
    return step


def tick(partition: int, now: float, store: Store, limits: Limits) -> list[Step]:
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
    if step.expected is not None:
        store.put_expected(step.op_id, step.expected)
    if step.alias is not None:
        store.put_alias(*step.alias)
    if step.summary is not None:
        store.put_summary(step.op_id, step.summary)
    for host, marker in step.markers:
        store.put_marker(step.op_id, host, marker)


class DictStore:
    """In-memory :class:`Store` for tests and the watcher."""

    def __init__(self) -> None:
        self.summary: dict[str, Summary] = {}
        self.markers: dict[tuple[str, str], Marker] = {}
        self.expected: dict[str, list[str]] = {}
        self.aliases: dict[str, str] = {}

    def get_summary(self, op_id: str) -> Summary | None:
        return self.summary.get(op_id)

    def put_summary(self, op_id: str, summary: Summary) -> None:
        self.summary[op_id] = summary

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        return self.markers.get((op_id, host))

    def put_marker(self, op_id: str, host: str, marker: Marker) -> None:
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
