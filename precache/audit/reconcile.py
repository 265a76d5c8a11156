"""Lost, duplicated, wrong, unfinished: a run's records judged against the reference."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from precache import contract
from precache.audit.records import AuditRecord, RunRecords
from precache.audit.reference import Expected, Outcome, ReferenceResult, compute


@dataclass(slots=True)
class OperationReport:
    operation_id: str
    can_complete: bool
    completed_ids: list[str] = field(default_factory=list)  # distinct event ids
    redelivered: int = 0  # extra copies of an id already seen (at-least-once)
    problems: list[str] = field(default_factory=list)

    @property
    def duplicated(self) -> bool:
        return len(self.completed_ids) > 1

    @property
    def wrong(self) -> bool:
        return bool(self.problems)

    @property
    def unfinished(self) -> bool:
        return not self.completed_ids


@dataclass(slots=True)
class AuditReport:
    accepted: int | None
    raw_records: int
    raw_redelivered: int  # raw records whose message_id came before (at-least-once)
    bridge_dead_letters: dict[str, int]
    pipeline_dead_letters: dict[str, int]
    ignored: dict[str, int]  # reference: records ignored by a rule
    lost: list[str]
    operations: dict[str, OperationReport]
    record_problems: list[str]  # dead letters the rules disagree with
    missing_topics: list[str]

    @property
    def duplicated(self) -> list[str]:
        return [k for k, o in self.operations.items() if o.duplicated]

    @property
    def wrong(self) -> list[str]:
        return [k for k, o in self.operations.items() if o.wrong]

    @property
    def unfinished(self) -> list[str]:
        return [k for k, o in self.operations.items() if o.unfinished]

    @property
    def redelivered_completed(self) -> int:
        return sum(o.redelivered for o in self.operations.values())

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or wrong (unfinished operations are reported, not judged)."""
        return not (self.lost or self.duplicated or self.wrong or self.record_problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "totals": {
                "operations": len(self.operations),
                "lost": len(self.lost),
                "duplicated": len(self.duplicated),
                "wrong": len(self.wrong),
                "wrong_records": len(self.record_problems),
                "unfinished": len(self.unfinished),
                "redelivered_completed": self.redelivered_completed,
                "accepted": self.accepted,
                "raw_records": self.raw_records,
                "raw_redelivered": self.raw_redelivered,
            },
            "lost": self.lost,
            "bridge_dead_letters": self.bridge_dead_letters,
            "pipeline_dead_letters": self.pipeline_dead_letters,
            "ignored": self.ignored,
            "record_problems": self.record_problems,
            "missing_topics": self.missing_topics,
            "operations": {
                k: {**asdict(o), "duplicated": o.duplicated, "unfinished": o.unfinished}
                for k, o in self.operations.items()
            },
        }


def reconcile(run: RunRecords, accepted: Iterable[str] | None = None) -> AuditReport:
    """Judge one run; ``accepted``: the message_ids RabbitMQ confirmed, when known."""
    reference = compute(run.raw)
    raw_ids = [message_id(r) for r in run.raw]
    seen = Counter(i for i in raw_ids if i)
    accepted_ids = None if accepted is None else list(dict.fromkeys(accepted))
    arrived = set(seen) | {i for r in run.bridge_dlq if (i := message_id(r))}
    return AuditReport(
        accepted=None if accepted_ids is None else len(accepted_ids),
        raw_records=len(run.raw),
        raw_redelivered=sum(c - 1 for c in seen.values()),
        bridge_dead_letters=dict(Counter(reason(r) for r in run.bridge_dlq)),
        pipeline_dead_letters=dict(Counter(reason(r) for r in run.pipeline_dlq)),
        ignored=dict(reference.ignored),
        lost=[i for i in accepted_ids or () if i not in arrived],
        operations=judge_operations(reference, run.completed),
        record_problems=judge_dead_letters(reference, run),
        missing_topics=run.missing_topics,
    )


def message_id(record: AuditRecord) -> str | None:
    """The oslo message_id: the bridge's header, else the body (inner message or envelope)."""
    if record.headers.get("message_id"):
        return record.headers["message_id"]
    body = record.json()
    if isinstance(body, dict) and isinstance(body.get("oslo.message"), str):
        try:
            body = orjson.loads(body["oslo.message"])
        except orjson.JSONDecodeError:
            return None
    value = body.get("message_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def reason(record: AuditRecord) -> str:
    """A dead letter's reason code (a free-text reason counts by its first word)."""
    text = record.headers.get("reason", "")
    return text.split(":")[0].split()[0] if text.strip() else "none"


def judge_operations(
    reference: ReferenceResult, completed: list[AuditRecord]
) -> dict[str, OperationReport]:
    reports = {k: OperationReport(k, op.can_complete) for k, op in reference.operations.items()}
    for record in completed:
        event = record.json()
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict):
            bad = OperationReport(f"<record {record.partition}/{record.offset}>", False)
            bad.problems.append("completed record is not a CloudEvent")
            reports[bad.operation_id] = bad
            continue
        key = operation_key(data)
        report = reports.get(key)
        if report is None:
            report = reports[key] = OperationReport(key, False)
        event_id = str(event.get("id"))
        if event_id in report.completed_ids:
            report.redelivered += 1
            continue
        report.completed_ids.append(event_id)
        try:
            contract.decode(event)
        except contract.InvalidEvent as exc:
            report.problems.append(f"completed event {event_id} breaks the event contract: {exc}")
        expected = reference.operations.get(key)
        report.problems += judge_event(key, data, expected)
    return reports


def operation_key(data: dict[str, Any]) -> str:
    """The contract's id of the operation an event is about, from the event's own fields."""
    aggregate = data.get("aggregate")
    aggregate = aggregate if isinstance(aggregate, dict) else {}
    request_id, region = data.get("request_id"), data.get("region")
    if request_id and region and aggregate.get("uuid"):
        return f"{region}/{aggregate['uuid']}/{request_id}"
    return str(data.get("operation_id"))


def judge_event(key: str, data: dict[str, Any], expected: Expected | None) -> list[str]:
    if expected is None:
        return ["completed, but the raw topic has no such operation"]
    problems = []
    if data.get("operation_id") != key:
        problems.append(f"operation_id {data.get('operation_id')!r}, contract says {key!r}")
    duration = data.get("duration_s")
    if not isinstance(duration, int | float) or duration < 0:
        problems.append(f"duration_s {duration!r}")
    if not expected.candidates:
        state = "no host list" if expected.hosts is None else "hosts still missing, no .end"
        return [*problems, f"completed, but the rules cannot complete it yet ({state})"]
    diffs = [differences(data, c) for c in expected.candidates]
    if all(diffs):
        problems += diffs[-1]
    return problems


def differences(data: dict[str, Any], want: Outcome) -> list[str]:
    out = []
    for name in ("hosts_total", "hosts_reported", "hosts_failed", "outcome"):
        if data.get(name) != getattr(want, name):
            out.append(f"{name} {data.get(name)!r}, expected {getattr(want, name)!r}")
    for name, truncated in (
        ("failed_hosts", bool(data.get("failed_hosts_truncated"))),
        ("missing_hosts", len(data.get("missing_hosts") or ()) < len(want.missing_hosts)),
    ):
        got, wanted = set(data.get(name) or ()), getattr(want, name)
        if got != wanted if not truncated else not got <= wanted:
            out.append(f"{name} {_few(got - wanted)} extra, {_few(wanted - got)} absent")
    if data.get("image_failures") != dict(want.image_failures):
        out.append(
            f"image_failures {data.get('image_failures')!r}, expected {dict(want.image_failures)}"
        )
    return out


def _few(hosts: set[str]) -> str:
    shown = sorted(hosts)[:5]
    return f"{shown}{'...' if len(hosts) > 5 else ''}"


def judge_dead_letters(reference: ReferenceResult, run: RunRecords) -> list[str]:
    """Every record the rules dead-letter is in the pipeline DLQ, and nothing else is."""
    actual: dict[tuple[int, int], str] = {}
    raw_topic = run.raw[0].topic if run.raw else None
    for record in run.pipeline_dlq:
        h = record.headers
        if h.get("source_topic") not in (None, raw_topic):
            continue
        try:
            actual[(int(h["source_partition"]), int(h["source_offset"]))] = reason(record)
        except (KeyError, ValueError):
            continue
    problems = []
    for ref, why in sorted(reference.dead_letters.items()):
        if ref not in actual and ref not in reference.optional:
            problems.append(f"raw {ref[0]}/{ref[1]}: should be dead-lettered ({why}), is not")
    for ref, why in sorted(actual.items()):
        if ref not in reference.dead_letters:
            problems.append(f"raw {ref[0]}/{ref[1]}: dead-lettered ({why}), the rules apply it")
    return problems
