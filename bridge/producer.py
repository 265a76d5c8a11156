"""Kafka side: one idempotent aiokafka producer (acks=all) and the topics it writes to.

Records are appended to per-partition batches (aiokafka's C record builder) and each batch is
queued with ``send_batch``; its future resolves when Kafka acknowledged the whole batch. Many
batches are in flight at once and no per-record future is made, so throughput follows the
brokers rather than round trips or Python overhead. Partitions are chosen exactly as
aiokafka's default partitioner would (murmur2 of the key), so the key contract holds.
"""

import asyncio
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.partitioner import DefaultPartitioner

from bridge.exceptions import KafkaSetupError
from bridge.records import Record
from bridge.settings import BridgeSettings

log = structlog.get_logger(__name__)

_KEY_CACHE = 100_000


def topics(settings: BridgeSettings) -> dict[str, int]:
    """Topic name -> partitions, for the topics this bridge writes."""
    wanted = {settings.raw_topic: settings.raw_partitions, settings.dlq_topic: 1}
    if settings.legacy:
        wanted[settings.legacy_topic] = settings.raw_partitions
    return wanted


async def ensure_topics(settings: BridgeSettings) -> None:
    """Create missing topics; raises KafkaError (retriable) when Kafka is unreachable."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        record_limit = {"max.message.bytes": str(settings.max_record_bytes)}
        missing = [
            NewTopic(name, partitions, settings.topic_replication, topic_configs=record_limit)
            for name, partitions in topics(settings).items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            _check_created(response.topic_errors)
            log.info("kafka topics created", topics=[t.name for t in missing])
    finally:
        await admin.close()


def _check_created(topic_errors: list[Any]) -> None:
    for name, code, *rest in topic_errors:
        error = for_code(code)
        if code == 0 or error is TopicAlreadyExistsError:
            continue
        message = rest[0] if rest and rest[0] else error.__name__
        if error.retriable:
            raise error(message)
        raise KafkaSetupError(f"cannot create Kafka topic {name}: {message}")


class KafkaSink:
    """The producer; ``start`` waits (with backoff) until Kafka answers and the topics exist."""

    def __init__(self, settings: BridgeSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        self._key_partitions: dict[tuple[str, bytes], int] = {}

    async def start(self) -> None:
        delay = 0.5
        while True:
            try:
                await ensure_topics(self._settings)
                self._producer = await self._started_producer()
            except KafkaError as exc:
                log.warning("kafka not ready", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_backoff_max_s)
                continue
            log.info("kafka producer started", bootstrap=self._settings.kafka_bootstrap)
            return

    async def _started_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
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
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def prepare(self, topic: str) -> None:
        """Learn ``topic``'s partitions once, so ``partition`` needs no round trip.

        Kafka away when a topic is first used (the DLQ's first dead letter, say): wait for it
        with backoff, as sends do; meanwhile RabbitMQ keeps what the bridge has not taken.
        """
        assert self._producer is not None, "start() first"
        delay = 0.5
        while topic not in self._partitions:
            try:
                self._partitions[topic] = sorted(await self._producer.partitions_for(topic))
            except KafkaError as exc:
                log.warning(
                    "kafka metadata unavailable, will retry",
                    topic=topic,
                    error=repr(exc),
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_backoff_max_s)

    def knows(self, topic: str) -> bool:
        """Whether ``topic``'s partitions are known (no await needed per record)."""
        return topic in self._partitions

    def partition(self, topic: str, key: bytes | None) -> int:
        """The partition aiokafka's (Kafka's) default murmur2 partitioner gives ``key``.

        aiokafka's murmur2 is pure Python, and one operation's notifications share a key, so
        results are cached (bounded: cleared when it grows past ``_KEY_CACHE``).
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
        assert self._producer is not None, "start() first"
        return self._producer.create_batch()

    async def send_batch(self, batch: Any, topic: str, partition: int) -> "asyncio.Future[Any]":
        """Queue a closed batch; the future resolves once Kafka has all of it (acks=all)."""
        assert self._producer is not None, "start() first"
        batch.close()
        future: asyncio.Future[Any] = await self._producer.send_batch(
            batch, topic, partition=partition
        )
        return future

    async def send(self, record: Record) -> "asyncio.Future[Any]":
        """Queue ``record``; the future resolves once Kafka has it (acks=all)."""
        assert self._producer is not None, "start() first"
        future: asyncio.Future[Any] = await self._producer.send(
            record.topic, record.value, key=record.key, headers=record.headers
        )
        return future

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
