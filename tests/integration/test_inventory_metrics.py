"""The image cache inventory on a real worker's ``/metrics`` after a real run (oslo Notifier ->
RabbitMQ -> bridge -> Kafka -> worker): the gauges say what the worker's own ``GET /images``
answers, the agent counts every input on the internal topic once (a redelivered record as
skipped, a bad one as dead-lettered), and with a short ``PRECACHE_IMAGE_MIN_AGE_S`` (the same
table, recovered by a restarted worker) the expiring gauges move."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from precache.pipeline.inventory import Touch, parse_time
from precache.pipeline.inventory_input import BadInput, decode
from precache.pipeline.settings import WorkerSettings
from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation
from tests.support.bridge import running_bridge
from tests.support.chain import bridge_for
from tests.support.kafka import completed_ids, read_raw, read_topic, read_until
from tests.support.scrape import Scrape, scrape
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

IMAGES = ("c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2", "155d900f-4e14-4e4c-a73d-069cbf4541e6")
HOSTS = 6
FAILING = frozenset({2})
WITHIN = {"1h": timedelta(hours=1), "6h": timedelta(hours=6)}
SHORT_MIN_AGE_S = 1_800.0  # copies cached now expire in 30 min: within 1 h and 6 h


async def poll(read: Callable[[], Any], done: Callable[[Any], bool], within: float = 60) -> Any:
    """``read()`` in a thread (the bridge shares this event loop) until ``done``."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(read)
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.3)


def images(process: WorkerProcess) -> list[dict[str, Any]]:
    """``GET /images?hosts=1``: every (region, image) summary with its host rows."""
    status, body = process.get("/images?hosts=1")
    return body["images"] if status == 200 else []


def settled(found: list[dict[str, Any]]) -> bool:
    return len(found) == len(IMAGES) and all(
        (s["cached"], s["failed"]) == (HOSTS - len(FAILING), len(FAILING)) for s in found
    )


def expected(found: list[dict[str, Any]], now: datetime) -> dict[str, float]:
    """The gauges, from the worker's own HTTP answer: summaries and rows (docs/inventory.md)."""
    out: dict[str, float] = {
        "cached": sum(s["cached"] for s in found),
        "failed": sum(s["failed"] for s in found),
    }
    for within, span in WITHIN.items():
        soon = [
            r
            for s in found
            for r in s["hosts"]
            if r["state"] == "cached"
            and r["expires_at"] is not None
            and parse_time(r["expires_at"]) <= now + span
            and parse_time(r["gone_by"]) > now
        ]
        out[f"copies:{within}"] = len(soon)
        out[f"images:{within}"] = len({r["image"] for r in soon})
        # the summary's earliest expiry says the same per image
        early = [
            s
            for s in found
            if s["earliest_expiry"] and parse_time(s["earliest_expiry"]) <= now + span
        ]
        assert len(early) == out[f"images:{within}"], (within, found)
    return out


def gauges(scraped: Scrape) -> dict[str, float]:
    out = {
        state: scraped.value("precache_worker_inventory_entries", region="region-a", state=state)
        for state in ("cached", "failed")
    }
    for within in WITHIN:
        for kind, name in (
            ("copies", "precache_worker_image_copies_expiring"),
            ("images", "precache_worker_images_expiring"),
        ):
            out[f"{kind}:{within}"] = scraped.value(name, region="region-a", within=within)
    return out


def inputs(records: list[Any]) -> dict[str, int]:
    """Inputs by kind in the internal topic's records (what the operations agent forwarded)."""
    counts = {"touch": 0, "membership": 0}
    for record in records:
        try:
            items = decode(record.value)
        except BadInput:
            continue
        for item in items:
            counts["touch" if isinstance(item, Touch) else "membership"] += 1
    return counts


def counted(scraped: Scrape, name: str) -> dict[str, float]:
    return {
        kind: scraped.value(f"precache_worker_inventory_inputs_{name}_total", kind=kind)
        for kind in ("touch", "membership")
    }


async def replay(bootstrap: str, topic: str, records: list[tuple[Any, bytes, int]]) -> None:
    """(key, value, partition) records, each to its own partition (as a redelivery after a
    crash brings the same records again)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, partition in records:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


async def test_inventory_metrics_are_what_the_inventory_answers(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    plan = SimulationPlan(hosts=HOSTS, images=IMAGES, failing=FAILING)
    worker = await worker_settings(raw_partitions=2)  # memberships go to both partitions
    bridge = bridge_for(worker, amqp_url, unique_name("invmetrics")).model_copy(
        update={"raw_partitions": worker.raw_partitions}
    )
    process = start_worker(worker)
    process.wait_ready(partitions=2)
    async with running_bridge(bridge):
        simulate = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange)
        await asyncio.to_thread(simulate_operation, simulate, plan)
        op_id = f"region-a/{plan.aggregate_uuid}/{plan.request_id}"
        await read_until(
            worker.kafka_bootstrap,
            [worker.completed_topic],
            lambda evs: op_id in completed_ids(evs),
        )
    # completed: every input the operations agent forwards is on the internal topic now
    records = await read_topic(
        worker.kafka_bootstrap, worker.inventory_topic, lambda r: False, within=3
    )
    forwarded = inputs(records)
    after = await poll(
        lambda: scrape(process.url + "/metrics"), lambda s: counted(s, "applied") == forwarded
    )
    found = await asyncio.to_thread(images, process)
    assert settled(found), found

    # 1. the levels are the HTTP answer's (default min age: nothing expires within 6 h)
    want = expected(found, datetime.now(UTC))
    assert gauges(after) == want
    assert want == {"cached": 10, "failed": 2} | dict.fromkeys(
        ["copies:1h", "images:1h", "copies:6h", "images:6h"], 0
    )
    assert after.value("precache_worker_inventory_ready") == 1

    # 2. every input on the internal topic counted once, as applied: each (host, image) once,
    # the aggregate's membership from the operation's start and end on every partition
    applied = counted(after, "applied")
    assert applied == forwarded
    assert applied["touch"] == HOSTS * len(IMAGES)
    assert applied["membership"] > 0
    assert counted(after, "skipped") == {"touch": 0, "membership": 0}

    # 3. the same records again (a redelivery): each input skipped, nothing changes
    copies = [(r.key, r.value, r.partition) for r in records]
    await replay(worker.kafka_bootstrap, worker.inventory_topic, copies)
    again = await poll(
        lambda: scrape(process.url + "/metrics"), lambda s: counted(s, "skipped") == applied
    )
    assert counted(again, "skipped") == applied
    assert counted(again, "applied") == applied
    assert gauges(again) == want

    # 4. a record the agent cannot read: dead-lettered with its reason, counted once
    await replay(worker.kafka_bootstrap, worker.inventory_topic, [(b"region-a/x", b"{", 0)])
    bad = "bad_inventory_record"
    dead = await poll(
        lambda: scrape(process.url + "/metrics"),
        lambda s: s.value("precache_worker_inventory_dead_lettered_total", reason=bad) > 0,
    )
    assert dead.value("precache_worker_inventory_dead_lettered_total", reason=bad) == 1
    (letter,) = await read_raw(worker.kafka_bootstrap, worker.pipeline_dlq_topic, 1)
    assert dict(letter.headers)["reason"] == bad.encode()
    assert dead.value("precache_worker_inventory_apply_seconds_count") == len(records) * 2 + 1
    _, stats = await asyncio.to_thread(process.get, "/stats/")
    assert stats["inventory_inputs"] == {"applied": applied, "skipped": applied, "dead": {bad: 1}}

    # 5. a short min age: the same table, recovered by a restarted worker, now expires soon
    process.stop()
    short = worker.model_copy(update={"image_min_age_s": SHORT_MIN_AGE_S})
    process = start_worker(short)
    process.wait_ready(partitions=2)
    found = await poll(lambda: images(process), settled)
    moved = await poll(
        lambda: scrape(process.url + "/metrics"),
        lambda s: s.value("precache_worker_inventory_ready") == 1,
    )
    want = expected(found, datetime.now(UTC))
    assert gauges(moved) == want
    assert want == {"cached": 10, "failed": 2} | {
        "copies:1h": 10, "images:1h": 2, "copies:6h": 10, "images:6h": 2,
    }  # fmt: skip
    # the example alert's series (deploy/prometheus/alerts.yml): summed by region, above 0
    assert moved.value("precache_worker_images_expiring", region="region-a", within="6h") > 0
