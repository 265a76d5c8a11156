"""The bridge's ``/readyz`` while Kafka is away (stopped: the private stack's broker) and
``/healthz`` throughout: a `precache bridge` process, no traffic, so only the bridge's own
Kafka check can notice. Run with ``scripts/test-faults``."""

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from precache.stack import StackSettings, start_broker, stop_broker
from tests.support.bridge import SettingsFactory, start_bridge_process
from tests.support.health import probe, wait_for
from tests.support.worker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_readyz_is_503_while_kafka_is_stopped_and_200_again_after(
    bridge_settings: SettingsFactory, stack: StackSettings, tmp_path: Path
) -> None:
    port = free_port()
    settings = bridge_settings(metrics_port=port)
    process = start_bridge_process(settings, tmp_path / "bridge.log")
    try:
        await asyncio.to_thread(wait_for, port, "/readyz", lambda a: a[0] == 200)
        assert probe(port, "/readyz") == (200, {"role": "active", "status": "ready"})
        assert await asyncio.to_thread(stop_broker, stack, "kafka")
        try:
            seen = await asyncio.to_thread(wait_for, port, "/readyz", lambda a: a[0] == 503)
            body = seen[-1][1]
            assert body["reason"].startswith("Kafka does not answer"), body
            assert body["role"] == "active"  # RabbitMQ still delivers to it
            assert probe(port, "/healthz") == (200, {"status": "ok"})
        finally:
            await asyncio.to_thread(start_broker, stack, "kafka")
        await asyncio.to_thread(wait_for, port, "/readyz", lambda a: a[0] == 200, 120)
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
