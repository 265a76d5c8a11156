"""A batch's output: its dead letters, its derived events and status snapshots, built while
the batch is applied and sent only once every record was (:func:`send`).

Dead letters keep the record unchanged, with why (``reason``, ``error``) and where it came from
(``source_topic``/``_partition``/``_offset``) as headers: docs/pipeline-rules.md.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from precache.contract.kafka_binding import HEADERS
from precache.logs import RateLimitedLog
from precache.pipeline import events, inventory_feed, metrics, operation
from precache.pipeline.context import Pipeline
from precache.pipeline.operation import Effect, Step, Summary
from precache.pipeline.produce import produce
from precache.pipeline.record_batches import RecordBatches, aiokafka_producer

log = structlog.get_logger(__name__)
ratelog = RateLimitedLog(log)  # one line per key (a dead letter's reason, say) per 10 s

ERROR_CHARS = 1000
APPLY_ERROR = "apply_error"


class Careful(Exception):
    """A status snapshot failed to build in the fast path: redo the batch record by record."""


@dataclass
class Outbox:
    """A batch's output, sent only once every record was applied: dead letters, every
    host-failed, completed and stalled event in order, and the latest status snapshot of each
    operation (the status topic is compacted). Counters join the stats after the batch."""

    careful: bool = False
    dead: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    critical: list[tuple[str, str, bytes]] = field(default_factory=list)
    statuses: dict[str, Summary] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)  # careful mode: built per record
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    dirty_taken: list[int] = field(default_factory=list)
    due: set[str] = field(default_factory=set)  # coalesced snapshots sent at this tick
    inventory: list[inventory_feed.Input] = field(default_factory=list)  # for its agent
    nova_times: list[str] = field(default_factory=list)  # of applied notifications (metrics)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def prepare(self, p: Pipeline, step: Step, summary: Summary | None) -> "Prepared":
        """Build the step's events (raises for this step alone); nothing is recorded yet."""
        out = Prepared(step.op_id)
        if summary is None:
            return out
        for effect in step.effects:
            if effect.kind == "status":
                out.status = summary
                if self.careful:
                    out.encoded = events.encode(summary, effect, p.limits)
            else:
                out.critical.append((effect.kind, events.encode(summary, effect, p.limits)))
        out.counts = metrics.effect_counts(step, summary)
        return out

    def add(self, prepared: "Prepared") -> None:
        for name in prepared.counts:
            self.count(name)
        for kind, value in prepared.critical:
            self.critical.append((kind, prepared.op_id, value))
        if prepared.status is not None:
            self.statuses[prepared.op_id] = prepared.status
        if prepared.encoded is not None:
            self.encoded[prepared.op_id] = prepared.encoded


@dataclass
class Prepared:
    op_id: str
    critical: list[tuple[str, bytes]] = field(default_factory=list)
    status: Summary | None = None
    encoded: bytes | None = None
    counts: list[str] = field(default_factory=list)  # outbox count keys (pipeline.metrics)


def encode_statuses(p: Pipeline, outbox: Outbox) -> dict[str, bytes]:
    """The snapshots this batch sends (a coalesced one waits for its tick: not built)."""
    out = dict(outbox.encoded)
    for op_id, summary in outbox.statuses.items():
        if op_id in out or (op_id not in outbox.due and coalesce(p, summary)):
            continue
        try:
            out[op_id] = events.encode(summary, Effect("status"), p.limits)
        except Exception as exc:
            if outbox.careful:  # a coalesced snapshot: the state is fine, skip the snapshot
                ratelog.warning("status snapshot not built", op=op_id, error=repr(exc))
                continue
            raise Careful from exc
    return out


async def send(p: Pipeline, outbox: Outbox, statuses: dict[str, bytes]) -> None:
    """Send the batch's dead letters and records and wait until Kafka has every one; the
    records as record batches (:mod:`pipeline.record_batches`), per partition in this order."""
    pending = []
    for key, value, headers in outbox.dead:
        pending.append(await produce(p.dlq, key, value, headers))
    batches = RecordBatches()
    if p.inventory is not None:
        records = inventory_feed.records(outbox.inventory, p.inventory.partitions)
        name = p.inventory.topic.get_topic_name()
        for key, value, partition in records:
            batches.add(name, key, value, partition=partition)
    for kind, op_id, value in outbox.critical:
        batches.add(p.outputs[kind].get_topic_name(), op_id.encode(), value, HEADERS)
    status = p.outputs["status"].get_topic_name()
    for op_id, value in statuses.items():
        summary = outbox.statuses.get(op_id)
        if summary is not None and op_id not in outbox.due and coalesce(p, summary):
            continue  # careful mode built it with its record: it still waits for its tick
        batches.add(status, op_id.encode(), value, HEADERS)
    if batches:
        pending.extend((await batches.send(aiokafka_producer(p.app))).futures)
    await confirm(p, pending)


async def confirm(p: Pipeline, pending: list[Awaitable[Any]]) -> None:
    """Wait for Kafka to confirm ``pending``; a confirmation that never comes is a
    worker-level failure too (``TimeoutError``), not a stall."""
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), p.settings.confirm_timeout_s)


def coalesce(p: Pipeline, summary: Summary) -> bool:
    """With ``status_coalesce``, a running operation's progress snapshot waits for the next
    tick (the latest one wins); its first snapshot and state changes are sent at once."""
    return (
        p.settings.status_coalesce
        and summary["state"] == "running"
        and summary["hosts_reported"] > 1
    )


def dead_letter(p: Pipeline, outbox: Outbox, message: Any, reason: str, error: str) -> None:
    """The record, unchanged, to the pipeline DLQ with why; the batch goes on."""
    raw = message.headers or []
    headers = list(raw.items() if isinstance(raw, dict) else raw)
    dead_record(
        outbox,
        message.key,
        message.value,
        headers,
        reason,
        error,
        message.topic,
        message.partition,
        message.offset,
    )
    ratelog.warning(
        "dead letter", key=reason, reason=reason, error=error[:200], offset=message.offset
    )


def dead_held(p: Pipeline, outbox: Outbox, message: Any, dead: operation.Dead) -> None:
    """A held progress the host list rejects: its record as it was kept (R5)."""
    entry = dead.entry
    headers = [(k, str(v).encode()) for k, v in entry.get("h", [])]
    value = str(entry.get("v", "")).encode()
    dead_record(
        outbox,
        message.key,
        value,
        headers,
        dead.reason,
        dead.error,
        p.settings.raw_topic,
        message.partition,
        entry["o"],
    )


def quarantine(p: Pipeline, outbox: Outbox, message: Any, step: Step) -> None:
    """An operation whose timer rules raised: one dead letter naming it, then never again."""
    assert step.reject is not None
    assert step.summary is not None
    s = step.summary
    value = orjson.dumps({k: s.get(k) for k in ("operation_id", "region", "aggregate", "state")})
    dead_record(
        outbox,
        s["operation_id"].encode(),
        value,
        [],
        *step.reject,
        message.topic,
        message.partition,
        message.offset,
    )
    outbox.count("quarantined")
    ratelog.warning("operation quarantined", op=step.op_id, error=step.reject[1])


def dead_record(
    outbox: Outbox,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    reason: str,
    error: str,
    topic: str,
    partition: int,
    offset: int,
) -> None:
    headers = [
        *headers,
        ("reason", reason.encode()),
        ("error", error[:ERROR_CHARS].encode()),
        ("source_topic", str(topic).encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
    ]
    outbox.dead.append((key, value or b"", headers))
    outbox.reasons[reason] = outbox.reasons.get(reason, 0) + 1
