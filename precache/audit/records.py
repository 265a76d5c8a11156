"""Reading a run's topics from their beginning to the end they had when the audit started."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from precache.audit.errors import AuditError
from precache.kafka_connection import KafkaConnection, client_options
from precache.kafka_refusal import refusal


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One Kafka record, headers decoded as text (undecodable values dropped)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The value as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.value or b"")
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class AuditTopics:
    """The topics of one run (the usual ``PRECACHE_*`` names by default)."""

    raw: str = "nova.notifications"
    bridge_dlq: str = "nova.notifications.dlq"
    pipeline_dlq: str = "precache.dlq"
    completed: str = "precache.operation.completed"


@dataclass(slots=True)
class RunRecords:
    raw: list[AuditRecord]
    bridge_dlq: list[AuditRecord]
    pipeline_dlq: list[AuditRecord]
    completed: list[AuditRecord]
    missing_topics: list[str]


async def read_run(
    kafka: KafkaConnection | str, topics: AuditTopics, timeout_s: float = 10.0
) -> RunRecords:
    """Every record of the run's topics, each partition in offset order.

    ``kafka`` is the connection settings, or a bootstrap address reached in plaintext.

    A topic that does not exist reads as empty (and is named in ``missing_topics``); Kafka not
    answering within ``timeout_s`` raises :class:`AuditError`.
    """
    names = [topics.raw, topics.bridge_dlq, topics.pipeline_dlq, topics.completed]
    read = await read_topics(kafka, names, timeout_s)
    return RunRecords(
        raw=read.get(topics.raw, []),
        bridge_dlq=read.get(topics.bridge_dlq, []),
        pipeline_dlq=read.get(topics.pipeline_dlq, []),
        completed=read.get(topics.completed, []),
        missing_topics=[n for n in names if n not in read],
    )


async def read_topics(
    kafka: KafkaConnection | str, names: list[str], timeout_s: float = 10.0
) -> dict[str, list[AuditRecord]]:
    """The records of each existing topic in ``names`` up to its end when read (missing
    topics are left out)."""
    if isinstance(kafka, str):
        kafka = KafkaConnection.model_construct(kafka_bootstrap=kafka)  # no env: plaintext
    bootstrap = kafka.kafka_bootstrap
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        enable_auto_commit=False,
        group_id=None,
        request_timeout_ms=int(timeout_s * 1000),
        max_partition_fetch_bytes=32 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except (KafkaError, TimeoutError, OSError) as exc:
        await consumer.stop()
        reason = None if isinstance(exc, TimeoutError) else await refusal(kafka, timeout_s)
        if reason is not None:
            raise AuditError(reason) from exc
        raise AuditError(f"Kafka at {bootstrap} is unreachable: {exc!r}") from exc
    try:
        # the consumer's own metadata knows only assigned topics: ask for the whole cluster's
        cluster = await consumer._client.fetch_all_metadata()
        return {
            n: await _read_topic(consumer, n, cluster.partitions_for_topic(n) or set())
            for n in dict.fromkeys(names)
            if n in cluster.topics()
        }
    except KafkaError as exc:
        raise AuditError(f"reading from Kafka at {bootstrap} failed: {exc!r}") from exc
    finally:
        await consumer.stop()


async def _read_topic(
    consumer: AIOKafkaConsumer, topic: str, partitions: set[int]
) -> list[AuditRecord]:
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return []
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    out: dict[int, list[AuditRecord]] = {tp.partition: [] for tp in tps}
    pending = {tp for tp in tps if ends[tp] > 0}
    for tp in tps:
        if tp in pending and await consumer.position(tp) >= ends[tp]:
            pending.discard(tp)  # retention removed everything before the end
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, records in batch.items():
            for r in records:
                if r.offset < ends[tp]:
                    out[tp.partition].append(_record(r))
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    return [r for p in sorted(out) for r in out[p]]


def _record(r: Any) -> AuditRecord:
    headers: dict[str, str] = {}
    for key, value in r.headers or ():
        try:
            headers[key] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            continue
    return AuditRecord(r.topic, r.partition, r.offset, r.key, r.value, headers)
