"""The inventory agent: applies the internal input topic to the ``inventory`` table and
publishes each change on ``precache.image.cache``.

The operations agent forwards what each notification tells the inventory (touches keyed
``region/image``, memberships to every partition: :mod:`pipeline.inventory_feed`) and has
Kafka confirm them before its batch is acked; this agent owns the inventory state. Per batch,
as the operations agent does: the changes are computed against the table and the batch's own
staged changes (a touch that changes nothing, a duplicate or an older one, is dropped here),
then the change events are sent and confirmed, then the table is written and its changelog
confirmed, then the batch is acked. A crash anywhere before the ack redelivers the batch;
merging is idempotent, so the state ends exact and an event lost with the crash is sent again
(the state was not written before it). A failure that is not about one record stops the worker
(exit 70, as :mod:`pipeline.agents` explains) before the batch is acked. A batch whose
partitions the broker gave to another worker meanwhile is dropped before its events are sent
or its entries written, never acked and not counted (:mod:`pipeline.ownership`).
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from precache.contract.kafka_binding import HEADERS
from precache.pipeline import inventory_events, side_records
from precache.pipeline.batching import take_ready
from precache.pipeline.inventory import Entry, Membership, Policy, Touch, merge, merge_membership
from precache.pipeline.inventory_input import BadInput, Input, decode
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.metrics import SECONDS, FastHistogram
from precache.pipeline.ownership import Ownership
from precache.pipeline.packing import pack
from precache.pipeline.record_batches import RecordBatches, aiokafka_producer
from precache.pipeline.store import partition_scope

log = structlog.get_logger(__name__)

FATAL_EXIT = side_records.FATAL_EXIT
BAD_RECORD = "bad_inventory_record"
TOUCH, MEMBERSHIP = "touch", "membership"  # input kinds, the label of the agent's counters


@dataclass
class InventoryStats:
    """The agent's counts, added once a record's events and state writes are confirmed, as the
    operations agent counts: a record whose confirmation fails stops the worker uncounted and
    is counted by the worker that applies it again. ``/metrics`` reads them
    (:mod:`pipeline.inventory_metrics`)."""

    applied: dict[str, int] = field(default_factory=dict)  # input kind -> changed the inventory
    skipped: dict[str, int] = field(default_factory=dict)  # -> changed nothing: duplicate, older
    dead: dict[str, int] = field(default_factory=dict)  # reason -> records dead-lettered
    apply_s: FastHistogram = field(
        default_factory=lambda: FastHistogram(
            "precache_worker_inventory_apply_seconds",
            "time to apply one internal inventory record (with the others of its batch), send "
            "its change events and have Kafka confirm them and the table's changelog",
            SECONDS,
        )
    )

    def add(self, s: "Staged") -> None:
        for counts, more in ((self.applied, s.applied), (self.skipped, s.skipped)):
            for kind, n in more.items():
                counts[kind] = counts.get(kind, 0) + n
        for _, why in s.dead:
            reason = why.partition(": ")[0]
            self.dead[reason] = self.dead.get(reason, 0) + 1


@dataclass
class Inventory:
    """What the inventory's agent, feed and views share."""

    topic: Any  # internal input, ``WorkerSettings.inventory_topic``
    events: Any  # ``precache.image.cache``
    dlq: Any
    store: InventoryStore
    policy: Policy
    partitions: int
    confirm_timeout_s: float
    ownership: Ownership  # are a batch's partitions still ours (pipeline.ownership)
    stats: InventoryStats = field(default_factory=InventoryStats)
    # GET summaries by (image key, aggregates asked), with the store version they hold at
    summaries: dict[Any, tuple[Any, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Staged:
    """One partition's changes of a batch, read before the table."""

    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    members: dict[str, Membership] = field(default_factory=dict)
    dead: list[tuple[Any, str]] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)  # input kind -> inputs staged
    skipped: dict[str, int] = field(default_factory=dict)  # -> inputs that changed nothing

    def count(self, kind: str, changed: bool) -> None:
        counts = self.applied if changed else self.skipped
        counts[kind] = counts.get(kind, 0) + 1


RECORDS_PER_BATCH = 64  # an internal record holds up to 1,000 touches (inventory_input)
SLICE_BYTES = 256 * 1024  # records applied together: about one record of 1,000 touches


def attach(app: Any, inv: Inventory) -> None:
    """The agent, in natural batches (:func:`pipeline.batching.take_ready`: whatever the
    stream has buffered when the agent is free): one events confirmation and one state
    confirmation per batch, not per record (with 1,000 operations open, the operations agent
    sends ~16,000 internal records per 32,000 notifications). At most ``RECORDS_PER_BATCH``
    records: one record carries up to 1,000 touches, and a batch's changes are staged, sent and
    written at once (measured: 1,000 such records staged a million entries and held the loop
    for minutes), so a batch is applied in slices of about ``SLICE_BYTES`` of records (small
    records, memberships and the touches of busy operations, share a slice; a full record of
    touches is a slice of its own, as before batching: measured, 64 such records at once took
    the worker's peak RSS from 264 to 753 MiB in ``bench inventory``). faust acks a batch only
    once the loop body returned, i.e. after every slice's events and state writes were
    confirmed; a crash in between redelivers the batch, and merging is idempotent. A lone
    record is handed over without waiting for another (take_ready's idle look: its docstring)."""

    async def inventory(stream: Any) -> None:
        async for batch in take_ready(stream, RECORDS_PER_BATCH):
            for part in slices(batch, SLICE_BYTES):
                if not await guarded(inv, part):  # the worker lost its partitions meanwhile
                    inv.ownership.disown(batch)
                    log.warning(
                        "inventory batch dropped: the worker no longer holds the group "
                        "generation it was fetched in; the partitions' new owner applies it",
                        records=len(batch),
                    )
                    break

    app.agent(inv.topic, concurrency=1, name="inventory")(inventory)


def slices(batch: list[Any], budget: int) -> list[list[Any]]:
    """``batch`` in order, in runs of records of at most ``budget`` bytes of values (a larger
    record alone)."""
    return pack(batch, lambda event: len(event.message.value or b""), budget)


async def guarded(inv: Inventory, batch: list[Any], exit: Callable[[int], Any] = os._exit) -> bool:
    return await side_records.stop_on_failure(apply_batch(inv, batch), "inventory", exit)


async def apply_batch(inv: Inventory, batch: list[Any]) -> bool:
    """Apply one slice; False if it was dropped because the worker lost its partitions on the
    way (before its events were sent, or before its state was written: pipeline.ownership)."""
    began = time.perf_counter()
    by_partition: dict[int, list[Any]] = {}
    for event in batch:
        by_partition.setdefault(event.message.partition, []).append(event)
    staged: list[tuple[Any, int, Staged]] = []
    decoded: dict[bytes, list[Input]] = {}
    for partition, events in by_partition.items():
        with partition_scope(events[-1]):
            staged.append((events[-1], partition, stage(inv, events, partition, decoded)))
    if inv.ownership.lost(batch):
        return False
    pending = []
    changes = RecordBatches()
    name = inv.events.get_topic_name()
    for _, _, s in staged:
        for message, reason in s.dead:
            pending.append(await dead_letter(inv, message, reason))
        for entry in s.entries.values():
            key, value = inventory_events.encode(entry, inv.policy)
            changes.add(name, key, value, HEADERS)
    if changes:
        pending.extend((await changes.send(aiokafka_producer(inv.events.app))).futures)
    await confirm(inv, pending)
    if inv.ownership.lost(batch):  # no await from here to the writes
        return False
    for scope, partition, s in staged:
        with partition_scope(scope):
            for entry in s.entries.values():
                inv.store.put_entry(entry, partition)
            for m in s.members.values():
                inv.store.put_membership(m, partition)
    await confirm(inv, inv.store.table.take_pending())
    for _, _, s in staged:
        inv.stats.add(s)
    inv.stats.apply_s.observe_many([time.perf_counter() - began] * len(batch))
    return True


def stage(
    inv: Inventory, events: list[Any], partition: int, decoded: dict[bytes, list[Input]]
) -> Staged:
    """One partition's events against its table and the changes staged before them.
    ``decoded``: the batch's records decoded so far, by value: a membership comes once per
    partition, the same bytes each time (its inputs are frozen, so the copies share them)."""
    s = Staged()
    for event in events:
        message = event.message
        value = message.value or b""
        items = decoded.get(value)
        if items is None:
            try:
                items = decoded[value] = decode(value)
            except BadInput as exc:
                s.dead.append((message, f"{BAD_RECORD}: {exc}"))
                continue
        for item in items:
            apply_one(inv, s, item, partition)
    return s


def apply_one(inv: Inventory, s: Staged, item: Input, partition: int) -> None:
    """Stage one input if it changes anything (a duplicate or an older one does not)."""
    if isinstance(item, Touch):
        key = (item.region, item.host, item.image)
        current = s.entries.get(key) or inv.store.get_entry(*key)
        after = merge(current, item)
        if after is not None:
            s.entries[key] = after
        s.count(TOUCH, after is not None)
        return
    stored = s.members.get(item.key) or inv.store.partition_membership(item.key, partition)
    changed = merge_membership(stored, item) is not None
    if changed:
        s.members[item.key] = item
    s.count(MEMBERSHIP, changed)


async def dead_letter(inv: Inventory, message: Any, why: str) -> Any:
    reason, _, error = why.partition(": ")
    return await side_records.dead_letter(inv.dlq, message, reason, error, "inventory")


async def confirm(inv: Inventory, pending: list[Any]) -> None:
    await side_records.confirm(pending, inv.confirm_timeout_s)
