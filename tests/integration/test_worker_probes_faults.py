"""The worker's probes while Kafka is stopped (the private stack's broker): ``/healthz`` keeps
answering (a Kafka outage must not get the worker restarted by its liveness probe: it would
only start over its recovery), and ``/readyz`` stays 200: its partitions stay assigned (no
coordinator to take them away) and its HTTP view answers from its state meanwhile; after Kafka
is back it is 200 again (a rebalance in between says 503). Run with ``scripts/test-faults``."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from precache.pipeline.settings import WorkerSettings
from precache.stack import StackSettings, start_broker, stop_broker
from tests.support.health import Answer, probe, wait_for
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_probes_while_kafka_is_stopped(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    stack: StackSettings,
) -> None:
    settings = await worker_settings()
    worker = start_worker(settings)
    port = settings.web_port
    await asyncio.to_thread(wait_for, port, "/readyz", lambda a: a[0] == 200, 120)
    assert await asyncio.to_thread(stop_broker, stack, "kafka")
    ready: list[Answer | None] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert await asyncio.to_thread(probe, port, "/healthz") == (200, {"status": "ok"})
            ready.append(await asyncio.to_thread(probe, port, "/readyz"))
            await asyncio.sleep(1)
    finally:
        await asyncio.to_thread(start_broker, stack, "kafka")
    assert set(map(str, ready)) == {str((200, {"status": "ready", "partitions": [0, 1, 2, 3]}))}
    await asyncio.to_thread(wait_for, port, "/readyz", lambda a: a[0] == 200, 180)
    assert worker.proc is not None
    assert worker.proc.poll() is None
