"""Queue options on the real brokers: Nova's own queue, the legacy stream, a refused queue."""

import asyncio
import uuid

import amqp.exceptions
import orjson
import pytest
from kombu.connection import Connection

from precache.bridge.exceptions import AmqpSetupError
from tests.support.amqp import delete_queue, publish
from tests.support.bridge import SettingsFactory, running_bridge
from tests.support.kafka import message_ids, read_topic
from tests.support.messages import envelope, notification
from tests.support.oslo import emit_with_oslo

pytestmark = pytest.mark.integration


async def test_nova_queue_option_consumes_the_queue_oslo_declares(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings(exchange="nova", use_nova_queue=True)
    # oslo's notifier fills this queue whenever it publishes, also in other tests: start empty
    await asyncio.to_thread(delete_queue, amqp_url, settings.queue_name)
    aggregate = str(uuid.uuid4())
    async with running_bridge(settings):
        await asyncio.to_thread(emit_with_oslo, amqp_url, aggregate, 3)
        records = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 3)
    assert [r.key for r in records] == [aggregate.encode()] * 3


async def test_nova_queue_option_uses_a_quorum_queue_as_oslo_declared_it(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """nova.conf ``rabbit_quorum_queue = True``: oslo declares Nova's queue as a quorum queue
    (and its exchange durable), which a classic declaration would have RabbitMQ refuse; the
    bridge takes the queue as it is."""
    exchange = f"nova-quorum-{uuid.uuid4().hex[:8]}"  # "nova" exists non-durable here
    settings = bridge_settings(exchange=exchange, use_nova_queue=True, exchange_durable=True)
    await asyncio.to_thread(delete_queue, amqp_url, settings.queue_name)
    aggregate = str(uuid.uuid4())
    try:
        await asyncio.to_thread(emit_with_oslo, amqp_url, aggregate, 2, True, exchange)
        async with running_bridge(settings):
            await asyncio.to_thread(emit_with_oslo, amqp_url, aggregate, 3, True, exchange)
            records = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 5)
        with Connection(amqp_url) as conn:  # still oslo's queue, now empty
            _, ready, _ = conn.default_channel.queue_declare(settings.queue_name, passive=True)
        quorum = _is_quorum(amqp_url, settings.queue_name)
    finally:  # other tests' oslo notifiers declare it classic
        await asyncio.to_thread(delete_queue, amqp_url, settings.queue_name)
    assert [r.key for r in records] == [aggregate.encode()] * 5
    assert (ready, quorum) == (0, True)


def _is_quorum(amqp_url: str, queue: str) -> bool:
    """RabbitMQ accepts a re-declaration only with the queue's own arguments."""
    with Connection(amqp_url) as conn:
        try:
            conn.default_channel.queue_declare(
                queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
            )
        except amqp.exceptions.PreconditionFailed:
            return False
    return True


async def test_legacy_stream_goes_to_its_own_topic(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, unique_name
) -> None:
    settings = bridge_settings(legacy=True, legacy_topic=unique_name("nova.legacy"))
    legacy: dict[str, object] = {"message_id": str(uuid.uuid4())}
    legacy["event_type"] = "compute.instance.exists"
    legacy |= {"publisher_id": "compute.h1", "payload": {"instance_id": "inst-1"}}
    versioned = notification(str(uuid.uuid4()), 0)
    async with running_bridge(settings):
        await asyncio.to_thread(
            publish, amqp_url, settings.exchange, [orjson.dumps(legacy)], "notifications.info"
        )
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [envelope(versioned)])
        old = await read_topic(kafka_bootstrap, settings.legacy_topic, lambda r: len(r) >= 1)
        new = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 1)
    assert message_ids(old) == {legacy["message_id"]}
    assert old[0].key == b"inst-1"
    assert message_ids(new) == {versioned["message_id"]}


async def test_a_queue_declared_otherwise_is_a_clear_error(
    bridge_settings: SettingsFactory, amqp_url: str
) -> None:
    settings = bridge_settings(queue_type="quorum")
    with Connection(amqp_url) as conn:
        conn.default_channel.queue_declare(settings.queue, durable=True, auto_delete=False)
    with pytest.raises(AmqpSetupError, match="PRECONDITION_FAILED"):
        async with running_bridge(settings):
            pass
