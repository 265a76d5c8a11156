"""The agent: one actor over the raw and ticks topics, applying notifications in batches.

A batch (:func:`~pipeline.batching.take_ready`: whatever the stream has buffered when the agent
is free, up to ``batch_max`` records; it never waits for more) is applied per partition to an
:class:`~pipeline.engine.Batch`, under that partition's table scope. Each record's step and
events are computed first and staged only if nothing raised: a record that fails is
dead-lettered (``apply_error``) and the batch goes on as if it had never been there. Then the
batch's dead letters and derived events are sent and confirmed by Kafka, then the state is
written (one summary per operation, then its host markers) and confirmed too.

Events before state, always: a state confirmed without its events would, after a crash,
redeliver records the state already counted, and their events would never be sent. But the
state's confirmation need not hold up the next batch: the agent goes on once the state writes
are sent, and the batch is acked when Kafka has confirmed them (``EventBatch.acks_after``).
The next batch's events may then be confirmed before this batch's state: after a crash both
are redelivered (neither was acked) and applied again (duplicates, never losses). At most one
batch's state is unconfirmed at a time: the next batch waits for it before writing its own.
Measured in ``bench e2e``: a Kafka round trip less on every batch's path (bench/README.md).

A failure that is not about one record (a send, a state write, Kafka) stops the worker with
exit status :data:`FATAL_EXIT` before the batch is acked. Why not let faust handle it: when
the agent raises, the batch generator (faust's ``take_events``, and :func:`take_ready` which
keeps its acks) is closed and its ``finally`` acks every event of the batch, the supervisor
restarts the agent, and the next commit commits those offsets although the batch's state was
never written (records lost). ``os._exit`` runs no ``finally``, flushes nothing and commits
nothing; the batch is redelivered after the restart and applied exactly once (the state is
idempotent under redelivery).
"""

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from precache.contract.kafka_binding import HEADERS
from precache.pipeline import events, inventory_feed, metrics, operation
from precache.pipeline.batching import take_ready
from precache.pipeline.context import Pipeline
from precache.pipeline.engine import Batch
from precache.pipeline.notifications import MalformedNotification, header_map, parse
from precache.pipeline.operation import Effect, Step, Summary
from precache.pipeline.store import partition_scope

log = structlog.get_logger(__name__)

FATAL_EXIT = 70  # EX_SOFTWARE: the worker stopped itself; restart it (the batch is redelivered)
ERROR_CHARS = 1000
APPLY_ERROR = "apply_error"


def attach(p: Pipeline) -> None:
    async def operations(stream: Any) -> None:
        async for batch in take_ready(stream, p.settings.batch_max):
            began = time.time()
            newest = max((e.message.timestamp for e in batch), default=began)
            batch.acks_after = await guarded(p, batch)
            p.stats.batch_age_ms.append((began - newest) * 1000)
            p.stats.batch_ms.append((time.time() - began) * 1000)
            p.metrics.observe_batch(
                len(batch), time.time() - began, began - newest, raw_offsets(p, batch)
            )
            p.stats.batches += 1
            p.stats.batched += len(batch)

    async def send_ticks() -> None:
        """Wake the agent on every raw partition this worker owns (grace and stall checks)."""
        now = orjson.dumps(time.time())
        for tp in p.app.consumer.assignment():
            if tp.topic == p.settings.raw_topic:
                await p.ticks.send(value=now, partition=tp.partition)

    p.app.agent(p.inputs, concurrency=1, name="operations")(operations)
    p.app.timer(p.settings.tick_interval_s)(send_ticks)


def raw_offsets(p: Pipeline, batch: list[Any]) -> dict[int, int]:
    """The highest raw offset of the batch per partition (the consumer lag metric)."""
    out: dict[int, int] = {}
    for event in batch:
        message = event.message
        if message.topic == p.settings.raw_topic:
            out[message.partition] = max(out.get(message.partition, -1), message.offset)
    return out


async def guarded(
    p: Pipeline, batch: list[Any], exit: Callable[[int], Any] = os._exit
) -> "asyncio.Future[None]":
    """Apply a batch; anything that escapes is not about one record: stop now (module doc).
    Returns the confirmation of the batch's state writes, to ack the batch after."""
    try:
        pending = await apply_events(p, batch)
    except Exception as exc:  # every worker-level failure ends the same way
        stop(exc, exit)
        raise
    settled = asyncio.ensure_future(settle(p, pending, exit))
    p.settling = settled
    return settled


async def settle(p: Pipeline, pending: list[Any], exit: Callable[[int], Any]) -> None:
    """Wait for Kafka to confirm a batch's state writes; a failure stops the worker."""
    try:
        await confirm(p, pending)
    except Exception as exc:  # a changelog write failed or never came back
        stop(exc, exit)


def stop(exc: BaseException, exit: Callable[[int], Any]) -> None:
    log.critical("worker-level failure: exiting before the batch is acked", error=repr(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    exit(FATAL_EXIT)


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


class RateLimitedLog:
    """One warning per key and period; the lines left out are counted in the next one."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, event: str, **kw: Any) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(key, (-self.period_s, 0))
        if now - last < self.period_s:
            self._last[key] = (last, skipped + 1)
            return
        self._last[key] = (now, 0)
        log.warning(event, suppressed=skipped, **kw)


ratelog = RateLimitedLog()
EVENT_HEADERS = list(HEADERS)  # the CloudEvents Kafka binding, structured mode


async def apply_events(p: Pipeline, batch: list[Any]) -> list[Any]:
    """Apply the batch, send its events and wait for them, send its state writes; returns
    the state writes' confirmations (waited for before the batch is acked)."""
    by_partition: dict[int, list[Any]] = {}
    for event in batch:
        by_partition.setdefault(event.message.partition, []).append(event)
    work = []
    for partition, partition_events in by_partition.items():
        messages: list[Any] = []
        for event in partition_events:
            message = event.message
            if message.topic != p.settings.ticks_topic:
                messages += await p.gaps.observe(partition, message.offset)
            messages.append(message)
        work.append((partition, partition_events[-1], messages))
    now = time.time()
    pending: list[Any] = []
    while work:  # one round, unless an operation's state of this batch grows too large
        try:
            outbox, applied, rest = apply_all(p, work, now, Outbox())
            statuses = encode_statuses(p, outbox)
        except Careful:  # the same work again, each status built with its record
            outbox, applied, rest = apply_all(p, work, now, Outbox(careful=True))
            statuses = encode_statuses(p, outbox)
        work = rest
        await send(p, outbox, statuses)
        if p.settling is not None:  # the previous batch's state: at most one unconfirmed
            await p.settling
        for scope, state in applied:
            with partition_scope(scope):
                state.flush()
        pending += state_writes(p)
        account(p, outbox, now)
    return pending


Work = list[tuple[int, Any, list[Any]]]  # partition, its scope event, its messages


def apply_all(
    p: Pipeline, work: Work, now: float, outbox: Outbox
) -> tuple[Outbox, list[tuple[Any, Batch]], Work]:
    """Apply ``work``; returns the outbox, the staged state per partition, and the work left
    for another round when one operation's hosts of this round filled a summary's budget
    (``Batch.full``): a round's summary names every host it counted (``last_hosts``)."""
    applied: list[tuple[Any, Batch]] = []
    for i, (partition, scope, messages) in enumerate(work):
        state = Batch(p.store, p.settings.state_chunk_bytes)
        applied.append((scope, state))
        with partition_scope(scope):
            for j, message in enumerate(messages):
                if state.full():
                    return outbox, applied, [(partition, scope, messages[j:]), *work[i + 1 :]]
                if message.topic == p.settings.ticks_topic:
                    on_tick(p, state, partition, message, outbox, now)
                else:
                    apply_raw(p, state, message, outbox, now)
    return outbox, applied, []


def apply_raw(p: Pipeline, state: Batch, message: Any, outbox: Outbox, now: float) -> None:
    """One record: applied with its events, or dead-lettered without a trace in the state."""
    try:
        headers = header_map(message.headers)
        notification = parse(message.value, headers)
    except MalformedNotification as exc:
        dead_letter(p, outbox, message, exc.reason, str(exc))
        return
    except Exception as exc:  # one record's failure
        dead_letter(p, outbox, message, APPLY_ERROR, repr(exc))
        return
    if notification is None:
        other_inputs(p, outbox, message, headers)
        return

    def raw() -> dict[str, Any]:
        return operation.hold_entry(message.value, list(headers.items()))

    try:
        step = state.compute(notification, message.offset, message.partition, now, p.limits, raw)
        if step.reject is not None:
            dead_letter(p, outbox, message, *step.reject)
            return
        before = state.get_summary(step.op_id) if step.summary is not None else None
        prepared = outbox.prepare(p, step, state_after(state, step))
    except Exception as exc:  # one record's failure
        dead_letter(p, outbox, message, APPLY_ERROR, repr(exc))
        return
    if step.summary is not None:
        reported = step.summary["hosts_reported"] - (before["hosts_reported"] if before else 0)
        if reported > 0:
            outbox.count(metrics.HOSTS_REPORTED, reported)
    if not step.ignored:
        outbox.nova_times.append(notification.timestamp)
    state.stage(step)
    outbox.add(prepared)
    if step.reject is None and p.inventory is not None:
        outbox.inventory += inventory_feed.from_operation(notification, step.op_id)
    for dead in step.dead:
        dead_held(p, outbox, message, dead)
    outbox.count("late" if step.ignored else "applied")
    if any(key.startswith(operation.HELD) for key, _ in step.markers) and step.summary:
        outbox.count("held")
    if step.note:
        ratelog.warning(step.note, step.note, op=step.op_id, offset=message.offset)


def other_inputs(p: Pipeline, outbox: Outbox, message: Any, headers: dict[str, str]) -> None:
    """A record the operation rules do not use: the inventory's, dead-lettered, or ignored."""
    if p.inventory is None:
        outbox.count("ignored")
        return
    try:
        inputs = inventory_feed.from_other(message.value, headers)
    except MalformedNotification as exc:
        dead_letter(p, outbox, message, exc.reason, str(exc))
        return
    except Exception as exc:  # one record's failure
        dead_letter(p, outbox, message, APPLY_ERROR, repr(exc))
        return
    outbox.inventory += inputs
    if not inputs:
        outbox.count("ignored")


def state_after(state: Batch, step: Step) -> Summary | None:
    return step.summary if step.summary is not None else state.get_summary(step.op_id)


def on_tick(
    p: Pipeline, state: Batch, partition: int, message: Any, outbox: Outbox, now: float
) -> None:
    """Grace and stall rules; an operation whose rules or events raise is quarantined once
    (dead letter ``tick_error``, never ticked again), the others go on."""
    outbox.count("ticks")
    coalesced_statuses(p, state, partition, outbox)
    for step in state.tick_steps(partition, now, p.limits):
        prepared = Prepared(step.op_id)
        if step.reject is None:
            try:
                prepared = outbox.prepare(p, step, step.summary)
            except Exception as exc:  # one operation's failure
                before = state.get_summary(step.op_id)
                assert before is not None
                step = operation.quarantine(before, repr(exc))
        if step.reject is not None:
            quarantine(p, outbox, message, step)
        state.stage(step)
        outbox.add(prepared)
        if step.note:
            ratelog.warning(step.note, step.note, op=step.op_id, partition=partition)


def coalesced_statuses(p: Pipeline, state: Batch, partition: int, outbox: Outbox) -> None:
    """The coalesced snapshots of one partition, from the current state (same ids)."""
    outbox.dirty_taken.append(partition)
    for op_id in p.dirty.get(partition, set()):
        summary = state.get_summary(op_id)
        if summary is not None and summary["state"] == "running":
            outbox.statuses.setdefault(op_id, summary)
            outbox.due.add(op_id)


def encode_statuses(p: Pipeline, outbox: Outbox) -> dict[str, bytes]:
    out = dict(outbox.encoded)
    for op_id, summary in outbox.statuses.items():
        if op_id in out:
            continue
        try:
            out[op_id] = events.encode(summary, Effect("status"), p.limits)
        except Exception as exc:
            if outbox.careful:  # a coalesced snapshot: the state is fine, skip the snapshot
                ratelog.warning("status", "status snapshot not built", op=op_id, error=repr(exc))
                continue
            raise Careful from exc
    return out


async def send(p: Pipeline, outbox: Outbox, statuses: dict[str, bytes]) -> None:
    """Send the batch's dead letters and events and wait until Kafka has every one."""
    pending = []
    for key, value, headers in outbox.dead:
        pending.append(await p.dlq.send(key=key, value=value, headers=headers))
    if p.inventory is not None:
        records = inventory_feed.records(outbox.inventory, p.inventory.partitions)
        for key, value, partition in records:
            pending.append(await p.inventory.topic.send(key=key, value=value, partition=partition))
    for kind, op_id, value in outbox.critical:
        pending.append(
            await p.outputs[kind].send(key=op_id.encode(), value=value, headers=EVENT_HEADERS)
        )
    for op_id, value in statuses.items():
        summary = outbox.statuses.get(op_id)
        if summary is not None and op_id not in outbox.due and coalesce(p, summary):
            continue
        pending.append(
            await p.outputs["status"].send(key=op_id.encode(), value=value, headers=EVENT_HEADERS)
        )
    await confirm(p, pending)


async def confirm(p: Pipeline, pending: list[Any]) -> None:
    """Wait for Kafka to confirm ``pending``; a confirmation that never comes is a
    worker-level failure too (``TimeoutError``), not a stall."""
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), p.settings.confirm_timeout_s)


def state_writes(p: Pipeline) -> list[Any]:
    """The changelog writes sent since the last call, to wait for (faust only logs a
    failure)."""
    take = getattr(p.store.table, "take_pending", None)
    return take() if take is not None else []


def account(p: Pipeline, outbox: Outbox, now: float) -> None:
    """The batch is in Kafka: counters, and the coalesced snapshots to send at the next tick."""
    for partition in outbox.dirty_taken:
        p.dirty.pop(partition, None)
    for op_id, summary in outbox.statuses.items():
        if op_id not in outbox.due and coalesce(p, summary):
            p.dirty.setdefault(summary["partition"], set()).add(op_id)
    stats = p.stats
    stats.applied += outbox.counts.get("applied", 0)
    stats.ignored += outbox.counts.get("ignored", 0)
    stats.late += outbox.counts.get("late", 0)
    stats.held += outbox.counts.get("held", 0)
    stats.ticks += outbox.counts.get("ticks", 0)
    stats.quarantined += outbox.counts.get("quarantined", 0)
    for reason, n in outbox.reasons.items():
        stats.malformed += n
        stats.by_reason[reason] = stats.by_reason.get(reason, 0) + n
    p.metrics.account(outbox.counts, outbox.reasons, outbox.nova_times, time.time())
    if outbox.counts.get("applied") or outbox.counts.get("late"):
        stats.last_applied_at = now
        if stats.first_applied_at is None:
            stats.first_applied_at = now


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
    ratelog.warning(reason, "dead letter", reason=reason, error=error[:200], offset=message.offset)


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
    ratelog.warning("quarantine", "operation quarantined", op=step.op_id, error=step.reject[1])


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
