"""The bridge's own metrics, read from its registry after real traffic: each one is updated by
the code path it describes (the AMQP thread, the Kafka confirmations, the dead letters)."""

import asyncio
import time

import pytest

from tests.support.amqp import publish
from tests.support.bridge import SettingsFactory, running_bridge, sample
from tests.support.kafka import has_ids, read_topic
from tests.support.messages import bodies

pytestmark = pytest.mark.integration

NOT_JSON = b"<xml>not json</xml>"


async def test_every_metric_follows_the_traffic(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings(prefetch=100)
    good, ids = bodies(5)
    async with running_bridge(settings) as bridge:
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [*good, NOT_JSON, NOT_JSON])
        await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(ids))
        await read_topic(kafka_bootstrap, settings.dlq_topic, lambda records: len(records) == 2)
        deadline = time.monotonic() + 30
        while sample(bridge, "precache_bridge_in_flight_bytes") > 0:  # not every ack went out
            assert time.monotonic() < deadline, "the bridge never acked what Kafka took"
            await asyncio.sleep(0.05)
        running = {
            name: sample(bridge, f"precache_bridge_{name}")
            for name in (
                "received_total",
                "amqp_connects_total",
                "in_flight",
                "amqp_window",
                "amqp_throttles_total",
                "producer_replacements_total",
            )
        }
    assert running == {
        "received_total": 7.0,
        "amqp_connects_total": 1.0,
        "in_flight": 0.0,
        # the first consumer's window: what max_in_flight_bytes holds at the largest body
        # allowed (7 deliveries never fill it, so it is not widened)
        "amqp_window": settings.max_in_flight_bytes // settings.max_body_bytes,
        "amqp_throttles_total": 0.0,
        "producer_replacements_total": 0.0,
    }
    registry = bridge.metrics.registry
    assert registry.get_sample_value(
        "precache_bridge_forwarded_total", {"topic": settings.raw_topic}
    ) == len(good)
    assert (
        registry.get_sample_value("precache_bridge_forwarded_total", {"topic": settings.dlq_topic})
        is None
    )
    assert bridge.metrics.dead_letter_counts()["not_json"] == 2
    assert sum(bridge.metrics.dead_letter_counts().values()) == 2
    assert sample(bridge, "precache_bridge_amqp_window") == 0  # stopped: not fetching
