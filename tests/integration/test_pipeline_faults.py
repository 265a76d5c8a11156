"""The worker under faults: SIGKILL mid-operation and restart; two workers, one killed."""

import asyncio
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from bench.synthetic import SyntheticOperation, hostnames, interleave, other_records
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, of_type, produce, read_until
from tests.support.schemas import validate
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

IMAGES = ["img-1", "img-2"]


def outputs(s: WorkerSettings) -> list[str]:
    return [s.status_topic, s.completed_topic, s.host_failed_topic, s.stalled_topic]


def operation(n: int, n_failed: int, seed: int, partition: int | None = None) -> SyntheticOperation:
    """An operation whose aggregate lands on ``partition`` of 4 (the producer's murmur2)."""
    hosts = hostnames(n)
    failed = {h: ["img-1"] for h in random.Random(seed).sample(hosts, n_failed)}
    op = SyntheticOperation(hosts=hosts, images=IMAGES, failed=failed)
    while (
        partition is not None
        and (murmur2(op.aggregate_uuid.encode()) & 0x7FFFFFFF) % 4 != partition
    ):
        op.aggregate_uuid = str(uuid.uuid4())
    return op


def assert_exact(events: list[dict[str, Any]], ops: list[SyntheticOperation]) -> None:
    """One completed per operation (redelivered copies share its id), exact counts."""
    for event in events:
        validate(event)
    for op in ops:
        completed = [
            e for e in of_type(events, "operation.completed") if e["subject"] == op.operation_id
        ]
        statuses = [
            e for e in of_type(events, "operation.status") if e["subject"] == op.operation_id
        ]
        last = statuses[-1]["data"] if statuses else {}
        last = {k: last.get(k) for k in ("hosts_reported", "hosts_failed", "state", "version")}
        assert len({e["id"] for e in completed}) == 1, (op.operation_id, last)
        data = completed[-1]["data"]
        n = len(op.hosts)
        assert (data["hosts_reported"], data["hosts_failed"]) == (n, len(op.failed))
        ids_by_host: dict[str, set[str]] = defaultdict(set)
        for e in of_type(events, "host.failed"):
            if e["subject"] == op.operation_id:
                ids_by_host[e["data"]["host"]].add(e["id"])
        assert set(ids_by_host) == set(op.failed)
        assert all(len(ids) == 1 for ids in ids_by_host.values())


def status_reached(op: SyntheticOperation, hosts: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda ev: any(
        e["subject"] == op.operation_id and e["data"]["hosts_reported"] >= hosts for e in ev
    )


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
async def test_sigkill_mid_operation_then_restart_gives_exact_counts(
    store: str,
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings(store=store, commit_interval_s=0.5, session_timeout_s=6)
    op = operation(400, 25, seed=7)
    records = op.records(shuffle=random.Random(8))
    records += records[100:140]  # duplicates on top
    worker = start_worker(settings)
    worker.wait_ready()
    await produce(settings.kafka_bootstrap, settings.raw_topic, records[:250])
    await read_until(settings.kafka_bootstrap, [settings.status_topic], status_reached(op, 120))
    worker.kill()
    await produce(settings.kafka_bootstrap, settings.raw_topic, records[250:])

    restarted = start_worker(settings)
    restarted.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        lambda ev: bool(of_type(ev, "operation.completed")),
        wait_s=120,
    )
    assert_exact(events, [op])
    status, body = restarted.get(f"/operations/{op.operation_id}")
    assert (status, body["hosts_reported"], body["hosts_failed"]) == (200, 400, 25)


def hosts_reported(events: list[dict[str, Any]]) -> int:
    latest: dict[str, int] = {}
    for e in of_type(events, "operation.status"):
        latest[e["subject"]] = max(latest.get(e["subject"], 0), e["data"]["hosts_reported"])
    return sum(latest.values())


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
async def test_sigkill_while_batches_are_in_flight_gives_exact_counts(
    store: str,
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """A backlog of interleaved operations, the worker killed in the middle of it: whatever
    batch was being applied, sent or written, the restarted worker ends with exact counts."""
    settings = await worker_settings(store=store, commit_interval_s=0.5, session_timeout_s=6)
    ops = [operation(2500, 50, seed=100 + i) for i in range(10)]
    rng = random.Random(9)
    progress = [r for op in ops for r in op.records(shuffle=rng)[1:-1]]
    rng.shuffle(progress)
    records = [op.records()[0] for op in ops] + progress + progress[:500]
    records += [op.records()[-1] for op in ops]
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker = start_worker(settings)
    worker.wait_ready()
    total = sum(len(op.hosts) for op in ops)
    before = await read_until(
        settings.kafka_bootstrap,
        [settings.status_topic],
        lambda ev: hosts_reported(ev) >= total // 4,
    )
    worker.kill()
    assert hosts_reported(before) < total, "the worker finished before the kill: no fault"

    restarted = start_worker(settings)
    restarted.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        lambda ev: len(completed_ids(ev)) == len(ops),
        wait_s=180,
    )
    assert_exact(events, ops)


async def test_two_workers_share_partitions_route_reads_and_hand_over_on_kill(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    a_settings = await worker_settings(session_timeout_s=6, commit_interval_s=0.5, log_level="INFO")
    b_settings = await worker_settings(session_timeout_s=6, commit_interval_s=0.5, log_level="INFO")
    a = start_worker(a_settings)
    a.wait_ready()
    b = start_worker(b_settings)
    b.wait_ready()
    a.wait_ready(partitions=2)
    ops = [operation(150, 5, seed=i, partition=i % 4) for i in range(6)]
    halves = [op.records(shuffle=random.Random(i)) for i, op in enumerate(ops)]
    await produce(
        a_settings.kafka_bootstrap, a_settings.raw_topic, [r for h in halves for r in h[:90]]
    )
    for op in ops:
        await read_until(
            a_settings.kafka_bootstrap, [a_settings.status_topic], status_reached(op, 80)
        )

    owners = {
        op.operation_id: w
        for op in ops
        for w in (a, b)
        if w.get(f"/operations/{op.operation_id}?local=1")[0] == 200
    }
    assert set(owners.values()) == {a, b}, "the operations should be spread over both workers"
    for op_id, owner in owners.items():
        other = b if owner is a else a
        status, body = other.get(f"/operations/{op_id}")  # routed to the owner
        assert (status, body["operation_id"]) == (200, op_id)
    assert len(a.get("/operations/")[1]["operations"]) == len(ops)

    b.kill()
    await produce(
        a_settings.kafka_bootstrap, a_settings.raw_topic, [r for h in halves for r in h[90:]]
    )
    events = await read_until(
        a_settings.kafka_bootstrap,
        outputs(a_settings),
        lambda ev: (  # host.failed travels on its own topic: read it to the end too
            len({e["subject"] for e in of_type(ev, "operation.completed")}) == len(ops)
            and len({(e["subject"], e["data"]["host"]) for e in of_type(ev, "host.failed")})
            >= sum(len(op.failed) for op in ops)
        ),
        wait_s=60,
    )
    assert_exact(events, ops)
    assert a.wait_ready(partitions=4)["partitions"] == [0, 1, 2, 3]


async def committed_and_end(s: WorkerSettings) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offsets and the end offsets of the raw topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(s.app_id)
    finally:
        await admin.close()
    committed = {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == s.raw_topic}
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(s.raw_topic, p) for p in range(s.raw_partitions)]
        end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    return committed, end


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
async def test_sigkill_while_skipping_a_long_run_of_other_traffic_gives_exact_counts(
    store: str,
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """Other traffic is dropped by the worker's consumer before faust sees it, its offsets
    acked in faust's bookkeeping (pipeline/kafka_transport.py). Killed in the middle of a long
    run of it, with operations open on both sides of the run: the restarted worker counts
    every operation exactly, and the group's commits reach the end of the topic (a tail of
    other traffic is committed, not read again at every restart)."""
    settings = await worker_settings(store=store, commit_interval_s=0.5, session_timeout_s=6)
    rng = random.Random(11)
    ops = [operation(300, 10, seed=40 + i) for i in range(4)]
    halves = [op.records(shuffle=rng) for op in ops]
    run = 100_000
    records = interleave([r for h in halves for r in h[:150]], 3, rng)
    records += other_records(run, rng)
    records += interleave([r for h in halves for r in h[150:]], 3, rng)
    records += other_records(5_000, rng)
    others = len(records) - sum(len(h) for h in halves)
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)

    worker = start_worker(settings)
    worker.wait_ready()
    deadline = time.monotonic() + 120
    skipped = 0
    while skipped < 20_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        skipped = worker.get("/stats/")[1].get("skipped_unseen", 0)
    worker.kill()
    assert 20_000 <= skipped < run, f"not killed in the run of other traffic: {skipped} skipped"

    restarted = start_worker(settings)
    restarted.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        lambda ev: (
            len(completed_ids(ev)) == len(ops)
            and len({(e["subject"], e["data"]["host"]) for e in of_type(ev, "host.failed")})
            >= sum(len(op.failed) for op in ops)
        ),
        wait_s=180,
    )
    assert_exact(events, ops)
    for op in ops:
        status, body = restarted.get(f"/operations/{op.operation_id}")
        assert (status, body["hosts_reported"], body["hosts_failed"]) == (200, 300, 10)

    deadline = time.monotonic() + 60
    committed, end = await committed_and_end(settings)
    while committed != end and time.monotonic() < deadline:
        await asyncio.sleep(1)
        committed, end = await committed_and_end(settings)
    assert committed == end, (committed, end)
    stats = restarted.get("/stats/")[1]
    assert stats["skipped_unseen"] <= others
    assert stats["gap_records_filled"] == 0, "the gap guard read skipped records again"
