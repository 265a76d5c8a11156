"""The bridge on the real brokers: oslo.messaging's own Notifier in, the record contract out."""

import asyncio
import json
import uuid
from typing import Any

import orjson
import pytest

from precache.bridge.decode import Reason
from tests.support.amqp import publish, queue_counts
from tests.support.bridge import SettingsFactory, running_bridge
from tests.support.kafka import has_ids, message_ids, read_topic
from tests.support.messages import envelope, notification
from tests.support.nova_samples import conductor_envelopes
from tests.support.oslo import TOKEN, emit_with_oslo

pytestmark = pytest.mark.integration


async def test_oslo_notifier_notifications_arrive_intact_keyed_and_with_headers(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings(exchange="nova", region="test-region")
    aggregate = str(uuid.uuid4())
    async with running_bridge(settings):
        await asyncio.to_thread(emit_with_oslo, amqp_url, aggregate, 20)
        records = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 20)
    assert len(records) == 20
    assert len({r.partition for r in records}) == 1
    indexes = []
    for record in records:
        value: dict[str, Any] = orjson.loads(record.value)
        headers = dict(record.headers)
        assert record.key == aggregate.encode()
        assert headers["region"] == b"test-region"
        assert headers["event_type"] == b"aggregate.cache_images.progress"
        assert headers["message_id"] == value["message_id"].encode()
        assert headers["source"] == b"bridge-test-region"
        assert headers["received_at"].endswith(b"+00:00")
        assert value["publisher_id"] == "nova-conductor:oslo-test"
        assert value["priority"] == "INFO"
        assert value["_context_user"] == "admin"
        assert value["payload"]["nova_object.data"]["uuid"] == aggregate
        assert "_context_auth_token" not in value
        assert "_context_service_catalog" not in value
        assert TOKEN.encode() not in record.value
        assert all(TOKEN.encode() not in v for _, v in record.headers)
        indexes.append(value["payload"]["nova_object.data"]["index"])
    assert indexes == list(range(20)), "one aggregate: one partition, in order"
    assert queue_counts(amqp_url, settings.queue)[0] == 0


async def test_the_12_host_nova_stream_replays_whole_and_in_order(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings()
    envelopes = conductor_envelopes()
    assert len(envelopes) == 14  # the committed fixture: start, 12 progress, end
    expected = [json.loads(e["oslo.message"]) for e in envelopes]
    assert all(m["_context_auth_token"] is None for m in expected)  # redacted: nothing to cut
    assert all(m["_context_service_catalog"] == [] for m in expected)
    async with running_bridge(settings):
        await asyncio.to_thread(
            publish, amqp_url, settings.exchange, [orjson.dumps(e) for e in envelopes]
        )
        records = await read_topic(
            kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= len(expected)
        )
    assert [r.value for r in records] == [e["oslo.message"].encode() for e in envelopes]
    aggregate = expected[0]["payload"]["nova_object.data"]["uuid"]
    assert {r.key for r in records} == {aggregate.encode()}


async def test_two_regions_with_the_same_aggregate_stay_apart(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, second_rabbitmq: str
) -> None:
    """Two regions, each its own RabbitMQ node and bridge, write into one Kafka topic."""
    region_a = bridge_settings(region="a", exchange="nova")
    region_b = bridge_settings(
        region="b", exchange="nova", raw_topic=region_a.raw_topic, amqp_url=second_rabbitmq
    )
    aggregate = str(uuid.uuid4())
    sent = {"a": [notification(aggregate, i) for i in range(5)]}
    sent["b"] = [notification(aggregate, i) for i in range(3)]
    async with running_bridge(region_a), running_bridge(region_b):
        for region, settings in (("a", region_a), ("b", region_b)):
            bodies = [envelope(m) for m in sent[region]]
            url = settings.amqp_url.get_secret_value()
            await asyncio.to_thread(publish, url, settings.exchange, bodies)
        records = await read_topic(kafka_bootstrap, region_a.raw_topic, lambda r: len(r) >= 8)
    by_region: dict[str, set[str]] = {"a": set(), "b": set()}
    for record in records:
        assert record.key == aggregate.encode()
        by_region[dict(record.headers)["region"].decode()] |= message_ids([record])
    assert by_region == {region: {m["message_id"] for m in sent[region]} for region in sent}


BAD_BODIES = {
    Reason.NOT_UTF8: b'{"event_type": "\xff\xfe"}',
    Reason.NOT_JSON: b"<xml>not json</xml>",
    Reason.NOT_ENVELOPE: b'{"oslo.version": "2.0", "oslo.message": 42}',
    Reason.NO_EVENT_TYPE: envelope({"message_id": "no-event", "payload": {}}),
    Reason.TOO_LARGE: envelope(notification("big", 0, padding="x" * 20_000)),
}


async def test_bad_bodies_go_to_the_dlq_and_good_ones_still_get_through(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings(max_body_bytes=10_000)
    good = [notification(str(uuid.uuid4()), i) for i in range(len(BAD_BODIES) + 1)]
    bodies = [envelope(good[0])]
    for bad, message in zip(BAD_BODIES.values(), good[1:], strict=True):
        bodies += [bad, envelope(message)]
    async with running_bridge(settings) as bridge:
        await asyncio.to_thread(publish, amqp_url, settings.exchange, bodies)
        wanted = {m["message_id"] for m in good}
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(wanted))
        dlq = await read_topic(
            kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= len(BAD_BODIES)
        )
    assert message_ids(raw) == wanted
    assert len(dlq) == len(BAD_BODIES)
    for record in dlq:
        headers = dict(record.headers)
        reason = Reason(headers["reason"].decode())
        assert record.value == BAD_BODIES[reason][: settings.max_body_bytes]
        assert headers["region"] == b"local"
        assert headers["routing_key"] == b"versioned_notifications.info"
        assert headers["error"]
        assert headers["received_at"]
    expected_counts = {reason.value: 1 for reason in BAD_BODIES}
    assert bridge.metrics.dead_letter_counts() == {
        **expected_counts,
        "bridge_error": 0,
        "kafka_refused": 0,
        "too_deep": 0,
        "unknown_oslo_version": 0,
    }
    assert queue_counts(amqp_url, settings.queue)[0] == 0


async def test_a_100k_host_start_notification_fits_through(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """Nova's start payload lists every host: ~2 MB at 100k hosts, over Kafka's 1 MB default."""
    settings = bridge_settings()
    start = notification(str(uuid.uuid4()), 0, event_type="aggregate.cache_images.start")
    start["payload"]["nova_object.data"]["hosts"] = [
        f"compute-{n:06d}.example" for n in range(100_000)
    ]
    body = envelope(start)
    assert len(body) > 2_000_000
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [body])
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, has_ids({start["message_id"]}))
    [record] = raw
    assert len(orjson.loads(record.value)["payload"]["nova_object.data"]["hosts"]) == 100_000
