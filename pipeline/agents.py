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

A rebalance and a batch in flight: faust's revocation waits until the batch is acked before
the worker rejoins the group, so in a normal rebalance the batch is applied while its
partitions are still the worker's. Only when the broker drops the worker (a revocation that
outlasts the rebalance timeout, a lost session) do they move under the batch; the agent then
drops it right before its events are sent or its state is written, counts nothing of it and
never acks it, and the new owner applies it from the committed offset
(:mod:`pipeline.ownership`).
"""

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from precache.pipeline import inventory_feed, metrics, operation
from precache.pipeline.batching import take_ready
from precache.pipeline.context import Pipeline
from precache.pipeline.engine import Batch
from precache.pipeline.notifications import MalformedNotification, header_map, parse
from precache.pipeline.operation import Step, Summary
from precache.pipeline.outbox import (
    APPLY_ERROR,
    Careful,
    Outbox,
    Prepared,
    coalesce,
    confirm,
    dead_held,
    dead_letter,
    encode_statuses,
    quarantine,
    ratelog,
    send,
)
from precache.pipeline.store import partition_scope

log = structlog.get_logger(__name__)

FATAL_EXIT = 70  # EX_SOFTWARE: the worker stopped itself; restart it (the batch is redelivered)


def attach(p: Pipeline) -> None:
    async def operations(stream: Any) -> None:
        async for batch in take_ready(stream, p.settings.batch_max):
            began = time.time()
            newest = max((e.message.timestamp for e in batch), default=began)
            batch.acks_after = await guarded(p, batch)
            if batch.acks_after is None:  # dropped: the worker lost its partitions (ownership)
                continue
            p.stats.batch_done(began, newest, len(batch))
            p.metrics.observe_batch(
                len(batch), time.time() - began, began - newest, raw_offsets(p, batch)
            )

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
) -> "asyncio.Future[None] | None":
    """Apply a batch; anything that escapes is not about one record: stop now (module doc).
    Returns the confirmation of the batch's state writes, to ack the batch after; None when
    the batch was dropped, never to be acked (the worker lost its partitions meanwhile)."""
    try:
        pending, held = await apply_events(p, batch)
    except Exception as exc:  # every worker-level failure ends the same way
        stop(exc, exit)
        raise
    settled = asyncio.ensure_future(settle(p, pending, exit))
    p.settling = settled
    if held:
        return settled
    p.ownership.disown(batch)
    log.warning(
        "batch dropped: the worker no longer holds the group generation it was fetched in; "
        "the partitions' new owner applies it",
        records=len(batch),
    )
    return None


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


async def apply_events(p: Pipeline, batch: list[Any]) -> tuple[list[Any], bool]:
    """Apply the batch, send its events and wait for them, send its state writes; returns
    the state writes' confirmations (waited for before the batch is acked), and False if the
    batch was dropped because the worker lost its partitions on the way (before its events
    were sent, or before its state was written: :mod:`pipeline.ownership`)."""
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
        if p.ownership.lost(batch):
            return pending, False
        await send(p, outbox, statuses)
        if p.settling is not None:  # the previous batch's state: at most one unconfirmed
            await p.settling
        if p.ownership.lost(batch):  # no await from here to the writes
            return pending, False
        for scope, state in applied:
            with partition_scope(scope):
                state.flush()
        pending += state_writes(p)
        account(p, outbox, now)
    return pending, True


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

    def raw() -> operation.RawKept:
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
        ratelog.warning(step.note, op=step.op_id, offset=message.offset)


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
            ratelog.warning(step.note, op=step.op_id, partition=partition)


def coalesced_statuses(p: Pipeline, state: Batch, partition: int, outbox: Outbox) -> None:
    """The coalesced snapshots of one partition, from the current state (same ids)."""
    outbox.dirty_taken.append(partition)
    for op_id in p.dirty.get(partition, set()):
        summary = state.get_summary(op_id)
        if summary is not None and summary["state"] == "running":
            outbox.statuses.setdefault(op_id, summary)
            outbox.due.add(op_id)


def state_writes(p: Pipeline) -> list[Any]:
    """The changelog writes sent since the last call, to wait for (faust only logs a
    failure)."""
    return p.store.take_pending()


def account(p: Pipeline, outbox: Outbox, now: float) -> None:
    """The batch is in Kafka: counters, and the coalesced snapshots to send at the next tick."""
    for partition in outbox.dirty_taken:
        p.dirty.pop(partition, None)
    for op_id, summary in outbox.statuses.items():
        if op_id not in outbox.due and coalesce(p, summary):
            p.dirty.setdefault(summary["partition"], set()).add(op_id)
    p.stats.add(outbox.counts, outbox.reasons, now)
    p.metrics.account(outbox.counts, outbox.reasons, outbox.nova_times, time.time())
