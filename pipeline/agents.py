"""The agent: one actor over the raw and ticks topics, so state changes never interleave."""

import time
from typing import Any

import orjson
import structlog

from pipeline import engine, events
from pipeline.app import Pipeline
from pipeline.notifications import MalformedNotification, header_map, parse
from pipeline.operation import Effect, Step

log = structlog.get_logger(__name__)

#: derived events that must be in Kafka before the state that records them is written
CRITICAL = frozenset({"completed", "host_failed", "stalled"})


def attach(p: Pipeline) -> None:
    ticks_topic = p.settings.ticks_topic

    async def operations(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            if message.topic == ticks_topic:
                await on_tick(p, message.partition)
            else:
                await on_raw(p, message)

    async def send_ticks() -> None:
        """Wake the agent on every raw partition this worker owns (grace and stall checks)."""
        now = orjson.dumps(time.time())
        for tp in p.app.consumer.assignment():
            if tp.topic == p.settings.raw_topic:
                await p.ticks.send(value=now, partition=tp.partition)

    p.app.agent(p.inputs, concurrency=1, name="operations")(operations)
    p.app.timer(p.settings.tick_interval_s)(send_ticks)


async def on_raw(p: Pipeline, message: Any) -> None:
    for skipped in await p.gaps.observe(message.partition, message.offset):
        await apply_raw(p, skipped)
    await apply_raw(p, message)


async def apply_raw(p: Pipeline, message: Any) -> None:
    headers = header_map(message.headers)
    try:
        notification = parse(message.value, headers)
    except MalformedNotification as exc:
        await dead_letter(p, message, str(exc))
        return
    if notification is None:
        p.stats.ignored += 1
        return
    step = engine.process(
        notification, message.offset, message.partition, time.time(), p.store, p.limits
    )
    await emit_and_commit(p, step)
    p.stats.applied += 1
    p.stats.last_applied_at = time.time()
    if p.stats.first_applied_at is None:
        p.stats.first_applied_at = p.stats.last_applied_at
    if step.note:
        log.warning(step.note, op=step.op_id, offset=message.offset, partition=message.partition)


async def on_tick(p: Pipeline, partition: int) -> None:
    p.stats.ticks += 1
    await flush_statuses(p, partition)
    for step in engine.tick(partition, time.time(), p.store, p.limits):
        await emit_and_commit(p, step)
        if step.note:
            log.warning(step.note, op=step.op_id, partition=partition)


async def emit_and_commit(p: Pipeline, step: Step) -> None:
    """Emit the step's events, wait for the critical ones, then write its state."""
    summary = step.summary or p.store.get_summary(step.op_id)
    if summary is not None:
        pending = []
        for effect in step.effects:
            if effect.kind == "status" and coalesce(p, step, summary):
                continue
            value = orjson.dumps(events.build(summary, effect))
            topic = p.outputs[effect.kind]
            fut = await topic.send(key=step.op_id.encode(), value=value)
            if effect.kind in CRITICAL:
                pending.append(fut)
        for fut in pending:
            await fut
    engine.commit(step, p.store)


def coalesce(p: Pipeline, step: Step, summary: dict[str, Any]) -> bool:
    """With ``status_coalesce``, a running operation's progress snapshot waits for the next
    tick (the latest one wins); state changes are always sent at once."""
    if not p.settings.status_coalesce or summary["state"] != "running":
        return False
    if len(step.effects) != 1 or summary["hosts_reported"] <= 1:
        return False
    p.dirty.setdefault(summary["partition"], set()).add(step.op_id)
    return True


async def flush_statuses(p: Pipeline, partition: int) -> None:
    """Send the coalesced snapshots of one partition (from the current state: same ids)."""
    for op_id in p.dirty.pop(partition, set()):
        summary = p.store.get_summary(op_id)
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
