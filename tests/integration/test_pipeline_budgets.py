"""Issue 9 on the real Kafka: records never too large, the worker never loses a batch.

Each test runs `precache worker` subprocesses (tests/integration/conftest.py) on its own topics.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.agents import FATAL_EXIT
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, of_type, produce, read_raw, read_until
from tests.support.schemas import validate
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

IMAGES = [f"{i:08d}-43e9-4c6c-adfd-ab6db0e2bca2" for i in range(30)]
Settings = Callable[..., Awaitable[WorkerSettings]]
Start = Callable[[WorkerSettings], WorkerProcess]


def outputs(s: WorkerSettings) -> list[str]:
    return [s.status_topic, s.completed_topic, s.host_failed_topic, s.stalled_topic]


def check(events: list[dict[str, Any]], settings: WorkerSettings) -> None:
    for event in events:
        validate(event)
        assert len(json.dumps(event, separators=(",", ":"))) <= settings.max_event_bytes


async def test_1500_hosts_x_30_images_complete_once(
    worker_settings: Settings, start_worker: Start
) -> None:
    """One host-marker record of 1.24 MB killed the worker, and the completed event came 86
    times over its restarts."""
    settings = await worker_settings()
    worker = start_worker(settings)
    hosts = hostnames(1500)
    failed = {h: IMAGES[:3] for h in hosts[::50]}
    op = SyntheticOperation(hosts=hosts, images=IMAGES, failed=failed)
    await produce(settings.kafka_bootstrap, settings.raw_topic, op.records())
    worker.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap, outputs(settings), lambda ev: bool(completed_ids(ev)), 180
    )
    check(events, settings)
    await asyncio.sleep(3)  # anything repeated would come now
    events = await read_until(
        settings.kafka_bootstrap, [settings.completed_topic], lambda _: False, 2
    )
    (completed,) = of_type(events, "operation.completed")
    data = completed["data"]
    assert (data["hosts_total"], data["hosts_reported"], data["hosts_failed"]) == (1500, 1500, 30)
    assert data["images"] == IMAGES
    assert worker.proc is not None
    assert worker.proc.poll() is None
    assert worker.get("/stats/")[1]["malformed"] == 0


async def test_200k_host_start_is_kept_across_a_restart(
    worker_settings: Settings, start_worker: Start
) -> None:
    """A ~3.5 MB start: its host list is written in chunks and read back after a restart."""
    settings = await worker_settings()
    hosts = hostnames(200_000)
    op = SyntheticOperation(hosts=hosts, images=IMAGES[:1])
    progress = op.all_progress()
    await produce(settings.kafka_bootstrap, settings.raw_topic, [op.start(), *progress[:500]])
    worker = start_worker(settings)
    worker.wait_ready()

    def reported(n: int) -> Callable[[list[dict[str, Any]]], bool]:
        return lambda ev: any(e["data"]["hosts_reported"] == n for e in ev)

    events = await read_until(settings.kafka_bootstrap, [settings.status_topic], reported(500), 180)
    check(events, settings)
    assert events[-1]["data"]["hosts_total"] == 200_000
    worker.stop()
    again = start_worker(settings)
    intruder = SyntheticOperation(
        hosts=["nobody"], images=IMAGES[:1], request_id=op.request_id,
        aggregate_uuid=op.aggregate_uuid,
    )  # fmt: skip
    stranger = intruder.progress("nobody", 1)
    await produce(settings.kafka_bootstrap, settings.raw_topic, [*progress[500:1000], stranger])
    again.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap, [settings.status_topic], reported(1000), 180
    )
    assert events[-1]["data"]["hosts_total"] == 200_000
    (dead,) = await read_raw(settings.kafka_bootstrap, settings.pipeline_dlq_topic, 1)
    assert dict(dead.headers)["reason"] == b"host_not_in_operation"


async def test_120_failing_hosts_with_255_character_names(
    worker_settings: Settings, start_worker: Start
) -> None:
    settings = await worker_settings()
    worker = start_worker(settings)
    hosts = hostnames(200, prefix="h" * 250)
    failed = {h: IMAGES for h in hosts[:120]}
    op = SyntheticOperation(hosts=hosts, images=IMAGES, failed=failed)
    await produce(settings.kafka_bootstrap, settings.raw_topic, op.records())
    worker.wait_ready()

    def done(ev: list[dict[str, Any]]) -> bool:
        return bool(completed_ids(ev)) and len(of_type(ev, "host.failed")) >= 120

    events = await read_until(settings.kafka_bootstrap, outputs(settings), done, 120)
    check(events, settings)
    (completed,) = of_type(events, "operation.completed")
    assert completed["data"]["hosts_failed"] == 120
    assert len(completed["data"]["failed_hosts"]) == 120
    assert len(of_type(events, "host.failed")) == 120


async def test_10kb_host_names_never_stop_the_worker(
    worker_settings: Settings, start_worker: Start
) -> None:
    """200 hosts named with 10 KB each: a 2 MB host list. Input validation dead-letters such
    names; whatever reaches the rules is chunked and capped. Every record is applied or
    dead-lettered, and the worker goes on with the next operation."""
    settings = await worker_settings()
    worker = start_worker(settings)
    hosts = hostnames(200, prefix="x" * 10_000)
    big = SyntheticOperation(hosts=hosts, images=IMAGES, failed={h: IMAGES for h in hosts[:50]})
    after = SyntheticOperation(hosts=hostnames(5), images=IMAGES)
    records: list[Record] = [*big.records(), *after.records()]
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        lambda ev: after.operation_id in completed_ids(ev),
        120,
    )
    check(events, settings)
    for _ in range(240):  # the two operations are on different partitions: wait for both
        stats = worker.get("/stats/")[1]
        accounted = stats["applied"] + stats["malformed"] + stats["late"]
        if accounted >= len(records):
            break
        await asyncio.sleep(0.5)
    assert accounted == len(records)  # late: each .end after its operation completed (R7)
    events = await read_until(
        settings.kafka_bootstrap, outputs(settings), lambda ev: len(completed_ids(ev)) == 2, 5
    )
    check(events, settings)
    assert worker.proc is not None
    assert worker.proc.poll() is None


async def test_a_worker_level_failure_exits_70_and_the_restart_applies_the_batch(
    worker_settings: Settings, start_worker: Start
) -> None:
    """The DLQ topic refuses a dead letter (its size limit, lowered after the worker's start-up
    check, is too small): not about one record, so the worker exits before faust acks the
    batch; once the topic is fixed, the restarted worker applies every record exactly once."""
    settings = await worker_settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        worker = start_worker(settings)
        worker.wait_ready()
        small = {"max.message.bytes": "2000"}
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.pipeline_dlq_topic, small)]
        )
        op = SyntheticOperation(
            hosts=hostnames(20), images=IMAGES[:2], failed={"guaranine3": IMAGES[:1]}
        )
        junk: Record = (b"k", b"{" + b"x" * 5000, [("event_type", b"aggregate.cache_images.end")])
        records = op.records()
        await produce(
            settings.kafka_bootstrap, settings.raw_topic, [*records[:10], junk, *records[10:]]
        )
        assert worker.proc is not None
        assert await asyncio.to_thread(worker.proc.wait, 120) == FATAL_EXIT
        assert "worker-level failure" in worker.tail(200)
        resource = ConfigResource(
            ConfigResourceType.TOPIC,
            settings.pipeline_dlq_topic,
            configs={"max.message.bytes": "20000000"},
        )
        await admin.alter_configs([resource])
    finally:
        await admin.close()
    again = start_worker(settings)
    again.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap, outputs(settings), lambda ev: bool(completed_ids(ev)), 120
    )
    check(events, settings)
    completed = of_type(events, "operation.completed")
    assert len({e["id"] for e in completed}) == 1
    data = completed[0]["data"]
    assert (data["hosts_reported"], data["hosts_failed"]) == (20, 1)
    dead = await read_raw(settings.kafka_bootstrap, settings.pipeline_dlq_topic, 1)
    assert dead[0].value == junk[1]
    assert dict(dead[0].headers)["reason"] == b"not_json"
