"""Records that arrive while a worker starts (or rebalances) are all counted.

faust-streaming resumes fetching before it seeks its stream partitions to the committed offsets
after recovery, and can drop the records it fetched in between (see README, "Pipeline"). The
worker detects the hole in the raw partition's offsets and reads the missing records itself.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, create_topic, of_type, produce, read_until
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


class SlowRevocation(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's abc
    """A revocation that waits, as a worker's waits for its batch in flight: until the member's
    group generation changes or ``wait_s`` passed; notes what it saw meanwhile."""

    def __init__(self, other: AIOKafkaConsumer, wait_s: float) -> None:
        self.member: AIOKafkaConsumer | None = None
        self.other, self.wait_s = other, wait_s
        self.at_start = self.at_end = 0
        self.other_held: set[TopicPartition] = set()
        self.done = asyncio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        assert self.member is not None
        if not revoked or self.at_start:
            return
        coordinator = self.member._coordinator  # what kafka_transport.Consumer.generation reads
        self.at_start = coordinator.generation
        for _ in range(int(self.wait_s * 10)):
            if coordinator.generation != self.at_start:
                break
            await asyncio.sleep(0.1)
        self.at_end = coordinator.generation
        for _ in range(50):  # the other member's assignment, while this one still revokes
            self.other_held = set(self.other.assignment())
            if self.other_held or self.at_end == self.at_start:
                break
            await asyncio.sleep(0.1)
        self.done.set()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


async def _poll(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=100)


async def _revoke_slowly(bootstrap: str, topic: str, group: str, wait_s: float) -> SlowRevocation:
    """Two members of a group with a 2 s rebalance timeout: the first holds both partitions,
    the second joins, and the first's revocation waits up to ``wait_s``."""
    await create_topic(bootstrap, topic, partitions=2)
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 300,
        "rebalance_timeout_ms": 2_000,
    }
    first, other = AIOKafkaConsumer(**options), AIOKafkaConsumer(**options)
    listener = SlowRevocation(other, wait_s)
    listener.member = first
    first.subscribe([topic], listener=listener)
    other.subscribe([topic])
    await first.start()
    polls = [asyncio.ensure_future(_poll(first))]
    try:
        for _ in range(300):
            if len(first.assignment()) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(first.assignment()) == 2
        await other.start()  # joins: the group rebalances, the first's revocation waits
        polls.append(asyncio.ensure_future(_poll(other)))
        await asyncio.wait_for(listener.done.wait(), wait_s + 30)
    finally:
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        await other.stop()
        await first.stop()
    return listener


async def test_a_revocation_that_outlasts_the_rebalance_timeout_loses_the_generation_inside_it(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """The premise of ``pipeline.ownership``, on the real broker: a revocation that waits
    longer than the group's rebalance timeout (a worker's waits for its batch in flight; the
    worker's timeout is faust's 60 s, 2 s here) does not hold the partitions back. The broker
    drops the member and gives them to the other one while the revocation still waits, and
    aiokafka, whose heartbeats go on meanwhile, resets the member's generation: what the
    agents check before they send a batch's events and before they write its state."""
    seen = await _revoke_slowly(
        kafka_bootstrap, unique_name("moved"), unique_name("moved-group"), wait_s=60
    )
    assert seen.at_start > 0
    assert seen.at_end == -1  # the broker no longer knows the member
    assert len(seen.other_held) == 2  # while the member's revocation still waited


async def test_a_revocation_within_the_rebalance_timeout_keeps_the_partitions_until_it_ends(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """The normal case: the broker waits for the revocation (a worker's waits for its batch
    in flight, faust's ``stream_wait_empty``), so the batch is applied while the partitions are
    still the worker's and the generation it was fetched in stands: nothing is dropped."""
    seen = await _revoke_slowly(
        kafka_bootstrap, unique_name("kept"), unique_name("kept-group"), wait_s=1
    )
    assert seen.at_start > 0
    assert seen.at_end == seen.at_start
    assert seen.other_held == set()
