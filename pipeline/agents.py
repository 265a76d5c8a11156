"""The agent: one actor over the raw and ticks topics, so state changes never interleave.

Records are processed in batches (``stream.take_events``): the rules run per notification
against a batch-local overlay of the table, the critical events (completed, host.failed,
stalled) are sent as they arise, one status snapshot per changed operation is sent at the end of
the batch (its latest state), then the critical sends are awaited and only then are the batch's
state writes applied to the table, in the same order as one step at a time. faust acks the
batch's records after this returns, so no offset is committed past a record whose effects are
not written yet.
"""

import asyncio
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from faust.streams import _current_event

from pipeline import engine, events
from pipeline.app import Pipeline
from pipeline.notifications import MalformedNotification, header_map, parse
from pipeline.operation import Effect, Marker, Step, Summary

log = structlog.get_logger(__name__)

#: derived events that must be in Kafka before the state that records them is written
CRITICAL = frozenset({"completed", "host_failed", "stalled"})


def attach(p: Pipeline) -> None:
    ticks_topic = p.settings.ticks_topic

    async def operations(stream: Any) -> None:
        batch_max, within = p.settings.batch_max, p.settings.batch_within_s
        async for batch in stream.take_events(batch_max, within=within):
            await apply_batch(p, batch, ticks_topic)

    async def send_ticks() -> None:
        """Wake the agent on every raw partition this worker owns (grace and stall checks)."""
        now = orjson.dumps(time.time())
        for tp in p.app.consumer.assignment():
            if tp.topic == p.settings.raw_topic:
                await p.ticks.send(value=now, partition=tp.partition)

    p.app.agent(p.inputs, concurrency=1, name="operations")(operations)
    p.app.timer(p.settings.tick_interval_s)(send_ticks)


async def apply_batch(p: Pipeline, events_: Sequence[Any], ticks_topic: str) -> None:
    batch = Batch(p)
    for event in events_:
        message = event.message
        if message.topic == ticks_topic:
            await batch.flush()  # ticks read the table's open operations: write first
            in_event(event)
            await on_tick(p, message.partition)
            continue
        for skipped in await p.gaps.observe(message.partition, message.offset):
            await batch.apply_raw(event, skipped)
        await batch.apply_raw(event, message)
    await batch.flush()


def in_event(event: Any) -> None:
    """Table writes go to the changelog partition of faust's *current event*; a batch writes
    after iterating, so it names the event each write belongs to (what faust's iterator sets)."""
    _current_event.set(weakref.ref(event))


class Overlay:
    """The engine's store for one batch: reads see the batch's own writes, which are kept
    aside (in step order) until the batch's critical events are confirmed."""

    def __init__(self, base: engine.Store) -> None:
        self.base = base
        self.summary: dict[str, Summary] = {}
        self.markers: dict[tuple[str, str], Marker] = {}
        self.expected: dict[str, list[str]] = {}
        self.aliases: dict[str, str] = {}

    def get_summary(self, op_id: str) -> Summary | None:
        found = self.summary.get(op_id)
        return found if found is not None else self.base.get_summary(op_id)

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        found = self.markers.get((op_id, host))
        return found if found is not None else self.base.get_marker(op_id, host)

    def get_expected(self, op_id: str) -> list[str] | None:
        found = self.expected.get(op_id)
        return found if found is not None else self.base.get_expected(op_id)

    def get_alias(self, key: str) -> str | None:
        found = self.aliases.get(key)
        return found if found is not None else self.base.get_alias(key)

    def put_summary(self, op_id: str, summary: Summary) -> None:
        self.summary[op_id] = summary

    def put_marker(self, op_id: str, host: str, marker: Marker) -> None:
        self.markers[(op_id, host)] = marker

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        self.expected[op_id] = hosts

    def put_alias(self, key: str, op_id: str) -> None:
        self.aliases[key] = op_id

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        raise NotImplementedError("ticks run on the table, after the batch is written")

    def record(self, step: Step) -> None:
        if step.expected is not None:
            self.expected[step.op_id] = step.expected
        if step.alias is not None:
            self.aliases[step.alias[0]] = step.alias[1]
        if step.summary is not None:
            self.summary[step.op_id] = step.summary
        for host, marker in step.markers:
            self.markers[(step.op_id, host)] = marker


@dataclass
class Batch:
    p: Pipeline
    steps: list[tuple[Any, Step]] = field(default_factory=list)  # (faust event, step)
    pending: list[Any] = field(default_factory=list)  # futures of critical sends
    latest: dict[str, tuple[Step, Summary]] = field(default_factory=dict)  # status per op
    overlay: Overlay | None = None

    def store(self) -> Overlay:
        if self.overlay is None:
            self.overlay = Overlay(self.p.store)
        return self.overlay

    async def apply_raw(self, event: Any, message: Any) -> None:
        p = self.p
        headers = header_map(message.headers)
        try:
            notification = parse(message.value, headers)
        except MalformedNotification as exc:
            await dead_letter(p, message, str(exc))
            return
        if notification is None:
            p.stats.ignored += 1
            return
        store = self.store()
        step = engine.process(
            notification, message.offset, message.partition, time.time(), store, p.limits
        )
        summary = step.summary or store.get_summary(step.op_id)
        if summary is not None:
            for effect in step.effects:
                if effect.kind == "status":
                    self.latest[step.op_id] = (step, summary)
                else:
                    self.pending.append(await send_event(p, step.op_id, summary, effect))
        store.record(step)
        self.steps.append((event, step))
        if p.stats.first_applied_at is None:
            p.stats.first_applied_at = time.time()
        if step.note:
            log.warning(
                step.note, op=step.op_id, offset=message.offset, partition=message.partition
            )

    async def flush(self) -> None:
        """One status snapshot per changed operation, wait for the critical events, then write
        the batch's state in step order."""
        p = self.p
        for op_id, (step, summary) in self.latest.items():
            if not coalesce(p, step, summary):
                await send_event(p, op_id, summary, Effect("status"))
        if self.pending:
            await asyncio.gather(*self.pending)
        for event, step in self.steps:
            in_event(event)
            engine.commit(step, p.store)
        if self.steps:  # applied = state written (the benchmark's clock)
            p.stats.applied += len(self.steps)
            p.stats.last_applied_at = time.time()
        self.steps, self.pending, self.latest, self.overlay = [], [], {}, None


async def send_event(p: Pipeline, op_id: str, summary: Summary, effect: Effect) -> Any:
    """Hand one CloudEvent to the producer (faust flushes it before committing offsets);
    returns the delivery future."""
    value = orjson.dumps(events.build(summary, effect))
    topic = p.output_names[effect.kind]
    return await p.app.producer.send(topic, op_id.encode(), value, None, None, None)


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
            fut = await send_event(p, step.op_id, summary, effect)
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
            await send_event(p, op_id, summary, Effect("status"))


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
