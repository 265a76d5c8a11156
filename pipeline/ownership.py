"""Whether a batch's partitions are still this worker's, asked before its effects leave.

A normal rebalance never moves a partition under a batch: faust's revocation waits until every
message delivered to the agents is acked (``stream_wait_empty``, on) before the worker rejoins
the group, and the broker hands partitions to their next owner only once every member has
rejoined. Two things do move them: a revocation that waits longer than the rebalance timeout
(faust's ``broker_rebalance_timeout``, 60 s, while a batch may wait up to
``confirm_timeout_s`` for Kafka), and a session the broker ended (heartbeats lost). The broker
then removes the member and its partitions' new owner recovers the tables from the changelog
and applies the records from the committed offset, while this worker's batch goes on: its
writes would land in the changelog after the new owner's, and the next recovery of the
partition would read the older state as the newest (counts lost, a summary going backwards, an
inventory entry older than it was).

aiokafka learns it from the broker's answer to its next heartbeat (every 3 s, also during a
revocation) and resets the member's generation; faust stamps every message with the generation
it was fetched in. So the agents ask right before a batch's events are sent and again right
before its state is written (after the waits for Kafka): a batch of a generation the worker no
longer holds is dropped there. Its state is not written, its events not sent if they were not
yet, nothing of it is counted, and its records are never acked (:meth:`disown`): the new owner
applies them from the committed offset. The state is idempotent under redelivery; events sent
before the drop are sent again with the same ids, which consumers de-duplicate on: an
operation's ids derive from it and its summary's version (one per record applied, so the same
records from the same state give the same versions; a grace or stall tick that fires at
another point of the re-run shifts the later status snapshots' versions, while ``completed``,
``host_failed`` and ``stalled`` keep theirs), an inventory event's from its entry.

What this cannot close: the broker may have moved the partitions up to a heartbeat interval
before aiokafka hears of it, and writes already handed to the producer land. Only a fenced
(transactional) producer closes that; the worker runs at least once (:mod:`pipeline.app`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faust.types import AppT

from precache.pipeline.kafka_transport import Consumer


class Ownership(Protocol):
    def lost(self, events: Sequence[Any]) -> bool:
        """Some of ``events`` were fetched in a group generation the worker no longer holds."""
        ...

    def disown(self, events: Sequence[Any]) -> None:
        """Never ack ``events`` (dropped: their partitions' new owner applies them)."""
        ...


@dataclass(frozen=True)
class GroupOwnership:
    """The worker's group membership, from its consumer (``pipeline.kafka_transport``)."""

    app: AppT

    def _consumer(self) -> Consumer:
        consumer = self.app.consumer
        assert isinstance(consumer, Consumer)  # the precache-kafka:// transport (app.py)
        return consumer

    def lost(self, events: Sequence[Any]) -> bool:
        generation = self._consumer().generation()
        return any(event.message.generation_id != generation for event in events)

    def disown(self, events: Sequence[Any]) -> None:
        self._consumer().disown(event.message for event in events)
