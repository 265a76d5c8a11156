"""``store.TrackedTable``: a round of table writes goes to Kafka as record batches, in order,
and RocksDB's persisted offset follows the last record of each partition."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import RecordMetadata, TopicPartition

from precache.pipeline.app import faust_app
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.store import TrackedTable, partition_scope
from tests.support.record_batches import Batch


class Event(SimpleNamespace):
    """faust's event as ``partition_scope`` needs it (weakly referenceable)."""


class Producer:
    """aiokafka's batch API over a log per partition; a batch lands at its base offset."""

    def __init__(self) -> None:
        self.log: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        self.batches = 0

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(
        self, batch: Batch, topic: str, *, partition: int
    ) -> "asyncio.Future[RecordMetadata]":
        records = self.log.setdefault(partition, [])
        base = len(records)
        records.extend((k, v) for k, v, _ in batch.records)
        self.batches += 1
        landed: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        tp = TopicPartition(topic, partition)
        landed.set_result(RecordMetadata(topic, partition, tp, base, -1, 0, 0))
        return landed


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> tuple[TrackedTable, Producer, list[Any]]:
    app = faust_app(WorkerSettings())
    table = app.Table("tracked", partitions=2)
    assert isinstance(table, TrackedTable)
    producer = Producer()
    monkeypatch.setattr(app.producer, "_ensure_producer", lambda: producer)
    table._verified_source_topics_for_partitions.add("raw")
    persisted: list[Any] = []
    monkeypatch.setattr(
        table.data, "set_persisted_offset", lambda tp, offset: persisted.append((tp, offset))
    )
    return table, producer, persisted


def scope(partition: int) -> Any:
    return partition_scope(Event(message=SimpleNamespace(partition=partition, topic="raw")))


async def test_one_round_per_stretch_of_writes_and_the_last_offset_per_partition(
    table: tuple[TrackedTable, Producer, list[Any]],
) -> None:
    t, producer, persisted = table
    with scope(0):
        t["a"] = {"n": 1}
        t["b"] = "two"
    with scope(1):
        t["c"] = [3]
    with scope(0):
        del t["a"]
    pending = t.take_pending()
    assert len(pending) == 1  # one round: the writes were made without an await
    await asyncio.gather(*pending)
    topic = t.changelog_topic
    encoded = [topic.prepare_key(k, t.key_serializer)[0] for k in ("a", "b", "c")]
    value = [topic.prepare_value(v, t.value_serializer)[0] for v in ({"n": 1}, "two", [3])]
    assert producer.log == {
        0: [(encoded[0], value[0]), (encoded[1], value[1]), (encoded[0], None)],
        1: [(encoded[2], value[2])],
    }
    assert producer.batches == 2  # one per partition, not one per write
    name = topic.get_topic_name()
    assert sorted(persisted) == [(TopicPartition(name, 0), 2), (TopicPartition(name, 1), 0)]
    assert dict(t.data) == {"b": "two", "c": [3]}
    with scope(1):
        t["d"] = 4
    await asyncio.gather(*t.take_pending())  # the next round continues the partition's log
    assert persisted[-1] == (TopicPartition(name, 1), 1)


async def test_send_changelog_s_future_resolves_as_its_partition_s_last_write(
    table: tuple[TrackedTable, Producer, list[Any]],
) -> None:
    t, _, persisted = table
    with scope(0):
        t["a"] = 1
    fut = t.send_changelog(0, "b", 2)
    await asyncio.gather(*t.take_pending())
    assert fut.result().offset == 1
    assert fut.message.partition == 0
    assert [offset for _, offset in persisted] == [1]
