"""aiokafka's batch API on the unit tests' stand-in producers.

``pipeline.record_batches`` sends a batch's records with aiokafka's ``create_batch`` /
``send_batch`` on faust's aiokafka producer (``app.producer._ensure_producer()``); the agents'
unit tests drive the agents with a stand-in for faust's producer whose per-record ``send``
records or holds what Kafka would confirm. :class:`BatchApi` gives such a stand-in the batch
API in terms of its own ``send``, record by record, in order.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


class Batch:
    """Stands in for aiokafka's ``BatchBuilder``: takes every record."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def append(
        self, *, timestamp: int | None, key: bytes | None, value: bytes | None, headers: Any
    ) -> object:
        self.records.append((key, value, list(headers)))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class BatchApi:
    """Mix into a stand-in producer that has ``send(topic, key, value, partition, timestamp,
    headers)`` returning the record's future."""

    partitions = 2

    def _ensure_producer(self) -> "BatchApi":
        return self

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> Batch:
        return Batch()

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> "asyncio.Future[Any]":
        raise NotImplementedError  # the stand-in's own

    async def send_batch(
        self, batch: Batch, topic: str, *, partition: int
    ) -> "asyncio.Future[Any]":
        futures = [await self.send(topic, k, v, partition, None, h) for k, v, h in batch.records]
        landed: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*futures))
        return landed


class Member:
    """The worker's group membership as aiokafka tells it (``pipeline.ownership``): held until
    a test says the broker gave the worker's partitions to another member."""

    def __init__(self) -> None:
        self.held = True
        self.disowned: list[Any] = []

    def lost(self, events: Sequence[Any]) -> bool:
        return not self.held

    def disown(self, events: Sequence[Any]) -> None:
        self.disowned += events
