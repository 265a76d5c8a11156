"""The worker's ``/healthz`` and ``/readyz`` as a service manager sees them: a `precache
worker` process on the real Kafka, probed from its start (before its partitions are
assigned), once ready, and while it recovers its tables from the changelog after a restart
(made long by a changelog of 300,000 tombstones, which recovery reads and applies)."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer

from precache.pipeline.settings import WorkerSettings
from tests.support.health import Answer, probe, wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

TOMBSTONES = 300_000


def ready(answer: Answer) -> bool:
    return answer[0] == 200


async def test_probes_from_start_to_ready(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings()
    start_worker(settings)
    seen = await asyncio.to_thread(wait_for, settings.web_port, "/readyz", ready, 120)
    assert seen[-1] == (200, {"status": "ready", "partitions": [0, 1, 2, 3]})
    for status, body in seen[:-1]:  # the answers before: not ready, and why
        assert status == 503
        assert body["status"] == "not ready"
        assert body["reason"]
    assert probe(settings.web_port, "/healthz") == (200, {"status": "ok"})


async def test_readyz_is_503_while_the_restarted_worker_recovers(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings()
    first = start_worker(settings)
    await asyncio.to_thread(wait_for, settings.web_port, "/readyz", ready, 120)
    first.stop()
    await _tombstones(settings, f"{settings.app_id}-operations-changelog", TOMBSTONES)

    start_worker(settings)  # memory store: everything comes back from the changelog
    seen = await asyncio.to_thread(wait_for, settings.web_port, "/readyz", ready, 300)
    recovering = [body for status, body in seen if status == 503 and "recover" in body["reason"]]
    assert recovering, f"never seen recovering: {seen[:5]}"
    assert recovering[0] == {
        "status": "not ready",
        "partitions": recovering[0]["partitions"],
        "reason": "recovering tables from the changelog topics",
    }
    assert probe(settings.web_port, "/healthz") == (200, {"status": "ok"})


async def _tombstones(settings: WorkerSettings, topic: str, count: int) -> None:
    """Deletes of keys that never existed: recovery reads and applies each, changing nothing."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=50)
    await producer.start()
    try:
        partitions = settings.raw_partitions
        futures = [
            await producer.send(topic, None, key=b'"filler-%d"' % i, partition=i % partitions)
            for i in range(count)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
