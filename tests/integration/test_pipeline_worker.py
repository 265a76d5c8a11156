"""End to end on the real Kafka: raw records -> `precache worker` -> derived topics."""

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench.synthetic import Record, SyntheticOperation, hostnames, oslo_record
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, of_type, produce, read_raw, read_until
from tests.support.nova_samples import conductor_messages
from tests.support.schemas import validate
from tests.support.worker import WorkerProcess

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

    # host.failed is another topic: its events may be fetched after the completed one
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        lambda ev: bool(completed_ids(ev)) and len(of_type(ev, "host.failed")) >= len(failed),
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
    status, body = worker.get_when(f"/operations/{op.operation_id}", lambda s, b: s == 200)
    assert status == 200
    assert body["hosts_failed"] == 8


def interleave(*streams: list[Record]) -> list[Record]:
    out: list[Record] = []
    for i in range(max(len(s) for s in streams)):
        out += [s[i] for s in streams if i < len(s)]
    return out


def nova_fixture_records() -> list[Record]:
    return [oslo_record(m, "region-a") for m in conductor_messages()]


async def test_concurrent_operations_same_aggregate_twice_two_regions_and_http_view(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings()
    worker = start_worker(settings)
    first = SyntheticOperation(hosts=hostnames(20), images=IMAGES, failed={"guaranine3": IMAGES})
    again = SyntheticOperation(
        hosts=hostnames(20), images=IMAGES, aggregate_uuid=first.aggregate_uuid
    )
    other_region = SyntheticOperation(
        hosts=hostnames(20), images=IMAGES, aggregate_uuid=first.aggregate_uuid, region="b"
    )
    other_aggregate = SyntheticOperation(
        hosts=hostnames(30, "cmp"), images=IMAGES, failed={h: IMAGES for h in hostnames(30, "cmp")}
    )
    rng = random.Random(5)
    records = interleave(
        first.records(rng) + again.records(rng),
        other_region.records(rng),
        other_aggregate.records(rng),
        nova_fixture_records(),
    )
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker.wait_ready()
    fixture_op = (
        "region-a/fd2b15cd-6c65-4cac-9fa0-93ae13c04db9/req-509aa5f0-f5e4-4be8-b78f-5d0dbfe2681d"
    )
    expected = {
        first.operation_id: (20, 1, "partial"),
        again.operation_id: (20, 0, "succeeded"),
        other_region.operation_id: (20, 0, "succeeded"),
        other_aggregate.operation_id: (30, 30, "failed"),
        fixture_op: (12, 4, "partial"),
    }
    events = await read_until(
        settings.kafka_bootstrap,
        outputs(settings),
        # host.failed is another topic: read until its events are in too, not only the completed
        lambda ev: completed_ids(ev) == set(expected) and len(of_type(ev, "host.failed")) >= 35,
    )
    for event in events:
        validate(event)
    completed = of_type(events, "operation.completed")
    assert len(completed) == len(expected)
    got = {
        e["subject"]: (e["data"]["hosts_reported"], e["data"]["hosts_failed"], e["data"]["outcome"])
        for e in completed
    }
    assert got == expected
    fixture = next(e["data"] for e in completed if e["subject"] == fixture_op)
    assert fixture["failed_hosts"] == ["guaranine2", "guaranine3", "guaranine5", "guaranine7"]
    assert fixture["duration_s"] == pytest.approx(0.03438)  # last host, not the later .end
    assert fixture["started_at"] == "2026-11-23T19:04:24.662740Z"
    assert fixture["completed_at"] == "2026-11-23T19:04:24.697120Z"
    assert len(of_type(events, "host.failed")) == 1 + 30 + 4

    status, listing = worker.get_when(
        "/operations", lambda s, b: s == 200 and len(b["operations"]) == len(expected)
    )
    assert status == 200
    assert {o["operation_id"] for o in listing["operations"]} == set(expected)
    status, one = worker.get_when(
        f"/operations/{other_region.operation_id}",
        lambda s, b: s == 200 and b["state"] == "completed",
    )
    assert (status, one["region"], one["state"]) == (200, "b", "completed")
    assert worker.get("/operations/nowhere/req-x")[0] == 404


async def test_end_with_missing_host_stall_malformed_and_unused_records(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings(grace_period_s=2.0, stall_after_s=3.0)
    worker = start_worker(settings)
    missing = SyntheticOperation(hosts=hostnames(10), images=IMAGES, silent={"guaranine7"})
    stalled = SyntheticOperation(hosts=hostnames(10), images=IMAGES)
    unused = {"event_type": "compute.instance.create.end", "payload": {}}
    junk: Record = (b"k", b"{not json", [("event_type", b"aggregate.cache_images.progress")])
    records = [
        *missing.records(),
        stalled.start(),
        *stalled.all_progress()[:4],
        oslo_record(unused, "region-a"),
        junk,
    ]
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker.wait_ready()

    def done(ev: list[dict[str, object]]) -> bool:  # three topics, fetched in any order
        kinds = ("operation.stalled", "host.failed")
        return bool(completed_ids(ev)) and all(of_type(ev, kind) for kind in kinds)

    events = await read_until(settings.kafka_bootstrap, outputs(settings), done)
    for event in events:
        validate(event)
    (completed,) = of_type(events, "operation.completed")
    data = completed["data"]
    assert completed["subject"] == missing.operation_id
    assert (data["hosts_reported"], data["hosts_failed"], data["outcome"]) == (9, 1, "partial")
    assert data["missing_hosts"] == ["guaranine7"]
    (no_report,) = of_type(events, "host.failed")
    assert (no_report["data"]["host"], no_report["data"]["reason"]) == ("guaranine7", "no_report")
    (stall,) = of_type(events, "operation.stalled")
    assert stall["subject"] == stalled.operation_id
    assert (stall["data"]["state"], stall["data"]["hosts_reported"]) == ("stalled", 4)
    assert stalled.operation_id not in completed_ids(events)

    dead = await read_raw(settings.kafka_bootstrap, settings.pipeline_dlq_topic, 1)
    assert dead[0].value == b"{not json"
    headers = dict(dead[0].headers)
    assert headers["reason"] == b"not_json"
    assert b"not JSON" in headers["error"]
    stats = worker.get("/stats/")[1]
    assert (stats["malformed"], stats["ignored"]) == (1, 1)
    latency = stats["batch_latency"]  # the worker's own figures of its recent batches
    assert 1 <= latency["batches"] <= stats["batches"]
    for figure in ("age_ms", "apply_ms"):
        assert 0 <= latency[figure]["p50"] <= latency[figure]["p99"] <= latency[figure]["max"]

    # progress resumes the stalled operation
    await produce(settings.kafka_bootstrap, settings.raw_topic, stalled.all_progress()[4:6])
    events = await read_until(
        settings.kafka_bootstrap,
        [settings.status_topic],
        lambda ev: any(
            e["subject"] == stalled.operation_id and e["data"]["hosts_reported"] == 6 for e in ev
        ),
    )
    latest = [e for e in events if e["subject"] == stalled.operation_id][-1]
    assert latest["data"]["state"] == "running"


async def test_coalesced_status_snapshots_keep_the_final_state_and_exact_counts(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings(status_coalesce=True)
    worker = start_worker(settings)
    op = SyntheticOperation(hosts=hostnames(300), images=IMAGES, failed={"guaranine9": IMAGES})
    await produce(settings.kafka_bootstrap, settings.raw_topic, op.records(random.Random(3)))
    worker.wait_ready()

    def final_status_read(ev: list[dict[str, Any]]) -> bool:
        # completed and status travel on different topics: wait for both, in either order
        statuses = of_type(ev, "operation.status")
        return bool(completed_ids(ev) and statuses) and statuses[-1]["data"]["state"] == "completed"

    events = await read_until(settings.kafka_bootstrap, outputs(settings), final_status_read)
    for event in events:
        validate(event)
    statuses = of_type(events, "operation.status")
    assert len(statuses) < 100  # not one per notification
    assert statuses[-1]["data"]["state"] == "completed"
    assert (statuses[-1]["data"]["hosts_reported"], statuses[-1]["data"]["hosts_failed"]) == (
        300,
        1,
    )
