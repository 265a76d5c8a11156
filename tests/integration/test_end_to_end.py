"""The whole flow on the real brokers, every piece real:

oslo.messaging Notifier -> RabbitMQ -> bridge -> Kafka -> faust worker -> derived topics,
read back by a plain Kafka consumer (validated against the schemas) and by ``precache watch``.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation
from tests.support.amqp import delete_queue
from tests.support.bridge import running_bridge
from tests.support.kafka import completed_ids, of_type, read_until
from tests.support.schemas import validate
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

ANNOUNCEMENT_HOSTS = [f"guaranine{n}" for n in range(2, 10)]


def _bridge_settings(
    amqp_url: str, worker: WorkerSettings, unique_name: Callable[[str], str], region: str
) -> BridgeSettings:
    return BridgeSettings(
        amqp_url=SecretStr(amqp_url),
        kafka_bootstrap=worker.kafka_bootstrap,
        region=region,
        exchange=unique_name("nova"),
        queue=unique_name("precache-bridge"),
        raw_topic=worker.raw_topic,
        dlq_topic=f"{worker.raw_topic}.dlq",
        shutdown_timeout_s=5.0,
    )


def _watch(worker: WorkerSettings, aggregate: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_") or "STACK" in k}
    for name in (
        "kafka_bootstrap",
        "status_topic",
        "completed_topic",
        "host_failed_topic",
        "stalled_topic",
    ):
        env[f"PRECACHE_{name.upper()}"] = str(getattr(worker, name))
    argv = [
        sys.executable,
        "-m",
        "precache.cli",
        "watch",
        "--aggregate",
        aggregate,
        "--plain",
        "--timeout",
        "120",
    ]
    watcher = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert watcher.stderr is not None
    # its first line comes once it has read the status topic: only then may the operation start
    first = watcher.stderr.readline()
    assert first.startswith("Waiting for an image cache operation"), first
    return watcher


async def test_announcement_example_end_to_end(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    worker = await worker_settings()
    start_worker(worker).wait_ready()
    bridge = _bridge_settings(amqp_url, worker, unique_name, region="region-a")
    plan = SimulationPlan(hosts=95, failing=frozenset(range(2, 10)), concurrency=8, delay_s=0.01)
    watcher = _watch(worker, plan.aggregate_uuid)
    try:
        async with running_bridge(bridge):
            simulate = SimulateSettings(
                amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange
            )
            await asyncio.to_thread(simulate_operation, simulate, plan)
            op_id = f"region-a/{plan.aggregate_uuid}/{plan.request_id}"
            events = await read_until(
                worker.kafka_bootstrap,
                [worker.completed_topic, worker.host_failed_topic],
                lambda evs: op_id in completed_ids(evs) and len(of_type(evs, "host.failed")) >= 8,
            )
        out, err = await asyncio.to_thread(watcher.communicate, timeout=60)
    finally:
        delete_queue(amqp_url, bridge.queue)
        if watcher.poll() is None:
            watcher.kill()

    for event in events:
        validate(event)
    [completed] = of_type(events, "operation.completed")
    data: dict[str, Any] = completed["data"]
    assert data["operation_id"] == op_id
    assert data["aggregate"] == {"uuid": plan.aggregate_uuid, "name": "my-application", "id": 2}
    assert (data["hosts_total"], data["hosts_reported"], data["hosts_failed"]) == (95, 95, 8)
    assert data["failed_hosts"] == ANNOUNCEMENT_HOSTS
    assert data["image_failures"] == {plan.images[0]: 8}
    assert (data["state"], data["outcome"]) == ("completed", "partial")
    assert sorted(e["data"]["host"] for e in of_type(events, "host.failed")) == sorted(
        ANNOUNCEMENT_HOSTS
    )

    assert watcher.returncode == 1, err
    lines = out.splitlines()
    assert lines[0] == "Image cache started on 95 hosts"
    assert "Aggregate 'my-application' host 95: 100% complete (8 errors)" in lines
    tail = lines[lines.index("Errors from hosts:") :]
    assert tail == [
        "Errors from hosts:",
        *ANNOUNCEMENT_HOSTS,
        f"Image {plan.images[0]} failed 8 times",
    ]


async def test_two_regions_same_aggregate_missing_host_and_conductor_crash(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """Region a: host 4's RPC times out (no progress), `.end` still comes -> completed after the
    grace period with host 4 failed `no_report`. Region b, same aggregate uuid: the conductor dies
    after 6 hosts (no `.end`) -> stalled, never completed."""
    worker = await worker_settings(grace_period_s=2.0, stall_after_s=4.0)
    start_worker(worker).wait_ready()
    region_a = _bridge_settings(amqp_url, worker, unique_name, region="region-a")
    region_b = _bridge_settings(amqp_url, worker, unique_name, region="region-b")
    aggregate = str(uuid.uuid4())
    plan_a = SimulationPlan(hosts=10, aggregate_uuid=aggregate, no_report=frozenset({4}))
    plan_b = SimulationPlan(hosts=10, aggregate_uuid=aggregate, stop_after=6)
    op_a = f"region-a/{aggregate}/{plan_a.request_id}"
    op_b = f"region-b/{aggregate}/{plan_b.request_id}"
    try:
        async with running_bridge(region_a), running_bridge(region_b):
            for bridge, plan in ((region_a, plan_a), (region_b, plan_b)):
                settings = SimulateSettings(
                    amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange
                )
                await asyncio.to_thread(simulate_operation, settings, plan)
            events = await read_until(
                worker.kafka_bootstrap,
                [worker.completed_topic, worker.host_failed_topic, worker.stalled_topic],
                lambda evs: (  # three topics, fetched in any order
                    op_a in completed_ids(evs)
                    and any(e["subject"] == op_a for e in of_type(evs, "host.failed"))
                    and any(e["subject"] == op_b for e in of_type(evs, "operation.stalled"))
                ),
            )
    finally:
        for bridge in (region_a, region_b):
            delete_queue(amqp_url, bridge.queue)

    for event in events:
        validate(event)
    [completed] = of_type(events, "operation.completed")
    data = completed["data"]
    assert data["operation_id"] == op_a
    assert (data["hosts_reported"], data["hosts_failed"], data["outcome"]) == (9, 1, "partial")
    assert data["missing_hosts"] == ["guaranine4"]
    [failed] = of_type(events, "host.failed")
    assert (failed["data"]["host"], failed["data"]["reason"]) == ("guaranine4", "no_report")
    stalled = [e["data"] for e in of_type(events, "operation.stalled")]
    assert {d["operation_id"] for d in stalled} == {op_b}
    assert (stalled[0]["state"], stalled[0]["hosts_reported"]) == ("stalled", 6)
    assert stalled[0]["aggregate"]["uuid"] == data["aggregate"]["uuid"] == aggregate
