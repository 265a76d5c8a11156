"""The agent: one actor over the raw and ticks topics, applying notifications in batches.

A batch (faust ``take_events``: up to ``batch_max`` records or ``batch_window_s``) is applied
per partition to an :class:`~pipeline.engine.Batch`, under that partition's table scope. Then
its derived events are sent, the ones consumers act on confirmed by Kafka, and only then is the
state written: one summary per operation, then its new host markers. faust acks the batch's
records after this returns, and commits offsets only after flushing its producer, so a
committed input offset implies its events and state are in Kafka.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from pipeline import events
from pipeline.app import Pipeline
from pipeline.engine import Batch
from pipeline.notifications import MalformedNotification, header_map, parse
from pipeline.operation import Effect, Step, Summary
from pipeline.store import partition_scope

log = structlog.get_logger(__name__)


def attach(p: Pipeline) -> None:
    async def operations(stream: Any) -> None:
        async for batch in stream.take_events(p.settings.batch_max, p.settings.batch_window_s):
            await apply_events(p, batch)

    async def send_ticks() -> None:
        """Wake the agent on every raw partition this worker owns (grace and stall checks)."""
        now = orjson.dumps(time.time())
        for tp in p.app.consumer.assignment():
            if tp.topic == p.settings.raw_topic:
                await p.ticks.send(value=now, partition=tp.partition)

    p.app.agent(p.inputs, concurrency=1, name="operations")(operations)
    p.app.timer(p.settings.tick_interval_s)(send_ticks)


@dataclass
class Outbox:
    """A batch's derived events: every host-failed, completed and stalled event in order, and
    the latest status snapshot of each operation (the status topic is compacted)."""

    critical: list[tuple[str, str, bytes]] = field(default_factory=list)
    statuses: dict[str, Summary] = field(default_factory=dict)

    def add(self, step: Step, summary: Summary | None) -> None:
        if summary is None:
            return
        for effect in step.effects:
            if effect.kind == "status":
                self.statuses[step.op_id] = summary
            else:
                value = orjson.dumps(events.build(summary, effect))
                self.critical.append((effect.kind, step.op_id, value))


async def apply_events(p: Pipeline, batch: list[Any]) -> None:
    by_partition: dict[int, list[Any]] = {}
    for event in batch:
        by_partition.setdefault(event.message.partition, []).append(event)
    outbox = Outbox()
    applied: list[tuple[Any, Batch]] = []
    for partition, partition_events in by_partition.items():
        state = Batch(p.store)
        scope = partition_events[-1]
        with partition_scope(scope):
            for event in partition_events:
                message = event.message
                if message.topic == p.settings.ticks_topic:
                    await on_tick(p, state, partition, outbox)
                else:
                    for skipped in await p.gaps.observe(partition, message.offset):
                        await apply_raw(p, state, skipped, outbox)
                    await apply_raw(p, state, message, outbox)
        applied.append((scope, state))
    await send(p, outbox)
    for scope, state in applied:
        with partition_scope(scope):
            state.flush()


async def apply_raw(p: Pipeline, state: Batch, message: Any, outbox: Outbox) -> None:
    headers = header_map(message.headers)
    try:
        notification = parse(message.value, headers)
    except MalformedNotification as exc:
        await dead_letter(p, message, f"{exc.reason}: {exc}")
        return
    if notification is None:
        p.stats.ignored += 1
        return
    now = time.time()
    step = state.apply(notification, message.offset, message.partition, now, p.limits)
    outbox.add(step, state.get_summary(step.op_id))
    p.stats.applied += 1
    p.stats.last_applied_at = now
    if p.stats.first_applied_at is None:
        p.stats.first_applied_at = now
    if step.note:
        log.warning(step.note, op=step.op_id, offset=message.offset, partition=message.partition)


async def on_tick(p: Pipeline, state: Batch, partition: int, outbox: Outbox) -> None:
    p.stats.ticks += 1
    await flush_statuses(p, state, partition)
    for step in state.tick(partition, time.time(), p.limits):
        outbox.add(step, state.get_summary(step.op_id))
        if step.note:
            log.warning(step.note, op=step.op_id, partition=partition)


async def send(p: Pipeline, outbox: Outbox) -> None:
    """Send the batch's events; wait until Kafka has the ones consumers act on."""
    pending = []
    for kind, op_id, value in outbox.critical:
        pending.append(await p.outputs[kind].send(key=op_id.encode(), value=value))
    for op_id, summary in outbox.statuses.items():
        if coalesce(p, summary):
            p.dirty.setdefault(summary["partition"], set()).add(op_id)
            continue
        value = orjson.dumps(events.build(summary, Effect("status")))
        await p.outputs["status"].send(key=op_id.encode(), value=value)
    for fut in pending:
        await fut


def coalesce(p: Pipeline, summary: Summary) -> bool:
    """With ``status_coalesce``, a running operation's progress snapshot waits for the next
    tick (the latest one wins); its first snapshot and state changes are sent at once."""
    return (
        p.settings.status_coalesce
        and summary["state"] == "running"
        and summary["hosts_reported"] > 1
    )


async def flush_statuses(p: Pipeline, state: Batch, partition: int) -> None:
    """Send the coalesced snapshots of one partition (from the current state: same ids)."""
    for op_id in p.dirty.pop(partition, set()):
        summary = state.get_summary(op_id)
        if summary is not None and summary["state"] == "running":
            value = orjson.dumps(events.build(summary, Effect("status")))
            await p.outputs["status"].send(key=op_id.encode(), value=value)


async def dead_letter(p: Pipeline, message: Any, reason: str) -> None:
    """Malformed records go to the pipeline DLQ with the reason; the worker carries on."""
    p.stats.malformed += 1
    key = reason.split(":")[0][:60]
    p.stats.by_reason[key] = p.stats.by_reason.get(key, 0) + 1
    raw = message.headers or []
    headers = list(raw.items() if isinstance(raw, dict) else raw)
    headers += [
        ("reason", reason.encode()),
        ("source_topic", str(message.topic).encode()),
        ("source_partition", str(message.partition).encode()),
        ("source_offset", str(message.offset).encode()),
    ]
    await p.dlq.send(key=message.key, value=message.value or b"", headers=headers)
    log.warning("malformed notification", reason=reason, offset=message.offset)
