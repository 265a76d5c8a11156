"""Faults mid-stream: every message RabbitMQ confirmed reaches Kafka at least once.

The exchange is durable here (nova.conf ``amqp_durable_queues = True``): with oslo's default
non-durable exchange, a RabbitMQ restart drops the exchange and our queue's binding with it, and
what Nova publishes before the bridge has re-declared them is unroutable (see README, Bridge).

Slow (broker restarts): run with ``scripts/test-faults``. Brokers are stopped and started through
the stack's own pid files, never by process name.
"""

import asyncio
import signal
from pathlib import Path

import pytest

from precache.stack import StackSettings, start_broker, stop_broker
from tests.integration.bridge.conftest import SettingsFactory
from tests.integration.bridge.helpers import (
    StreamingPublisher,
    has_ids,
    message_ids,
    read_topic,
    running_bridge,
    start_bridge_process,
    wait_for_consumer,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

COUNT = 4000


async def _restart(stack: StackSettings, broker: str, down_s: float) -> None:
    assert await asyncio.to_thread(stop_broker, stack, broker)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(start_broker, stack, broker)


async def test_rabbitmq_restart_mid_stream_loses_nothing(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, stack: StackSettings
) -> None:
    settings = bridge_settings(prefetch=200, exchange_durable=True)
    async with running_bridge(settings):
        with StreamingPublisher(
            amqp_url, settings.exchange, COUNT, rate=800, durable=True
        ) as publisher:
            await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 500)
            await _restart(stack, "rabbitmq", down_s=1)
            await asyncio.to_thread(publisher.wait, 120)
        records = await read_topic(
            kafka_bootstrap, settings.raw_topic, has_ids(publisher.confirmed), within=90
        )
    assert len(publisher.confirmed) == COUNT
    assert publisher.confirmed <= message_ids(records)


async def test_kafka_stop_and_restart_mid_stream_loses_nothing(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, stack: StackSettings
) -> None:
    settings = bridge_settings(prefetch=200, exchange_durable=True)
    async with running_bridge(settings) as bridge:
        with StreamingPublisher(
            amqp_url, settings.exchange, COUNT, rate=800, durable=True
        ) as publisher:
            await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 500)
            await _restart(stack, "kafka", down_s=5)
            await asyncio.to_thread(publisher.wait, 120)
        records = await read_topic(
            kafka_bootstrap, settings.raw_topic, has_ids(publisher.confirmed), within=90
        )
        retries = bridge.metrics.registry.get_sample_value("precache_bridge_send_retries_total")
    assert len(publisher.confirmed) == COUNT
    assert publisher.confirmed <= message_ids(records), f"send retries: {retries}"


async def test_sigkill_the_bridge_mid_stream_and_start_again_loses_nothing(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = bridge_settings(prefetch=300, exchange_durable=True)
    log = tmp_path / "bridge.log"
    first = start_bridge_process(settings, log)
    second = None
    try:
        await asyncio.to_thread(wait_for_consumer, amqp_url, settings.queue)
        with StreamingPublisher(
            amqp_url, settings.exchange, COUNT, rate=1000, durable=True
        ) as publisher:
            await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 500)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
            await asyncio.sleep(1)
            second = start_bridge_process(settings, log)
            await asyncio.to_thread(publisher.wait, 120)
        records = await read_topic(
            kafka_bootstrap, settings.raw_topic, has_ids(publisher.confirmed), within=90
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 15)
    assert first.returncode == -signal.SIGKILL
    assert len(publisher.confirmed) == COUNT
    assert publisher.confirmed <= message_ids(records), log.read_text()[-3000:]
