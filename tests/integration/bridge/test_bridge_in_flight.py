"""max_in_flight_bytes on the real brokers: while Kafka takes nothing, the bridge holds about
the bound (RabbitMQ keeps the rest ready), and once Kafka is back every message arrives.

Here Kafka is made unreachable for the bridge alone (its producer's sends fail as they do when
the brokers are down: KafkaConnectionError, retried with backoff), so the shared Kafka keeps
running; ``test_bridge_faults.py`` stops the real Kafka for the same check.
"""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from kombu.connection import Connection

from precache.bridge.producer import KafkaSink
from precache.bridge.settings import BridgeSettings
from precache.bridge.topology import declared_queues
from tests.support.amqp import publish
from tests.support.bridge import (
    SettingsFactory,
    publish_until_throttled,
    running_bridge,
    sample,
    track_peak,
    wait_until_bridge_holds_what_rabbitmq_sent,
)
from tests.support.kafka import has_ids, message_ids, read_topic
from tests.support.messages import BIG, bodies

pytestmark = pytest.mark.integration

BOUND = 256 * 1024
MAX_BODY = 64 * 1024


class KafkaAway:
    """Every send of the bridge's producer fails as if Kafka were unreachable, until ``back``.

    Patched on the class before the bridge starts, so not one record gets through before.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.away = True
        for name in ("send_batch", "send"):
            monkeypatch.setattr(KafkaSink, name, self._gated(getattr(KafkaSink, name)))

    def back(self) -> None:
        self.away = False

    def _gated(self, send: Any) -> Any:
        async def gated(*args: Any, **kwargs: Any) -> Any:
            if self.away:
                raise KafkaConnectionError("test: Kafka unreachable")
            return await send(*args, **kwargs)

        return gated


def declare_queue(settings: BridgeSettings) -> None:
    """Our queue, bound as the bridge binds it, so messages wait in it before a bridge runs."""
    with Connection(settings.amqp_url.get_secret_value()) as conn:
        for queue in declared_queues(settings):
            queue(conn.default_channel).declare()


async def test_large_bodies_after_small_ones_stop_the_fetching_at_the_bound(
    bridge_settings: SettingsFactory,
    amqp_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small bodies widen the prefetch window far beyond what large ones fit in the bound:
    the large ones then cross it, the bridge cancels its consumer (basic.cancel), and RabbitMQ
    keeps every later message ready until Kafka is back."""
    peak = track_peak(monkeypatch)
    settings = bridge_settings(max_in_flight_bytes=BOUND, max_body_bytes=MAX_BODY)
    small, small_ids = bodies(20)
    large, large_ids = bodies(48, padding=BIG)  # about 8 times the bound
    size = len(large[0])
    kafka = KafkaAway(monkeypatch)
    async with running_bridge(settings) as bridge:
        await asyncio.to_thread(publish, amqp_url, settings.exchange, small)
        crossing = await publish_until_throttled(bridge, settings, large, before=small)
        await asyncio.to_thread(publish, amqp_url, settings.exchange, large[crossing:])
        held = await wait_until_bridge_holds_what_rabbitmq_sent(bridge, settings, small + large)
        gauge = sample(bridge, "precache_bridge_in_flight_bytes")
        kafka.back()
        records = await read_topic(
            kafka_bootstrap, settings.raw_topic, has_ids(small_ids | large_ids), within=60
        )
        throttled = sample(bridge, "precache_bridge_amqp_throttles_total")
    # RabbitMQ's side: it delivered up to the body that crossed the bound, kept the rest ready
    assert held == len(small) + crossing
    held_bytes = sum(len(b) for b in small) + crossing * size
    assert BOUND < held_bytes <= BOUND + size
    assert gauge == held_bytes  # the bridge's own count: exactly the bodies it holds
    # at every delivery, also while the backlog drained once Kafka was back: the consumers
    # made then get the window the free bytes hold, so the bound is not crossed again
    assert peak[0] <= BOUND + size
    assert throttled == 1
    assert small_ids | large_ids <= message_ids(records)


async def test_a_backlog_of_large_bodies_waiting_at_start_stays_within_the_bound(
    bridge_settings: SettingsFactory,
    amqp_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RabbitMQ fills a new consumer's prefetch window at once from a backlog: the first
    window is sized for max_body_bytes bodies, so the prefetch count (2000) never lets it send
    all 48 large bodies at once; nor after Kafka comes back."""
    peak = track_peak(monkeypatch)
    settings = bridge_settings(max_in_flight_bytes=BOUND, max_body_bytes=MAX_BODY)
    large, ids = bodies(48, padding=BIG)
    await asyncio.to_thread(declare_queue, settings)
    await asyncio.to_thread(publish, amqp_url, settings.exchange, large)
    kafka = KafkaAway(monkeypatch)
    async with running_bridge(settings) as bridge:
        held = await wait_until_bridge_holds_what_rabbitmq_sent(bridge, settings, large)
        kafka.back()
        records = await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(ids), within=60)
    assert 0 < held * len(large[0]) <= BOUND
    assert peak[0] <= BOUND + len(large[0])
    assert ids <= message_ids(records)
