"""A batch's records handed to Kafka as record batches built here, not one ``send`` each.

With 1,000 operations open, one batch of the worker writes thousands of records: changelog
writes, derived events, snapshots, inventory inputs. aiokafka's ``send`` per record computes
the partition, appends to its accumulator's batch and makes a future and a callback for each,
and faust's producer wraps every call: measured in ``bench scale`` (cProfile), ~157,000 sends
for 32,000 notifications, the largest single cost after the work itself. aiokafka's public
batch API (``create_batch``, ``BatchBuilder.append``, ``send_batch``) builds the same record
batches with one future per batch: the records of one partition, in the order they were
added, go out in as few batches as the producer's ``max_batch_size`` allows.

The producer is faust's own (``app.producer``'s aiokafka producer), so faust's ``flush`` before
it commits offsets waits for these batches too. A keyed record without a partition gets the
one aiokafka's default partitioner (murmur2, as Kafka's) would give it, and faust's producer uses
(``producer_partitioner`` unset): :mod:`pipeline.key_partition`.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from precache.pipeline.key_partition import key_partition

Headers = Sequence[tuple[str, bytes]]
NO_HEADERS: Headers = ()


def aiokafka_producer(app: Any) -> AIOKafkaProducer:
    """The aiokafka producer behind faust's ``app.producer`` (fenced in
    ``tests/unit/pipeline/test_pipeline_transport_fence.py``)."""
    producer: AIOKafkaProducer = app.producer._ensure_producer()
    return producer


class Sent:
    """The batches of one :meth:`RecordBatches.send`: one future per record batch, and which
    batch (its topic-partition and record count) each one is."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[RecordMetadata]] = []
        self.counts: list[int] = []


class RecordBatches:
    """Records added synchronously (:meth:`add`), sent together (:meth:`send`)."""

    def __init__(self) -> None:
        self._records: list[tuple[str, int | None, bytes | None, bytes | None, Headers]] = []

    def __len__(self) -> int:
        return len(self._records)

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers = NO_HEADERS,
        partition: int | None = None,
    ) -> None:
        self._records.append((topic, partition, key, value, headers))

    async def send(self, producer: AIOKafkaProducer) -> Sent:
        """Hand every record to ``producer`` in record batches, per partition in the order
        added; returns the batches' futures (each resolves when Kafka has that batch)."""
        records, self._records = self._records, []
        sent = Sent()
        if not records:
            return sent
        partitions: dict[str, list[int]] = {}
        open_: dict[tuple[str, int], BatchBuilder] = {}
        for topic, partition, key, value, headers in records:
            if partition is None:
                every = partitions.get(topic)
                if every is None:
                    every = partitions[topic] = sorted(await producer.partitions_for(topic))
                if key is None:
                    raise ValueError(f"a record for {topic} without a key or a partition")
                partition = key_partition(key, every)
            where = (topic, partition)
            builder = open_.get(where)
            if builder is None:
                builder = open_[where] = producer.create_batch()
            if not _append(builder, key, value, headers):
                await _send(producer, builder, where, sent)  # full: send it, start the next
                builder = open_[where] = producer.create_batch()
                if not _append(builder, key, value, headers):  # aiokafka takes any first one
                    raise ValueError(f"a record of {len(value or b'')} bytes fits no batch")
        for where, builder in open_.items():
            await _send(producer, builder, where, sent)
        return sent


def _append(
    builder: BatchBuilder, key: bytes | None, value: bytes | None, headers: Headers
) -> bool:
    return builder.append(key=key, value=value, timestamp=None, headers=list(headers)) is not None


async def _send(
    producer: AIOKafkaProducer, builder: BatchBuilder, where: tuple[str, int], sent: Sent
) -> None:
    topic, partition = where
    sent.counts.append(builder.record_count())
    sent.futures.append(await producer.send_batch(builder, topic, partition=partition))
