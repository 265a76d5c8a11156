"""The bridge on the real brokers when Kafka refuses a record, and what reaches Kafka of secrets
and numbers (issue 9, items 4 and 6)."""

import asyncio
import json
import uuid
from typing import Any

import oslo_messaging
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from oslo_config import cfg

from tests.support.amqp import publish, queue_counts
from tests.support.bridge import SettingsFactory, running_bridge, sample
from tests.support.kafka import alter_topic, has_ids, message_ids, read_topic
from tests.support.messages import envelope, notification
from tests.support.oslo import TOKEN, UnredactedContext

pytestmark = pytest.mark.integration

ONE_MIB = 1024 * 1024


async def _topic_limit(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=None)]
        )
    finally:
        await admin.close()
    entries = response.to_object()["resources"][0]["config_entries"]
    return str(next(e["config_value"] for e in entries if e["config_names"] == "max.message.bytes"))


async def test_a_record_kafka_refuses_is_dead_lettered_alone_and_the_rest_flow(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """The raw topic at Kafka's 1 MB default (altered while the bridge runs) and a 2 MB body
    among small ones of the same aggregate, so of the same partition. The old bridge retried
    the record for ever, and the idempotent producer's sequence gap it left refused every
    later record of that partition (OutOfOrderSequenceNumber): nothing behind it was acked."""
    settings = bridge_settings()
    aggregate = str(uuid.uuid4())
    first = [notification(aggregate, i) for i in range(5)]
    small = [notification(aggregate, i) for i in range(5, 45)]
    big = notification(aggregate, 99, padding="x" * (2 * ONE_MIB))
    big_body = envelope(big)
    bodies = [envelope(m) for m in small[:20]] + [big_body] + [envelope(m) for m in small[20:]]
    async with running_bridge(settings) as bridge:
        await asyncio.to_thread(publish, amqp_url, settings.exchange, map(envelope, first))
        await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(_ids(first)))
        await alter_topic(kafka_bootstrap, settings.raw_topic, {"max.message.bytes": str(ONE_MIB)})
        while await _topic_limit(kafka_bootstrap, settings.raw_topic) != str(ONE_MIB):  # noqa: ASYNC110 - polls Kafka
            await asyncio.sleep(0.1)
        await asyncio.to_thread(publish, amqp_url, settings.exchange, bodies)
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(_ids(first + small)))
        dlq = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 1)
        later = [notification(aggregate, i) for i in range(100, 110)]  # healthy, no restart
        await asyncio.to_thread(publish, amqp_url, settings.exchange, map(envelope, later))
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, has_ids(_ids(later)))
        replaced = sample(bridge, "precache_bridge_producer_replacements_total")
    assert _ids(first + small + later) <= message_ids(raw)
    assert big["message_id"] not in message_ids(raw)
    [dead] = dlq
    headers = dict(dead.headers)
    assert headers["reason"] == b"kafka_refused"
    assert b"MessageSizeTooLargeError" in headers["error"]
    assert headers["original_bytes"] == str(len(big_body)).encode()
    assert dead.value == big_body
    assert replaced >= 1
    assert bridge.metrics.dead_letter_counts()["kafka_refused"] == 1
    assert queue_counts(amqp_url, settings.queue)[0] == 0


async def test_numbers_reach_kafka_as_written_and_nested_tokens_do_not(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """orjson re-encoding wrote an aggregate id of 10**30 as 1e+30; a token under
    ``_context`` was forwarded."""
    settings = bridge_settings()
    plain = (
        '{"message_id": "m-plain-' + uuid.uuid4().hex + '", "event_type": "x.y", '
        '"payload": {"id": 1000000000000000000000000000000, "f": 1e400, "z": -0.0, "o": 1.0}}'
    )
    nested = (
        '{"message_id": "m-nested-' + uuid.uuid4().hex + '", "event_type": "x.y", '
        '"payload": {"id": 1000000000000000000000000000000}, '
        '"_context": {"auth_token": "' + TOKEN + '", "user": "u", "n": 12345678901234567890123}}'
    )
    bodies = [
        json.dumps({"oslo.version": "2.0", "oslo.message": t}).encode() for t in (plain, nested)
    ]
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, bodies)
        records = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 2)
    by_id = {dict(r.headers)["message_id"].decode(): r.value for r in records}
    assert by_id[json.loads(plain)["message_id"]] == plain.encode()
    scrubbed = by_id[json.loads(nested)["message_id"]].decode()
    assert TOKEN not in scrubbed
    assert scrubbed == nested.replace('"auth_token": "' + TOKEN + '", ', "")


def _emit_nan_with_oslo(amqp_url: str, exchange: str) -> None:
    """A notification oslo serialises as not-quite-JSON (a NaN), with an unredacted context."""
    conf = cfg.ConfigOpts()
    conf([], project="precache-test")
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    url = amqp_url.replace("amqp://", "rabbit://").rstrip("/") + "/"
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    try:
        notifier = oslo_messaging.Notifier(
            transport,
            publisher_id="nova-conductor:oslo-test",
            driver="messagingv2",
            topics=["versioned_notifications"],
        )
        context = UnredactedContext(user_id="admin", auth_token=TOKEN)
        notifier.info(context, "aggregate.cache_images.progress", {"ratio": float("nan")})
    finally:
        transport.cleanup()


async def test_dead_letters_carry_no_secrets(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings(exchange=f"nova-{uuid.uuid4().hex[:8]}")
    catalog = '[{"type": "image", "endpoints": [{"url": "https://glance.internal"}]}]'
    raw_bodies: dict[str, bytes] = {
        "not_json": ('{"_context_auth_token": "' + TOKEN + '", "payload": ').encode(),
        "no_event_type": envelope(
            {
                "message_id": "no-event",
                "_context_auth_token": TOKEN,
                "_context_service_catalog": json.loads(catalog),
                "_context": {"auth_token": TOKEN, "user": "u"},
            }
        ),
    }
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, raw_bodies.values())
        await asyncio.to_thread(_emit_nan_with_oslo, amqp_url, settings.exchange)
        dlq = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 3)
    assert len(dlq) == 3
    reasons: dict[str, Any] = {}
    for record in dlq:
        headers = dict(record.headers)
        reasons[headers["reason"].decode()] = headers["scrubbed"].decode()
        assert TOKEN.encode() not in record.value
        assert b"glance.internal" not in record.value
        assert all(TOKEN.encode() not in value for _, value in record.headers)
    assert reasons == {"not_json": "cut", "no_event_type": "fields", "not_envelope": "cut"}
    no_event = next(r for r in dlq if dict(r.headers)["reason"] == b"no_event_type")
    inner = json.loads(json.loads(no_event.value)["oslo.message"])
    assert inner == {"message_id": "no-event", "_context": {"user": "u"}}
    nan = next(r for r in dlq if dict(r.headers)["reason"] == b"not_envelope")
    assert b"aggregate.cache_images.progress" in nan.value  # what comes before the context


def _ids(messages: list[dict[str, Any]]) -> set[str]:
    return {m["message_id"] for m in messages}
