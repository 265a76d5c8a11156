"""Records that arrive while a worker starts (or rebalances) are all counted.

faust-streaming resumes fetching before it seeks its stream partitions to the committed offsets
after recovery, and can drop the records it fetched in between (see README, "Pipeline"). The
worker detects the hole in the raw partition's offsets and reads the missing records itself.
"""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, of_type, produce, read_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


async def _stream(
    bootstrap: str, topic: str, ops: list[SyntheticOperation], seconds: float
) -> None:
    """The operations' records interleaved, at an even pace over ``seconds``, each acked."""
    streams = [op.records() for op in ops]
    records = [r for group in zip(*streams, strict=True) for r in group]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
            await asyncio.sleep(seconds / len(records))
    finally:
        await producer.stop()


async def test_records_streamed_during_worker_start_are_all_counted(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings()
    # a worker ran before and committed offsets: a restart then seeks to them after recovery
    first = start_worker(settings)
    warmup = [SyntheticOperation(hostnames(5), ["img"], region=f"w{i}") for i in range(8)]
    await produce(
        settings.kafka_bootstrap, settings.raw_topic, [r for op in warmup for r in op.records()]
    )
    await read_until(
        settings.kafka_bootstrap,
        [settings.completed_topic],
        lambda evs: {op.operation_id for op in warmup} <= completed_ids(evs),
    )
    await asyncio.sleep(2 * settings.commit_interval_s)
    first.stop()

    ops = [SyntheticOperation(hostnames(150), ["img"], region=f"r{i}") for i in range(3)]
    worker = start_worker(settings)
    await _stream(settings.kafka_bootstrap, settings.raw_topic, ops, seconds=8.0)
    wanted = {op.operation_id for op in ops}
    events = await read_until(
        settings.kafka_bootstrap,
        [settings.completed_topic],
        lambda evs: wanted <= completed_ids(evs),
        wait_s=60,
    )
    status, stats = worker.get("/stats/")
    worker.stop()
    # the gap guard looked at every raw record this worker consumed (a skipped range, when
    # faust drops one, is read by it and counted in gap_records_filled and a warning line)
    streamed = sum(len(op.records()) for op in ops)
    assert status == 200
    assert stats["gap_records_checked"] >= streamed, stats
    done = {e["subject"]: e["data"] for e in of_type(events, "operation.completed")}
    assert wanted <= set(done), worker.tail()
    for op in ops:
        data = done[op.operation_id]
        assert (data["hosts_reported"], data["missing_hosts"]) == (150, []), data
