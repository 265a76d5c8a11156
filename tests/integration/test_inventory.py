"""The image cache inventory on the real chain: oslo.messaging's Notifier -> RabbitMQ -> bridge
-> Kafka -> worker, read back over HTTP, with ``precache images`` and from the compacted
``precache.image.cache`` topic."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from bench.synthetic import oslo_record
from precache.bridge.settings import BridgeSettings
from precache.contract import ImageCacheEvent
from precache.pipeline.notifications import nova_time
from precache.pipeline.settings import WorkerSettings
from precache.simulate import SimulateSettings, SimulationPlan, nova_events
from precache.simulate.conductor import simulate_operation
from tests.support.amqp import delete_queue
from tests.support.bridge import running_bridge
from tests.support.inventory import image_rows, run_images, wait_for
from tests.support.kafka import produce, read_raw, read_topic
from tests.support.schemas import schema_validator
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

IMAGES = ("c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2", "155d900f-4e14-4e4c-a73d-069cbf4541e6")
HOSTS = [f"guaranine{n}" for n in range(1, 7)]
NOW = "2026-12-01 10:00:00.000000"


def bridge_settings(
    amqp_url: str, worker: WorkerSettings, unique_name: Callable[[str], str]
) -> BridgeSettings:
    return BridgeSettings(
        amqp_url=SecretStr(amqp_url),
        kafka_bootstrap=worker.kafka_bootstrap,
        region="region-a",
        exchange=unique_name("nova"),
        queue=unique_name("precache-bridge"),
        raw_topic=worker.raw_topic,
        dlq_topic=f"{worker.raw_topic}.dlq",
        shutdown_timeout_s=15.0,  # a loaded machine: the bridge may take longer to stop
    )


async def progress_times(worker: WorkerSettings, request_id: str, n: int) -> dict[str, str]:
    """host -> the canonical time of its progress notification in the operation, as Kafka
    holds it (the Notifier stamps each with the time it was sent)."""

    def mine(records: list[Any]) -> dict[str, str]:
        out = {}
        for r in records:
            m = orjson.loads(r.value)
            if m.get("_context_request_id") == request_id and m["event_type"].endswith("progress"):
                out[m["payload"]["nova_object.data"]["host"]] = nova_time(m["timestamp"])
        return out

    records = await read_topic(
        worker.kafka_bootstrap, worker.raw_topic, lambda r: len(mine(r)) >= n
    )
    return mine(records)


def plus(at: str, seconds: float) -> str:
    moment = datetime.fromisoformat(at) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def lines(proc: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


async def test_inventory_through_the_chain_and_the_gate(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    worker = await worker_settings(grace_period_s=1.0)
    process = start_worker(worker)
    process.wait_ready()
    bridge = bridge_settings(amqp_url, worker, unique_name)
    simulate = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange)
    aggregate = unique_name("agg")
    first = SimulationPlan(
        hosts=6, images=IMAGES, aggregate_name=aggregate, failing=frozenset({2}),
        down=frozenset({3}), unsupported=frozenset({4}), no_report=frozenset({5}),
    )  # fmt: skip
    op1 = f"region-a/{first.aggregate_uuid}/{first.request_id}"
    try:
        async with running_bridge(bridge):
            # 1. failing, down, unsupported and silent hosts
            await asyncio.to_thread(simulate_operation, simulate, first)
            times = await progress_times(worker, first.request_id, 5)
            rows = await wait_for(
                lambda: image_rows(process, IMAGES[0]), lambda r: r and len(r) == 5
            )
            assert sorted(rows) == [h for h in HOSTS if h != "guaranine5"]  # silent: unseen
            for host in ("guaranine1", "guaranine6"):
                row = rows[host]
                assert (row["state"], row["reason"]) == ("cached", None)
                assert row["cached_at"] == row["touched_at"] == times[host]
                assert row["expires_at"] == plus(times[host], 86_400)
                assert row["gone_by"] == plus(times[host], 86_400 + 2_400)
                assert (row["operation_id"], row["request_id"]) == (op1, first.request_id)
            for host in ("guaranine2", "guaranine3", "guaranine4"):  # Nova says no more
                row = rows[host]
                assert (row["state"], row["reason"]) == ("failed", "reported_failed")
                assert (row["cached_at"], row["expires_at"]) == (None, None)
                assert row["touched_at"] == times[host]

            # the CLI: rows of the aggregate, silent host listed as missing
            listed = run_images(process.url, IMAGES[0], "--aggregate", aggregate, "--json")
            assert listed.returncode == 0, listed.stderr
            states = {d["host"]: d["state"] for d in lines(listed)}
            assert states == {
                "guaranine1": "cached", "guaranine2": "failed", "guaranine3": "failed",
                "guaranine4": "failed", "guaranine5": "missing", "guaranine6": "cached",
            }  # fmt: skip
            assert {"region", "host", "image", "state", "cached_at", "expires_at"} <= set(
                lines(listed)[0]
            )

            # 2. the gate: 2 of 6 hold it
            gate = ("--aggregate", aggregate, "--require")
            ok = run_images(process.url, IMAGES[0], *gate, "30%")
            assert ok.returncode == 0, ok.stdout + ok.stderr
            short = run_images(process.url, IMAGES[0], *gate, "50%")
            assert short.returncode == 1
            assert short.stdout.splitlines()[1:] == [
                f"  guaranine2: failed (reported_failed at {times['guaranine2']})",
                f"  guaranine3: failed (reported_failed at {times['guaranine3']})",
                f"  guaranine4: failed (reported_failed at {times['guaranine4']})",
                "  guaranine5: missing (never seen cached)",
            ]
            expiring = run_images(process.url, IMAGES[0], *gate, "30%", "--valid-for", "2d")
            assert expiring.returncode == 1
            assert "  guaranine1: expiring (expires at " in expiring.stdout
            for bad in (("--require", "120%"), ("--require", "x"), ("--valid-for", "6y")):
                wrong = run_images(process.url, IMAGES[0], "--aggregate", aggregate, *bad)
                assert wrong.returncode == 3, wrong.stdout
                assert wrong.stderr.startswith("error: "), wrong.stderr
            unknown = run_images(process.url, IMAGES[0], "--aggregate", "nope", "--require", "1%")
            assert (unknown.returncode, unknown.stderr) == (3, "error: unknown aggregate 'nope'\n")
            gone = run_images("http://127.0.0.1:9", IMAGES[0])
            assert gone.returncode == 3
            assert gone.stderr.startswith("error: cannot read the inventory from the worker at")

            # 3. an instance spawned on the silent host touches the image there
            await asyncio.to_thread(nova_events.spawn, simulate, "guaranine5", IMAGES[0])
            rows = await wait_for(
                lambda: image_rows(process, IMAGES[0]), lambda r: r and len(r) == 6
            )
            spawned = rows["guaranine5"]
            assert (spawned["state"], spawned["source"]) == ("cached", "instance.create.end")
            assert spawned["operation_id"] is None
            assert spawned["expires_at"] == plus(spawned["cached_at"], 86_400)

            # 4. a re-cache: every host succeeds, the expiry moves
            second = SimulationPlan(
                hosts=6, images=IMAGES, aggregate_name=aggregate,
                aggregate_uuid=first.aggregate_uuid,
            )  # fmt: skip
            op2 = f"region-a/{first.aggregate_uuid}/{second.request_id}"
            await asyncio.to_thread(simulate_operation, simulate, second)
            times2 = await progress_times(worker, second.request_id, 6)
            rows = await wait_for(
                lambda: image_rows(process, IMAGES[0]),
                lambda r: r and {x["operation_id"] for x in r.values()} == {op2},
            )
            for host in HOSTS:
                assert rows[host]["state"] == "cached"
                assert rows[host]["cached_at"] == times2[host]
                assert rows[host]["expires_at"] == plus(times2[host], 86_400)
            assert times2["guaranine1"] > times["guaranine1"]
            assert run_images(process.url, IMAGES[0], *gate, "100%").returncode == 0

            # 5. a host joins the aggregate: it lacks the image; it leaves: all hold it again
            joined = [*HOSTS, "guaranine7"]
            await asyncio.to_thread(
                nova_events.membership, simulate, "aggregate.add_host.end",
                first.aggregate_uuid, joined, aggregate,
            )  # fmt: skip

            def members() -> list[str]:
                status, body = process.get(f"/aggregates/{first.aggregate_uuid}")
                return body["aggregates"][0]["hosts"] if status == 200 else []

            assert await wait_for(members, lambda m: m == joined) == joined
            lacking = run_images(process.url, IMAGES[0], *gate, "100%")
            assert lacking.returncode == 1
            assert lacking.stdout.splitlines()[1:] == ["  guaranine7: missing (never seen cached)"]
            await asyncio.to_thread(
                nova_events.membership, simulate, "aggregate.remove_host.end",
                first.aggregate_uuid, HOSTS, aggregate,
            )  # fmt: skip
            assert await wait_for(members, lambda m: m == HOSTS) == HOSTS
            assert run_images(process.url, IMAGES[0], *gate, "100%").returncode == 0
    finally:
        delete_queue(amqp_url, bridge.queue)

    # the compacted topic: its last record per key is what the worker answers
    keys = {f"region-a/{h}/{i}" for h in HOSTS for i in IMAGES}

    def last_per_key(records: list[Any]) -> dict[str, dict[str, Any]]:
        return {r.key.decode(): orjson.loads(r.value) for r in records}

    def settled(records: list[Any]) -> bool:
        last = last_per_key(records)
        return keys <= set(last) and all(
            e["data"]["operation_id"] == op2 for k, e in last.items() if k in keys
        )

    records = await read_topic(worker.kafka_bootstrap, worker.image_cache_topic, settled)
    last = last_per_key(records)
    for image in IMAGES:
        rows = image_rows(process, image)
        assert rows is not None
        for host in HOSTS:
            event = last[f"region-a/{host}/{image}"]
            schema_validator("precache.image.cache").validate(event)
            assert ImageCacheEvent.model_validate(event).data.model_dump() == rows[host]


async def test_a_bad_instance_notification_is_dead_lettered_with_its_reason(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    worker = await worker_settings()
    process = start_worker(worker)
    good = nova_events.instance_payload("compute-1", IMAGES[0])
    bad = nova_events.instance_payload("compute-2", IMAGES[0])
    bad["nova_object.data"]["host"] = 7

    def message(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_type": "instance.create.end",
            "publisher_id": "nova-compute:compute-1",
            "timestamp": "2026-12-01 10:00:00.000000",
            "message_id": "m",
            "payload": payload,
        }

    await produce(
        worker.kafka_bootstrap,
        worker.raw_topic,
        [oslo_record(message(bad), "region-a"), oslo_record(message(good), "region-a")],
    )
    process.wait_ready()
    rows = await wait_for(lambda: image_rows(process, IMAGES[0]), lambda r: bool(r))
    assert rows is not None
    assert list(rows) == ["compute-1"]
    (dead,) = await read_raw(worker.kafka_bootstrap, worker.pipeline_dlq_topic, 1)
    headers = dict(dead.headers)
    assert headers["reason"] == b"bad_host"
    assert orjson.loads(dead.value)["payload"]["nova_object.data"]["host"] == 7


async def test_a_copy_cached_in_year_9999_is_forecast_to_the_end_of_time_not_fatal(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """Nova's timestamps are taken as they come, 9999-12-31 included; the forecast (+ min age)
    overflowed ``datetime`` and stopped the inventory agent (exit 70) on every redelivery."""
    worker = await worker_settings()
    process = start_worker(worker)

    def message(host: str, timestamp: str) -> dict[str, Any]:
        return {
            "event_type": "instance.create.end",
            "publisher_id": f"nova-compute:{host}",
            "timestamp": timestamp,
            "message_id": host,
            "payload": nova_events.instance_payload(host, IMAGES[1]),
        }

    far, now = message("compute-1", "9999-12-31 00:00:00.000000"), message("compute-2", NOW)
    records = [oslo_record(far, "region-a"), oslo_record(now, "region-a")]
    await produce(worker.kafka_bootstrap, worker.raw_topic, records)
    process.wait_ready()
    rows = await wait_for(lambda: image_rows(process, IMAGES[1]), lambda r: bool(r) and len(r) == 2)
    assert rows is not None
    assert sorted(rows) == ["compute-1", "compute-2"]
    end = "9999-12-31T23:59:59.999999Z"
    assert (rows["compute-1"]["expires_at"], rows["compute-1"]["gone_by"]) == (end, end)
    assert rows["compute-2"]["expires_at"] == plus("2026-12-01T10:00:00.000000Z", 86_400)
    published = await read_topic(
        worker.kafka_bootstrap, worker.image_cache_topic, lambda r: len(r) >= 2
    )
    for record in published:
        event = orjson.loads(record.value)
        schema_validator("precache.image.cache").validate(event)
        data = ImageCacheEvent.model_validate(event).data
        assert data.model_dump() == rows[data.host]
