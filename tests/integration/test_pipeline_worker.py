"""End to end on the real Kafka: raw records -> `precache worker` -> derived topics."""

import random
from collections.abc import Awaitable, Callable

import pytest

from pipeline.settings import WorkerSettings
from pipeline.synthetic import SyntheticOperation, hostnames
from tests.pipeline_support import (
    WorkerProcess,
    completed_ids,
    of_type,
    produce,
    read_until,
    validate,
)

pytestmark = pytest.mark.integration

IMAGES = ["c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2", "155d900f-4e14-4e4c-a73d-069cbf4541e6"]


def outputs(s: WorkerSettings) -> list[str]:
    return [s.status_topic, s.completed_topic, s.host_failed_topic, s.stalled_topic]


async def test_95_hosts_8_failures_shuffled_and_duplicated(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings()
    worker = start_worker(settings)
    hosts = hostnames(95)
    failed = {h: [IMAGES[0]] for h in random.Random(1).sample(hosts, 8)}
    op = SyntheticOperation(hosts=hosts, images=IMAGES, failed=failed)
    records = op.records(shuffle=random.Random(2))
    records[1:1] = records[5:15]  # the same notifications delivered twice
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker.wait_ready()

    events = await read_until(
        settings.kafka_bootstrap, outputs(settings), lambda ev: bool(completed_ids(ev))
    )
    for event in events:
        validate(event)
    (completed,) = of_type(events, "operation.completed")
    data = completed["data"]
    assert data["operation_id"] == op.operation_id
    assert (data["hosts_total"], data["hosts_reported"], data["hosts_failed"]) == (95, 95, 8)
    assert data["failed_hosts"] == sorted(failed, key=lambda h: int(h.removeprefix("guaranine")))
    assert data["image_failures"] == {IMAGES[0]: 8}
    assert (data["state"], data["outcome"], data["percent"]) == ("completed", "partial", 100.0)
    assert data["missing_hosts"] == []
    host_failed = of_type(events, "host.failed")
    assert sorted(e["data"]["host"] for e in host_failed) == sorted(failed)
    assert {e["data"]["reason"] for e in host_failed} == {"image_failed"}
    status, body = worker.get(f"/operations/{op.operation_id}")
    assert status == 200
    assert body["hosts_failed"] == 8
