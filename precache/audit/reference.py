"""The reference computation: rules R2-R9 re-implemented simply, over raw records in partition
order, to judge the worker's completed events.

Input validation (R1) is ``pipeline.notifications.parse`` (its ``MalformedNotification.reason``
is the dead-letter code) and, for the image cache inventory's instance and aggregate
notifications, ``pipeline.inventory_input.parse_other`` (the worker dead-letters a malformed
one too), plus the two list checks of R3 (``no_hosts``, ``duplicate_host``) done here too, so
the reference holds the contract whether or not the parser does them. The
aggregation itself (identity, host list, held progress, counting, completion) shares no code
with ``pipeline.operation`` or ``pipeline.engine``: it keeps whole sets in memory and is meant
to be obviously right, not fast.

Wall-clock rules cannot be replayed from a log: an operation whose ``.end`` was seen completes
"after the grace period", so any state between its ``.end`` and its last record is an
acceptable result (``Expected.candidates``); late progress after that point is R7. For the
same reason a progress that R4 dead-letters after the ``.end`` of an operation with hosts
still missing may instead have been ignored (R7): it is ``ReferenceResult.optional``.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from precache.audit.records import AuditRecord
from precache.pipeline.inventory_input import parse_other
from precache.pipeline.notifications import (
    End,
    MalformedNotification,
    Notification,
    Progress,
    Start,
    parse,
)

RecordRef = tuple[int, int]  # partition, offset


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a completed event must say (the parts the rules decide)."""

    hosts_total: int
    hosts_reported: int
    hosts_failed: int
    failed_hosts: frozenset[str]
    missing_hosts: frozenset[str]
    image_failures: tuple[tuple[str, int], ...]
    outcome: str


@dataclass(slots=True)
class Expected:
    """One operation as the reference sees it at the end of the log."""

    operation_id: str
    region: str
    aggregate_uuid: str
    request_id: str | None
    hosts: tuple[str, ...] | None = None
    counted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host -> images failed
    held: list[tuple[Progress, RecordRef]] = field(default_factory=list)
    end_seen: bool = False
    done: bool = False  # every listed host counted: completed at once, later input is R7
    candidates: list[Outcome] = field(default_factory=list)

    @property
    def can_complete(self) -> bool:
        return bool(self.candidates)

    def outcome(self, grace_over: bool) -> Outcome:
        hosts = self.hosts or ()
        failing = {h for h, images in self.counted.items() if images}
        missing = frozenset(h for h in hosts if grace_over and h not in self.counted)
        failed = len(failing) + len(missing)
        images: Counter[str] = Counter()
        for host in failing:
            images.update(set(self.counted[host]))
        verdict = "succeeded" if failed == 0 else "failed" if failed >= len(hosts) else "partial"
        return Outcome(
            hosts_total=len(hosts),
            hosts_reported=len(self.counted),
            hosts_failed=failed,
            failed_hosts=frozenset(failing) | missing,
            missing_hosts=missing,
            image_failures=tuple(sorted(images.items())),
            outcome=verdict,
        )


@dataclass(slots=True)
class ReferenceResult:
    operations: dict[str, Expected] = field(default_factory=dict)
    dead_letters: dict[RecordRef, str] = field(default_factory=dict)  # raw record -> reason
    # dead letters the worker may also have ignored (R7 after a grace completion)
    optional: set[RecordRef] = field(default_factory=set)
    ignored: Counter[str] = field(default_factory=Counter)  # rule -> records


def compute(records: Iterable[AuditRecord]) -> ReferenceResult:
    """Apply the rules to raw records given in offset order within each partition."""
    return _Reference().run(records)


class _Reference:
    def __init__(self) -> None:
        self.result = ReferenceResult()
        self.aliases: dict[str, str] = {}  # region/aggregate -> op id (no request id)

    def run(self, records: Iterable[AuditRecord]) -> ReferenceResult:
        for record in records:
            self.apply(record)
        return self.result

    def apply(self, record: AuditRecord) -> None:
        ref = (record.partition, record.offset)
        try:
            n = parse(record.value, record.headers)
        except MalformedNotification as exc:
            self.dead_letter(ref, getattr(exc, "reason", None) or "malformed")
            return
        if n is None:
            try:
                parse_other(record.value, record.headers)
            except MalformedNotification as exc:
                self.dead_letter(ref, exc.reason)
                return
            self.result.ignored["not_used"] += 1
            return
        if isinstance(n, Start | End):
            if not n.hosts:
                self.dead_letter(ref, "no_hosts")
                return
            if len(set(n.hosts)) != len(n.hosts):
                self.dead_letter(ref, "duplicate_host")
                return
        op = self.operation(n)
        if isinstance(n, Start | End) and op.hosts is not None and set(n.hosts) - set(op.hosts):
            self.dead_letter(ref, "hosts_not_in_operation")  # R3: applied and dead-lettered
        if op.done:
            self.result.ignored["after_completed"] += 1  # R7
            return
        if isinstance(n, Progress):
            self.progress(op, n, ref)
        elif isinstance(n, Start | End):
            self.host_list(op, n)
        self.settle(op)

    def dead_letter(self, ref: RecordRef, reason: str, optional: bool = False) -> None:
        """``optional``: after the ``.end`` (hosts missing), so the grace period may have
        completed the operation first and the worker ignored the record (R7)."""
        self.result.dead_letters[ref] = reason
        if optional:
            self.result.optional.add(ref)

    def operation(self, n: Notification) -> Expected:
        """R2: ``{region}/{aggregate}/{request_id}``; without one, through the alias."""
        alias_key = f"{n.region}/{n.aggregate.uuid}"
        if n.request_id:
            op_id = f"{alias_key}/{n.request_id}"
        elif isinstance(n, Start):
            op_id = f"{alias_key}/{n.timestamp}"
            self.aliases[alias_key] = op_id
        else:
            op_id = self.aliases.get(alias_key, f"{alias_key}/unknown")
        op = self.result.operations.get(op_id)
        if op is None:
            op = Expected(op_id, n.region, n.aggregate.uuid, n.request_id)
            self.result.operations[op_id] = op
        return op

    def progress(self, op: Expected, n: Progress, ref: RecordRef) -> None:
        if op.hosts is None:
            op.held.append((n, ref))  # R5
            return
        if n.host not in op.hosts:
            self.dead_letter(ref, "host_not_in_operation", optional=op.end_seen)
        elif n.total != len(op.hosts):
            self.dead_letter(ref, "total_mismatch", optional=op.end_seen)
        elif n.host in op.counted:
            self.result.ignored["duplicate"] += 1
        else:
            op.counted[n.host] = n.images_failed

    def host_list(self, op: Expected, n: Start | End) -> None:
        """R3: the first list known is the truth; R5: held progress resolved in order."""
        if isinstance(n, End):
            op.end_seen = True
        if op.hosts is None:
            op.hosts = n.hosts
            held, op.held = op.held, []
            for progress, ref in held:
                self.progress(op, progress, ref)
        elif set(n.hosts) != set(op.hosts):
            self.result.ignored["list_differs"] += 1

    def settle(self, op: Expected) -> None:
        """R6: all counted -> completed now; ``.end`` seen -> this state is one the grace
        period may have closed."""
        if op.hosts is not None and len(op.counted) == len(op.hosts):
            op.done = True
            op.candidates.append(op.outcome(grace_over=False))
        elif op.end_seen and op.hosts is not None:
            candidate = op.outcome(grace_over=True)
            if not op.candidates or op.candidates[-1] != candidate:
                op.candidates.append(candidate)
