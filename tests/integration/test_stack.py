"""The local stack is real: both brokers answer their own protocol, and `up` is idempotent."""

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kombu.connection import Connection
from kombu.entity import Queue

from precache.errors import StackError
from precache.stack import StackSettings, stack_status, stack_up

pytestmark = pytest.mark.integration


def test_up_when_already_up_starts_nothing(stack: StackSettings) -> None:
    before = {s.name: s.pid for s in stack_status(stack)}
    statuses = stack_up(stack)
    assert {s.name: s.pid for s in statuses} == before
    assert not any(s.started_now for s in statuses)
    assert all(s.answering for s in statuses)


def test_rabbitmq_round_trip(amqp_url: str, unique_name: Callable[[str], str]) -> None:
    queue_name = unique_name("smoke")
    with Connection(amqp_url) as conn:
        queue = Queue(queue_name, auto_delete=True)
        with conn.Producer() as producer:
            producer.publish({"hello": queue_name}, routing_key=queue_name, declare=[queue])
        message = conn.SimpleQueue(queue).get(timeout=10)
        assert message.payload == {"hello": queue_name}
        message.ack()


async def test_kafka_round_trip_with_acks_all(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("smoke")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"value", key=b"key")
    finally:
        await producer.stop()
    assert meta.offset == 0

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"key", b"value")


def _free_port_below(limit: int) -> int:
    """A free port below ``limit`` (RabbitMQ's distribution port is the AMQP port + 20000)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < limit:
            return port
    return 5799


def test_a_failed_up_leaves_no_broker_it_started_running(tmp_path: Path) -> None:
    """RabbitMQ starts, then Kafka cannot (its port is taken): `up` fails with one error and
    stops RabbitMQ again, so no broker is left answering that no pid file owns (the next `up`
    on those ports would refuse to start)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = StackSettings(
            state_dir=tmp_path,
            amqp_port=_free_port_below(45000),
            kafka_port=int(taken.getsockname()[1]),
            kafka_controller_port=_free_port_below(65000),
            start_timeout_s=90,
        )
        with pytest.raises(StackError, match="kafka"):
            stack_up(settings)
        statuses = stack_status(settings)
    assert [(s.name, s.pid) for s in statuses] == [("rabbitmq", None), ("kafka", None)]
    assert not any(s.answering for s in statuses)
