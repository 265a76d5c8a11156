"""Kafka side: one idempotent aiokafka producer (acks=all) at a time, and our topics.

Records are appended to per-partition batches (aiokafka's C record builder) and each batch is
queued with ``send_batch``; its future resolves when Kafka acknowledged the whole batch. Many
batches are in flight at once and no per-record future is made, so throughput follows the
brokers rather than round trips or Python overhead. Partitions are chosen exactly as
aiokafka's default partitioner would (murmur2 of the key), so the key contract holds.

A producer whose idempotent sequence broke is ``replace``d (see ``kafka_errors``): the old one
is dropped without flushing, the new one starts with a new producer id, and the service sends
again what the old one had not confirmed.
"""

import asyncio
import contextlib
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerClosed
from aiokafka.partitioner import DefaultPartitioner

from precache.bridge.backoff import Backoff
from precache.bridge.records import Record
from precache.bridge.settings import BridgeSettings
from precache.bridge.topics import ensure_topics
from precache.errors import BrokerUnreachable
from precache.kafka_connection import client_options
from precache.logs import RateLimitedLog

log = structlog.get_logger(__name__)

_KEY_CACHE = 100_000
_ABORT_TIMEOUT_S = 60.0


class KafkaSink:
    """The producer; ``start`` waits (with backoff) until Kafka answers and the topics are ok."""

    def __init__(self, settings: BridgeSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        self._key_partitions: dict[tuple[str, bytes], int] = {}
        self._aborting: set[asyncio.Task[None]] = set()
        self._log = RateLimitedLog(log)

    async def start(self) -> None:
        """Create or check the topics (a wrong topic raises TopicMismatch), then a producer."""
        backoff = Backoff(self._settings.retry_backoff_max_s)
        while True:
            try:
                counts = await ensure_topics(self._settings)
                break
            except (KafkaError, BrokerUnreachable) as exc:
                delay = backoff.next()
                self._log.warning("kafka not ready", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
        self._partitions = {topic: list(range(count)) for topic, count in counts.items()}
        self._producer = await self._started_producer(backoff)
        log.info("kafka producer started", bootstrap=self._settings.kafka_bootstrap)

    async def replace(self) -> None:
        """Drop the producer (in the background, unflushed) and start a new one."""
        old, self._producer = self._producer, None
        if old is not None:
            task = asyncio.get_running_loop().create_task(_abort(old))
            self._aborting.add(task)
            task.add_done_callback(self._aborting.discard)
        self._producer = await self._started_producer(Backoff(self._settings.retry_backoff_max_s))
        log.info("kafka producer replaced", bootstrap=self._settings.kafka_bootstrap)

    async def _started_producer(self, backoff: Backoff) -> AIOKafkaProducer:
        while True:
            producer = AIOKafkaProducer(
                **client_options(self._settings),
                client_id=self._settings.source,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._settings.linger_ms,
                max_batch_size=self._settings.max_batch_bytes,
                max_request_size=self._settings.max_record_bytes,
                request_timeout_ms=30_000,
            )
            try:
                await producer.start()
                return producer
            except KafkaError as exc:
                await producer.stop()
                delay = backoff.next()
                self._log.warning("kafka producer not started", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
            except BaseException:
                await producer.stop()
                raise

    def partition(self, topic: str, key: bytes | None) -> int:
        """The partition aiokafka's (Kafka's) default murmur2 partitioner gives ``key``.

        The topics' partitions are known from start-up (``ensure_topics``), so this never
        waits. aiokafka's murmur2 is pure Python, and one operation's notifications share a
        key, so results are cached (bounded: cleared when it grows past ``_KEY_CACHE``).
        """
        partitions = self._partitions[topic]
        if key is None:
            return int(self._partitioner(None, partitions, partitions))
        cached = self._key_partitions.get((topic, key))
        if cached is None:
            if len(self._key_partitions) >= _KEY_CACHE:
                self._key_partitions.clear()
            cached = int(self._partitioner(key, partitions, partitions))
            self._key_partitions[(topic, key)] = cached
        return cached

    def create_batch(self) -> Any:
        return self._current().create_batch()

    async def send_batch(self, batch: Any, topic: str, partition: int) -> "asyncio.Future[Any]":
        """Queue a closed batch; the future resolves once Kafka has all of it (acks=all)."""
        batch.close()
        future: asyncio.Future[Any] = await self._current().send_batch(
            batch, topic, partition=partition
        )
        return future

    async def send(self, record: Record, partition: int) -> "asyncio.Future[Any]":
        """Queue ``record`` alone; the future resolves once Kafka has it (acks=all)."""
        future: asyncio.Future[Any] = await self._current().send(
            record.topic, record.value, key=record.key, headers=record.headers, partition=partition
        )
        return future

    def _current(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise ProducerClosed()  # being replaced: the caller's records are sent again
        return self._producer

    async def check(self) -> None:
        """Ask Kafka for the cluster's metadata (raises KafkaError if no broker answers)."""
        await self._current().client.fetch_all_metadata()

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def stop(self) -> None:
        """Drop the producer without waiting for Kafka (the caller flushed what it could)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await _abort(producer)
        if self._aborting:
            await asyncio.wait(self._aborting, timeout=_ABORT_TIMEOUT_S)


async def _abort(producer: AIOKafkaProducer) -> None:
    """Stop ``producer`` without flushing: what it had not confirmed is sent again elsewhere.

    aiokafka's ``stop`` first waits until every queued batch is delivered, which never ends
    while Kafka is away (idempotent batches are retried for ever) or once the sequence broke.
    Failing the queued batches first (aiokafka's own ``fail_all``, what it does when its sender
    dies) lets ``stop`` close at once; their futures end with ProducerClosed.
    """
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:
        accumulator.fail_all(ProducerClosed())
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), _ABORT_TIMEOUT_S)
