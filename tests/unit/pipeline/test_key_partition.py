"""``pipeline.key_partition``: the partitions Kafka's default partitioner gives, key by key."""

import asyncio
import os
from typing import Any, cast

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from precache.pipeline.key_partition import key_partition, murmur2
from precache.pipeline.record_batches import RecordBatches
from tests.support.record_batches import Batch, BatchApi


def test_the_java_client_s_values() -> None:
    """Kafka's own test vectors (``UtilsTest.testMurmur2``), as unsigned numbers."""
    java = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    java[b"a-little-bit-longer-string"] = -1486304829
    java[b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"] = -58897971
    java[b"abc"] = 479470107
    for data, expected in java.items():
        assert murmur2(data) == expected & 0xFFFFFFFF, data


def test_every_length_hashes_as_aiokafka_does() -> None:
    for length in range(200):
        for _ in range(20):
            data = os.urandom(length)
            assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF, data


@given(key=st.binary(max_size=300), count=st.integers(min_value=1, max_value=500))
def test_the_partition_is_the_default_partitioner_s(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert key_partition(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


async def test_record_batches_place_keyed_records_by_key_and_refuse_unplaceable_ones() -> None:
    sent: list[tuple[bytes | None, int | None]] = []

    class Producer(BatchApi):
        partitions = 7

        async def send_batch(
            self, batch: Batch, topic: str, *, partition: int
        ) -> "asyncio.Future[Any]":
            sent.extend((key, partition) for key, _, _ in batch.records)
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    keys = [f"region-1/host-{i}/image".encode() for i in range(50)]
    batches = RecordBatches()
    for key in keys:
        batches.add("events", key, b"{}")
    await asyncio.gather(*(await batches.send(cast(Any, Producer()))).futures)
    assert sorted(sent) == sorted((k, key_partition(k, list(range(7)))) for k in keys)
    batches.add("events", None, b"{}")
    with pytest.raises(ValueError, match="without a key or a partition"):
        await batches.send(cast(Any, Producer()))
